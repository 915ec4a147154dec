"""Bradley-Terry ratings recover known strengths, treat draws as half wins, and stay finite."""

import numpy as np
import pandas as pd
import pytest

from evaluation.ratings import ELO_MEAN, rate, score_matrix


def simulated_pairings(strengths, matches, seed=0):
    rng = np.random.default_rng(seed)
    labels = list(strengths)
    rows = []
    for i, a in enumerate(labels):
        for b in labels[i + 1:]:
            p = 1 / (1 + np.exp(-(strengths[a] - strengths[b])))
            wins = int(rng.binomial(matches, p))
            rows.append({"a": a, "b": b, "a_wins": wins, "b_wins": matches - wins, "draws": 0})
    return labels, pd.DataFrame(rows)


def test_recovers_the_order_and_gaps_of_known_strengths():
    strengths = {"weak": -1.0, "mid": 0.0, "strong": 1.0, "best": 2.0}
    labels, pairings = simulated_pairings(strengths, 4000)
    ratings = rate(labels, pairings, bootstrap=50, seed=1)
    assert np.argsort(ratings.rating).tolist() == [0, 1, 2, 3]
    assert ratings.rating.mean() == pytest.approx(ELO_MEAN)
    gap = 400 / np.log(10)  # one natural unit of strength in Elo points
    assert np.diff(ratings.rating) == pytest.approx([gap] * 3, rel=0.1)
    assert (ratings.ci_low <= ratings.rating + 1e-9).all()
    assert (ratings.rating <= ratings.ci_high + 1e-9).all()
    assert ratings.expected_score("best", "weak") == pytest.approx(1 / (1 + np.exp(-3)), abs=0.03)


def test_draws_count_half_and_even_results_rate_equal():
    pairings = pd.DataFrame([{"a": "x", "b": "y", "a_wins": 10, "b_wins": 10, "draws": 6}])
    assert score_matrix(["x", "y"], pairings).tolist() == [[0, 13], [13, 0]]
    assert score_matrix(["x", "y"], pairings, prior_wins=0.5).tolist() == [[0, 13.5], [13.5, 0]]
    ratings = rate(["x", "y"], pairings, bootstrap=0)
    assert ratings.rating == pytest.approx([ELO_MEAN, ELO_MEAN])


def test_a_winless_bot_gets_a_finite_lowest_rating_with_a_nonzero_interval():
    pairings = pd.DataFrame([{"a": "idle", "b": "random", "a_wins": 0, "b_wins": 96, "draws": 0},
                             {"a": "idle", "b": "pro", "a_wins": 0, "b_wins": 96, "draws": 0},
                             {"a": "pro", "b": "random", "a_wins": 90, "b_wins": 6, "draws": 0}])
    ratings = rate(["idle", "random", "pro"], pairings, bootstrap=100, seed=0)
    assert np.isfinite(ratings.rating).all() and ratings.rating.argmin() == 0 and ratings.rating.argmax() == 2
    assert ratings.ci_high[0] > ratings.ci_low[0]
    assert ((ratings.ci_low <= ratings.rating) & (ratings.rating <= ratings.ci_high)).all()
    again = rate(["idle", "random", "pro"], pairings, bootstrap=100, seed=0)
    assert np.array_equal(again.ci_low, ratings.ci_low)
