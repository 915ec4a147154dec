"""SB3's VecEnv over the batched pool env: SB3's step semantics, parity with the vector env, real PPO."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from gymnasium.vector import AutoresetMode

from agents.gym_envs import make_pool_vector_env
from agents.rl.sb3_train import SB3VecEnv, make_sb3_vec_env
from envs.observation import MatchField

POOL = {"opponents": ["random", "idle", "rushdown_club"], "pfsp_power": 1.0, "round_seconds": 1.0}


def test_sb3_vec_env_is_the_vector_env_with_sb3_semantics():
    venv = SB3VecEnv(make_pool_vector_env(8, autoreset_mode=AutoresetMode.SAME_STEP, **POOL))
    reference = make_pool_vector_env(8, autoreset_mode=AutoresetMode.SAME_STEP, **POOL)
    venv.seed(5)
    obs = venv.reset()
    assert np.array_equal(obs, reference.reset(seed=5)[0]) and obs.shape == (8, 42)
    rng = np.random.default_rng(0)
    ended = 0
    for _ in range(200):
        actions = rng.integers(0, 12, size=8)
        obs, rewards, dones, infos = venv.step(actions)
        expected, expected_rewards, terminated, _, info = reference.step(actions)
        assert np.array_equal(obs, expected) and np.array_equal(rewards, expected_rewards)
        assert np.array_equal(dones, terminated) and len(infos) == 8
        for i in np.flatnonzero(dones):  # SB3: the next match's first frame, the last one in the info
            assert np.array_equal(infos[i]["terminal_observation"], info["final_obs"][i])
            assert infos[i]["result"] in ("win", "loss", "draw") and not infos[i]["TimeLimit.truncated"]
            assert infos[i]["opponent"] == info["final_info"]["opponent"][i]
            assert obs[i, MatchField.TIME_LEFT] == 1.0
        assert all(info_i == {} for i, info_i in enumerate(infos) if not dones[i])
        ended += int(dones.sum())
    assert ended >= 8
    assert venv.get_attr("num_envs", [0, 3]) == [8, 8] and venv.env_is_wrapped(object) == [False] * 8
    with pytest.raises(ValueError, match="SAME_STEP"):
        SB3VecEnv(make_pool_vector_env(2, **POOL))


def test_sb3_ppo_on_the_vector_env_is_deterministic_by_seed():
    from stable_baselines3 import PPO

    weights = []
    for _ in range(2):
        venv = make_sb3_vec_env(16, **POOL)
        model = PPO("MlpPolicy", venv, n_steps=32, batch_size=128, n_epochs=1, learning_rate=1e-3,
                    policy_kwargs={"net_arch": [16]}, seed=3, device="cpu", verbose=0)
        model.learn(1024)
        assert model.num_timesteps == 1024 and len(model.ep_info_buffer) > 0  # VecMonitor saw matches end
        weights.append({k: v.clone() for k, v in model.policy.state_dict().items()})
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])
