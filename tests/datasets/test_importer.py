"""Importing user logs: CSV / Parquet / JSON lines round-trip exactly; every bad file is rejected
with its name, row (or CSV line) and column, and nothing is written; the CLI exits 2 without a
traceback."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from datasets.importer import import_logs
from datasets.manifest import MANIFEST_NAME, MATCHES_NAME
from datasets.schema import ENCODING_VERSION, FRAME_SCHEMA, MATCH_SCHEMA, OBSERVATION_COLUMNS
from datasets.validation import LogBoundsWarning, LogValidationError
from envs.actions import ACTION_NAMES, NUM_ACTIONS
from envs.engine import DuelEngine
from envs.params import GameParams

ROOT = Path(__file__).resolve().parents[2]
FORMATS = ("csv", "parquet", "jsonl")


@pytest.fixture(scope="module")
def user_log() -> pd.DataFrame:
    """A small real log: three 2-second matches of random play, rows as a game would export them
    (frame by frame, both sides of every match), with the engine's own observations."""
    num_matches = 3
    rng = np.random.default_rng(7)
    engine = DuelEngine(num_matches, GameParams(round_seconds=2.0))
    engine.reset(rng=rng)
    chunks = []
    frame = 0
    while not engine.done.all():
        live = np.flatnonzero(~engine.done)
        actions = rng.integers(0, NUM_ACTIONS, size=(num_matches, 2))
        obs = engine.observe()[live].reshape(-1, len(OBSERVATION_COLUMNS))
        side = np.tile([0, 1], len(live))
        chunk = pd.DataFrame({
            "match_id": np.repeat(live, 2), "frame": frame, "side": side,
            "player_id": np.where(side == 0, "human:alice", "human:bob"), "style": "human", "skill": "human",
        })
        chunk = pd.concat([chunk, pd.DataFrame(obs.copy(), columns=list(OBSERVATION_COLUMNS))], axis=1)
        chunk["action_id"] = actions[live].reshape(-1)
        chunks.append(chunk)
        engine.step(actions)
        frame += 1
    log = pd.concat(chunks, ignore_index=True)
    log["action_name"] = np.asarray(ACTION_NAMES)[log["action_id"]]
    return log


def write_log(frames: pd.DataFrame, path: Path) -> Path:
    """Write ``frames`` the way a user's exporter would, by extension."""
    if path.suffix == ".csv":
        frames.to_csv(path, index=False)
    elif path.suffix == ".parquet":
        frames.to_parquet(path, index=False)
    else:  # one JSON object per line; json writes NaN / Infinity like most exporters
        lines = (json.dumps(record) for record in frames.to_dict(orient="records"))
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def where(fmt: str, position: int) -> str:
    """How the user sees row ``position`` (0-based) of their file."""
    return f"line {position + 2}" if fmt == "csv" else f"row {position + 1}"


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


# ---- valid imports ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", FORMATS)
def test_a_valid_log_round_trips_exactly(fmt, user_log, tmp_path):
    source = write_log(user_log, tmp_path / f"alice_vs_bob.{fmt}")
    dest = import_logs(source, tmp_path / "data" / "mine")
    assert dest == (tmp_path / "data" / "mine").absolute()
    frames = pq.read_table(dest / "frames")
    assert frames.schema.equals(FRAME_SCHEMA)
    expected = user_log.sort_values(["match_id", "frame", "side"]).reset_index(drop=True)
    for field in FRAME_SCHEMA:
        got = frames.column(field.name).to_numpy(zero_copy_only=False)
        want = expected[field.name].to_numpy()
        if pa.types.is_floating(field.type):
            np.testing.assert_array_equal(got, want.astype(np.float32), err_msg=field.name)
        else:
            assert got.tolist() == want.tolist(), field.name
    matches = pq.read_table(dest / MATCHES_NAME)
    assert matches.schema.equals(MATCH_SCHEMA)
    matches = matches.to_pandas()
    last = expected[expected["side"] == 0].groupby("match_id").tail(1).set_index("match_id")
    for row in matches.itertuples():  # derived from the frames: side 0's last me_hp / opp_hp
        me, opp = last.loc[row.match_id, "me_hp"], last.loc[row.match_id, "opp_hp"]
        assert row.winner == ("player_0" if me > opp else "player_1" if me < opp else "draw")
        assert (row.hp_0, row.hp_1) == (round(me * 100), round(opp * 100))
        assert row.duration_frames == last.loc[row.match_id, "frame"] + 1
        assert (row.player_0_id, row.player_1_id, row.seed) == ("human:alice", "human:bob", -1)
    manifest = json.loads((dest / MANIFEST_NAME).read_text())
    assert manifest["num_frames"] == len(user_log) and manifest["num_matches"] == 3
    assert manifest["observation_encoding_version"] == ENCODING_VERSION
    assert manifest["generator"]["source"] == "import"
    assert manifest["generator"]["files"] == [str(source)]
    assert leftovers(tmp_path / "data") == []


