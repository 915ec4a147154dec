"""The end of every training run (BC or RL): score the best checkpoint, write and print the results.

One implementation for all trainers, so a BC run's ``results.json`` and an RL run's have the same
fields and the tournament, the notebook and the README tables read them the same way: offline
metrics on the *test* split next to the win rate in *fresh* matches (other seeds than the ones the
best checkpoint was selected on), with a Wilson interval.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from rich.table import Table

from agents.policy import Policy
from envs.atomic_files import atomic_write_text
from evaluation.offline import confusion_figure, evaluate_policy
from evaluation.online import action_distribution_figure, evaluate_online

# the metric that breaks ties of the best metric (e.g. equal win rates early in training)
TIE_BREAK = "offline/balanced_accuracy"


def is_better(candidate: tuple[float, float], best: tuple[float, float] | None) -> bool:
    """``(best metric, tie break)`` pairs: is the candidate checkpoint the new best?"""
    return best is None or candidate > best


def scalars(prefix: str, metrics: dict[str, float]) -> dict[str, float]:
    """``{"accuracy": .9}`` -> ``{"offline/accuracy": .9}``: the TensorBoard tag namespace."""
    return {f"{prefix}/{k}": float(v) for k, v in metrics.items()}


def log_evaluation(writer: Any, step: int, policy: Policy, x_val: np.ndarray, y_val: np.ndarray,
                   opponents: Sequence[str] | None, *, matches_per_opponent: int, seed: int,
                   reference_distribution: Sequence[float] | None,
                   progress: bool = False) -> dict[str, float]:
    """Score ``policy`` during training and log it to TensorBoard at ``step``; return the tags.

    Offline metrics on the validation split (``offline/*`` and the confusion matrix) always; online
    metrics (``online/*`` and the commands-pressed figure) when ``opponents`` is given. BC calls
    this per epoch, RL per evaluation interval: the same tags, so their curves share charts.
    """
    from agents.bc import torch_threads

    offline, matrix = evaluate_policy(policy, x_val, y_val)
    logged = scalars("offline", offline)
    writer.add_figure("offline/confusion_matrix", confusion_figure(matrix), step)
    if opponents is not None:
        with torch_threads(1):
            online = evaluate_online(policy, list(opponents), matches_per_opponent=matches_per_opponent,
                                     seed=seed, reference_distribution=reference_distribution,
                                     progress=progress)
        logged.update(scalars("online", online.metrics()))
        writer.add_figure("online/action_distribution", action_distribution_figure(online), step)
    for tag, value in logged.items():
        writer.add_scalar(tag, value, step)
    return logged


def score_final(policy: Policy, x_test: np.ndarray, y_test: np.ndarray, opponents: Sequence[str], *,
                matches_per_opponent: int, seed: int, reference_distribution: Sequence[float] | None,
                progress: bool = False) -> dict[str, Any]:
    """Test-split metrics and fresh-match results of ``policy``: the results sections of a run."""
    from agents.bc import torch_threads

    test, _ = evaluate_policy(policy, x_test, y_test)
    with torch_threads(1):  # batch-of-matches forward passes: threads cost more than they give
        online = evaluate_online(policy, list(opponents), matches_per_opponent=matches_per_opponent,
                                 seed=seed, reference_distribution=reference_distribution,
                                 progress=progress)
    return {"test": test, "online": online.metrics(),
            "online_per_opponent": {o.opponent: {"wins": o.wins, "losses": o.losses, "draws": o.draws,
                                                 "ci": list(o.interval)} for o in online.opponents}}


def write_results(run_dir: Path, results: dict[str, Any]) -> None:
    """``results.json`` and a one-row ``results.csv`` (flat), both written atomically."""
    atomic_write_text(run_dir / "results.json", json.dumps(results, indent=2, default=str) + "\n")
    flat = {k: v for k, v in results.items() if not isinstance(v, dict | list)}
    for section in ("test", "online"):
        flat.update(scalars(section, results[section]))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(flat))
    writer.writeheader()
    writer.writerow(flat)
    atomic_write_text(run_dir / "results.csv", buffer.getvalue())


def final_table(run_name: str, results: dict[str, Any], *, step_name: str = "epoch") -> Table:
    test, online = results["test"], results["online"]
    table = Table(title=f"{run_name}: best checkpoint ({step_name} {results['best_epoch']}), test split "
                        f"and {int(online['matches'])} fresh matches")
    for column in ("accuracy", "bal. acc", "macro-F1", "NO_ACT rec", "skill rec", "win rate [95% CI]"):
        table.add_column(column, justify="right")
    table.add_row(f"{test['accuracy']:.3f}", f"{test['balanced_accuracy']:.3f}", f"{test['macro_f1']:.3f}",
                  f"{test['no_action_recall']:.3f}", f"{test['mean_skill_recall']:.3f}",
                  f"{online['win_rate']:.3f} [{online['win_rate_ci_low']:.3f}, "
                  f"{online['win_rate_ci_high']:.3f}]")
    return table
