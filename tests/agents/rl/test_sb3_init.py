"""SB3 PPO initialised from a BC checkpoint: same logits as BC, trains for real, exports back."""

from __future__ import annotations

import gymnasium
import numpy as np
import pytest
import torch

import agents  # registers FightLab/Duel-v0
from agents.checkpoint import load_network, save_checkpoint
from agents.rl.sb3_init import (
    BCInitError,
    check_logits_match,
    make_sb3_ppo,
    sb3_action_logits,
    sb3_to_policy_network,
)


def make_env():
    return gymnasium.make("FightLab/Duel-v0", opponent="random", round_seconds=2)


def test_ppo_starts_from_bc_logits_learns_and_exports(tiny_checkpoint, tmp_path):
    path, network, adjustment = tiny_checkpoint
    model = make_sb3_ppo(make_env(), path, n_steps=128, batch_size=64, n_epochs=1, seed=0,
                         device="cpu")
    obs = torch.randn(32, network.obs_dim)
    expected = network(obs).detach() - torch.as_tensor(adjustment)
    assert torch.allclose(sb3_action_logits(model.policy, obs), expected, atol=1e-6)
    assert torch.count_nonzero(model.policy.value_net.weight) == 0  # values start at 0
    # The BC bot (agents.load) decides on the same logits as the SB3 policy.
    bc_bot = agents.load(path)
    assert np.array_equal(bc_bot.act(obs.numpy()), sb3_action_logits(model.policy, obs).argmax(1).numpy())

    before = {k: v.clone() for k, v in model.policy.state_dict().items()}
    model.learn(total_timesteps=256)
    assert model.num_timesteps >= 256
    changed = [k for k, v in model.policy.state_dict().items() if not torch.equal(v, before[k])]
    assert "action_net.weight" in changed and "mlp_extractor.policy_net.0.weight" in changed

    tuned = sb3_to_policy_network(model)
    assert tuned.config() == network.config()
    assert torch.allclose(tuned(obs).detach(), sb3_action_logits(model.policy, obs), atol=1e-6)
    out = save_checkpoint(tmp_path / "ppo", tuned, name="ppo_from_bc")
    reloaded, manifest = load_network(out)
    assert manifest["name"] == "ppo_from_bc" and manifest["logit_adjustment"] is None
    bot = agents.load(out)
    assert np.array_equal(bot.act(obs.numpy()), sb3_action_logits(model.policy, obs).argmax(1).numpy())


def test_mismatched_policy_is_caught(tiny_checkpoint):
    path, network, adjustment = tiny_checkpoint
    model = make_sb3_ppo(make_env(), path, n_steps=128, batch_size=64, device="cpu")
    with torch.no_grad():
        model.policy.mlp_extractor.policy_net[0].weight.add_(0.1)
    with pytest.raises(BCInitError, match="did not load"):
        check_logits_match(model.policy, network, adjustment)


def test_architecture_comes_from_the_checkpoint(tiny_checkpoint):
    path, _, _ = tiny_checkpoint
    with pytest.raises(ValueError, match="net_arch"):
        make_sb3_ppo(make_env(), path, policy_kwargs={"net_arch": [4]})
