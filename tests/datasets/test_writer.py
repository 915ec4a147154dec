"""The dataset writer: exact round trip, shards, manifest counts, hash, atomic and safe publishing."""

import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from agents.registry import make_policy
from datasets.load import load_dataset
from datasets.manifest import MANIFEST_NAME, frames_hash
from datasets.schema import FRAME_SCHEMA, MATCH_SCHEMA, OBSERVATION_COLUMNS
from datasets.writer import DatasetWriter, PlayerInfo, write_dataset
from envs.actions import ACTION_NAMES
from envs.match_runner import play_matches


class TeeRecorder:
    """A naive reference recorder: the rows the writer should produce, built one by one in Python."""

    def __init__(self, writer, players):
        self.writer, self.players, self.rows = writer, players, []

    def begin_wave(self, match_ids, a_side):
        self.writer.begin_wave(match_ids, a_side)
        self.ids, self.a_side = match_ids.copy(), a_side.copy()

    def record_frame(self, rows, frame, obs, actions):
        self.writer.record_frame(rows, frame, obs, actions)
        for r in rows:
            for side in (0, 1):
                player = self.players[0] if self.a_side[r] == side else self.players[1]
                self.rows.append((int(self.ids[r]), frame, side, player.player_id, player.style,
                                  player.skill, *obs[r, side].tolist(), int(actions[r, side])))


def record(path, a="footsies", b="random", matches=8, seed=0, shard_rows=100_000, first_match_id=0,
           **kwargs):
    policy_a, policy_b = make_policy(a), make_policy(b)
    players = (PlayerInfo.of(policy_a), PlayerInfo.of(policy_b))
    with DatasetWriter(path, generator={"test": True}, seed=seed, shard_rows=shard_rows, **kwargs) as writer:
        writer.set_players(*players)
        tee = TeeRecorder(writer, players)
        results = play_matches(policy_a, policy_b, matches, seed=seed, recorder=tee,
                               first_match_id=first_match_id)
        writer.add_matches(results, seed=seed)
    return tee.rows, results


def test_round_trip_has_exact_dtypes_and_the_rows_played(tmp_path):
    # small shards: many of them, through recycled buffers and the background writer thread
    expected_rows, results = record(tmp_path / "d", shard_rows=777)
    assert len(list((tmp_path / "d" / "frames").iterdir())) > 5
    ds = load_dataset(tmp_path / "d")
    frames = ds.frames
    assert list(frames.columns) == FRAME_SCHEMA.names
    assert frames["match_id"].dtype == np.int64 and frames["frame"].dtype == np.int32
    assert frames["side"].dtype == np.int8 and frames["action_id"].dtype == np.int16
    assert all(frames[c].dtype == np.float32 for c in OBSERVATION_COLUMNS)
    for column in ("player_id", "style", "skill", "action_name"):
        assert isinstance(frames[column].dtype, pd.StringDtype), (column, frames[column].dtype)
    assert list(ds.matches.columns) == MATCH_SCHEMA.names
    assert [str(t) for t in ds.matches.dtypes] == ["int64", "str", "str", "str", "str", "str",
                                                   "int32", "int32", "int32", "int64"]
    expected = pd.DataFrame(expected_rows, columns=[c for c in FRAME_SCHEMA.names if c != "action_name"])
    got = frames.drop(columns="action_name")
    assert len(got) == len(expected) == 2 * int(results.table["duration_frames"].sum())
    np.testing.assert_array_equal(got[list(OBSERVATION_COLUMNS)].to_numpy(),
                                  expected[list(OBSERVATION_COLUMNS)].to_numpy(np.float32))
    for column in ("match_id", "frame", "side", "player_id", "style", "skill", "action_id"):
        assert (got[column].to_numpy() == expected[column].to_numpy()).all(), column
    assert (frames["action_name"].to_numpy() == np.asarray(ACTION_NAMES)[frames["action_id"]]).all()


def test_matches_table_follows_sides_and_results(tmp_path):
    _, results = record(tmp_path / "d", a="footsies", b="idle", matches=6, first_match_id=10)
    matches = load_dataset(tmp_path / "d").matches
    assert list(matches["match_id"]) == list(range(10, 16))
    # policy A (footsies) sits on side 0 in even global matches and always beats idle
    assert list(matches["player_0_id"]) == ["footsies", "idle"] * 3
    assert list(matches["winner"]) == ["player_0", "player_1"] * 3
    assert (matches["hp_0"].to_numpy()[1::2] == 0).all() and (matches["hp_1"].to_numpy()[::2] == 0).all()
    assert list(matches["duration_frames"]) == list(results.table["duration_frames"])
    assert (matches["seed"] == 0).all()


def test_manifest_counts_equal_the_data(tmp_path):
    record(tmp_path / "d", matches=10)
    ds = load_dataset(tmp_path / "d")
    m, frames = ds.manifest, ds.frames
    assert m["num_frames"] == len(frames) and m["num_matches"] == len(ds.matches) == 10
    assert frames["match_id"].nunique() == 10
    counts = frames["action_name"].value_counts()
    assert m["action_counts"] == {name: int(counts.get(name, 0)) for name in ACTION_NAMES}
    assert list(m["action_counts"]) == list(ACTION_NAMES)
    for key, column in (("style_counts", "style"), ("skill_counts", "skill"), ("player_counts", "player_id")):
        assert m[key] == frames[column].value_counts().sort_index().to_dict(), key
    assert m["frames_sha256"] == frames_hash(pa.Table.from_pandas(frames, schema=FRAME_SCHEMA,
                                                                  preserve_index=False))
    rows_per_match = frames.groupby("match_id").size().to_numpy()
    assert (rows_per_match == 2 * ds.matches.sort_values("match_id")["duration_frames"].to_numpy()).all()
    assert m["actions"] == {name: i for i, name in enumerate(ACTION_NAMES)}
    assert m["observation_columns"] == list(OBSERVATION_COLUMNS)
    assert m["generator"] == {"test": True} and m["seed"] == 0 and m["created_at"]


