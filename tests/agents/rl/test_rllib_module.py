"""RLlib PPO (new API stack) with a BC-initialised RLModule: loads BC exactly, trains, exports."""

from __future__ import annotations

import gymnasium
import numpy as np
import pytest
import torch

from agents.checkpoint import load_network, save_checkpoint
from agents.networks import PolicyNetwork
from agents.rl.rllib_module import (
    BCPolicyRLModule,
    bc_module_spec,
    bc_policy_state,
    check_policy_weights,
    load_bc_into_module,
    module_to_policy_network,
    policy_network_from_algo,
    ppo_config,
)
from agents.rl.sb3_init import BCInitError
from envs.actions import NUM_ACTIONS
from envs.observation import observation_space


def build_module(path, **model_config) -> BCPolicyRLModule:
    spec = bc_module_spec(path, **model_config)
    spec.observation_space = observation_space()
    spec.action_space = gymnasium.spaces.Discrete(NUM_ACTIONS)
    return spec.build()


def test_module_plays_the_bc_bots_logits(tiny_checkpoint):
    from ray.rllib.core.columns import Columns

    import agents

    path, network, adjustment = tiny_checkpoint
    module = build_module(path)
    obs = torch.randn(32, network.obs_dim)
    out = module.forward_inference({Columns.OBS: obs})
    expected = network(obs).detach() - torch.as_tensor(adjustment)
    assert torch.allclose(out[Columns.ACTION_DIST_INPUTS], expected, atol=1e-6)
    assert np.array_equal(agents.load(path).act(obs.numpy()), expected.argmax(1).numpy())
    values = module.compute_values({Columns.OBS: obs})
    assert values.shape == (32,) and torch.count_nonzero(values) == 0  # zero value head at the start


def test_bad_loads_raise(tiny_checkpoint, tmp_path):
    path, _, _ = tiny_checkpoint
    module = build_module(path)
    _, state = bc_policy_state(path)
    module.set_state({"policy.layers.0.weight_typo": np.zeros((16, 42), np.float32)})  # ignored...
    check_policy_weights(module, state)  # ...so nothing changed
    with torch.no_grad():
        module.policy.layers[0].weight.add_(1.0)
    with pytest.raises(BCInitError, match="layers.0.weight"):
        check_policy_weights(module, state)
    other = save_checkpoint(tmp_path / "other", PolicyNetwork(hidden_sizes=(4,)))
    with pytest.raises(BCInitError, match="architecture"):
        load_bc_into_module(module, other)


@pytest.fixture
def ray_session():
    import ray

    ray.init(num_cpus=2, include_dashboard=False, ignore_reinit_error=True, log_to_driver=False)
    yield
    ray.shutdown()


def test_ppo_self_play_from_bc_trains_and_exports(tiny_checkpoint, tmp_path, ray_session):
    import agents

    path, network, _ = tiny_checkpoint
    config = ppo_config(path, env_config={"round_seconds": 2}, seed=0, device="cpu",
                        train_batch_size_per_learner=256, minibatch_size=64, num_epochs=1, lr=1e-5)
    assert config.enable_rl_module_and_learner and config.enable_env_runner_and_connector_v2
    assert config.num_env_runners == 0 and config.num_learners == 0
    _, bc_state = bc_policy_state(path)
    algo = config.build_algo()
    try:
        check_policy_weights(algo.get_module("fighter"), bc_state)
        before = policy_network_from_algo(algo, "fighter")
        assert all(torch.equal(before.state_dict()[k], v) for k, v in bc_state.items())
        for _ in range(2):
            result = algo.train()
        learner = result["learners"]["fighter"]
        assert np.isfinite(learner["total_loss"])
        assert result["env_runners"]["num_env_steps_sampled_lifetime"] >= 512
        tuned = policy_network_from_algo(algo, "fighter")
        with pytest.raises(BCInitError):
            check_policy_weights(algo.get_module("fighter"), bc_state)  # EnvRunner got new weights
        assert any(not torch.equal(tuned.state_dict()[k], v) for k, v in bc_state.items())
        synced = module_to_policy_network(algo.get_module("fighter"))
        assert all(torch.equal(synced.state_dict()[k], v) for k, v in tuned.state_dict().items())
    finally:
        algo.stop()

    assert tuned.config() == network.config()
    out = save_checkpoint(tmp_path / "ppo", tuned, name="rllib_ppo_from_bc")
    reloaded, _ = load_network(out)
    obs = torch.randn(16, network.obs_dim)
    assert np.array_equal(agents.load(out).act(obs.numpy()), tuned(obs).argmax(1).numpy())


def test_same_seed_same_weights(tiny_checkpoint):
    """RLlib PPO from BC against an opponent pool is deterministic by seed (driver-side sampling):
    the experiment's table is reproducible, RL row included."""
    path, _, _ = tiny_checkpoint
    trained = []
    for _ in range(2):
        config = ppo_config(path, env_config={"opponents": ["rushdown_club", "idle"], "round_seconds": 5},
                            seed=7, device="cpu", num_envs_per_env_runner=2,
                            train_batch_size_per_learner=512, minibatch_size=128, num_epochs=1, lr=1e-3)
        algo = config.build_algo()
        try:
            algo.train()
            trained.append(policy_network_from_algo(algo).state_dict())
        finally:
            algo.stop()
    assert all(torch.equal(trained[0][k], trained[1][k]) for k in trained[0])
    _, bc_state = bc_policy_state(path)
    assert any(not torch.equal(trained[0][k], bc_state[k]) for k in bc_state)  # and it did train
