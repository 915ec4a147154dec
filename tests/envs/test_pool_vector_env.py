"""The pool vector env: N matches in one engine, each slot against an opponent drawn from a sampler.

Parity with FightingVectorEnv against a fixed opponent (stateful, stateless and reaction-delayed
bots), one act call per bot per frame, determinism by seed, results reported to the sampler, both
autoreset modes, Gymnasium's vector API (spaces, make_vec) and bad input.
"""

from __future__ import annotations

import functools

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import data_equivalence
from gymnasium.vector import AutoresetMode

import agents  # noqa: F401  (registers FightLab/PoolDuel-v0)
from agents.bc import BCPolicy
from agents.gym_envs import pool_factory
from agents.networks import PolicyNetwork
from agents.registry import make_policy
from envs.actions import NUM_ACTIONS, InvalidActionError
from envs.observation import OBS_DIM, MatchField
from envs.pool_vector_env import POOL_ENV_ID, PoolVectorEnv
from envs.vector_env import FightingVectorEnv
from envs.win_record import WinRecord


class FixedSampler:
    """Always the same bot, drawing nothing from the rng (so the env's draws are FightingVectorEnv's)."""

    def __init__(self, bot, params=None) -> None:
        self.bot, self.results = bot, []

    def sample(self, rng):
        return self.bot.name, self.bot

    def record(self, name, result):
        self.results.append((name, result))


class CycleSampler:
    """Draws the bots in turn (no rng), so slots get different opponents in a known pattern."""

    def __init__(self, bots, params=None) -> None:
        self.bots, self.draws, self.results = bots, 0, []

    def sample(self, rng):
        bot = self.bots[self.draws % len(self.bots)]
        self.draws += 1
        return bot.name, bot

    def record(self, name, result):
        self.results.append((name, result))


class Spy:
    """A bot that records the batch size of every act call (optionally declaring itself deterministic)."""

    def __init__(self, name: str, action: int, deterministic: bool = False) -> None:
        self.name, self.action, self.calls, self.resets = name, action, [], []
        if deterministic:
            self.deterministic = True

    def reset(self, num_envs, seed=None, env_ids=None):
        self.resets.append((num_envs, None if env_ids is None else sorted(np.asarray(env_ids).tolist())))

    def act(self, obs):
        self.calls.append(obs.shape[0])
        return np.full(obs.shape[0], self.action, dtype=np.int64)


def deterministic_bc() -> BCPolicy:
    torch.manual_seed(0)
    return BCPolicy(PolicyNetwork(hidden_sizes=(16,)), name="tiny_bc")


def rollout(env, seed: int, frames: int, n: int) -> list:
    rng = np.random.default_rng(seed)
    out = [env.reset(seed=seed)]
    for _ in range(frames):
        out.append(env.step(rng.integers(0, NUM_ACTIONS, size=n)))
    return out


@pytest.mark.parametrize("bot", ["random", "rushdown", "bc"])
def test_one_fixed_opponent_plays_exactly_the_fighting_vector_env(bot):
    """Against a sampler that always returns one bot, every slot is FightingVectorEnv's slot: same
    observations, rewards, ends, sides and results, through several autoresets. ``rushdown`` keeps a
    reaction-delay queue per row; the BC bot is deterministic and gets only its own rows."""
    make = deterministic_bc if bot == "bc" else functools.partial(make_policy, bot)
    n = 6
    pool = PoolVectorEnv(n, opponent_pool=functools.partial(FixedSampler, make()), round_seconds=1.0)
    reference = FightingVectorEnv(n, opponent=make(), round_seconds=1.0)
    ours, theirs = rollout(pool, 3, 200, n), rollout(reference, 3, 200, n)
    assert sum(step[2].sum() for step in ours[1:]) >= n  # every slot ended at least once
    for mine, reference_step in zip(ours, theirs, strict=True):
        info = {k: v for k, v in mine[-1].items() if k != "opponent"}
        assert data_equivalence(mine[:-1], reference_step[:-1], exact=True) \
            and data_equivalence(info, reference_step[-1], exact=True)
    assert set(ours[-1][-1]["opponent"]) == {pool.sampler.bot.name}


def test_every_bot_acts_once_per_frame_stateful_ones_on_every_row():
    stateful, stateless = Spy("stateful", 1), Spy("stateless", 2, deterministic=True)
    n = 8
    env = PoolVectorEnv(n, opponent_pool=functools.partial(CycleSampler, [stateful, stateless]),
                        agent_side=0)
    env.reset(seed=0)
    assert env.opponent_name.tolist() == ["stateful", "stateless"] * 4
    assert stateful.resets == [(n, None), (n, [0, 2, 4, 6])]  # first drawn: a full reset, then its slots
    env.step(np.zeros(n, dtype=np.int64))
    assert stateful.calls == [n] and stateless.calls == [4]  # one call each; the stateless bot its rows
    np.testing.assert_array_equal(env._actions[:, 1], [1, 2] * 4)  # each slot got its own bot's command


