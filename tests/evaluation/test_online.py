"""Online metrics: win rate against the reference pool with Wilson intervals."""

import numpy as np
import pytest
from matplotlib.figure import Figure

from agents.scripted import IdleBot
from envs.actions import NUM_ACTIONS
from evaluation.online import (
    REFERENCE_POOL,
    action_distribution_figure,
    evaluate_online,
)


def test_reference_pool_is_pros_at_two_skills_random_and_idle():
    assert REFERENCE_POOL == ("rushdown", "zoner", "turtle", "rushdown_club", "zoner_club",
                              "turtle_club", "random", "idle")


def test_idle_wins_nothing_and_footsies_beats_the_weak_opponents():
    idle = evaluate_online(IdleBot(), ["random", "footsies"], matches_per_opponent=4, seed=0)
    assert idle.win_rate == 0.0 and idle.matches == 8
    assert idle.action_distribution["NO_ACTION"] == 1.0
    assert idle.interval[0] == 0.0 and idle.interval[1] > 0.3

    from agents.registry import make_policy

    footsies = evaluate_online(make_policy("footsies"), ["idle", "random"], matches_per_opponent=4,
                               seed=0, reference_distribution=np.arange(NUM_ACTIONS) + 1.0)
    metrics = footsies.metrics()
    assert metrics["win_rate_vs_idle"] == 1.0 and metrics["win_rate"] >= 0.75
    assert abs(footsies.action_distribution.sum() - 1.0) < 1e-9
    assert footsies.reference_distribution.sum() == pytest.approx(1.0)
    assert 0.0 < metrics["no_action_share"] < 1.0
    assert isinstance(action_distribution_figure(footsies), Figure)


def test_same_seed_same_matches():
    from agents.registry import make_policy

    a = evaluate_online(make_policy("random"), ["rushdown_club"], matches_per_opponent=6, seed=3)
    b = evaluate_online(make_policy("random"), ["rushdown_club"], matches_per_opponent=6, seed=3)
    assert a.metrics() == b.metrics()


def test_empty_pool_and_zero_matches_are_refused():
    with pytest.raises(ValueError):
        evaluate_online(IdleBot(), [], matches_per_opponent=2)
    with pytest.raises(ValueError):
        evaluate_online(IdleBot(), ["idle"], matches_per_opponent=0)
