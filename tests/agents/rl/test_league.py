"""The opponent pool (PFSP weights, league snapshots) and the env's pool mode."""

from __future__ import annotations

import numpy as np
import pytest

from agents.checkpoint import save_checkpoint
from agents.gym_envs import make_pool_env, pool_env_config, resolve_env_config
from agents.networks import PolicyNetwork
from agents.registry import REFERENCE_POOL, UnknownBotError
from agents.rl.league import SELF, OpponentPool
from envs.duel import PLAYER_IDS
from envs.rllib_env import FightingMultiAgentEnv
from envs.win_record import WinRecord


def test_pfsp_weights_favour_the_opponents_the_learner_loses_to():
    pool = OpponentPool(["idle", "rushdown"], pfsp_power=1.0)
    assert np.allclose(pool.weights(), [0.5, 0.5])  # no games yet: uniform
    for _ in range(20):
        pool.record("idle", "win")
        pool.record("rushdown", "loss")
    weights = pool.weights()
    assert weights[1] > 0.9 and np.isclose(weights.sum(), 1.0)
    rng = np.random.default_rng(0)
    drawn = [pool.sample(rng)[0] for _ in range(200)]
    assert drawn.count("rushdown") > 170
    uniform = OpponentPool(["idle", "rushdown"], pfsp_power=0.0)
    uniform.record("idle", "win")
    assert np.allclose(uniform.weights(), [0.5, 0.5])


def test_league_snapshots_join_the_pool_as_they_appear(tmp_path):
    league = tmp_path / "league"
    pool = OpponentPool(["idle"], league_dir=league, league_share=1.0, league_size=2)
    rng = np.random.default_rng(0)
    assert pool.sample(rng)[0] == "idle"  # no snapshot yet: the named bots
    for iteration in (1, 2, 3):
        save_checkpoint(league / f"iter_{iteration:05d}", PolicyNetwork(hidden_sizes=(4,)))
    (league / "iter_00004").mkdir()  # being written: no manifest yet, so not picked up
    name, bot = pool.sample(rng)
    assert pool.snapshots == [str(league / "iter_00002"), str(league / "iter_00003")]
    assert name in pool.snapshots and bot.act(np.zeros((1, 42), np.float32)).shape == (1,)


def test_bad_pools_fail_early():
    with pytest.raises(UnknownBotError, match="rushdwn"):
        OpponentPool(["rushdwn"])
    with pytest.raises(ValueError, match="empty"):
        OpponentPool([])
    with pytest.raises(ValueError, match="league_share"):
        OpponentPool(["idle"], league_share=2.0)


def test_env_pool_mode_exposes_only_the_learner_and_records_results():
    env = FightingMultiAgentEnv(pool_env_config(["idle"], pfsp_power=1.0, round_seconds=10.0))
    obs, infos = env.reset(seed=0)
    (agent,) = obs
    assert env.agents == [agent] and infos[agent]["opponent"] == "idle"
    done, steps = False, 0
    while not done:
        action = 7 if steps % 10 == 0 else 1  # walk in and jab the idle bot
        obs, rewards, terminateds, truncateds, infos = env.step({agent: action})
        assert set(obs) == {agent} and set(rewards) == {agent}
        done, steps = terminateds["__all__"], steps + 1
    assert infos[agent]["result"] == "win" and env.pool.record_of["idle"] == WinRecord(wins=1)


def test_env_self_entry_plays_both_sides():
    env = FightingMultiAgentEnv(pool_env_config([SELF], round_seconds=1.0))
    obs, infos = env.reset(seed=0)
    assert sorted(obs) == list(PLAYER_IDS) and infos[PLAYER_IDS[0]]["opponent"] == SELF
    obs, rewards, *_ = env.step({a: 0 for a in PLAYER_IDS})
    assert sorted(rewards) == list(PLAYER_IDS)


def test_envs_take_a_sampler_factory_and_names_resolve_in_agents():
    with pytest.raises(TypeError, match="name bots; the envs take objects"):
        FightingMultiAgentEnv({"opponents": ["idle"]})
    config = resolve_env_config({"opponents": ["reference"], "league_share": 0.5, "round_seconds": 2.0})
    assert set(config) == {"opponent_pool", "round_seconds"}
    env = FightingMultiAgentEnv(config)
    assert env.pool.opponents == list(REFERENCE_POOL) and env.pool.league_share == 0.5
    with pytest.raises(UnknownBotError, match=r"unknown bot 'rushdwn'.*pools: perfect_pros, reference"):
        pool_env_config(["rushdwn"])


def test_single_agent_pool_env_plays_the_drawn_bot_and_refuses_self_play():
    import pickle

    factory = pool_env_config(["idle"], round_seconds=1.0)["opponent_pool"]
    assert pickle.loads(pickle.dumps(factory)).args == factory.args  # survives RLlib's pickling
    env = make_pool_env({"opponents": ["idle"], "round_seconds": 1.0})
    obs, info = env.reset(seed=0)
    assert obs.shape == (42,) and info["opponent"] == "idle"
    done = False
    while not done:
        obs, reward, done, truncated, info = env.step(0)
    assert info["result"] == "draw" and env.pool.record_of["idle"] == WinRecord(draws=1)
    first = make_pool_env({"opponents": ["random"], "round_seconds": 1.0})
    second = make_pool_env({"opponents": ["random"], "round_seconds": 1.0})
    assert np.array_equal(first.reset(seed=3)[0], second.reset(seed=3)[0])
    assert [first.step(1)[0].tolist() for _ in range(30)] == [second.step(1)[0].tolist() for _ in range(30)]
    with pytest.raises(ValueError, match="self-play"):
        make_pool_env({"opponents": [SELF]}).reset(seed=0)
