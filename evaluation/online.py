"""Online metrics: does the bot *win*? Win rate against a reference pool, with confidence intervals.

The lecture's point is that this number and offline accuracy can disagree completely, so training
logs both side by side. The pool mixes the pros at two skill levels (the players the logs came
from, and weaker versions of them), the button masher and the idle bot. A bot that never presses
anything draws against ``idle`` at best and loses to everyone else. The pools are defined next to
the bot registry (:data:`agents.registry.REFERENCE_POOL`, ``PERFECT_PROS``; imported here too).

Matches go through :func:`envs.match_runner.play_matches`, so a network policy gets one
batched forward pass per frame for all concurrent matches of a wave. The win rate against the pool
is the pooled share of matches won (every opponent plays the same number of matches, so it is also
the mean of the per-opponent win rates); draws count as not won. Counting, win rates and Wilson
intervals are :class:`envs.win_record.WinRecord`'s; seeds come from :mod:`envs.seeding`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from agents.policy import Policy  # noqa: E402
from agents.registry import CLUB_PROS, PERFECT_PROS, PROS, REFERENCE_POOL, make_policy  # noqa: E402, F401
from envs.actions import ACTION_NAMES  # noqa: E402
from envs.match_runner import play_matches  # noqa: E402
from envs.params import GameParams  # noqa: E402
from envs.seeding import child_seeds  # noqa: E402
from envs.terminal import progress_bar  # noqa: E402
from envs.win_record import WinRecord  # noqa: E402


@dataclass(frozen=True)
class OpponentResult(WinRecord):
    """One opponent's matches from the bot's point of view: a :class:`WinRecord` with its name."""

    opponent: str = ""

    @property
    def record(self) -> WinRecord:
        return WinRecord(self.wins, self.draws, self.losses)


@dataclass(frozen=True)
class OnlineResult(WinRecord):
    """Win rate against a pool (the pooled :class:`WinRecord`), per opponent, and what the bot pressed.

    ``action_distribution`` is the share of each command over every frame the bot played (all
    opponents); ``reference_distribution`` is the pros' logged share when one was given.
    """

    opponents: tuple[OpponentResult, ...] = ()
    action_distribution: pd.Series | None = None
    reference_distribution: pd.Series | None = None
    seed: int = 0

    @classmethod
    def pooled(cls, opponents: Sequence[OpponentResult], **fields: object) -> OnlineResult:
        total = sum((o.record for o in opponents), WinRecord())
        return cls(total.wins, total.draws, total.losses, opponents=tuple(opponents), **fields)

    @property
    def record(self) -> WinRecord:
        """The pooled record over every opponent."""
        return WinRecord(self.wins, self.draws, self.losses)

    def metrics(self) -> dict[str, float]:
        """Flat ``{name: value}`` for TensorBoard and results files (names without the ``online/`` prefix)."""
        low, high = self.interval
        out = {"win_rate": self.win_rate, "win_rate_ci_low": low, "win_rate_ci_high": high,
               "matches": float(self.matches),
               "no_action_share": float(self.action_distribution["NO_ACTION"])}
        for o in self.opponents:
            out[f"win_rate_vs_{o.opponent}"] = o.win_rate
        for name, share in self.action_distribution.items():
            out[f"action_share/{name}"] = float(share)
        return out


def evaluate_online(policy: Policy, opponents: Sequence[str | Policy] = REFERENCE_POOL, *,
                    matches_per_opponent: int = 100, seed: int = 0, params: GameParams | None = None,
                    reference_distribution: Sequence[float] | None = None,
                    observation_delay: int = 0, progress: bool = False) -> OnlineResult:
    """Play ``matches_per_opponent`` matches against each opponent (sides alternate) and pool them.

    Each opponent gets its own seed derived from ``seed`` (``SeedSequence``), so the same seed gives
    the same matches and adding an opponent does not change the others' matches.
    """
    if matches_per_opponent < 1:
        raise ValueError(f"matches_per_opponent must be >= 1, got {matches_per_opponent}")
    if not opponents:
        raise ValueError("the opponent pool is empty")
    seeds = child_seeds(seed, len(opponents))
    results: list[OpponentResult] = []
    counts = np.zeros(len(ACTION_NAMES), dtype=np.int64)
    for spec, opponent_seed in progress_bar(list(zip(opponents, seeds, strict=True)), desc="online eval",
                                            unit="opponent", enabled=progress, nested=True):
        opponent = make_policy(spec, params)
        played = play_matches(policy, opponent, matches_per_opponent, seed=opponent_seed, params=params,
                              observation_delay=observation_delay)
        record = played.record
        results.append(OpponentResult(record.wins, record.draws, record.losses,
                                      opponent=getattr(opponent, "name", str(spec))))
        counts += played.action_counts[:, 0].sum(axis=0)
    distribution = pd.Series(counts / max(counts.sum(), 1), index=list(ACTION_NAMES), name="bot")
    reference = None
    if reference_distribution is not None:
        ref = np.asarray(reference_distribution, dtype=np.float64)
        reference = pd.Series(ref / max(ref.sum(), 1e-12), index=list(ACTION_NAMES), name="pros")
    return OnlineResult.pooled(results, action_distribution=distribution, reference_distribution=reference,
                               seed=seed)


def action_distribution_figure(result: OnlineResult, title: str = "commands pressed") -> Figure:
    """Bars per command: what the bot pressed in its matches vs what the pros pressed in the logs.

    Log scale, so that the rare commands (the ones that win matches) are visible next to the
    ~95% ``NO_ACTION``.
    """
    names = list(ACTION_NAMES)
    x = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(9, 4), dpi=80)
    width = 0.4 if result.reference_distribution is not None else 0.8
    ax.bar(x - (width / 2 if result.reference_distribution is not None else 0),
           np.maximum(result.action_distribution.to_numpy(), 1e-6), width, label="bot (online)")
    if result.reference_distribution is not None:
        ax.bar(x + width / 2, np.maximum(result.reference_distribution.to_numpy(), 1e-6), width,
               label="pros (logs)")
    ax.set_yscale("log")
    ax.set_ylim(1e-5, 1.5)
    ax.set_xticks(x, names, rotation=45, ha="right", fontsize=8)
    ax.set_ylabel("share of frames")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)  # not on the bars
    fig.tight_layout()
    return fig
