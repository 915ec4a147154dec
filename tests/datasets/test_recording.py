"""RecordLogs: any play of the Gymnasium env becomes a loadable dataset of what was seen and pressed."""

import gymnasium as gym
import numpy as np
import pytest

import agents  # noqa: F401  (registers the env id)
import envs
from agents.scripted import SpamBot
from datasets.load import load_dataset
from datasets.recording import RecordLogs
from envs.actions import Action


def play(env, episodes, seed=0, max_steps=None):
    """Random button presses; return what the env showed the agent and what it pressed, per episode."""
    rng = np.random.default_rng(seed)
    shown = []
    for episode in range(episodes):
        obs, _ = env.reset(seed=seed + episode)
        rows, done, info = [], False, {}
        while not done and (max_steps is None or len(rows) < max_steps):
            action = int(rng.integers(0, 12))
            rows.append((obs, action))
            obs, _, done, _, info = env.step(action)
        shown.append((rows, info.get("result"), env.unwrapped.agent_side))
    return shown


def test_rows_are_what_the_env_returned_and_what_was_pressed(tmp_path):
    env = RecordLogs(gym.make("FightLab/Duel-v0", opponent=SpamBot(Action.LIGHT_ATTACK)), tmp_path / "d",
                     player_id="human:alice")
    shown = play(env, episodes=3)
    env.close()
    ds = load_dataset(tmp_path / "d")
    assert ds.num_matches == 3 and ds.num_frames == 2 * sum(len(rows) for rows, _, _ in shown)
    for match_id, (rows, result, side) in enumerate(shown):
        timeline = ds.match(match_id)
        mine, theirs = timeline[timeline["side"] == side], timeline[timeline["side"] != side]
        np.testing.assert_array_equal(mine[list(envs.observation_field_names())].to_numpy(),
                                      np.stack([obs for obs, _ in rows]))
        assert list(mine["action_id"]) == [a for _, a in rows]
        assert list(mine["frame"]) == list(range(len(rows)))
        assert set(mine["player_id"]) == {"human:alice"} and set(mine["skill"]) == {"human"}
        # the opponent's rows: its own (egocentric) view of the same frames and what it pressed
        assert set(theirs["action_name"]) == {"LIGHT_ATTACK"}
        assert set(theirs["player_id"]) == {"spam_light_attack"}
        np.testing.assert_array_equal(theirs["me_hp"].to_numpy(), mine["opp_hp"].to_numpy())
        np.testing.assert_array_equal(theirs["opp_back_space"].to_numpy(), mine["me_back_space"].to_numpy())
        match = ds.matches.iloc[match_id]
        me, them = f"player_{side}", f"player_{1 - side}"
        assert match[f"{me}_id"] == "human:alice" and match["duration_frames"] == len(rows)
        assert match["winner"] == {"win": me, "loss": them, "draw": "draw"}[result]
        assert match["seed"] == match_id
    assert ds.manifest["generator"]["source"] == "datasets.recording.RecordLogs"


def test_unfinished_matches_are_dropped_and_agent_only_recording(tmp_path):
    env = RecordLogs(gym.make("FightLab/Duel-v0", opponent="footsies"), tmp_path / "d",
                     record_opponent=False)
    shown = play(env, episodes=1, seed=5)  # a finished match
    with pytest.warns(UserWarning, match="dropping its 10 frames"):
        play(env, episodes=1, seed=6, max_steps=10)  # abandoned after 10 frames ...
        env.reset(seed=7)  # ... by this reset
    env.close()
    ds = load_dataset(tmp_path / "d")
    assert ds.num_matches == 1 and ds.num_frames == len(shown[0][0])
    assert set(ds.frames["side"]) == {shown[0][2]} and set(ds.frames["player_id"]) == {"human"}


def test_nothing_finished_writes_nothing_and_existing_paths_are_refused(tmp_path):
    env = RecordLogs(gym.make("FightLab/Duel-v0", opponent="idle"), tmp_path / "d")
    play(env, episodes=1, max_steps=5)
    with pytest.warns(UserWarning, match="nothing written"):
        env.close()
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "d").mkdir()
    with pytest.raises(FileExistsError, match="already exists"):
        RecordLogs(gym.make("FightLab/Duel-v0"), tmp_path / "d")


def test_only_the_fighting_env_can_be_recorded(tmp_path):
    with pytest.raises(TypeError, match="FightingEnv"):
        RecordLogs(gym.make("CartPole-v1"), tmp_path / "d")
    assert list(tmp_path.iterdir()) == []
