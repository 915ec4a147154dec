"""Log validation: each kind of defect is rejected with the file, the row as the user counts it,
the column and what was expected; valid logs come back cast to the schema and sorted."""

import numpy as np
import pandas as pd
import pytest

from datasets.schema import FRAME_SCHEMA, MATCH_SCHEMA, OBSERVATION_COLUMNS
from datasets.validation import (
    LogBoundsWarning,
    LogValidationError,
    validate_frames,
    validate_matches,
)
from envs.actions import ACTION_NAMES, NUM_ACTIONS
from envs.observation import observation_field_table

CSV = "logs/pro.csv"  # a CSV's rows are "line N", its header is line 1: row position p is line p + 2
PARQUET = "logs/pro.parquet"  # everything else counts "row N" from 1: position p is row p + 1


def synthetic_frames(frames_per_match=(6, 5, 7), seed=0) -> pd.DataFrame:
    """A valid log in file order (match, frame, side), observations drawn inside their bounds."""
    rng = np.random.default_rng(seed)
    keys = [(m, f, s) for m, n in enumerate(frames_per_match) for f in range(n) for s in (0, 1)]
    match_id, frame, side = (np.array(column) for column in zip(*keys, strict=True))
    table = observation_field_table()
    low = np.array([row["low"] for row in table])
    high = np.array([row["high"] for row in table])
    obs = rng.uniform(low, high, size=(len(keys), len(table))).astype(np.float32)
    actions = rng.integers(0, NUM_ACTIONS, size=len(keys))
    frames = pd.DataFrame({
        "match_id": match_id, "frame": frame, "side": side,
        "player_id": np.where(side == 0, "alice", "bob"),
        "style": np.where(side == 0, "rushdown", "zoner"),
        "skill": "club",
    })
    frames = pd.concat([frames, pd.DataFrame(obs, columns=list(OBSERVATION_COLUMNS))], axis=1)
    frames["action_id"] = actions
    frames["action_name"] = [ACTION_NAMES[a] for a in actions]
    return frames


def rejected(frames, source=CSV, **kwargs) -> LogValidationError:
    with pytest.raises(LogValidationError) as info:
        validate_frames(frames, source, **kwargs)
    return info.value


def test_a_valid_log_comes_back_cast_to_the_schema_and_sorted():
    frames = synthetic_frames()
    shuffled = frames.sample(frac=1.0, random_state=1)
    result = validate_frames(shuffled, CSV)
    for field in FRAME_SCHEMA:  # exact dtypes, exact column order
        assert field.name in result.columns
    assert list(result.columns) == [f.name for f in FRAME_SCHEMA]
    dtypes = {name: str(result[name].dtype) for name in ("match_id", "frame", "side", "action_id", "me_hp")}
    assert dtypes == {"match_id": "int64", "frame": "int32", "side": "int8", "action_id": "int16",
                      "me_hp": "float32"}
    assert pd.api.types.is_string_dtype(result["player_id"])
    keys = result[["match_id", "frame", "side"]].to_numpy()
    assert (np.lexsort(keys.T[::-1]) == np.arange(len(keys))).all()
    expected = frames.sort_values(["match_id", "frame", "side"]).reset_index(drop=True)
    np.testing.assert_array_equal(result[list(OBSERVATION_COLUMNS)].to_numpy(),
                                  expected[list(OBSERVATION_COLUMNS)].to_numpy())
    assert result["action_name"].tolist() == expected["action_name"].tolist()


def set_value(position, column, value):
    def mutate(frames):
        frames[column] = frames[column].astype(object)
        frames.loc[position, column] = value
        return frames
    return mutate


def drop_rows(mask_of):
    def mutate(frames):
        return frames[~mask_of(frames)].reset_index(drop=True)
    return mutate


def set_action(position, action_id, action_name):
    def mutate(frames):
        frames.loc[position, "action_id"] = action_id
        frames["action_name"] = frames["action_name"].astype(object)
        frames.loc[position, "action_name"] = action_name
        return frames
    return mutate


def duplicate_row(position):
    def mutate(frames):
        return pd.concat([frames, frames.iloc[[position]]], ignore_index=True)
    return mutate


def add_side0_frame(match):
    def mutate(frames):
        last = frames[(frames["match_id"] == match) & (frames["side"] == 0)].iloc[[-1]].copy()
        last["frame"] += 1
        return pd.concat([frames, last], ignore_index=True)
    return mutate


