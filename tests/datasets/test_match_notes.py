"""Notes on recorded matches (playtest ratings): stored in the manifest, the matches table untouched."""

import gymnasium as gym
import pytest

import agents  # noqa: F401  (registers the env id)
from datasets.load import load_dataset
from datasets.recording import RecordLogs
from datasets.schema import MATCH_SCHEMA
from envs.actions import Action


def test_notes_go_to_the_manifest_and_the_card_and_bad_notes_fail(tmp_path):
    env = RecordLogs(gym.make("FightLab/Duel-v0", opponent="idle", round_seconds=0.2), tmp_path / "d",
                     metadata={"play": {"bot": "idle"}})
    with pytest.raises(ValueError, match="no match recorded yet"):
        env.add_match_notes({"fun": 3})
    for seed in range(2):
        env.reset(seed=seed)
        done = False
        while not done:
            done = env.step(Action.NO_ACTION)[2]
    env.add_match_notes({"difficulty": None, "fun": None}, match_id=0)
    env.add_match_notes({"fun": 2}, match_id=0)  # an update, not a second entry
    env.add_match_notes({"difficulty": 5})  # the last match
    with pytest.raises(ValueError, match="no match 7 in this dataset yet"):
        env.add_match_notes({"fun": 1}, match_id=7)
    with pytest.raises(TypeError, match="not JSON serializable"):
        env.add_match_notes({"fun": object()})
    env.close()
    dataset = load_dataset(tmp_path / "d")
    assert dataset.manifest["match_notes"] == [{"match_id": 0, "difficulty": None, "fun": 2},
                                               {"match_id": 1, "difficulty": 5}]
    assert dataset.manifest["generator"]["play"] == {"bot": "idle"}
    assert list(dataset.matches.columns) == MATCH_SCHEMA.names
    card = (tmp_path / "d" / "card.md").read_text()
    assert "| match | difficulty | fun |" in card and "| 0 |  | 2 |" in card
