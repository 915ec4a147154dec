"""The one policy network: an MLP from the egocentric observation to one logit per command.

Behaviour cloning trains it, RL fine-tuning (RLlib / stable-baselines3) will wrap it, and ONNX export
will trace it, so it stays a plain :class:`torch.nn.Module` with a JSON-serialisable constructor
(:meth:`PolicyNetwork.config` gives the arguments back; checkpoint manifests record them) and no
preprocessing hidden inside: the observation is already scaled to small ranges by
:mod:`envs.observation`, and the output is raw logits, so a caller picks argmax, sampling or a
logit adjustment itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from envs.actions import NUM_ACTIONS
from envs.observation import OBS_DIM

ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "tanh": nn.Tanh, "gelu": nn.GELU}


class PolicyNetwork(nn.Module):
    """MLP ``(B, obs_dim) float32 -> (B, num_actions)`` logits.

    Args:
        obs_dim: observation width (``envs.observation.OBS_DIM``, 42).
        num_actions: number of commands (``envs.actions.NUM_ACTIONS``, 12); logit ``i`` is command id ``i``.
        hidden_sizes: width of each hidden layer, e.g. ``(256, 256)``; empty means a linear model.
        activation: ``"relu"``, ``"tanh"`` or ``"gelu"`` after every hidden layer.
    """

    def __init__(self, obs_dim: int = OBS_DIM, num_actions: int = NUM_ACTIONS,
                 hidden_sizes: Sequence[int] = (256, 256), activation: str = "relu") -> None:
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}; choose one of {sorted(ACTIVATIONS)}")
        if obs_dim < 1 or num_actions < 1 or any(int(h) < 1 for h in hidden_sizes):
            raise ValueError(f"obs_dim, num_actions and hidden_sizes must be positive, got {obs_dim}, "
                             f"{num_actions}, {list(hidden_sizes)}")
        self.obs_dim = int(obs_dim)
        self.num_actions = int(num_actions)
        self.hidden_sizes = tuple(int(h) for h in hidden_sizes)
        self.activation = activation
        layers: list[nn.Module] = []
        width = self.obs_dim
        for hidden in self.hidden_sizes:
            layers += [nn.Linear(width, hidden), ACTIVATIONS[activation]()]
            width = hidden
        layers.append(nn.Linear(width, self.num_actions))
        self.layers = nn.Sequential(*layers)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        """Logits ``(B, num_actions)`` for observations ``(B, obs_dim)``; softmax gives the policy."""
        return self.layers(obs)

    def config(self) -> dict[str, Any]:
        """The constructor arguments, JSON-serialisable: ``PolicyNetwork(**net.config())`` rebuilds it."""
        return {"obs_dim": self.obs_dim, "num_actions": self.num_actions,
                "hidden_sizes": list(self.hidden_sizes), "activation": self.activation}


def parameter_count(network: nn.Module) -> int:
    """Trainable and frozen parameters of ``network`` (the model size the lecture's tables count)."""
    return int(sum(p.numel() for p in network.parameters()))
