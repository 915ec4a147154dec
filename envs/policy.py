"""The Policy protocol: the one interface every player implements, and the one the game calls.

Scripted bots, behaviour-cloned and RL networks, exported ONNX bots and a human at the keyboard
(all in :mod:`agents`) look the same to the match runner (:mod:`envs.match_runner`), the envs'
opponents, the tournament, training-time evaluation and ``play.py``: they receive a batch of
egocentric observations (one row per concurrent match, see :mod:`envs.observation`) and return one
command id per row. Batching is the point: the match runner asks each policy once per frame for
all of its matches, so a network does one forward pass instead of one per match.

The protocol lives with the game because the game is what calls it; ``agents.policy.Policy`` is the
same object, re-exported for the bots that implement it.
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


def check_policy(opponent: object, what: str = "opponent") -> Policy:
    """``opponent`` itself if it implements :class:`Policy`; a clear TypeError otherwise.

    The envs take Policy objects, never names: a name (``"footsies"``, a checkpoint path) is
    resolved by :func:`agents.make_policy`, or by ``gymnasium.make("FightLab/Duel-v0", opponent=...)``
    once :mod:`agents` is imported.
    """
    if isinstance(opponent, Policy):
        return opponent
    if opponent is None:
        raise TypeError(f"{what} is required: a Policy object such as agents.make_policy('footsies'); "
                        "gymnasium.make('FightLab/Duel-v0') (once the agents package is imported) "
                        "defaults to 'footsies'")
    if isinstance(opponent, str):
        raise TypeError(f"{what}={opponent!r} is a name; the envs take a Policy object. Resolve names with "
                        f"agents.make_policy({opponent!r}), or build the env with gymnasium.make("
                        f"'FightLab/Duel-v0', {what}={opponent!r}) once the agents package is imported")
    raise TypeError(f"{what} must be a Policy: an object with act(obs) and reset(num_envs, seed, "
                    f"env_ids); got {type(opponent).__name__}")
