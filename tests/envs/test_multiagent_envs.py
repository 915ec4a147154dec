"""Two-player adapters: PettingZoo ParallelEnv (official API and seed tests) and RLlib MultiAgentEnv."""

import numpy as np
import pytest
from pettingzoo.test import parallel_api_test, parallel_seed_test

from envs.actions import Action, InvalidActionError
from envs.duel import PLAYER_IDS
from envs.observation import MatchField
from envs.pettingzoo_env import FightingParallelEnv


def test_pettingzoo_parallel_api():
    parallel_api_test(FightingParallelEnv(), num_cycles=2000)


def test_pettingzoo_parallel_seed():
    parallel_seed_test(lambda: FightingParallelEnv(), num_cycles=500)


def test_pettingzoo_zero_sum_and_result():
    env = FightingParallelEnv(round_seconds=3.0)
    obs, _ = env.reset(seed=0)
    total = dict.fromkeys(PLAYER_IDS, 0.0)
    while env.agents:
        close = obs["player_0"][MatchField.DISTANCE] * env.params.stage_width < 90
        attack = Action.HEAVY_ATTACK if close else Action.WALK_FORWARD
        obs, rewards, terms, _, infos = env.step({"player_0": attack, "player_1": Action.NO_ACTION})
        for agent, r in rewards.items():
            total[agent] += r
    assert infos["player_0"]["result"] == "win" and infos["player_1"]["result"] == "loss"
    assert total["player_0"] == pytest.approx(-total["player_1"])
    with pytest.raises(RuntimeError, match="finished match"):
        env.step({"player_0": 0, "player_1": 0})
    env.reset(seed=1)
    with pytest.raises(ValueError, match="missing"):
        env.step({"player_0": 0})
    with pytest.raises(InvalidActionError):
        env.step({"player_0": 99, "player_1": 0})


def test_rllib_multi_agent_env_real_rollout():
    """A real RLlib rollout: PPO's default RLModule acting in our MultiAgentEnv on the new API stack."""
    pytest.importorskip("ray.rllib")
    from ray.rllib.algorithms.ppo import PPOConfig
    from ray.rllib.env.multi_agent_env import MultiAgentEnv
    from ray.rllib.env.multi_agent_env_runner import MultiAgentEnvRunner

    from envs.rllib_env import FightingMultiAgentEnv

    env = FightingMultiAgentEnv({"round_seconds": 2.0})
    assert isinstance(env, MultiAgentEnv)
    config = (
        PPOConfig()
        .environment(FightingMultiAgentEnv, env_config={"round_seconds": 2.0})
        .multi_agent(policies={"fighter"}, policy_mapping_fn=lambda agent_id, episode, **kw: "fighter")
        .env_runners(num_env_runners=0, num_envs_per_env_runner=1)
        .debugging(seed=0)
    )
    runner = MultiAgentEnvRunner(config=config)
    episodes = runner.sample(num_episodes=2)
    assert len(episodes) == 2
    for episode in episodes:
        assert episode.is_done and set(episode.agent_episodes) == set(PLAYER_IDS)
        assert episode.env_steps() == 120  # 2 s at 60 fps, or less on a KO
        returns = [episode.agent_episodes[a].get_return() for a in PLAYER_IDS]
        assert returns[0] == pytest.approx(-returns[1])
        observations = np.stack(episode.agent_episodes["player_0"].get_observations())
        assert observations.shape[1] == 42
    runner.stop()
    obs, _ = env.reset(seed=3)
    obs2, _ = FightingMultiAgentEnv({"round_seconds": 2.0}).reset(seed=3)
    assert all(np.array_equal(obs[a], obs2[a]) for a in PLAYER_IDS)
    with pytest.raises(TypeError, match="unknown game option"):
        FightingMultiAgentEnv({"round_secs": 2.0})