def test_same_seed_same_matches_and_results_reach_the_sampler():
    def make():
        return PoolVectorEnv(16, opponent_pool=pool_factory(["idle", "random", "rushdown_club", "zoner"],
                                                             pfsp_power=1.0), round_seconds=1.0)

    first, second = make(), make()
    trace = rollout(first, 7, 250, 16)
    assert data_equivalence(trace, rollout(second, 7, 250, 16), exact=True)
    assert not data_equivalence(trace, rollout(make(), 8, 250, 16), exact=True)
    assert len(set(trace[0][1]["opponent"])) > 1  # slots play different bots
    ended = sum(int(step[2].sum()) for step in trace[1:])
    recorded = sum(first.sampler.record_of.values(), WinRecord())
    assert ended >= 16 and recorded.matches == ended
    results = np.concatenate([step[-1]["result"][step[2]] for step in trace[1:]])
    assert recorded == WinRecord.from_results(results)
    # the PFSP weights moved with the results: the learner (random actions) beats idle least rarely
    assert not np.allclose(first.sampler.weights(), 0.25)


def test_same_step_autoreset_restarts_in_the_step_that_ended():
    def make(mode):
        return PoolVectorEnv(8, opponent_pool=pool_factory(["random", "idle"]), autoreset_mode=mode,
                             round_seconds=1.0)

    next_step, same_step = make(AutoresetMode.NEXT_STEP), make(AutoresetMode.SAME_STEP)
    assert same_step.metadata["autoreset_mode"] == AutoresetMode.SAME_STEP
    next_step.reset(seed=1)
    same_step.reset(seed=1)
    actions = np.full(8, 8)
    for _ in range(200):
        obs_a, reward_a, term_a, _, info_a = next_step.step(actions)
        obs_b, reward_b, term_b, _, info_b = same_step.step(actions)
        if term_a.any():
            break
    ended = np.flatnonzero(term_a)
    assert ended.size and np.array_equal(term_a, term_b) and np.array_equal(reward_a, reward_b)
    assert np.array_equal(info_b["_final_obs"], term_b) and np.array_equal(info_b["_final_info"], term_b)
    assert np.array_equal(np.stack(info_b["final_obs"][ended]), obs_a[ended])  # the last frame...
    assert np.array_equal(info_b["final_info"]["result"][ended], info_a["result"][ended])
    assert (info_b["frame"][ended] == 0).all()  # ...and already the next match
    assert np.allclose(obs_b[ended, MatchField.TIME_LEFT], 1.0)


def test_gymnasium_vector_api_and_make_vec():
    env = gym.make_vec(POOL_ENV_ID, num_envs=32, vectorization_mode="vector_entry_point",
                       opponents=["reference"], pfsp_power=1.0, round_seconds=2.0)
    assert isinstance(env.unwrapped, PoolVectorEnv)
    assert env.single_observation_space.shape == (OBS_DIM,) and env.action_space.shape == (32,)
    obs, info = env.reset(seed=0)
    assert obs.dtype == np.float32 and env.observation_space.contains(obs)
    for _ in range(130):
        obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
        assert env.observation_space.contains(obs) and reward.dtype == np.float32
        assert terminated.shape == truncated.shape == (32,) and not truncated.any()
        assert set(info) == {"frame", "hp", "opponent_hp", "side", "opponent", "result", "_result"}
    env.close()
    single = gym.make(POOL_ENV_ID, opponents=["idle"])  # the one-match view of the same pool
    assert single.reset(seed=0)[1]["opponent"] == "idle"


def test_bad_input_fails_with_a_message():
    with pytest.raises(TypeError, match="needs opponent_pool"):
        PoolVectorEnv(4)
    with pytest.raises(TypeError, match="name bots; the envs take objects"):
        PoolVectorEnv(4, opponents=["idle"])
    with pytest.raises(ValueError, match="self-play"):
        PoolVectorEnv(4, opponent_pool=pool_factory(["self"])).reset(seed=0)
    with pytest.raises(TypeError, match="unknown game option"):
        PoolVectorEnv(4, opponent_pool=pool_factory(["idle"]), round_secs=2)
    env = PoolVectorEnv(4, opponent_pool=pool_factory(["idle"]))
    env.reset(seed=0)
    with pytest.raises(InvalidActionError, match=r"shape \(4,\)"):
        env.step(np.zeros(3, dtype=np.int64))
    broken = Spy("broken", NUM_ACTIONS + 5)
    env = PoolVectorEnv(4, opponent_pool=functools.partial(FixedSampler, broken))
    env.reset(seed=0)
    with pytest.raises(InvalidActionError, match="the pool's opponent 'broken'"):
        env.step(np.zeros(4, dtype=np.int64))
