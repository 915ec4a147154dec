"""Offline metrics: how well a policy predicts the pro's command on held-out logs.

This is the metric the lecture warns about. ``accuracy`` rewards predicting ``NO_ACTION`` (the
majority of every pro log), so it is reported next to the metrics that do not: ``balanced_accuracy``
(mean per-class recall), ``macro_f1``, per-class recall and precision, and the two numbers that
show the failure at a glance, ``no_action_recall`` vs ``mean_skill_recall`` (mean recall over the
commands that are not ``NO_ACTION``). Everything comes from :mod:`sklearn.metrics`.

Any :class:`agents.policy.Policy` can be scored (:func:`evaluate_policy`): BC networks, scripted
bots, exported bots; the tournament reuses this module.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")  # headless: figures go to TensorBoard and PNG files, never a window

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from sklearn import metrics  # noqa: E402

from agents.policy import Policy  # noqa: E402
from datasets.situations import DECISION_SITUATIONS, SITUATION_IDS  # noqa: E402
from envs.actions import ACTION_NAMES, NUM_ACTIONS, Action  # noqa: E402

NO_ACTION = int(Action.NO_ACTION)
SCALAR_METRICS = ("accuracy", "balanced_accuracy", "macro_f1", "no_action_recall", "mean_skill_recall")


def predict(policy: Policy, observations: np.ndarray, batch_size: int = 65_536) -> np.ndarray:
    """The policy's command for every row, in batches (``reset`` once with the batch size, seed 0)."""
    observations = np.asarray(observations, dtype=np.float32)
    out = np.empty(len(observations), dtype=np.int64)
    for start in range(0, len(observations), batch_size):
        chunk = observations[start:start + batch_size]
        policy.reset(len(chunk), seed=0)
        out[start:start + len(chunk)] = policy.act(chunk)
    return out


def offline_metrics(labels: np.ndarray, predictions: np.ndarray,
                    action_names: Sequence[str] = ACTION_NAMES) -> dict[str, float]:
    """Flat ``{name: value}``: the :data:`SCALAR_METRICS`, ``recall/<COMMAND>``, ``precision/<COMMAND>``.

    Per-class recall of a command absent from ``labels`` is NaN (undefined, not 0); precision of a
    command never predicted is 0. ``mean_skill_recall`` averages the recall of the commands other
    than ``NO_ACTION`` that occur in ``labels``; ``balanced_accuracy`` is sklearn's (mean recall
    over the classes present in ``labels``); ``macro_f1`` averages over classes present in either.
    """
    labels = np.asarray(labels, dtype=np.int64)
    predictions = np.asarray(predictions, dtype=np.int64)
    if labels.shape != predictions.shape or labels.ndim != 1 or len(labels) == 0:
        raise ValueError(f"labels and predictions must be equal-length non-empty 1-D arrays, got "
                         f"{labels.shape} and {predictions.shape}")
    all_ids = list(range(len(action_names)))
    recall = metrics.recall_score(labels, predictions, labels=all_ids, average=None, zero_division=0)
    precision = metrics.precision_score(labels, predictions, labels=all_ids, average=None,
                                        zero_division=0)
    support = np.bincount(labels, minlength=len(action_names))
    recall = np.where(support > 0, recall, np.nan)
    skills = [i for i in all_ids if i != NO_ACTION and support[i] > 0]
    with warnings.catch_warnings():  # "y_pred contains classes not in y_true": expected for rare commands
        warnings.simplefilter("ignore", UserWarning)
        balanced = float(metrics.balanced_accuracy_score(labels, predictions))
    result = {
        "accuracy": float(metrics.accuracy_score(labels, predictions)),
        "balanced_accuracy": balanced,
        "macro_f1": float(metrics.f1_score(labels, predictions, average="macro", zero_division=0)),
        "no_action_recall": float(recall[NO_ACTION]),
        "mean_skill_recall": float(np.mean(recall[skills])) if skills else float("nan"),
    }
    for i, name in enumerate(action_names):
        result[f"recall/{name}"] = float(recall[i])
        result[f"precision/{name}"] = float(precision[i])
    return result