def test_one_file_per_side_and_a_matches_file_import_together(user_log, tmp_path):
    paths = [write_log(user_log[user_log["side"] == 0], tmp_path / "alice.parquet"),
             write_log(user_log[user_log["side"] == 1], tmp_path / "bob.jsonl")]
    counts = user_log[user_log["side"] == 0].groupby("match_id").size()
    matches = pd.DataFrame({"match_id": [2, 0, 1], "player_0_id": "human:alice", "player_0_style": "human",
                            "player_1_id": "human:bob", "player_1_style": "human",
                            "winner": ["draw", "player_1", "player_0"], "hp_0": [40, 0, 70],
                            "hp_1": [40, 10, 0], "duration_frames": counts.loc[[2, 0, 1]].to_numpy(),
                            "seed": [12, 10, 11]})
    matches_path = write_log(matches, tmp_path / "matches.csv")
    dest = import_logs(paths, tmp_path / "both", matches=matches_path)
    stored = pd.read_parquet(dest / MATCHES_NAME)
    assert stored["match_id"].tolist() == [0, 1, 2]  # the user's values, not derived ones
    assert stored["winner"].tolist() == ["player_1", "player_0", "draw"]
    assert stored["seed"].tolist() == [10, 11, 12]
    assert pq.read_metadata(dest / "frames" / "part-00000.parquet").num_rows == len(user_log)


def test_out_of_bounds_observations_import_only_when_allowed(user_log, tmp_path):
    frames = user_log.copy()
    frames.loc[5, "me_busy"] = 2.5  # seconds: the encoding documents [0, 2]
    source = write_log(frames, tmp_path / "long_stun.csv")
    with pytest.raises(LogValidationError, match=r"long_stun.csv, line 7, column 'me_busy': value 2.5 is "
                                                 r"outside the encoding's range \[0, 2\]"):
        import_logs(source, tmp_path / "strict")
    assert not (tmp_path / "strict").exists()
    with pytest.warns(LogBoundsWarning, match="line 7, column 'me_busy'"):
        dest = import_logs(source, tmp_path / "lenient", allow_out_of_bounds=True)
    assert pd.read_parquet(dest / "frames")["me_busy"].max() == np.float32(2.5)


# ---- one test per kind of defect ---------------------------------------------------------------------------
def set_value(position, column, value):
    def mutate(frames):
        frames[column] = frames[column].astype(object)
        frames.loc[position, column] = value
        return frames
    return mutate


def numbers_as_text_with(position, column, value):
    """A column of numbers written as text, one of them not a number (Parquet keeps column types)."""
    def mutate(frames):
        frames[column] = frames[column].map(repr)
        frames.loc[position, column] = value
        return frames
    return mutate


def drop_row_of(match, frame, side):
    def mutate(frames):
        keep = ~((frames["match_id"] == match) & (frames["frame"] == frame) & (frames["side"] == side))
        return frames[keep].reset_index(drop=True)
    return mutate


