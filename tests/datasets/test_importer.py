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
    ("csv", latin1_name, ": not UTF-8 text"),
], ids=["csv line with an extra field", "jsonl row that is not an object", "csv not utf-8"])
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
