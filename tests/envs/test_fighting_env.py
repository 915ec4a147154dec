"""The Gymnasium env and vector env: checkers, determinism, autoreset, delay, rendering, bad input."""

import re
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import agents  # noqa: F401  (registers FightLab/Duel-v0 with the name-resolving factory)
import envs
from agents.registry import UnknownBotError, make_policy
from envs.actions import NUM_ACTIONS, Action, InvalidActionError
from envs.fighting_env import FightingEnv
from envs.observation import OBS_DIM, MatchField
from envs.vector_env import FightingVectorEnv

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"


def test_registered_id_and_gymnasium_checker():
    env = gym.make(envs.ENV_ID)
    assert isinstance(env.unwrapped, FightingEnv)
    check_env(env.unwrapped, skip_render_check=False)


def test_stable_baselines3_checker():
    sb3_check_env(FightingEnv(opponent=make_policy("random")), warn=True)


def rollout(env: gym.Env, seed: int, steps: int) -> list:
    obs, _ = env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    trace = [obs]
    for _ in range(steps):
        obs, reward, terminated, truncated, info = env.step(int(rng.integers(NUM_ACTIONS)))
        trace.append((obs, reward, terminated, info))
        if terminated:
            trace.append(env.reset())
    return trace


def _equal(a, b) -> bool:
    if isinstance(a, np.ndarray):
        return np.array_equal(a, b)
    if isinstance(a, (tuple, list)):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    return a == b


def test_same_seed_same_rollout_different_seed_different_rollout():
    make = lambda: gym.make(envs.ENV_ID, opponent="random")
    first, second = rollout(make(), 3, 2500), rollout(make(), 3, 2500)
    assert _equal(first, second)
    assert not _equal(first, rollout(make(), 4, 2500))


def test_episode_ends_with_a_result_and_a_terminal_bonus():
    env = gym.make(envs.ENV_ID, opponent="idle", round_seconds=2.0)
    obs, _ = env.reset(seed=0)
    total = 0.0
    for _ in range(10_000):
        close = obs[MatchField.DISTANCE] * env.unwrapped.params.stage_width < 90
        obs, reward, terminated, truncated, info = env.step(
            Action.HEAVY_ATTACK if close else Action.WALK_FORWARD)
        total += reward
        if terminated:
            break
    assert terminated and not truncated
    assert info["result"] == "win" and info["opponent_hp"] < info["hp"]
    assert total == pytest.approx(1.0 + (info["hp"] - info["opponent_hp"]) / 100)


def test_observation_delay_shows_the_past():
    delay = 3
    plain = gym.make(envs.ENV_ID, opponent="random", agent_side=0)
    late = gym.make(envs.ENV_ID, opponent="random", agent_side=0, observation_delay=delay)
    seen_plain = [plain.reset(seed=1)[0]]
    seen_late = [late.reset(seed=1)[0]]
    for t in range(200):
        action = [Action.WALK_FORWARD, Action.LIGHT_ATTACK, Action.NO_ACTION][t % 3]
        seen_plain.append(plain.step(action)[0])
        seen_late.append(late.step(action)[0])
    for t in range(delay, len(seen_late)):
        assert np.array_equal(seen_late[t], seen_plain[t - delay])


@pytest.mark.parametrize("action, message", [
    (NUM_ACTIONS, f"action id {NUM_ACTIONS} is out of range"),
    (-1, "action id -1 is out of range"),
    (1.5, "action must be an int command id"),
    ("jump", "action must be an int command id"),
    (True, "action must be an int command id"),
])
def test_invalid_action_gets_a_clear_error(action, message):
    env = FightingEnv(opponent=make_policy("idle"))
    env.reset(seed=0)
    with pytest.raises(InvalidActionError, match=re.escape(message)):
        env.step(action)


def test_unknown_option_bad_seed_bad_side_unknown_opponent():
    unknown_option = r"unknown game option\(s\) \['round_secs'\]; valid options: .*round_seconds"
    with pytest.raises(TypeError, match=unknown_option):
        gym.make(envs.ENV_ID, round_secs=30)
    env = FightingEnv(opponent=make_policy("idle"))
    with pytest.raises(TypeError, match="seed must be a non-negative int or None, got 'abc'"):
        env.reset(seed="abc")
    with pytest.raises(TypeError, match="seed must be a non-negative int or None, got 1.5"):
        env.reset(seed=1.5)
    unknown_reset = r"unknown reset option\(s\) \['side'\]; valid options: \['agent_side'\]"
    with pytest.raises(ValueError, match=unknown_reset):
        env.reset(options={"side": 1})
    with pytest.raises(ValueError, match="agent_side must be 0, 1 or 'random', got 2"):
        FightingEnv(opponent=make_policy("idle"), agent_side=2)
    with pytest.raises(UnknownBotError, match="unknown bot 'pro'; available bots: footsies, idle, random"):
        gym.make(envs.ENV_ID, opponent="pro")
    with pytest.raises(ValueError, match="render_mode must be one of"):
        FightingEnv(opponent=make_policy("idle"), render_mode="3d")


