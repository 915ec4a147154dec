"""Minari export / import: round trip, refusals with clear messages, the CLI, and d3rlpy reading it."""

from __future__ import annotations

import json

import gymnasium as gym
import h5py
import numpy as np
import pandas as pd
import pytest

from datasets.episodes import build_episodes
from datasets.load import load_dataset, split_by_match
from datasets.minari_format import (
    DATA_DIR,
    MinariFormatError,
    export_minari,
    import_minari,
    main,
    read_minari,
)
from envs.actions import NUM_ACTIONS

DATASET_ID = "fightlab/tiny-v0"


@pytest.fixture(scope="module")
def logs(tmp_path_factory):
    """A very small generated log dataset: 3 pros, 1 match per pairing (6 matches, ~19k rows)."""
    from datasets.generate import GenerateConfig, generate

    return generate(GenerateConfig(matches_per_pairing=1, seed=0, progress=False,
                                   out=str(tmp_path_factory.mktemp("logs") / "tiny")))


@pytest.fixture(scope="module")
def exported(logs, tmp_path_factory):
    root = tmp_path_factory.mktemp("minari")
    export_minari(logs, DATASET_ID, root=root)
    return root


def test_round_trip_gives_back_the_same_logs(logs, exported, tmp_path):
    original = load_dataset(logs)
    back = load_dataset(import_minari(DATASET_ID, tmp_path / "back", root=exported))
    pd.testing.assert_frame_equal(back.frames, original.frames)
    pd.testing.assert_frame_equal(back.matches, original.matches)
    assert back.manifest["frames_sha256"] == original.manifest["frames_sha256"]
    assert back.manifest["generator"]["source"] == "minari"
    assert (back.path / "card.md").is_file()  # written like any dataset's


def test_episodes_are_one_per_match_and_side_with_env_spaces_and_card_metadata(logs, exported):
    from minari.dataset.minari_dataset import MinariDataset

    import agents  # noqa: F401  (registers the env id)

    original = load_dataset(logs)
    minari = MinariDataset(exported / DATASET_ID / DATA_DIR)
    assert minari.total_episodes == 2 * original.num_matches
    assert minari.total_steps == original.num_frames
    env = gym.make("FightLab/Duel-v0", opponent="idle")
    assert minari.observation_space == env.observation_space
    assert minari.action_space == env.action_space == gym.spaces.Discrete(NUM_ACTIONS)
    meta = minari.storage.metadata
    fightlab = meta["fightlab"]
    assert fightlab["observation_encoding_version"] == original.manifest["observation_encoding_version"]
    assert meta["fightlab"]["source_frames_sha256"] == original.manifest["frames_sha256"]
    assert meta["fightlab"]["action_names"][0] == "NO_ACTION"
    assert set(meta["fightlab"]["pros"]) == set(original.manifest["player_counts"])
    assert "card" in meta["description"].lower() or original.path.name in meta["description"]
    # rewards are the episodes' (one home): damage dealt - taken, +-1 on the last frame
    episodes = build_episodes(original)
    first = minari[0]
    np.testing.assert_array_equal(first.rewards, episodes.rewards[episodes.episode(0)])
    assert first.terminations[-1] and not first.terminations[:-1].any() and not first.truncations.any()
    assert first.observations.shape == (len(first.actions) + 1, env.observation_space.shape[0])


def test_a_split_exports_only_its_matches(logs, tmp_path):
    path = export_minari(logs, "fightlab/test-split-v0", root=tmp_path, split="test")
    test = split_by_match(load_dataset(logs))["test"]
    manifest = json.loads((path / "manifest.json").read_text())
    assert manifest["num_matches"] == test.num_matches and manifest["split"]["name"] == "test"


def test_an_existing_dataset_is_kept_unless_overwrite(logs, exported):
    before = (exported / DATASET_ID / DATA_DIR / "metadata.json").read_bytes()
    with pytest.raises(FileExistsError, match="already exists.*--overwrite"):
        export_minari(logs, DATASET_ID, root=exported)
    assert (exported / DATASET_ID / DATA_DIR / "metadata.json").read_bytes() == before
    export_minari(logs, DATASET_ID, root=exported, overwrite=True)  # ours: replaced whole
    assert not [p for p in (exported / "fightlab").iterdir() if p.name.startswith(".")]  # no temp left


