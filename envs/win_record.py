"""One win-rate record: wins, draws and losses, with the win rate, the score and a Wilson interval.

Every place in FightLab that counts match results (the match runner, online evaluation, the
tournament's tables, the dataset card, the RL opponent pool) counts into a :class:`WinRecord`, so
they all agree on three things:

* **Draws count as not won** in ``win_rate`` (a bot that only times out does not look half good),
  and as half a win in ``score`` (what ratings are fitted on).
* **An empty record has no evidence**: ``win_rate`` and ``score`` are NaN (never 0, which reads as
  "lost everything", and never an exception), and ``interval`` is ``(0.0, 1.0)``: anything is
  possible. Code that needs a number for an opponent never met (e.g. the PFSP prior in
  :mod:`agents.rl.league`) says so explicitly with its own pseudo-counts.
* **Intervals are 95% Wilson score intervals** (:func:`wilson_interval`): they stay inside [0, 1]
  and keep a useful width at 0% and 100%, where the normal approximation collapses to zero width.

Records are frozen and add up (``a + b``), so per-opponent records sum to a pool record.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

RESULTS = ("win", "draw", "loss")  # the result names match tables use, from one player's side
Z_95 = 1.959964  # two-sided 95% normal quantile


def wilson_interval(successes: int, trials: int, z: float = Z_95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (95% by default); ``(0.0, 1.0)`` for no trials."""
    if trials < 0 or not 0 <= successes <= trials:
        raise ValueError(f"need 0 <= successes <= trials, got {successes} of {trials}")
    if trials == 0:
        return 0.0, 1.0
    p = successes / trials
    denom = 1.0 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denom
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class WinRecord:
    """Wins, draws and losses of one player (against one opponent, a pool, a group...).

    ``WinRecord()`` is the empty record; ``WinRecord.from_results(["win", "draw"])`` counts result
    names; ``record.flipped()`` is the same matches from the other side.
    """

    wins: int = 0
    draws: int = 0
    losses: int = 0

    def __post_init__(self) -> None:
        for name in ("wins", "draws", "losses"):
            value = getattr(self, name)
            if isinstance(value, bool) or int(value) != value or value < 0:
                raise ValueError(f"WinRecord.{name} must be a non-negative int, got {value!r}")
            object.__setattr__(self, name, int(value))  # numpy ints in, plain ints out (JSON-safe)

    @classmethod
    def from_results(cls, results: Iterable[str]) -> WinRecord:
        """Count result names (``"win"``, ``"draw"``, ``"loss"``), e.g. a match table's ``result`` column."""
        counts = Counter(str(r) for r in results)
        unknown = sorted(set(counts) - set(RESULTS))
        if unknown:
            raise ValueError(f"unknown match results {unknown}; expected one of {list(RESULTS)}")
        return cls(counts["win"], counts["draw"], counts["loss"])

    @classmethod
    def of(cls, result: str) -> WinRecord:
        """The record of one match: ``WinRecord.of("win") == WinRecord(wins=1)``."""
        return cls.from_results([result])

    @property
    def matches(self) -> int:
        return self.wins + self.draws + self.losses

    @property
    def win_rate(self) -> float:
        """Wins / matches (draws count as not won); NaN for an empty record (no evidence)."""
        return self.wins / self.matches if self.matches else math.nan

    @property
    def score(self) -> float:
        """(wins + draws / 2) / matches; NaN for an empty record."""
        return (self.wins + 0.5 * self.draws) / self.matches if self.matches else math.nan

    @property
    def interval(self) -> tuple[float, float]:
        """95% Wilson interval of the win rate; ``(0.0, 1.0)`` for an empty record."""
        return wilson_interval(self.wins, self.matches)

    def flipped(self) -> WinRecord:
        """The same matches from the opponent's side (wins and losses swapped)."""
        return WinRecord(self.losses, self.draws, self.wins)

    def __add__(self, other: WinRecord) -> WinRecord:
        if not isinstance(other, WinRecord):
            return NotImplemented
        return WinRecord(self.wins + other.wins, self.draws + other.draws, self.losses + other.losses)

    def __radd__(self, other: object) -> WinRecord:
        if other == 0:  # sum(records) starts from 0
            return self
        return NotImplemented

    def as_dict(self) -> dict[str, float | int]:
        """``wins``, ``draws``, ``losses``, ``matches``, ``win_rate``, ``win_rate_ci_low`` and
        ``win_rate_ci_high``, ``score`` (rates NaN when empty)."""
        low, high = self.interval
        return {"wins": self.wins, "draws": self.draws, "losses": self.losses, "matches": self.matches,
                "win_rate": self.win_rate, "win_rate_ci_low": low, "win_rate_ci_high": high,
                "score": self.score}