# (defect, mutation, line of the first offending row in the CSV, column, words the message must hold)
# positions in synthetic_frames(): match 0 has 6 frames (rows 0-11), match 1 5 (12-21), match 2 7 (22-35)
DEFECTS = [
    ("wrong dtype", set_value(5, "me_hp", "abc"), 7, "me_hp", ["expected a number", "'abc'"]),
    ("text in an id column", set_value(3, "frame", "x1"), 5, "frame", ["expected an integer", "'x1'"]),
    ("fractional frame", set_value(4, "frame", 2.5), 6, "frame", ["expected an integer", "2.5"]),
    ("nan", set_value(9, "distance", np.nan), 11, "distance", ["NaN"]),
    ("inf", set_value(3, "opp_busy", np.inf), 5, "opp_busy", ["inf", "finite"]),
    ("unknown action name", set_value(4, "action_name", "PUNCH"), 6, "action_name",
     ["unknown action name 'PUNCH'", "NO_ACTION", "ANTI_AIR"]),
    ("action id out of range", set_value(6, "action_id", 12), 8, "action_id",
     ["action id 12 is out of range", "0..11"]),
    ("negative action id", set_value(2, "action_id", -1), 4, "action_id", ["action id -1 is out of range"]),
    ("id/name mismatch", set_action(8, 7, "GUARD"), 10, "action_id, action_name",
     ["action_id 7 means LIGHT_ATTACK", "'GUARD' (id 6)"]),
    ("side not 0 or 1", set_value(7, "side", 2), 9, "side", ["side must be 0 or 1, got 2"]),
    ("missing player", set_value(10, "player_id", ""), 12, "player_id", ["missing or empty"]),
    ("duplicate (match, frame, side)", duplicate_row(13), 38, "match_id, frame, side",
     ["(match_id 1, frame 0, side 1) appears again", "first at logs/pro.csv, line 15"]),
    ("non-contiguous frames", drop_rows(lambda f: (f["match_id"] == 1) & (f["frame"] == 2)
                                        & (f["side"] == 0)), 19, "frame",
     ["match 1, side 0: frame 2 is missing", "frame 1 is followed by frame 3", "0..n-1"]),
    ("frames not starting at 0", drop_rows(lambda f: (f["match_id"] == 2) & (f["frame"] == 0)
                                           & (f["side"] == 1)), 26, "frame",
     ["match 2, side 1: frame 0 is missing", "its first frame is 1"]),
    ("one side missing", drop_rows(lambda f: (f["match_id"] == 1) & (f["side"] == 1)), 14, "side",
     ["match 1 has rows for side 0 only", "side 1 is missing"]),
    ("sides of unequal length", add_side0_frame(0), 38, "side",
     ["match 0: side 0 has 7 frames and side 1 has 6", "frame 6 has a row for side 0 but not for side 1"]),
    ("player changes within a match", set_value(14, "player_id", "carol"), 16, "player_id",
     ["match 1, side 0: player_id changes from 'alice' to 'carol'"]),
    ("observation outside its bounds", set_value(20, "me_hp", 100.0), 22, "me_hp",
     ["outside the encoding's range [0, 1]", "HP / max HP", "allow_out_of_bounds"]),
]


@pytest.mark.parametrize("defect, mutate, line, column, words", DEFECTS, ids=[d[0] for d in DEFECTS])
def test_each_defect_names_the_file_the_line_and_the_column(defect, mutate, line, column, words):
    error = rejected(mutate(synthetic_frames()))
    message = str(error)
    assert message.startswith(f"{CSV}, line {line}, "), message
    assert (f"column {column!r}" if "," not in column else f"columns {column}") in message
    for word in words:
        assert word in message
    assert (error.source, error.row, error.column) == (CSV, line, column)
    assert len(error.problems) == 1, message  # one defect, one problem: no follow-on noise


def test_missing_columns_are_listed_with_the_expected_ones():
    message = str(rejected(synthetic_frames().drop(columns=["me_hp", "action_name"])))
    assert message.startswith(f"{CSV}, line 1: missing 2 columns: me_hp, action_name;")
    assert "needs exactly these 50 columns (in any order): match_id, frame, side, player_id" in message


def test_extra_columns_are_listed_with_the_expected_ones_and_a_hint():
    frames = synthetic_frames().assign(combo_count=0).rename(columns={"opp_hp": "op_hp"})
    message = str(rejected(frames, PARQUET))
    # no header line in a Parquet file: the file itself is named
    assert message.startswith(f"{PARQUET}: missing 1 column: opp_hp; unknown columns: 'op_hp' (did you "
                              "mean 'opp_hp'?), 'combo_count'; a log needs exactly these 50 columns")


