"""One match for the adapters: the engine at N=1 plus rewards and info, shared by every env class.

The Gymnasium env, the PettingZoo env and the RLlib env differ only in how they name players and
package the same numbers; this class computes those numbers once.

Reward, per side and per frame: (damage dealt - damage taken) / max HP, plus +1 for a win, -1 for
a loss and 0 for a draw on the frame the match ends. A KO'd opponent is therefore worth about +2
over the match and idling is never rewarded.
"""

from __future__ import annotations

import numpy as np

from envs.engine import DRAW, RUNNING, DuelEngine
from envs.params import GameParams


class Duel:
    """A single match driven side by side; ``obs`` and ``rewards`` are ``(2, ...)`` arrays by side."""

    def __init__(self, params: GameParams, observation_delay: int = 0) -> None:
        self.engine = DuelEngine(1, params, observation_delay)
        self.params = params
        self._actions = np.zeros((1, 2), dtype=np.int64)
        self._rewards = np.zeros(2, dtype=np.float64)

    def reset(self, rng: np.random.Generator) -> np.ndarray:
        self.engine.reset(rng=rng)
        return self.engine.observe()[0]

    def step(self, action0: int, action1: int) -> tuple[np.ndarray, np.ndarray, bool]:
        """Advance one frame with already validated command ids; return (obs, rewards, done)."""
        self._actions[0, 0] = action0
        self._actions[0, 1] = action1
        dealt = self.engine.step(self._actions, validate=False)[0]
        scale = 1.0 / self.params.max_hp
        self._rewards[0] = (dealt[0] - dealt[1]) * scale
        self._rewards[1] = -self._rewards[0]
        winner = self.engine.state.winner[0]
        done = winner != RUNNING
        if done and winner != DRAW:
            self._rewards[winner] += 1.0
            self._rewards[1 - winner] -= 1.0
        return self.engine.observe()[0], self._rewards, bool(done)

    def info(self, side: int) -> dict[str, object]:
        """What a player would read off the HUD, from ``side``'s point of view."""
        state = self.engine.state
        info: dict[str, object] = {
            "frame": int(state.frame[0]),
            "hp": int(state.hp[0, side]),
            "opponent_hp": int(state.hp[0, 1 - side]),
            "side": side,
        }
        winner = int(state.winner[0])
        if winner != RUNNING:
            info["result"] = "draw" if winner == DRAW else ("win" if winner == side else "loss")
        return info


PLAYER_IDS = ("player_0", "player_1")  # side 0 (left at the bell) and side 1, in both multi-agent APIs