def situation_metrics(labels: np.ndarray, predictions: np.ndarray, situations: np.ndarray
                      ) -> dict[str, float]:
    """How a policy decides in each kind of moment (:mod:`datasets.situations`), on logged rows.

    Per situation ``s`` where a decision is made (every one but ``busy``), with ``situations`` the
    rows' situation ids (:func:`datasets.situations.situation_codes`):

    * ``situation/<s>/rows``: rows in ``s``;
    * ``situation/<s>/recall``: of the rows where the pro pressed a command (not ``NO_ACTION``), the
      share where the policy pressed the same one (NaN when the pro never pressed there);
    * ``situation/<s>/precision``: of the rows where the policy pressed a command, the share that is
      the pro's (NaN when it never pressed);
    * ``situation/<s>/pressed_where_pro_waited``: of the rows where the pro pressed nothing, the
      share where the policy pressed something (NaN when the pro always pressed).

    ``situation_recall`` is the mean recall over the situations where the pro pressed something: the
    decisive commands weighted by kind of moment, not by how often each moment occurs.
    """
    labels = np.asarray(labels, dtype=np.int64)
    predictions = np.asarray(predictions, dtype=np.int64)
    situations = np.asarray(situations)
    if not labels.shape == predictions.shape == situations.shape or labels.ndim != 1:
        raise ValueError(f"labels, predictions and situations must be equal-length 1-D arrays, got "
                         f"{labels.shape}, {predictions.shape} and {situations.shape}")
    pro_pressed, bot_pressed = labels != NO_ACTION, predictions != NO_ACTION
    same = labels == predictions

    def share(hits: np.ndarray, of: np.ndarray) -> float:
        return float(hits[of].mean()) if of.any() else float("nan")

    out: dict[str, float] = {}
    recalls = []
    for name in DECISION_SITUATIONS:
        rows = situations == SITUATION_IDS[name]
        recall = share(same, rows & pro_pressed)
        out[f"situation/{name}/rows"] = float(rows.sum())
        out[f"situation/{name}/recall"] = recall
        out[f"situation/{name}/precision"] = share(same, rows & bot_pressed)
        out[f"situation/{name}/pressed_where_pro_waited"] = share(bot_pressed, rows & ~pro_pressed)
        if not np.isnan(recall):
            recalls.append(recall)
    out["situation_recall"] = float(np.mean(recalls)) if recalls else float("nan")
    return out


def confusion(labels: np.ndarray, predictions: np.ndarray, num_classes: int = NUM_ACTIONS) -> np.ndarray:
    """Counts ``[true, predicted]`` over every command id (rows of absent commands are zeros)."""
    return metrics.confusion_matrix(labels, predictions, labels=list(range(num_classes)))


def evaluate_policy(policy: Policy, observations: np.ndarray, labels: np.ndarray
                    ) -> tuple[dict[str, float], np.ndarray]:
    """Predict every row with ``policy``; return (:func:`offline_metrics`, :func:`confusion`)."""
    predictions = predict(policy, observations)
    return offline_metrics(labels, predictions), confusion(labels, predictions)


def confusion_figure(matrix: np.ndarray, action_names: Sequence[str] = ACTION_NAMES,
                     title: str = "confusion (row-normalised: recall on the diagonal)") -> Figure:
    """Row-normalised confusion matrix as a figure; each cell shows its share, rows their counts.

    Row normalisation makes rare commands readable: with raw counts the ``NO_ACTION`` row would be
    the only visible one.
    """
    matrix = np.asarray(matrix, dtype=np.float64)
    rows = matrix.sum(axis=1, keepdims=True)
    share = np.divide(matrix, rows, out=np.zeros_like(matrix), where=rows > 0)
    n = len(action_names)
    fig, ax = plt.subplots(figsize=(8.5, 7.5), dpi=80)
    image = ax.imshow(share, cmap="Blues", vmin=0.0, vmax=1.0)
    ax.set_xticks(range(n), action_names, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(n), [f"{name} ({int(c)})" for name, c in zip(action_names, rows[:, 0],
                                                                       strict=True)], fontsize=8)
    ax.set_xlabel("predicted command")
    ax.set_ylabel("pro's command (count)")
    ax.set_title(title, fontsize=10)
    for i in range(n):
        for j in range(n):
            if share[i, j] >= 0.005:
                ax.text(j, i, f"{share[i, j]:.2f}", ha="center", va="center", fontsize=6,
                        color="white" if share[i, j] > 0.5 else "black")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    fig.tight_layout()
    return fig
