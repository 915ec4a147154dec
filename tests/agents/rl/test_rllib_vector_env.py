"""RLlib PPO samples through the batched pool vector env; live self-play stays on the multi-agent env."""

from __future__ import annotations

import pytest
import torch

from agents.rl.rllib_module import (
    DEFAULT_MODULE_ID,
    SINGLE_AGENT_MODULE_ID,
    bc_policy_state,
    check_policy_weights,
    learning_module_id,
    ppo_config,
)
from envs.pool_vector_env import POOL_ENV_ID, PoolVectorEnv
from envs.rllib_env import FightingMultiAgentEnv


def test_the_env_is_chosen_by_the_pool():
    vector = ppo_config(None, env_config={"opponents": ["reference"], "pfsp_power": 1.0},
                        num_envs_per_env_runner=512)
    assert vector.env == POOL_ENV_ID and vector.gym_env_vectorize_mode == "vector_entry_point"
    assert not vector.is_multi_agent and learning_module_id(vector) == SINGLE_AGENT_MODULE_ID
    assert vector.num_envs_per_env_runner == 512 and set(vector.env_config) == {"opponent_pool"}
    for env_config in ({"opponents": ["idle", "self"]}, {"round_seconds": 2}, None):  # self-play
        config = ppo_config(None, env_config=env_config)
        assert config.env is FightingMultiAgentEnv and learning_module_id(config) == DEFAULT_MODULE_ID
    forced = ppo_config(None, env_config={"opponents": ["idle"]}, env_mode="multi_agent")
    assert forced.env is FightingMultiAgentEnv
    with pytest.raises(ValueError, match="env_mode"):
        ppo_config(None, env_mode="vectorised")


def test_env_runner_samples_all_matches_through_one_vector_env(tiny_checkpoint):
    from ray.rllib.env.single_agent_env_runner import SingleAgentEnvRunner

    path, _, _ = tiny_checkpoint
    config = ppo_config(path, env_config={"opponents": ["idle", "rushdown_club"], "round_seconds": 1.0},
                        num_envs_per_env_runner=16, seed=0, device="cpu")
    runner = SingleAgentEnvRunner(config=config)
    try:
        env = runner.env.unwrapped
        assert isinstance(env, PoolVectorEnv) and env.num_envs == 16
        _, bc_state = bc_policy_state(path)
        check_policy_weights(runner.module, bc_state)  # the BC bot samples
        episodes = runner.sample(num_timesteps=16 * 80)
        assert sum(len(e) for e in episodes) == 16 * 80
        done = [e for e in episodes if e.is_done]
        assert done and all(e.get_infos(-1)["result"] in ("win", "loss", "draw") for e in done)
        assert {e.get_infos(0)["opponent"] for e in episodes} <= {"idle", "rushdown_club"}
        results = sum(r.matches for r in env.sampler.record_of.values())
        assert results == len(done)  # every finished match was reported to the PFSP pool
    finally:
        runner.stop()


def test_vector_ppo_from_bc_trains(tiny_checkpoint):
    path, _, _ = tiny_checkpoint
    config = ppo_config(path, env_config={"opponents": ["idle", "random"], "round_seconds": 2},
                        num_envs_per_env_runner=32, seed=0, device="cpu",
                        train_batch_size_per_learner=512, minibatch_size=128, num_epochs=1, lr=1e-3)
    algo = config.build_algo()
    try:
        from agents.rl.rllib_module import policy_network_from_algo

        _, bc_state = bc_policy_state(path)
        result = algo.train()
        assert result["env_runners"]["num_env_steps_sampled_lifetime"] >= 512
        assert SINGLE_AGENT_MODULE_ID in result["learners"]
        tuned = policy_network_from_algo(algo)
        assert any(not torch.equal(tuned.state_dict()[k], v) for k, v in bc_state.items())
    finally:
        algo.stop()