def test_an_empty_log_is_rejected():
    message = str(rejected(synthetic_frames().iloc[:0]))
    assert message == f"{CSV}: the file has no rows; a log needs at least one row"


def test_rows_are_counted_as_rows_outside_csv_files():
    error = rejected(set_value(5, "me_hp", "abc")(synthetic_frames()), PARQUET)
    assert str(error).startswith(f"{PARQUET}, row 6, column 'me_hp'")


def test_each_kind_of_problem_reports_its_first_row_and_its_count():
    frames = synthetic_frames()
    frames = set_value(30, "distance", np.nan)(frames)
    frames = set_value(10, "me_busy", np.nan)(frames)  # earlier row, later column: still the first NaN
    frames = set_value(20, "action_name", "KICK")(frames)
    message = str(rejected(frames))
    assert message.startswith("invalid log: 2 kinds of problem")
    assert f"{CSV}, line 12, column 'me_busy': NaN or empty value" in message
    assert "NaN or empty value; observation fields must be finite numbers (2 in all)" in message
    assert f"{CSV}, line 22, column 'action_name': unknown action name 'KICK'" in message
    assert message.index("line 12") < message.index("line 22")  # listed in file order


def test_out_of_bounds_values_can_be_imported_with_a_warning():
    frames = set_value(20, "me_busy", 2.5)(synthetic_frames())
    with pytest.warns(LogBoundsWarning, match=r"line 22, column 'me_busy': value 2.5 is outside"):
        result = validate_frames(frames, CSV, allow_out_of_bounds=True)
    assert np.isclose(result["me_busy"].max(), 2.5)
    # a value a float32 round-trip away from a bound is not out of bounds
    edge = set_value(3, "me_hp", 1.0000001)(synthetic_frames())
    validate_frames(edge, CSV)


def test_text_ids_numbers_as_text_and_nullable_columns_are_accepted():
    frames = synthetic_frames()
    frames["player_id"] = np.where(frames["side"] == 0, 7, 8)  # integer player ids become text
    frames["me_hp"] = frames["me_hp"].astype(str)  # numbers written as text (a CSV read as text)
    frames["frame"] = frames["frame"].astype("Int64")
    result = validate_frames(frames, CSV)
    assert set(result["player_id"]) == {"7", "8"}
    assert result["me_hp"].dtype == np.float32


def test_several_files_are_checked_together_with_each_row_named_in_its_file():
    frames = synthetic_frames()
    by_side = [frames[frames["side"] == s].reset_index(drop=True) for s in (0, 1)]
    result = validate_frames(by_side, ["alice.csv", "bob.parquet"])  # one file per side is fine
    assert len(result) == len(frames)
    again = pd.concat([by_side[1], by_side[1].iloc[[4]]], ignore_index=True)
    with pytest.raises(LogValidationError) as info:
        validate_frames([by_side[0], by_side[1], again], ["alice.csv", "bob.parquet", "bob2.parquet"])
    assert str(info.value).startswith("bob2.parquet, row 1, columns match_id, frame, side: (match_id 0, "
                                      "frame 0, side 1) appears again; first at bob.parquet, row 1")