# (defect, mutation, 0-based position of the first offending row in the written file or None for the
# header, column, words the message must hold). The fixture's rows go frame by frame: rows 0-5 are
# frame 0 of matches 0, 1, 2 (sides 0 and 1), rows 6-11 frame 1, and so on.
FILE_DEFECTS = [
    ("missing column", lambda f: f.drop(columns=["opp_stun"]), None, None,
     ["missing 1 column: opp_stun", "needs exactly these 50 columns"]),
    ("extra column", lambda f: f.assign(combo=1), None, None,
     ["unknown column: 'combo'", "needs exactly these 50 columns (in any order): match_id, frame"]),
    ("wrong dtype", numbers_as_text_with(9, "me_height", "high"), 9, "me_height",
     ["expected a number in [0, 1] (jump heights), got 'high' (not a number)"]),
    ("nan", set_value(13, "distance", np.nan), 13, "distance", ["NaN or empty value"]),
    ("inf", set_value(4, "opp_busy", np.inf), 4, "opp_busy", ["got inf", "finite"]),
    ("unknown action name", set_value(8, "action_name", "Guard"), 8, "action_name",
     ["unknown action name 'Guard' (did you mean 'GUARD'?)"]),
    ("action id out of range", set_value(10, "action_id", 12), 10, "action_id",
     ["action id 12 is out of range: valid ids are 0..11 (NO_ACTION,"]),
    ("id/name mismatch", lambda f: set_value(3, "action_name", "GUARD")(set_value(3, "action_id", 7)(f)), 3,
     "action_id, action_name", ["action_id 7 means LIGHT_ATTACK but action_name is 'GUARD' (id 6)"]),
    ("non-contiguous frames", drop_row_of(1, 4, 0), 31, "frame",  # the row of frame 5 (row 32 before)
     ["match 1, side 0: frame 4 is missing (frame 3 is followed by frame 5)"]),
    ("duplicate (match, frame, side)", lambda f: pd.concat([f, f.iloc[[7]]], ignore_index=True), 720,
     "match_id, frame, side", ["(match_id 0, frame 1, side 1) appears again; first at"]),
    ("one side missing", lambda f: f[~((f["match_id"] == 2) & (f["side"] == 1))].reset_index(drop=True), 4,
     "side", ["match 2 has rows for side 0 only; side 1 is missing"]),
]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("defect, mutate, position, column, words", FILE_DEFECTS,
                         ids=[d[0] for d in FILE_DEFECTS])
def test_each_defect_is_rejected_naming_the_file_row_and_column(defect, mutate, position, column, words,
                                                                fmt, user_log, tmp_path):
    assert len(user_log) == 720  # the positions above assume three matches of 120 frames
    source = write_log(mutate(user_log.copy()), tmp_path / f"log.{fmt}")
    with pytest.raises(LogValidationError) as info:
        import_logs(source, tmp_path / "out")
    message = str(info.value)
    prefix = str(source)
    if position is not None:
        prefix += f", {where(fmt, position)}"
    elif fmt == "csv":
        prefix += ", line 1"  # the header
    if column is not None:
        prefix += f", column {column!r}" if "," not in column else f", columns {column}"
    assert message.startswith(prefix + ": "), message
    for word in words:
        assert word in message, message
    assert not (tmp_path / "out").exists() and leftovers(tmp_path) == []


@pytest.mark.parametrize("declared_in", ["argument", "sidecar", "parquet metadata"])
def test_an_encoding_version_mismatch_names_both_versions(declared_in, user_log, tmp_path):
    source = write_log(user_log, tmp_path / "log.parquet")
    kwargs = {}
    if declared_in == "argument":
        kwargs["encoding_version"] = "2"
        declared_by = "the encoding_version argument (--encoding-version)"
    elif declared_in == "sidecar":
        Path(f"{source}.meta.json").write_text(json.dumps({"observation_encoding_version": "2"}))
        declared_by = "its sidecar log.parquet.meta.json"
    else:
        table = pa.Table.from_pandas(user_log, preserve_index=False)
        pq.write_table(table.replace_schema_metadata({"observation_encoding_version": "2"}), source)
        declared_by = "its Parquet metadata key 'observation_encoding_version'"
    with pytest.raises(LogValidationError) as info:
        import_logs(source, tmp_path / "out", **kwargs)
    assert str(info.value).startswith(
        f"{source}: observation encoding version '2' (declared by {declared_by}) does not match this "
        f"code's encoding version '{ENCODING_VERSION}'"), str(info.value)
    assert not (tmp_path / "out").exists()
    if declared_in == "argument":  # declaring the right version is fine
        assert import_logs(source, tmp_path / "ok", encoding_version=ENCODING_VERSION).is_dir()


