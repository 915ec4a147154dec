"""Networks of one architecture evaluated together: one batched call per frame for many BC bots.

A tournament of trained bots asks every bot for its commands on every frame. Each
:class:`~agents.bc.BCPolicy` is a small MLP, and for a few dozen to a few hundred rows the fixed
cost of asking it (module dispatch, guard, argmax, numpy round trips per bot) is a large share of the
work. :class:`StackedBCPolicies` takes the bots that share an architecture and decides all of them
in one call: small batches as one ``baddbmm`` per layer over weights stacked to ``[K, out, in]`` and
observations padded to ``[K, max_rows, obs_dim]``; larger ones as one ``F.linear`` per bot and
layer (padding and big tensors cost more than the calls there). Each bot's logit adjustment is
subtracted and the argmax taken per row, as :meth:`BCPolicy.act` does for one bot.

**Same commands as the per-bot path.** The grouped layout runs exactly :meth:`BCPolicy.logits`'
operations on the bot's own weight tensors: its logits are bit-identical to the per-bot forward.
The padded layout computes each layer as ``baddbmm(bias, x, weight.transpose(1, 2))``: the weight
kept in ``nn.Linear``'s ``[out, in]`` layout and read transposed, the multiply-then-add-bias of
``F.linear``, and the network's own activation. That is bit-identical for the (256, 256) networks
at every row count tried, but not always: a (16, 8) network with 1-3 rows per bot rounds
differently in the last bit (up to ~6e-8 on logits of ~0.5, torch 2.13 CPU;
``tests/agents/test_stacked.py``), and no library promises that two matmul kernels round alike.
So :meth:`StackedBCPolicies.forward` also reports *near ties*: rows whose best two logits are
within :data:`TIE_TOLERANCE` (relative, about 100 times the largest difference seen) of each other,
where a last-bit difference could flip the argmax. The tournament re-asks such a bot through its
own :meth:`BCPolicy.act` for that frame and uses that answer, so a near tie is always decided by the
per-bot path, and every other row's argmax cannot differ from it.

Which bots can be stacked (:func:`stack_key`): a :class:`BCPolicy` (or a subclass that does not
override ``act`` or ``logits``) over a plain :class:`~agents.networks.PolicyNetwork` with no hooks,
float32 weights; bots with equal keys (architecture, activation, device) go into one stack.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from agents.bc import BCPolicy
from agents.networks import ACTIVATIONS, PolicyNetwork

# rows whose top-two logits differ by at most this (times 1 + |top logit|) count as near ties: the
# padded and per-bot forward passes round differently by ~6e-8 at most, when they differ at all
TIE_TOLERANCE = 1e-5
# the padded layout (one baddbmm per layer for all bots) while the widest batch has at most this many
# rows; one F.linear per bot beyond (benchmarks/bench_tournament.py, 256x256 networks on one core)
PADDED_MAX_ROWS = 64


def _has_hooks(network: nn.Module) -> bool:
    return any(m._forward_hooks or m._forward_pre_hooks for m in network.modules())


def stack_key(policy: Any) -> tuple | None:
    """What a bot must share with others to be stacked with them, or ``None`` when it cannot be.

    The key is the network's layer structure (each linear layer's shape and each activation's
    ``repr``, so GELU's ``approximate`` counts), its parameter dtype and its device. ``None`` for
    anything but a :class:`BCPolicy` that plays through the standard ``act``/``logits`` over a
    plain :class:`PolicyNetwork` without hooks (a subclass that changes how it decides, or a network
    with a hook, is played on its own).
    """
    if not isinstance(policy, BCPolicy) or any(
            getattr(type(policy), name) is not getattr(BCPolicy, name) or name in vars(policy)
            for name in ("act", "logits")):
        return None
    network = getattr(policy, "network", None)
    if type(network) is not PolicyNetwork or _has_hooks(network):
        return None
    layers = list(network.layers)
    expected = 2 * len(network.hidden_sizes) + 1
    if len(layers) != expected or type(network).forward is not PolicyNetwork.forward:
        return None
    structure: list[Any] = []
    for index, layer in enumerate(layers):
        if index % 2 == 0:
            if type(layer) is not nn.Linear or layer.bias is None:
                return None
            structure.append(tuple(layer.weight.shape))
        else:
            if type(layer) is not ACTIVATIONS[network.activation]:
                return None
            structure.append(repr(layer))
    params = list(network.parameters())
    if any(p.dtype != torch.float32 or p.device != policy.device for p in params):
        return None
    adjustment = policy.logit_adjustment
    if adjustment is not None and (adjustment.dtype != torch.float32 or adjustment.device != policy.device):
        return None
    return tuple(structure), str(policy.device)


def _activate(activation: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The activation module's function, in place where torch has that (the same kernel, without
    allocating another ``[K, rows, width]`` tensor: on a small CPU cache that allocation costs more
    than the activation)."""
    if type(activation) is nn.ReLU:
        return x.relu_()
    if type(activation) is nn.Tanh:
        return x.tanh_()
    return activation(x)