def test_overwrite_never_replaces_a_folder_that_is_not_our_export(logs, tmp_path):
    (tmp_path / "someone" / "else-v0").mkdir(parents=True)
    (tmp_path / "someone" / "else-v0" / "notes.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="refusing to replace"):
        export_minari(logs, "someone/else-v0", root=tmp_path, overwrite=True)
    assert (tmp_path / "someone" / "else-v0" / "notes.txt").read_text() == "keep me"


def _copy_with_metadata(exported, tmp_path, change):
    import shutil

    root = tmp_path / "root"
    shutil.copytree(exported, root)
    metadata_file = root / DATASET_ID / DATA_DIR / "metadata.json"
    metadata = json.loads(metadata_file.read_text())
    change(metadata)
    metadata_file.write_text(json.dumps(metadata))
    return root


def test_other_spaces_are_refused_naming_what_differs(exported, tmp_path):
    from minari.serialization import serialize_space

    def wider(metadata):
        metadata["observation_space"] = serialize_space(gym.spaces.Box(-1, 1, (40,), np.float32))
        metadata["action_space"] = serialize_space(gym.spaces.Discrete(9))

    root = _copy_with_metadata(exported, tmp_path, wider)
    with pytest.raises(MinariFormatError, match=r"observation space is Box\(shape=\(40,\), dtype=float32\), "
                                                r"expected Box\(shape=\(42,\).*"
                                                r"action space is Discrete\(9\), expected Discrete\(12\)"):
        read_minari(DATASET_ID, root=root)
    assert not (tmp_path / "out").exists()


def test_another_observation_encoding_is_refused(exported, tmp_path):
    def older(metadata):
        metadata["fightlab"]["observation_encoding_version"] = "0"

    root = _copy_with_metadata(exported, tmp_path, older)
    with pytest.raises(MinariFormatError, match="observation encoding version '0'.*this code's version '1'"):
        import_minari(DATASET_ID, tmp_path / "out", root=root)
    assert not (tmp_path / "out").exists()


def test_episodes_without_our_metadata_are_refused(exported, tmp_path):
    root = _copy_with_metadata(exported, tmp_path, lambda metadata: None)
    with h5py.File(root / DATASET_ID / DATA_DIR / "main_data.hdf5", "a") as file:
        del file["episode_3"].attrs["player_id"]
    with pytest.raises(MinariFormatError, match=r"episode 3 lacks the episode metadata \['player_id'\]"):
        read_minari(DATASET_ID, root=root)


def test_cli_round_trip_and_one_line_errors(logs, tmp_path, capsys):
    root = str(tmp_path / "minari")
    assert main(["export", str(logs), "--out", "cli/tiny-v0", "--root", root]) == 0
    assert "12 Minari episodes" in capsys.readouterr().out
    assert main(["import", "cli/tiny-v0", "--root", root, "--out", str(tmp_path / "back")]) == 0
    assert "imported 6 matches" in capsys.readouterr().out

    assert main(["export", str(logs), "--out", "cli/tiny-v0", "--root", root]) == 2  # exists
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "--overwrite" in err and "Traceback" not in err
    assert main(["import", "cli/missing-v0", "--root", root, "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert "no Minari dataset there" in err and "missing-v0" in err and err.count("\n") == 1
    assert main(["export", str(tmp_path / "nothing"), "--out", "cli/x-v0", "--root", root]) == 2
    err = capsys.readouterr().err
    assert "nothing" in err and "does not exist" in err and "Traceback" not in err


def test_d3rlpy_reads_the_export_unmodified_and_trains(exported, monkeypatch):
    """d3rlpy's own Minari loader (``get_minari``) builds its dataset from our export; a DiscreteBC
    then trains on it for a few steps."""
    from agents.peers import import_d3rlpy

    d3rlpy = import_d3rlpy()
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(exported))
    dataset, env = d3rlpy.datasets.get_minari(DATASET_ID)
    assert dataset.dataset_info.action_size == NUM_ACTIONS
    assert dataset.size() == 12  # episodes: 6 matches x 2 sides
    assert env.observation_space.shape == (42,)
    d3rlpy.seed(0)
    bc = d3rlpy.algos.DiscreteBCConfig(batch_size=64).create(device="cpu:0")
    bc.fit(dataset, n_steps=5, n_steps_per_epoch=5, show_progress=False,
           logger_adapter=d3rlpy.logging.NoopAdapterFactory())
    actions = bc.predict(np.asarray(dataset.episodes[0].observations[:8], dtype=np.float32))
    assert actions.shape == (8,) and ((actions >= 0) & (actions < NUM_ACTIONS)).all()
