"""Offline metrics: the numbers that expose the 'always NO_ACTION' classifier."""

import math

import numpy as np
import pytest
from matplotlib.figure import Figure

from agents.scripted import IdleBot, SpamBot
from envs.actions import NUM_ACTIONS, Action
from envs.observation import OBS_DIM
from evaluation.offline import confusion, confusion_figure, evaluate_policy, offline_metrics, predict


def skewed_labels():
    """95 NO_ACTION, 3 GUARD, 2 LIGHT_ATTACK: the shape of a pro log."""
    return np.array([0] * 95 + [6] * 3 + [7] * 2)


def test_always_no_action_scores_high_accuracy_and_no_skill_recall():
    labels = skewed_labels()
    m = offline_metrics(labels, np.zeros_like(labels))
    assert m["accuracy"] == pytest.approx(0.95)
    assert m["balanced_accuracy"] == pytest.approx(1 / 3)
    assert m["no_action_recall"] == 1.0 and m["mean_skill_recall"] == 0.0
    assert m["macro_f1"] == pytest.approx((2 * 0.95 / 1.95) / 3)
    assert m["precision/GUARD"] == 0.0
    assert math.isnan(m["recall/THROW"])  # absent from the labels: undefined, not 0


def test_a_skilled_predictor_trades_accuracy_for_skill_recall():
    labels = skewed_labels()
    predictions = labels.copy()
    predictions[:10] = 6  # 10 false GUARDs
    m = offline_metrics(labels, predictions)
    assert m["accuracy"] == pytest.approx(0.90)
    assert m["mean_skill_recall"] == 1.0 and m["no_action_recall"] == pytest.approx(85 / 95)
    assert m["recall/GUARD"] == 1.0 and m["precision/GUARD"] == pytest.approx(3 / 13)
    assert m["balanced_accuracy"] == pytest.approx((85 / 95 + 2) / 3)


def test_confusion_counts_every_command_and_figure_renders():
    labels = skewed_labels()
    matrix = confusion(labels, np.zeros_like(labels))
    assert matrix.shape == (NUM_ACTIONS, NUM_ACTIONS)
    assert matrix[0, 0] == 95 and matrix[6, 0] == 3 and matrix.sum() == 100
    assert isinstance(confusion_figure(matrix), Figure)


def test_evaluate_any_policy_on_rows():
    obs = np.zeros((100, OBS_DIM), dtype=np.float32)
    labels = skewed_labels()
    metrics, matrix = evaluate_policy(IdleBot(), obs, labels)
    assert metrics["accuracy"] == pytest.approx(0.95) and matrix[0, 0] == 95
    spam = predict(SpamBot(Action.GUARD), obs, batch_size=7)
    assert (spam == 6).all() and len(spam) == 100


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="equal-length"):
        offline_metrics(np.zeros(3), np.zeros(4))