# ---- the matches table ------------------------------------------------------------------------------
def matches_for(frames: pd.DataFrame) -> pd.DataFrame:
    ids = sorted(frames["match_id"].unique())
    return pd.DataFrame({
        "match_id": ids, "player_0_id": "alice", "player_0_style": "rushdown", "player_1_id": "bob",
        "player_1_style": "zoner", "winner": "player_0", "hp_0": 50, "hp_1": 0,
        "duration_frames": [int((frames["match_id"] == m).sum() // 2) for m in ids], "seed": -1,
    })


def test_a_valid_matches_table_is_cast_and_sorted():
    frames = validate_frames(synthetic_frames(), CSV)
    matches = matches_for(frames).iloc[::-1]
    result = validate_matches(matches, frames, "matches.csv")
    assert list(result.columns) == [f.name for f in MATCH_SCHEMA]
    assert result["match_id"].tolist() == [0, 1, 2]
    assert result["hp_0"].dtype == np.int32 and result["seed"].dtype == np.int64


MATCH_DEFECTS = [
    ("unknown winner", lambda m: m.assign(winner=["player_0", "p2", "draw"]), 3, "winner",
     ["unknown winner 'p2'", "player_0, player_1, draw"]),
    ("duration differs from the frames", lambda m: m.assign(duration_frames=[6, 9, 7]), 3,
     "duration_frames", ["match 1 has 5 frames per side in the logs but duration_frames is 9"]),
    ("player differs from the frames", lambda m: m.assign(player_1_id=["bob", "bob", "eve"]), 4,
     "player_1_id", ["match 2: player_1_id is 'eve' but the frames of side 1 have player_id 'bob'"]),
    ("match without frames", lambda m: pd.concat([m, m.iloc[[0]].assign(match_id=9)]), 5, "match_id",
     ["match 9 has no frames in the logs"]),
    ("repeated match", lambda m: pd.concat([m, m.iloc[[1]]]), 5, "match_id",
     ["match 1 appears again; first at line 3"]),
    ("negative hp", lambda m: m.assign(hp_1=[0, -5, 0]), 3, "hp_1", ["got -5"]),
]


@pytest.mark.parametrize("defect, mutate, line, column, words", MATCH_DEFECTS,
                         ids=[d[0] for d in MATCH_DEFECTS])
def test_each_matches_defect_names_the_line_and_column(defect, mutate, line, column, words):
    frames = validate_frames(synthetic_frames(), CSV)
    with pytest.raises(LogValidationError) as info:
        validate_matches(mutate(matches_for(frames)), frames, "matches.csv")
    message = str(info.value)
    assert message.startswith(f"matches.csv, line {line}, column {column!r}: "), message
    for word in words:
        assert word in message


def test_a_match_missing_from_the_matches_table_is_named():
    frames = validate_frames(synthetic_frames(), CSV)
    with pytest.raises(LogValidationError, match=r"matches.csv, column 'match_id': 1 matches in the logs "
                                                 r"have no row in this matches table, e.g. match 1"):
        validate_matches(matches_for(frames).iloc[[0, 2]], frames, "matches.csv")


def test_a_winner_that_contradicts_the_hp_left_is_named():
    frames = validate_frames(synthetic_frames(), CSV)
    matches = matches_for(frames).assign(winner=["player_0", "player_1", "draw"])  # hp_0 50, hp_1 0 each
    with pytest.raises(LogValidationError) as info:
        validate_matches(matches, frames, "matches.csv")
    assert str(info.value).startswith(
        "matches.csv, line 3, columns winner, hp_0, hp_1: match 1: winner is 'player_1' but hp_0 is 50 and "
        "hp_1 is 0; the winner contradicts the HP left (more HP left wins and equal HP is a draw) (2 in all)")


@pytest.mark.parametrize("knocked_out, winner, expected", [
    ((0,), "player_0", "winner is 'player_0' in the matches table, but the frames end with side 0 knocked "
                       "out (me_hp 0 on side 0's last frame, frame 6) and side 1 at me_hp"),
    ((0, 1), "player_1", "winner is 'player_1' in the matches table, but the frames end with both sides at 0 "
                         "HP on frame 6 (a double KO), so the match is a draw"),
])
def test_a_winner_that_contradicts_a_knockout_in_the_frames_is_named(knocked_out, winner, expected):
    raw = synthetic_frames()
    for side in knocked_out:  # match 2 (7 frames) ends with this side at 0 HP
        raw.loc[(raw["match_id"] == 2) & (raw["frame"] == 6) & (raw["side"] == side), "me_hp"] = 0.0
    frames = validate_frames(raw, CSV)
    matches = matches_for(frames)
    matches.loc[2, ["winner", "hp_0", "hp_1"]] = [winner, 0, 0]
    with pytest.raises(LogValidationError) as info:
        validate_matches(matches, frames, "matches.csv")
    assert str(info.value).startswith(f"matches.csv, line 4, column 'winner': match 2: {expected}"), \
        str(info.value)


def test_a_repeated_column_in_a_table_is_named_without_the_column_list():
    frames = synthetic_frames()
    frames = pd.concat([frames, frames[["side"]]], axis=1)
    error = rejected(frames, PARQUET)
    assert str(error) == ("logs/pro.parquet, column 'side': side appears twice (columns 3 and 51); each "
                          "column must appear exactly once: delete or rename the extra copy")


def test_integer_observation_columns_are_accepted_only_when_exact_in_float32():
    frames = synthetic_frames()
    frames["me_guarding"] = frames["me_guarding"].round().astype(np.int64)  # a 0 / 1 flag column
    assert validate_frames(frames, CSV)["me_guarding"].dtype == np.float32
    frames.loc[3, "me_guarding"] = 2 ** 24 + 1
    error = rejected(frames, CSV, allow_out_of_bounds=True)
    assert str(error).startswith("logs/pro.csv, line 5, column 'me_guarding': got 16777217 in a column of "
                                 "type int64; expected float32")