@pytest.mark.parametrize("case", ["0-byte csv", "header-only csv", "0-byte jsonl", "0-row parquet"])
def test_an_empty_file_is_rejected(case, user_log, tmp_path):
    if case == "0-byte csv":
        source, expected = tmp_path / "log.csv", "the file is empty (0 bytes)"
        source.write_bytes(b"")
    elif case == "header-only csv":
        source, expected = write_log(user_log.iloc[:0], tmp_path / "log.csv"), "the file has no rows"
    elif case == "0-byte jsonl":
        source, expected = tmp_path / "log.jsonl", "the file is empty (0 bytes)"
        source.write_bytes(b"")
    else:
        source, expected = write_log(user_log.iloc[:0], tmp_path / "log.parquet"), "the file has no rows"
    with pytest.raises(LogValidationError) as info:
        import_logs(source, tmp_path / "out")
    assert str(info.value).startswith(f"{source}: {expected}")
    assert not (tmp_path / "out").exists()


def test_a_truncated_parquet_file_is_named_without_an_arrow_traceback(user_log, tmp_path):
    source = write_log(user_log, tmp_path / "log.parquet")
    data = source.read_bytes()
    source.write_bytes(data[: len(data) // 2])
    with pytest.raises(LogValidationError) as info:
        import_logs(source, tmp_path / "out")
    message = str(info.value)
    assert message.startswith(f"{source}: cannot be read as Parquet: the file is truncated or "
                              "corrupt"), message


def test_a_csv_cut_off_mid_row_is_named_with_its_last_line(user_log, tmp_path):
    source = write_log(user_log, tmp_path / "log.csv")
    text = source.read_text()
    source.write_text(text[: text.rindex("\n", 0, len(text) - 1) + 200])  # 200 characters into the last row
    with pytest.raises(LogValidationError) as info:
        import_logs(source, tmp_path / "out")
    message = str(info.value)
    assert message.startswith(f"{source}, line {len(user_log) + 1}: the last line has "), message
    assert "of the header's 50 fields: the file looks truncated (cut off mid-row)" in message


def test_a_jsonl_file_cut_off_mid_row_is_named_with_its_last_row(user_log, tmp_path):
    source = write_log(user_log, tmp_path / "log.jsonl")
    text = source.read_text()
    source.write_text(text[: text.rindex("\n", 0, len(text) - 1) + 200])
    with pytest.raises(LogValidationError) as info:
        import_logs(source, tmp_path / "out")
    assert str(info.value).startswith(f"{source}, row {len(user_log)}: not valid JSON (the last row: the "
                                      "file looks truncated, cut off mid-row)")


def extra_field_on_line_6(path):
    lines = path.read_text().splitlines(keepends=True)
    lines[5] = lines[5].rstrip("\n") + ",1\n"
    path.write_text("".join(lines))


def array_on_row_4(path):
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[:3] + ["[1, 2]\n"] + lines[3:]))


def latin1_name(path):
    path.write_bytes(path.read_text().replace("human:alice", "human:al\u00efce").encode("latin-1"))


@pytest.mark.parametrize("fmt, damage, expected", [
    ("csv", extra_field_on_line_6, ", line 6: not a well-formed CSV file (Error tokenizing data. C error: "
                                   "Expected 50 fields in line 6, saw 51)"),
    ("jsonl", array_on_row_4, ", row 4: expected a JSON object"),
    # the first 'human:alice' is on line 2 (row 1), character 15: "0,0,0,human:al" + the latin-1 byte
    ("csv", latin1_name, ", line 2, column 'player_id': not UTF-8 text: byte 0xef at character 15 of the "
                         "line (invalid continuation byte), near '0,0,0,human:al\\xefce,"),
    ("jsonl", latin1_name, ", row 1, column 'player_id': not UTF-8 text: byte 0xef at character "),
], ids=["csv line with an extra field", "jsonl row that is not an object", "csv not utf-8",
        "jsonl not utf-8"])
