"""Stacked BC bots: the same logits and commands as each bot's own forward pass, and who may stack."""

import numpy as np
import pytest
import torch

from agents.bc import BCPolicy
from agents.networks import PolicyNetwork
from agents.stacked import TIE_TOLERANCE, StackedBCPolicies, stack_key
from envs.observation import OBS_DIM


def bots(activation, count=3, hidden=(16, 8)):
    out = []
    for k in range(count):
        torch.manual_seed(k)
        adjustment = np.linspace(-0.5, 0.5, 12).astype(np.float32) * k if k % 2 else None
        out.append(BCPolicy(PolicyNetwork(hidden_sizes=hidden, activation=activation),
                            name=f"bc{k}", logit_adjustment=adjustment))
    return out


@pytest.mark.parametrize("activation", ["relu", "tanh", "gelu"])
def test_stacked_commands_are_each_bots_own(activation):
    """Grouped layout: bit-identical logits. Padded layout: within float rounding (small networks at
    1-3 rows round differently in the last bit), far inside the near-tie tolerance."""
    policies = bots(activation)
    stack = StackedBCPolicies(policies, padded_max_rows=16)
    rng = np.random.default_rng(0)
    for counts in [(1, 1, 1), (3, 0, 17), (16, 5, 9), (40, 1, 65), (200, 199, 7)]:
        batches = [rng.standard_normal((n, OBS_DIM)).astype(np.float32) if n else None for n in counts]
        width = max(counts)
        padded = np.zeros((3, width, OBS_DIM), dtype=np.float32)
        for k, n in enumerate(counts):
            if n:
                padded[k, :n] = batches[k]
        padded_logits = stack.padded_logits(padded)
        commands, near = stack.forward(batches)
        for k, policy in enumerate(policies):
            if not counts[k]:
                assert commands[k] is None and near[k] is None
                continue
            ref = policy.logits(batches[k])
            assert torch.equal(stack.bot_logits(k, batches[k]), ref)  # the grouped layout
            difference = (padded_logits[k, :counts[k]] - ref).abs().max().item()  # the padded layout
            assert difference <= 1e-6 < TIE_TOLERANCE
            decided = ~near[k]
            assert np.array_equal(commands[k][decided], policy.act(batches[k])[decided])
            assert near[k].shape == (counts[k],) and commands[k].dtype == np.int64


def test_exact_ties_are_reported_for_the_per_bot_path():
    policies = bots("relu", count=2)
    with torch.no_grad():
        policies[0].network.layers[-1].weight.zero_()
        policies[0].network.layers[-1].bias.zero_()  # every logit 0: every row is a tie
    obs = np.random.default_rng(0).standard_normal((4, OBS_DIM)).astype(np.float32)
    commands, near = StackedBCPolicies(policies).forward([obs, obs])
    assert near[0].all() and np.array_equal(commands[0], np.zeros(4))
    assert not near[1].any()  # bot 1 has its logit adjustment: no ties


def test_who_may_be_stacked():
    relu, tanh = bots("relu", 2), bots("tanh", 1)
    assert stack_key(relu[0]) == stack_key(relu[1]) != stack_key(tanh[0])
    assert stack_key(bots("relu", 1, hidden=(16, 4))[0]) != stack_key(relu[0])

    class Changed(BCPolicy):
        def act(self, obs):
            return super().act(obs)

    assert stack_key(Changed(PolicyNetwork(hidden_sizes=(16, 8)))) is None
    hooked = bots("relu", 1)[0]
    hooked.network.layers[0].register_forward_hook(lambda *args: None)
    assert stack_key(hooked) is None
    patched = bots("relu", 1)[0]
    patched.act = lambda obs: np.zeros(len(obs), np.int64)
    assert stack_key(patched) is None
    assert stack_key(object()) is None
    with pytest.raises(ValueError, match="cannot be stacked"):
        StackedBCPolicies([relu[0], tanh[0]])
