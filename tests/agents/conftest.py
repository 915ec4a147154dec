"""Fixtures shared by the agents tests (RL-from-BC, export)."""

import numpy as np
import pytest
import torch

from agents.checkpoint import save_checkpoint
from agents.networks import PolicyNetwork


@pytest.fixture
def tiny_checkpoint(tmp_path):
    """A small BC checkpoint with a non-zero logit adjustment (which RL and export fold into the
    output bias)."""
    torch.manual_seed(0)
    network = PolicyNetwork(hidden_sizes=(16, 8), activation="tanh")
    adjustment = np.linspace(-0.5, 0.5, network.num_actions).astype(np.float32)
    return save_checkpoint(tmp_path / "bc", network, logit_adjustment=adjustment), network, adjustment