def test_a_malformed_file_is_named_with_its_row(fmt, damage, expected, user_log, tmp_path):
    source = write_log(user_log, tmp_path / f"log.{fmt}")
    damage(source)
    with pytest.raises(LogValidationError) as info:
        import_logs(source, tmp_path / "out")
    assert str(info.value).startswith(f"{source}{expected}"), str(info.value)


def test_an_excel_csv_with_a_byte_order_mark_and_crlf_imports(user_log, tmp_path):
    source = tmp_path / "excel.csv"
    user_log.to_csv(source, index=False, encoding="utf-8-sig", lineterminator="\r\n")
    assert source.read_bytes().startswith(b"\xef\xbb\xbfmatch_id,")
    dest = import_logs(source, tmp_path / "out")
    assert pq.read_metadata(dest / "frames" / "part-00000.parquet").num_rows == len(user_log)


@pytest.mark.parametrize("name", ["log.xlsx", "log.txt", "log"])
def test_an_unsupported_extension_lists_the_supported_formats(name, tmp_path):
    source = tmp_path / name
    source.write_text("match_id,frame\n0,0\n")
    with pytest.raises(LogValidationError) as info:
        import_logs(source, tmp_path / "out")
    assert str(info.value).startswith(f"{source}: unsupported file type")
    assert "supported formats: .csv (CSV), .parquet (Parquet), .jsonl (JSON lines), .ndjson (JSON lines)" \
        in str(info.value)


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nope\.csv: no such file"):
        import_logs(tmp_path / "nope.csv", tmp_path / "out")


# ---- all or nothing, and no silent overwrite ---------------------------------------------------------------
def test_a_bad_matches_file_rejects_the_whole_import(user_log, tmp_path):
    source = write_log(user_log, tmp_path / "log.parquet")
    matches = pd.DataFrame({"match_id": [0, 1, 2], "player_0_id": "human:alice", "player_0_style": "human",
                            "player_1_id": "human:bob", "player_1_style": "human", "winner": "draw",
                            "hp_0": 10, "hp_1": 10, "duration_frames": [120, 999, 120], "seed": -1})
    matches_path = write_log(matches, tmp_path / "matches.csv")
    with pytest.raises(LogValidationError) as info:
        import_logs(source, tmp_path / "data" / "mine", matches=matches_path)
    assert str(info.value).startswith(f"{matches_path}, line 3, column 'duration_frames': match 1 has 120 "
                                      "frames per side in the logs but duration_frames is 999")
    assert not (tmp_path / "data").exists() or os.listdir(tmp_path / "data") == []


def test_an_existing_dataset_is_replaced_only_with_overwrite(user_log, tmp_path):
    dest = tmp_path / "mine"
    import_logs(write_log(user_log, tmp_path / "all.csv"), dest)
    before = (dest / MANIFEST_NAME).read_bytes()
    one_match = write_log(user_log[user_log["match_id"] == 0], tmp_path / "one.parquet")
    with pytest.raises(FileExistsError, match=r"already exists; pass overwrite=True \(--overwrite\)"):
        import_logs(one_match, dest)
    assert (dest / MANIFEST_NAME).read_bytes() == before
    import_logs(one_match, dest, overwrite=True)
    assert json.loads((dest / MANIFEST_NAME).read_text())["num_matches"] == 1
    assert leftovers(tmp_path) == []


# ---- command line ------------------------------------------------------------------------------------------
def run_importer(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "datasets.importer", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)


def test_the_command_line_exits_2_with_the_message_on_a_bad_file(user_log, tmp_path):
    source = write_log(set_value(8, "action_name", "PUNCH")(user_log.copy()), tmp_path / "bad.csv")
    result = run_importer(str(source), "--out", str(tmp_path / "out"))
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(f"error: {source}, line 10, column 'action_name': unknown action name "
                                    "'PUNCH'")
    assert "Traceback" not in result.stderr and result.stdout == ""
    assert not (tmp_path / "out").exists()


