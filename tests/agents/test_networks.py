"""The one policy network: shapes, constructor round trip, bad arguments."""

import pytest
import torch

from agents.networks import PolicyNetwork
from envs.actions import NUM_ACTIONS
from envs.observation import OBS_DIM


def test_forward_returns_one_logit_per_command():
    net = PolicyNetwork(OBS_DIM, NUM_ACTIONS, (32, 16))
    logits = net(torch.zeros(5, OBS_DIM))
    assert logits.shape == (5, NUM_ACTIONS) and logits.dtype == torch.float32


def test_config_rebuilds_the_same_architecture():
    net = PolicyNetwork(OBS_DIM, NUM_ACTIONS, [64], "tanh")
    again = PolicyNetwork(**net.config())
    assert again.config() == {"obs_dim": OBS_DIM, "num_actions": NUM_ACTIONS, "hidden_sizes": [64],
                              "activation": "tanh"}
    assert {k: v.shape for k, v in again.state_dict().items()} == \
        {k: v.shape for k, v in net.state_dict().items()}


def test_no_hidden_layer_is_a_linear_model():
    net = PolicyNetwork(OBS_DIM, NUM_ACTIONS, ())
    assert [type(m).__name__ for m in net.layers] == ["Linear"]


@pytest.mark.parametrize("kwargs", [{"activation": "swish"}, {"hidden_sizes": (0,)}, {"obs_dim": 0}])
def test_bad_arguments_are_refused(kwargs):
    with pytest.raises(ValueError):
        PolicyNetwork(**kwargs)