def test_small_shards_split_the_rows_and_keep_the_hash(tmp_path):
    record(tmp_path / "one", shard_rows=10_000_000)
    record(tmp_path / "many", shard_rows=1_001)
    one, many = load_dataset(tmp_path / "one"), load_dataset(tmp_path / "many")
    files = sorted(p.name for p in (tmp_path / "many" / "frames").iterdir())
    assert len(files) >= 3 and len(files) == len(many.manifest["shards"])
    assert [s["path"] for s in many.manifest["shards"]] == [f"frames/{f}" for f in files]
    assert all(s["rows"] <= 1_001 for s in many.manifest["shards"])
    assert sum(s["rows"] for s in many.manifest["shards"]) == many.num_frames
    assert len(one.manifest["shards"]) == 1
    pd.testing.assert_frame_equal(one.frames, many.frames)
    assert one.manifest["frames_sha256"] == many.manifest["frames_sha256"]


def test_hash_changes_when_one_value_changes(tmp_path):
    record(tmp_path / "d", matches=3)
    frames = load_dataset(tmp_path / "d").frames
    table = pa.Table.from_pandas(frames, schema=FRAME_SCHEMA, preserve_index=False)
    changed = frames.copy()
    changed.loc[5, "me_hp"] += np.float32(0.01)
    renamed = frames.copy()
    renamed.loc[0, "player_id"] = "footsie"
    renamed.loc[0, "style"] = "sfootsies"
    hashes = {frames_hash(table)}
    for other in (changed, renamed):
        hashes.add(frames_hash(pa.Table.from_pandas(other, schema=FRAME_SCHEMA, preserve_index=False)))
    assert len(hashes) == 3


def test_an_error_midway_leaves_nothing_behind(tmp_path):
    target = tmp_path / "d"
    with pytest.raises(RuntimeError, match="boom"):
        with DatasetWriter(target, shard_rows=500) as writer:
            a, b = make_policy("footsies"), make_policy("random")
            writer.set_players(PlayerInfo.of(a), PlayerInfo.of(b))
            play_matches(a, b, 4, seed=0, recorder=writer)  # several shards already written
            assert any(tmp_path.iterdir())  # the hidden temp folder
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_existing_dataset_is_kept_without_overwrite_and_replaced_with_it(tmp_path):
    target = tmp_path / "d"
    record(target, seed=1)
    before = json.loads((target / MANIFEST_NAME).read_text())
    with pytest.raises(FileExistsError, match=str(target)):
        record(target, seed=2)
    assert json.loads((target / MANIFEST_NAME).read_text()) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d"]
    record(target, seed=2, overwrite=True)
    after = load_dataset(target)
    assert after.manifest["seed"] == 2 and after.manifest["frames_sha256"] != before["frames_sha256"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d"]  # no temp or old folder left


def test_overwrite_never_deletes_a_folder_that_is_not_a_dataset(tmp_path):
    precious = tmp_path / "notes"
    precious.mkdir()
    (precious / "thesis.tex").write_text("years of work")
    with pytest.raises(FileExistsError, match="not a FightLab dataset"):
        record(precious, overwrite=True)
    assert (precious / "thesis.tex").read_text() == "years of work"


def test_closing_an_empty_writer_fails_and_writes_nothing(tmp_path):
    writer = DatasetWriter(tmp_path / "d")
    with pytest.raises(ValueError, match="no frames were recorded"):
        writer.close()
    assert list(tmp_path.iterdir()) == []


def test_write_dataset_round_trips_an_in_memory_table(tmp_path):
    record(tmp_path / "gen", shard_rows=2_000)
    original = load_dataset(tmp_path / "gen")
    path = write_dataset(tmp_path / "copy", original.frames, original.matches,
                         generator={"source": "import", "file": "x.csv"}, seed=None)
    copy = load_dataset(path)
    assert path == (tmp_path / "copy").absolute()
    pd.testing.assert_frame_equal(copy.frames, original.frames)
    pd.testing.assert_frame_equal(copy.matches, original.matches)
    for key in ("frames_sha256", "action_counts", "situation_action_counts", "style_counts", "skill_counts",
                "num_frames", "num_matches"):
        assert copy.manifest[key] == original.manifest[key], key
    assert copy.manifest["generator"] == {"source": "import", "file": "x.csv"}
    assert copy.manifest["seed"] is None


def test_write_dataset_rejects_names_that_disagree_with_ids(tmp_path):
    record(tmp_path / "gen", matches=2)
    ds = load_dataset(tmp_path / "gen")
    frames = ds.frames.copy()
    frames.loc[3, "action_name"] = "THROW" if frames.loc[3, "action_name"] != "THROW" else "GUARD"
    with pytest.raises(ValueError, match="action_name does not match action_id"):
        write_dataset(tmp_path / "bad", frames, ds.matches, generator={}, seed=None)
    assert not (tmp_path / "bad").exists()


def test_player_info_of_a_policy():
    assert PlayerInfo.of(make_policy("zoner_club")) == PlayerInfo("zoner_club", "zoner", "club")
    assert PlayerInfo.of(make_policy("random")) == PlayerInfo("random", "random", "scripted")

    class ConfigStyled:
        name = "bot"
        style = object()  # not a string: a config object, say

    assert PlayerInfo.of(ConfigStyled()) == PlayerInfo("bot", "bot", "scripted")
    with pytest.raises(ValueError, match="player_id"):
        PlayerInfo("", "s", "k")