def test_the_command_line_prints_a_one_line_summary(user_log, tmp_path):
    source = write_log(user_log, tmp_path / "good.jsonl")
    result = run_importer(str(source), "--out", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    assert result.stdout == (f"imported 3 matches ({len(user_log)} rows) from 1 file into "
                             f"{(tmp_path / 'out').absolute()}\n")


# ---- every bad input named: one test per class of the issue -----------------------------------------------
def matches_of(frames: pd.DataFrame) -> pd.DataFrame:
    """A matches table that agrees with ``frames`` (winner and HP from side 0's last frame)."""
    last = frames[frames["side"] == 0].groupby("match_id").tail(1).set_index("match_id").sort_index()
    me, opp = last["me_hp"].to_numpy(), last["opp_hp"].to_numpy()
    return pd.DataFrame({"match_id": last.index, "player_0_id": "human:alice", "player_0_style": "human",
                         "player_1_id": "human:bob", "player_1_style": "human",
                         "winner": np.where(me > opp, "player_0", np.where(me < opp, "player_1", "draw")),
                         "hp_0": np.rint(me * 100).astype(int), "hp_1": np.rint(opp * 100).astype(int),
                         "duration_frames": last["frame"].to_numpy() + 1, "seed": -1})


def test_a_matches_table_that_contradicts_the_frames_is_rejected(user_log, tmp_path):
    frames = user_log.copy()
    last_frame = frames.loc[frames["match_id"] == 1, "frame"].max()
    # match 1 ends with side 1 knocked out: 0 HP on its own last row and on side 0's view of it
    end = (frames["match_id"] == 1) & (frames["frame"] == last_frame)
    frames.loc[end & (frames["side"] == 1), "me_hp"] = 0.0
    frames.loc[end & (frames["side"] == 0), "opp_hp"] = 0.0
    side0_hp = frames.loc[end & (frames["side"] == 0), "me_hp"].item()
    source = write_log(frames, tmp_path / "log.parquet")
    matches = matches_of(frames)
    assert matches["winner"].tolist()[1] == "player_0"
    assert import_logs(source, tmp_path / "ok", matches=write_log(matches, tmp_path / "good.csv")).is_dir()
    # the table says player 1 won (with HP it cannot have): it agrees with itself, not with the frames
    matches.loc[1, ["winner", "hp_0", "hp_1"]] = ["player_1", 0, 25]
    matches_path = write_log(matches, tmp_path / "matches.csv")
    with pytest.raises(LogValidationError) as info:
        import_logs(source, tmp_path / "out", matches=matches_path)
    message = str(info.value)
    expected = (f"  - {matches_path}, line 3, column 'winner': match 1: winner is 'player_1' in the matches "
                "table, but the frames end with side 1 knocked out (me_hp 0 on side 1's last frame, frame "
                f"{last_frame}) and side 0 at me_hp {np.float32(side0_hp):g}, so the winner is player_0")
    assert expected in message, message
    assert f"  - {matches_path}, line 3, column 'hp_1': match 1: hp_1 is 25 in the matches table, but the " \
           "frames end with side 1 at 0 HP" in message, message
    assert not (tmp_path / "out").exists()
    # a winner that contradicts the table's own HP (player 1 won with 0 HP left against 40)
    matches.loc[1, ["winner", "hp_0", "hp_1"]] = ["player_1", 40, 0]
    matches_path = write_log(matches, tmp_path / "matches.csv")
    with pytest.raises(LogValidationError) as info:
        import_logs(write_log(user_log, tmp_path / "clean.parquet"), tmp_path / "out", matches=matches_path)
    assert str(info.value).startswith(
        f"{matches_path}, line 3, columns winner, hp_0, hp_1: match 1: winner is 'player_1' but hp_0 is 40 "
        "and hp_1 is 0; the winner contradicts the HP left (more HP left wins and equal HP is a draw)"), \
        str(info.value)


def test_integer_columns_are_cast_to_float32_only_when_no_value_changes(user_log, tmp_path):
    frames = user_log.copy()
    flags = ["me_guarding", "opp_crouching", "me_phase_active"]
    for name in flags:  # int64 flag columns, as a CSV of 0 / 1 reads them: exact in float32, accepted
        frames[name] = frames[name].round().astype(np.int64)
    dest = import_logs(write_log(frames, tmp_path / "flags.parquet"), tmp_path / "flags")
    stored = pd.read_parquet(dest / "frames")
    assert all(stored[name].dtype == np.float32 for name in flags)
    expected = frames.sort_values(["match_id", "frame", "side"])
    assert all(stored[name].tolist() == expected[name].astype(float).tolist() for name in flags)
    # a whole number float32 cannot hold exactly: the type found and the type expected are named
    frames["me_busy"] = frames["me_busy"].round().astype(np.int64)
    frames.loc[4, "me_busy"] = 2 ** 24 + 1
    source = write_log(frames, tmp_path / "ints.parquet")
    with pytest.raises(LogValidationError) as info:
        import_logs(source, tmp_path / "out")
    assert str(info.value).startswith(
        f"{source}, row 5, column 'me_busy': got 16777217 in a column of type int64; expected float32, which "
        "holds whole numbers exactly only up to 16,777,216 in magnitude, so this value would change on "
        "import (integer columns are converted to float32 only when no value changes)"), str(info.value)
    assert not (tmp_path / "out").exists()


def test_a_parquet_page_that_fails_its_checksum_is_named(user_log, tmp_path):
    source = tmp_path / "log.parquet"
    pq.write_table(pa.Table.from_pandas(user_log, preserve_index=False), source, write_page_checksum=True,
                   use_dictionary=False, compression="NONE")
    dest = import_logs(source, tmp_path / "ok")  # checksums present and right: imports
    assert pq.read_metadata(dest / "frames" / "part-00000.parquet").num_rows == len(user_log)
    metadata = pq.read_metadata(source)
    chunk = metadata.row_group(0).column(metadata.schema.to_arrow_schema().names.index("me_hp"))
    data = bytearray(source.read_bytes())
    data[chunk.data_page_offset + chunk.total_compressed_size - 4] ^= 0x01  # lowest bit of the last value
    source.write_bytes(bytes(data))
    assert pq.read_table(source).num_rows == len(user_log)  # unverified, the flip reads back silently
    with pytest.raises(LogValidationError) as info:
        import_logs(source, tmp_path / "out")
    message = str(info.value)
    assert message.startswith(f"{source}, row 1, column 'me_hp': a data page of this column in rows 1..720 "
                              "(row group 1 of 1) fails its page checksum"), message
    assert "copy or export it again" in message and "Traceback" not in message
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("delimiter, shown, option", [(";", "';'", "';'"), ("\t", "'\\t' (a tab)", "tab")])
def test_a_csv_with_another_delimiter_is_named_and_imports_with_delimiter(delimiter, shown, option, user_log,
                                                                          tmp_path):
    source = tmp_path / "log.csv"
    user_log.to_csv(source, index=False, sep=delimiter)
    with pytest.raises(LogValidationError) as info:
        import_logs(source, tmp_path / "out")
    message = str(info.value)
    assert message.startswith(f"{source}, line 1: the file seems to use {shown} as delimiter, not ',': its "
                              f"header splits into 50 columns by {delimiter!r}"), message
    assert f"pass --delimiter {option} (import_logs(..., delimiter={delimiter!r}))" in message
    assert len(message) < 500  # not the 50 missing columns
    dest = import_logs(source, tmp_path / "out", delimiter=option.strip("'"))  # ';' or 'tab'
    assert pq.read_metadata(dest / "frames" / "part-00000.parquet").num_rows == len(user_log)


def test_the_command_line_names_a_wrong_delimiter_without_a_traceback(user_log, tmp_path):
    source = tmp_path / "log.csv"
    user_log.to_csv(source, index=False, sep=";")
    result = run_importer(str(source), "--out", str(tmp_path / "out"))
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(f"error: {source}, line 1: the file seems to use ';' as delimiter, "
                                    "not ','")
    assert "Traceback" not in result.stderr and result.stdout == ""
    result = run_importer(str(source), "--out", str(tmp_path / "out"), "--delimiter", ";")
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_a_repeated_column_name_is_named_as_repeated(fmt, user_log, tmp_path):
    frames = user_log.copy()
    frames.insert(9, "me_hp_again", frames["me_hp"])
    columns = list(frames.columns)
    columns[9] = "me_hp"
    frames.columns = columns  # me_hp is column 9 (1-based) and column 10
    source = tmp_path / f"log.{fmt}"
    if fmt == "csv":
        frames.to_csv(source, index=False)
    else:
        pq.write_table(pa.Table.from_arrays([pa.array(frames.iloc[:, i]) for i in range(len(columns))],
                                            names=columns), source)
    with pytest.raises(LogValidationError) as info:
        import_logs(source, tmp_path / "out")
    where_ = ", line 1" if fmt == "csv" else ""
    assert str(info.value) == (f"{source}{where_}, column 'me_hp': me_hp appears twice (columns 9 and 10); "
                               "each column must appear exactly once: delete or rename the extra copy")


def test_the_same_file_given_twice_is_named(user_log, tmp_path):
    source = write_log(user_log, tmp_path / "log.csv")
    (tmp_path / "sub").mkdir()
    again = tmp_path / "sub" / ".." / "log.csv"
    with pytest.raises(LogValidationError) as info:
        import_logs([source, again], tmp_path / "out")
    assert str(info.value) == (f"{again}: this file was given twice (also as {str(source)!r}): as log files "
                               "1 and 2 of 2; pass each file once (a match split across files needs each "
                               "part once)")
    with pytest.raises(LogValidationError, match="the matches file is also given as log file 1"):
        import_logs([source], tmp_path / "out", matches=again)


def test_a_read_only_output_folder_is_named_before_any_file_is_read(user_log, tmp_path, monkeypatch):
    parent = tmp_path / "readonly"
    parent.mkdir()
    parent.chmod(0o555)
    if os.geteuid() == 0:  # root writes anywhere: let the check see the folder as a user would
        real_access = os.access
        monkeypatch.setattr(os, "access", lambda path, mode, **kwargs: False if Path(path) == parent
                            else real_access(path, mode, **kwargs))
    bad = write_log(set_value(8, "action_name", "PUNCH")(user_log.copy()), tmp_path / "bad.csv")
    try:
        with pytest.raises(PermissionError) as info:  # not the log's error: the output is checked first
            import_logs(bad, parent / "data" / "mine")
    finally:
        parent.chmod(0o755)
    assert str(info.value) == (f"{parent / 'data' / 'mine'}: cannot write the dataset there: {parent} is "
                               f"read-only (no permission to create the folder {parent / 'data'} in it); "
                               f"choose another --out (dest) or make {parent} writable")
    assert os.listdir(parent) == []


def test_more_distinct_players_than_a_dataset_holds_are_named_before_validating(user_log, tmp_path):
    pairs = 16_385  # one frame of 16,385 matches, each side a new player: 32,770 > 32,767
    frames = user_log.iloc[np.tile([0, 1], pairs)].reset_index(drop=True)
    frames["match_id"] = np.repeat(np.arange(pairs), 2)
    frames["player_id"] = [f"player{i}" for i in range(len(frames))]
    frames.loc[40, "action_name"] = "PUNCH"  # a bad row too: the player count is checked first
    source = write_log(frames, tmp_path / "crowd.parquet")
    with pytest.raises(LogValidationError) as info:
        import_logs(source, tmp_path / "out")
    assert str(info.value) == (
        f"{source}, row 32768, column 'player_id': the logs name 32,770 distinct players ((player_id, style, "
        "skill) combinations), more than the 32,767 a dataset holds (its player index is a 16-bit integer); "
        "player number 32,768 ('player32767', 'human', 'human') first appears here. Import the logs as "
        "several datasets")
    assert not (tmp_path / "out").exists()
