"""The properties the default dataset must show: the lecture's setup, measured on the real thing.

Pros press NO_ACTION on >= 90% of logged frames, so a bot that never presses anything scores >= 0.9
accuracy on held-out logs, and yet wins none of its matches against any pro.
"""

import numpy as np
import pytest

from agents.pros import PRO_STYLES
from agents.registry import make_policy
from datasets.generate import ensure_default_dataset
from datasets.load import split_by_match
from envs.actions import ACTION_NAMES, Action
from envs.match_runner import play_matches


@pytest.fixture(scope="module")
def default_dataset():
    return ensure_default_dataset()


def test_no_action_dominates_the_logs(default_dataset):
    counts = default_dataset.manifest["action_counts"]
    share = counts["NO_ACTION"] / sum(counts.values())
    assert share >= 0.9
    labels = default_dataset.frames["action_id"].to_numpy()
    assert (labels == Action.NO_ACTION).mean() == pytest.approx(share)
    # every pro style is in it, and the per-style counts add up to the totals
    by_style = default_dataset.manifest["action_counts_by_style"]
    assert set(by_style) == set(PRO_STYLES)
    for name in ACTION_NAMES:
        assert sum(style[name] for style in by_style.values()) == counts[name]


def test_always_no_action_is_accurate_offline_and_loses_online(default_dataset):
    test_split = split_by_match(default_dataset, seed=0)["test"]
    _, labels = test_split.to_numpy()
    always_no_action = np.zeros_like(labels)
    assert (always_no_action == labels).mean() >= 0.9  # the offline metric says "great bot"
    idle = make_policy("idle")
    for pro in PRO_STYLES:  # the online metric says "never wins"
        results = play_matches(idle, make_policy(pro), 50, seed=0)
        assert results.count("win") == 0, (pro, results.summary())
