"""The Policy protocol: the one interface every player implements.

Scripted bots, behaviour-cloned and RL networks, exported ONNX bots and a human at the keyboard
all look the same to the match runner, the tournament, training-time evaluation and ``play.py``:
they receive a batch of egocentric observations (one row per concurrent match, see
:mod:`envs.observation`) and return one command id per row. Batching is the point: the match
runner asks each policy once per frame for all of its matches, so a network does one forward pass
instead of one per match.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Policy(Protocol):
    """``act(obs_batch) -> actions`` over a batch, plus ``reset`` for stateful bots.

    ``reset(num_envs, seed=..., env_ids=None)`` is called before a batch of ``num_envs`` episodes
    starts; it seeds any randomness the policy has, so the same seed gives the same play. With
    ``env_ids`` only those episodes restart (vector envs that autoreset) and ``seed`` is ignored.
    ``act(obs)`` takes ``(B, OBS_DIM)`` float32 and returns ``(B,)`` integer command ids.
    """

    name: str

    def reset(self, num_envs: int, seed: int | None = None,
              env_ids: np.ndarray | None = None) -> None: ...

    def act(self, obs: np.ndarray) -> np.ndarray: ...
