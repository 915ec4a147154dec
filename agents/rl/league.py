"""Who the RL learner fights: a pool of bots sampled per episode, and a league of its own snapshots.

Fine-tuning against one fixed opponent overfits to that opponent; pure self-play from a BC start
mostly produces two cautious copies timing out with zero reward. So, as in AlphaStar's league and
RLlib's self-play examples (in a light form), every episode draws its opponent:

* with probability ``league_share`` (once any snapshot exists) a **frozen snapshot** of the learner,
  uniformly among the newest ``league_size``: the trainer saves the current policy as a checkpoint
  into ``league_dir`` every few iterations, and the pool picks new folders up on its own;
* otherwise an entry of ``opponents``: any bot name or checkpoint path ``make_policy`` accepts
  (the reference pros, scripted bots, a BC bot), or ``"self"``: the live learner on both sides,
  which the multi-agent env plays through RLlib (both fighters map to the learning module).
  Entries are weighted as in AlphaStar's prioritized fictitious self-play (PFSP, "hard" weighting):
  ``(1 - p) ** pfsp_power``, ``p`` the learner's win rate against that entry in the episodes this
  pool has seen (a :class:`~envs.win_record.WinRecord` per entry) plus :data:`PFSP_PRIOR`, one
  pseudo-win and one pseudo-loss, so an opponent never met counts as p = 0.5 rather than having no
  weight at all; opponents the learner already beats stop eating the sample budget.
  ``pfsp_power=0`` samples uniformly.

Snapshots are ordinary checkpoints (safetensors + manifest), so the pool reads them with the same
loader as every other bot and never unpickles anything. Reading ``league_dir`` instead of being
told about snapshots keeps the pool independent of where RLlib runs its env runners (driver,
worker processes, another machine with the same filesystem).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from agents.policy import Policy
from agents.registry import make_policy
from envs.params import GameParams
from envs.pool_env import SELF  # pool entry: the live learner plays the other side too (self-play)
from envs.win_record import WinRecord

# PFSP's prior (Laplace smoothing): pseudo-results added to every entry's record before weighting,
# so an opponent never met weighs as a 50% one and a few early results do not zero a weight
PFSP_PRIOR = WinRecord(wins=1, losses=1)


class OpponentPool:
    """Draws the opponent of each episode (see the module docstring).

    Bots are built once per pool and reused across episodes (``reset`` is called by the env each
    episode), so a checkpoint is read once, not every episode.
    """

    def __init__(self, opponents: Sequence[str], *, league_dir: str | Path | None = None,
                 league_share: float = 0.0, league_size: int = 5, pfsp_power: float = 0.0,
                 params: GameParams | None = None) -> None:
        if not opponents:
            raise ValueError("the opponent pool is empty: name at least one bot (or 'self')")
        if not 0.0 <= league_share <= 1.0:
            raise ValueError(f"league_share must be in [0, 1], got {league_share}")
        if league_size < 1:
            raise ValueError(f"league_size must be >= 1, got {league_size}")
        if pfsp_power < 0:
            raise ValueError(f"pfsp_power must be >= 0, got {pfsp_power}")
        self.params = params if params is not None else GameParams()
        self.opponents = [str(spec) for spec in opponents]
        # build every named bot now, so a typo fails when training starts, not in episode 300
        self._bots: dict[str, Policy] = {spec: make_policy(spec, self.params)
                                         for spec in self.opponents if spec != SELF}
        self.league_dir = None if league_dir is None else Path(league_dir)
        self.league_share = float(league_share)
        self.league_size = int(league_size)
        self.snapshots: list[str] = []
        self.pfsp_power = float(pfsp_power)
        self.record_of: dict[str, WinRecord] = {spec: WinRecord() for spec in self.opponents}

    def record(self, spec: str, result: str) -> None:
        """The learner's result ("win", "loss", "draw") in an episode against ``spec``."""
        if spec in self.record_of:
            self.record_of[spec] += WinRecord.of(result)

    def weights(self) -> np.ndarray:
        """Sampling probabilities of ``opponents`` (PFSP on win rates smoothed by :data:`PFSP_PRIOR`)."""
        smoothed = np.array([(self.record_of[spec] + PFSP_PRIOR).win_rate for spec in self.opponents])
        weights = (1.0 - smoothed) ** self.pfsp_power
        return weights / weights.sum()

    def refresh(self) -> list[str]:
        """Re-read ``league_dir``: the newest ``league_size`` complete snapshots (sorted by name)."""
        if self.league_dir is not None and self.league_dir.is_dir():
            # hidden names are checkpoints still being written (agents.artifacts.write_folder)
            found = sorted(p for p in self.league_dir.iterdir()
                           if not p.name.startswith(".") and (p / "manifest.json").is_file())
            self.snapshots = [str(p) for p in found[-self.league_size:]]
            for stale in [s for s in self._bots if s.startswith(str(self.league_dir))
                          and s not in self.snapshots]:
                del self._bots[stale]  # retired snapshots free their weights
        return self.snapshots

    def sample(self, rng: np.random.Generator) -> tuple[str, Policy | None]:
        """``(name, bot)`` for the next episode; ``bot`` is None for ``"self"`` (the learner plays)."""
        if self.league_share > 0:
            self.refresh()
        if self.snapshots and rng.random() < self.league_share:
            spec = self.snapshots[int(rng.integers(len(self.snapshots)))]
        else:
            spec = self.opponents[int(rng.choice(len(self.opponents), p=self.weights()))]
        if spec == SELF:
            return SELF, None
        if spec not in self._bots:
            self._bots[spec] = make_policy(spec, self.params)
        return spec, self._bots[spec]
