"""Scripted baselines: the idle bot, the random masher and the one-move spammer.

The competent fighters (the ``footsies`` reference and the pro styles) live in :mod:`agents.pros`.

All decide from the egocentric observation only (what a player sees on screen), vectorised over
the batch with numpy: no Python loop over matches.
"""

from __future__ import annotations

import numpy as np

from envs.actions import NUM_ACTIONS, Action


class IdleBot:
    """Never presses anything (always ``NO_ACTION``): the degenerate "99% accuracy" bot of the lecture."""

    name = "idle"

    def reset(self, num_envs: int, seed: int | None = None,
              env_ids: np.ndarray | None = None) -> None:
        pass

    def act(self, obs: np.ndarray) -> np.ndarray:
        return np.zeros(obs.shape[0], dtype=np.int64)


class RandomBot:
    """A button masher: a uniformly random command every frame (seeded by ``reset``)."""

    name = "random"

    def __init__(self) -> None:
        self._rng = np.random.default_rng(0)

    def reset(self, num_envs: int, seed: int | None = None,
              env_ids: np.ndarray | None = None) -> None:
        if env_ids is None:
            self._rng = np.random.default_rng(seed)

    def act(self, obs: np.ndarray) -> np.ndarray:
        return self._rng.integers(0, NUM_ACTIONS, size=obs.shape[0], dtype=np.int64)


class SpamBot:
    """Presses the same command every frame: the "spam one move" strategy the rules must punish."""

    def __init__(self, action: Action) -> None:
        self.action = Action(action)
        self.name = f"spam_{self.action.name.lower()}"

    def reset(self, num_envs: int, seed: int | None = None,
              env_ids: np.ndarray | None = None) -> None:
        pass

    def act(self, obs: np.ndarray) -> np.ndarray:
        return np.full(obs.shape[0], int(self.action), dtype=np.int64)