def test_env_classes_take_policies_not_names():
    with pytest.raises(TypeError, match=r"opponent='footsies' is a name; the envs take a Policy object"):
        FightingEnv(opponent="footsies")
    with pytest.raises(TypeError, match="opponent is required"):
        FightingEnv()
    with pytest.raises(TypeError, match="opponent must be a Policy"):
        FightingVectorEnv(num_envs=2, opponent=42)
    bot = make_policy("random")
    assert FightingEnv(opponent=bot).opponent is bot
    assert gym.make(envs.ENV_ID, opponent=bot).unwrapped.opponent is bot  # a Policy passes through


def test_agent_side_option_and_egocentric_start():
    env = FightingEnv(opponent=make_policy("idle"))
    for side in (0, 1):
        obs, info = env.reset(seed=0, options={"agent_side": side})
        assert info["side"] == side and env.agent_side == side
        assert obs[MatchField.DISTANCE] > 0  # the opponent is always in front of "me"


def test_ansi_render_and_rgb_array_frame():
    env = FightingEnv(opponent=make_policy("footsies"), render_mode="ansi", agent_side=0)
    env.reset(seed=0)
    text = env.render()
    assert "YOU 100" in text and "CPU 100" in text and "60.0s" in text

    env = FightingEnv(opponent=make_policy("footsies"), render_mode="rgb_array", agent_side=0)
    env.reset(seed=0)
    for _ in range(150):
        env.step(Action.WALK_FORWARD if env.duel.engine.state.frame[0] % 9 == 0 else Action.NO_ACTION)
    frame = env.render()
    assert frame.dtype == np.uint8 and frame.ndim == 3 and frame.shape[2] == 3
    assert frame.shape[1] == int(env.params.stage_width)
    assert len(np.unique(frame.reshape(-1, 3), axis=0)) > 10  # fighters, HUD, text: not blank
    ARTIFACTS.mkdir(exist_ok=True)
    import pygame

    pygame.image.save(pygame.surfarray.make_surface(frame.transpose(1, 0, 2)),
                      str(ARTIFACTS / "env_rgb_array.png"))
    env.close()


def test_human_render_opens_a_window_headless():
    env = FightingEnv(opponent=make_policy("random"), render_mode="human", round_seconds=0.2)
    env.metadata = {**env.metadata, "render_fps": 1000}
    env.reset(seed=0)
    terminated = False
    while not terminated:
        _, _, terminated, _, _ = env.step(Action.NO_ACTION)
    import pygame


    assert pygame.display.get_surface() is not None
    env.close()


# ---- vector env -------------------------------------------------------------------------------

def test_make_vec_builds_the_batched_env():
    vec = gym.make_vec(envs.ENV_ID, num_envs=16, vectorization_mode="vector_entry_point",
                       opponent="random")
    assert isinstance(vec.unwrapped, FightingVectorEnv)
    obs, info = vec.reset(seed=0)
    assert obs.shape == (16, OBS_DIM) and vec.observation_space.contains(obs)


def test_vector_env_autoreset_is_next_step():
    vec = FightingVectorEnv(num_envs=8, opponent=make_policy("random"), round_seconds=1.0)
    vec.reset(seed=0)
    terminated = np.zeros(8, dtype=bool)
    for _ in range(200):
        obs, reward, terminated, truncated, info = vec.step(np.full(8, Action.HEAVY_ATTACK))
        if terminated.any():
            break
    assert terminated.any()
    ended = np.flatnonzero(terminated)
    assert set(info["result"][ended]) <= {"win", "loss", "draw"}
    assert (info["_result"] == terminated).all()
    obs, reward, terminated2, _, info = vec.step(np.zeros(8, dtype=np.int64))
    assert (reward[ended] == 0).all() and not terminated2[ended].any()
    assert np.allclose(obs[ended, MatchField.TIME_LEFT], 1.0)  # a fresh episode
    assert (info["frame"][ended] == 0).all()


def test_vector_env_is_deterministic_and_matches_single_rules():
    def trace(seed):
        vec = FightingVectorEnv(num_envs=4, opponent=make_policy("random"))
        out = [vec.reset(seed=seed)[0]]
        rng = np.random.default_rng(seed)
        for _ in range(300):
            out.append(vec.step(rng.integers(0, NUM_ACTIONS, size=4))[:2])
        return out
    assert _equal(trace(1), trace(1))
    with pytest.raises(InvalidActionError, match=re.escape("shape (4,)")):
        FightingVectorEnv(num_envs=4, opponent=make_policy("idle")).step(np.zeros(3, dtype=np.int64))