class StackedBCPolicies:
    """K :class:`BCPolicy` bots with one :func:`stack_key`, evaluated together.

    :meth:`forward` takes each bot's batch of observations and picks the faster of two layouts:

    * **padded** (the widest batch has at most ``padded_max_rows`` rows): the batches are padded to
      ``[K, max_rows, obs_dim]`` and each layer is one ``baddbmm`` over weights stacked to
      ``[K, out, in]``. Small batches are where the fixed cost of a call per bot dominates.
    * **grouped** (larger batches): one ``F.linear`` per bot and layer on its own rows and its own
      weights, exactly the operations of :meth:`BCPolicy.logits`, without the module, guard and
      argmax calls per bot. Large padded tensors would not fit the CPU cache, and the padding
      (bots whose matches ended early) would be computed for nothing.

    The argmax and the near-tie test run once over every row of every bot in both layouts. The
    stacked weights are copied when the stack is built, so later changes to a bot's network are
    not seen: the tournament builds a stack per wave from fresh policy instances.
    """

    def __init__(self, policies: Sequence[BCPolicy], padded_max_rows: int = PADDED_MAX_ROWS) -> None:
        if not policies:
            raise ValueError("StackedBCPolicies needs at least one policy")
        keys = {stack_key(p) for p in policies}
        if None in keys or len(keys) != 1:
            raise ValueError(f"policies cannot be stacked together (keys {sorted(map(str, keys))}); "
                             "group them with agents.stacked.stack_key first")
        self.policies = list(policies)
        self.padded_max_rows = int(padded_max_rows)
        self.device = policies[0].device
        first = policies[0].network.layers
        self.activations = [first[i] for i in range(1, len(first), 2)]
        with torch.no_grad():
            # the grouped layout uses each bot's own tensors (the same memory nn.Linear reads)
            self.layers = [[(p.network.layers[i].weight.detach(), p.network.layers[i].bias.detach())
                            for i in range(0, len(first), 2)] for p in policies]
            self.weights = [torch.stack([layers[i][0] for layers in self.layers])
                            for i in range(len(self.layers[0]))]  # [K, out, in], nn.Linear's layout
            self.biases = [torch.stack([layers[i][1] for layers in self.layers]).unsqueeze(1)
                           for i in range(len(self.layers[0]))]  # [K, 1, out]
            self.adjustments = [p.logit_adjustment for p in policies]
            zeros = torch.zeros(self.weights[-1].shape[1], device=self.device)
            # x - 0.0 is x, bit for bit: bots without an adjustment may share the subtraction
            self.logit_adjustment = (torch.stack([zeros if a is None else a for a in self.adjustments])
                                     .unsqueeze(1) if any(a is not None for a in self.adjustments) else None)
        self.obs_dim = int(self.weights[0].shape[2])

    def __len__(self) -> int:
        return len(self.policies)

    def _tensor(self, obs: np.ndarray) -> torch.Tensor:
        obs = np.asarray(obs, dtype=np.float32)
        if not obs.flags.writeable:  # as BCPolicy.logits: torch wants writable memory
            obs = obs.copy()
        return torch.as_tensor(obs, device=self.device)

    def padded_logits(self, obs: np.ndarray) -> torch.Tensor:
        """Logits ``[K, rows, num_actions]`` for a padded batch ``obs`` ``[K, rows, obs_dim]`` (row r
        of slice k is bot k's observation), after each bot's logit adjustment."""
        x = self._tensor(obs)
        if x.dim() != 3 or x.shape[0] != len(self) or x.shape[2] != self.obs_dim:
            raise ValueError(f"expected observations [{len(self)}, rows, {self.obs_dim}], "
                             f"got {tuple(x.shape)}")
        with torch.inference_mode():
            for layer, (weight, bias) in enumerate(zip(self.weights, self.biases, strict=True)):
                x = torch.baddbmm(bias, x, weight.transpose(1, 2))
                if layer < len(self.activations):
                    x = _activate(self.activations[layer], x)
            if self.logit_adjustment is not None:
                x = x - self.logit_adjustment
        return x

    def bot_logits(self, k: int, obs: np.ndarray) -> torch.Tensor:
        """Bot ``k``'s logits ``[rows, num_actions]`` for its own batch ``[rows, obs_dim]``: the
        grouped layout, the operations of :meth:`BCPolicy.logits` on that bot's tensors."""
        x = self._tensor(obs)
        with torch.inference_mode():
            for layer, (weight, bias) in enumerate(self.layers[k]):
                x = F.linear(x, weight, bias)
                if layer < len(self.activations):
                    x = _activate(self.activations[layer], x)
            if self.adjustments[k] is not None:
                x = x - self.adjustments[k]
        return x

    def forward(self, batches: Sequence[np.ndarray | None]
                ) -> tuple[list[np.ndarray | None], list[np.ndarray | None]]:
        """``(commands, near_ties)`` for bot k's batch ``batches[k]`` ``[rows_k, obs_dim]`` (``None``
        or no rows: that bot is not asked and gets ``None``): each row's argmax (int64 ``[rows_k]``)
        and whether its best two logits are so close that the per-bot path should decide it (bool
        ``[rows_k]``, see the module doc)."""
        if len(batches) != len(self):
            raise ValueError(f"expected {len(self)} batches (one per bot), got {len(batches)}")
        counts = [0 if b is None else len(b) for b in batches]
        active = [k for k, n in enumerate(counts) if n]
        commands: list[np.ndarray | None] = [None] * len(self)
        near: list[np.ndarray | None] = [None] * len(self)
        if not active:
            return commands, near
        width = max(counts)
        with torch.inference_mode():
            if width <= self.padded_max_rows:
                padded = np.zeros((len(self), width, self.obs_dim), dtype=np.float32)
                for k in active:
                    padded[k, :counts[k]] = batches[k]
                logits = self.padded_logits(padded)
                logits = torch.cat([logits[k, :counts[k]] for k in active])
            else:
                logits = torch.cat([self.bot_logits(k, batches[k]) for k in active])
            best = logits.argmax(dim=1).cpu().numpy().astype(np.int64, copy=False)
            if logits.shape[1] < 2:
                close = np.zeros(len(best), dtype=bool)
            else:
                top = logits.topk(2, dim=1).values
                margin = top[:, 0] - top[:, 1]
                close = (~(margin > TIE_TOLERANCE * (1.0 + top[:, 0].abs()))).cpu().numpy()  # NaN too
        offset = 0
        for k in active:
            commands[k], near[k] = best[offset:offset + counts[k]], close[offset:offset + counts[k]]
            offset += counts[k]
        return commands, near

    def act(self, batches: Sequence[np.ndarray | None]) -> list[np.ndarray | None]:
        """Each bot's commands for its batch (near ties not handed to the per-bot path)."""
        return self.forward(batches)[0]
