"""Ratings: one Bradley-Terry strength per bot from all the tournament's results, on an Elo scale.

Per-pairing win rates answer "does A beat B"; a rating answers "how strong is A against this whole
pool" with one number, using every match at once (a bot that beat the strong bots counts for more
than one that farmed the masher). The Bradley-Terry model says P(i beats j) = 1 / (1 + exp(-(t_i -
t_j))); ``choix.ilsr_pairwise_dense`` (iterative Luce spectral ranking) fits the strengths ``t``
by maximum likelihood. Draws count as half a win each way. Every pairing also gets half a pseudo-win
each way (``prior_wins``, a weak prior like Jeffreys' for a binomial): without it a bot that loses
every match (``idle``) has a maximum-likelihood strength of minus infinity, and a 96-0 record would
be read as a certain 100% win rate.

Strengths are shown as Elo-like ratings: ``1500 + 400 / ln(10) * (t - mean t)``, so a 400-point
gap means 10:1 odds and the pool averages 1500. Intervals come from a bootstrap over matches: each
pairing's M outcomes are resampled with replacement (a multinomial draw over its wins, losses and
draws), the model is refitted with the same prior, and the 2.5 / 97.5 percentiles of each bot's
rating are reported.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import choix
import numpy as np
import pandas as pd

ELO_PER_NATURAL_UNIT = 400.0 / math.log(10.0)
ELO_MEAN = 1500.0
DEFAULT_ALPHA = 1e-6  # choix's regularisation: only keeps the fit numerically safe
PRIOR_WINS = 0.5


@dataclass
class Ratings:
    """Per bot: ``rating`` (Elo-like), its bootstrap interval, and the raw strength ``theta``."""

    labels: list[str]
    rating: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    theta: np.ndarray
    bootstrap: int

    def table(self) -> pd.DataFrame:
        return pd.DataFrame({"rating": self.rating, "rating_ci_low": self.ci_low,
                             "rating_ci_high": self.ci_high}, index=pd.Index(self.labels, name="label"))

    def expected_score(self, i: str, j: str) -> float:
        """The model's chance that ``i`` beats ``j`` (draws as half): a check of the fit against the table."""
        a, b = self.labels.index(i), self.labels.index(j)
        return float(1.0 / (1.0 + math.exp(-(self.theta[a] - self.theta[b]))))


def score_matrix(labels: Sequence[str], pairings: pd.DataFrame, prior_wins: float = 0.0) -> np.ndarray:
    """``S[i, j]`` = wins of i over j + half the draws (+ ``prior_wins`` for every pairing played),
    from a table with columns a, b, a_wins, b_wins, draws (one row per pairing)."""
    index = {label: k for k, label in enumerate(labels)}
    scores = np.zeros((len(labels), len(labels)))
    for row in pairings.itertuples(index=False):
        i, j = index[row.a], index[row.b]
        scores[i, j] += row.a_wins + row.draws / 2.0 + prior_wins
        scores[j, i] += row.b_wins + row.draws / 2.0 + prior_wins
    return scores


def fit_bradley_terry(scores: np.ndarray, alpha: float = DEFAULT_ALPHA) -> np.ndarray:
    """Strengths ``theta`` (mean 0) maximising the Bradley-Terry likelihood of ``scores``."""
    theta = choix.ilsr_pairwise_dense(np.asarray(scores, dtype=np.float64), alpha=alpha, max_iter=10_000,
                                      tol=1e-10)
    return theta - theta.mean()


def to_elo(theta: np.ndarray) -> np.ndarray:
    return ELO_MEAN + ELO_PER_NATURAL_UNIT * (np.asarray(theta) - np.mean(theta))


def rate(labels: Sequence[str], pairings: pd.DataFrame, *, bootstrap: int = 200, seed: int = 0,
         alpha: float = DEFAULT_ALPHA, prior_wins: float = PRIOR_WINS, confidence: float = 0.95) -> Ratings:
    """Fit ratings on every pairing's results, with ``bootstrap`` resamples for the intervals.

    ``pairings`` needs columns a, b, a_wins, b_wins, draws. ``bootstrap=0`` gives the point
    estimates with intervals equal to them.
    """
    labels = list(labels)
    theta = fit_bradley_terry(score_matrix(labels, pairings, prior_wins), alpha)
    rating = to_elo(theta)
    if bootstrap <= 0:
        return Ratings(labels, rating, rating.copy(), rating.copy(), theta, 0)
    rng = np.random.default_rng(seed)
    outcomes = pairings[["a_wins", "b_wins", "draws"]].to_numpy(dtype=np.int64)
    totals = outcomes.sum(axis=1)
    shares = outcomes / np.maximum(totals, 1)[:, None]
    samples = np.empty((bootstrap, len(labels)))
    for k in range(bootstrap):
        drawn = np.stack([rng.multinomial(n, p) for n, p in zip(totals, shares, strict=True)])
        resampled = pairings[["a", "b"]].assign(a_wins=drawn[:, 0], b_wins=drawn[:, 1], draws=drawn[:, 2])
        samples[k] = to_elo(fit_bradley_terry(score_matrix(labels, resampled, prior_wins), alpha))
    tail = (1.0 - confidence) / 2.0 * 100.0
    low, high = np.percentile(samples, [tail, 100.0 - tail], axis=0)
    return Ratings(labels, rating, low, high, theta, bootstrap)
