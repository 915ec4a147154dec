"""Behaviour cloning: the BC agent's config, and the network wrapped as a :class:`~agents.policy.Policy`.

``python train.py agent=bc`` trains a :class:`~agents.networks.PolicyNetwork` to predict the pro's
command from the observation (the training loop is in ``train.py``, top to bottom). The result plays
through :class:`BCPolicy`: one forward pass for the whole batch of concurrent matches, then
``argmax`` over the logits, minus the logit adjustment when the run used ``rebalance=logit_adjust``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import torch

from agents.networks import PolicyNetwork
from agents.rebalance import FocalWeights, Rebalance


@dataclass
class BCConfig:
    """``conf/agent/bc.yaml``: the BC agent's hyperparameters (``agent.<field>=...`` on the command line)."""

    name: str = "bc"
    hidden_sizes: list[int] = field(default_factory=lambda: [256, 256])
    activation: str = "relu"
    lr: float = 1e-3
    weight_decay: float = 0.0
    epochs: int = 8
    batch_size: int = 2048
    seed: int = 0  # conf/agent/bc.yaml sets ${seed}, so `seed=3` reseeds the agent too
    device: str = "auto"  # auto: CUDA when present, else CPU; or cpu, cuda, cuda:1
    rebalance: Rebalance = Rebalance.none
    effective_number_beta: float = 0.9999  # effective_number (and focal_weights=effective_number)
    focal_gamma: float = 2.0  # focal
    focal_weights: FocalWeights = FocalWeights.none  # class weights multiplied into the focal loss
    undersample_no_action_share: float = 0.5  # undersample: NO_ACTION's share after resampling
    oversample_ratio: float = 0.1  # oversample / smote: each command raised to this x NO_ACTION count
    smote_k_neighbors: int = 5
    logit_adjust_tau: float = 1.0  # logit_adjust: subtract tau * log(prior) from the logits


def resolve_device(device: str) -> torch.device:
    """``auto`` is CUDA when available, else CPU; anything else is passed to :class:`torch.device`."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


@contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """Run a block with ``count`` intra-op threads, then restore the previous setting.

    Playing matches asks the network for one small batch per frame (tens to a thousand rows):
    there, extra intra-op threads only add synchronisation, and on a busy 2-core machine they make
    each forward pass several times slower. Training (big batches) wants every core.
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


class BCPolicy:
    """A trained network as a Policy: ``act`` is one batched forward pass and an argmax.

    ``logit_adjustment`` (``(num_actions,)``, optional) is subtracted from the logits before the
    argmax: post-hoc logit adjustment (Menon et al. 2021) stores ``tau * log prior`` here. The
    policy is deterministic, so ``reset`` has nothing to seed.
    """

    deterministic = True  # same obs, same action: the tournament may batch it across pairings

    def __init__(self, network: PolicyNetwork, *, name: str = "bc",
                 logit_adjustment: np.ndarray | None = None, device: str | torch.device = "cpu") -> None:
        self.name = name
        self.device = torch.device(device)
        self.network = network.to(self.device).eval()
        self.logit_adjustment = None
        if logit_adjustment is not None:
            adjustment = np.asarray(logit_adjustment, dtype=np.float32)
            if adjustment.shape != (network.num_actions,):
                raise ValueError(f"logit_adjustment must have shape ({network.num_actions},), got "
                                 f"{adjustment.shape}")
            self.logit_adjustment = torch.as_tensor(adjustment, device=self.device)

    def reset(self, num_envs: int, seed: int | None = None,
              env_ids: np.ndarray | None = None) -> None:
        pass

    @torch.inference_mode()
    def logits(self, obs: np.ndarray) -> torch.Tensor:
        """Decision logits ``(B, num_actions)`` (after the logit adjustment, if any)."""
        obs = np.asarray(obs, dtype=np.float32)
        if not obs.flags.writeable:  # torch wants writable memory (pandas / Arrow give read-only views)
            obs = obs.copy()
        x = torch.as_tensor(obs, device=self.device)
        logits = self.network(x)
        if self.logit_adjustment is not None:
            logits = logits - self.logit_adjustment
        return logits

    def act(self, obs: np.ndarray) -> np.ndarray:
        return self.logits(obs).argmax(dim=1).cpu().numpy().astype(np.int64, copy=False)
