"""The evaluation protocol applied to one training run (BC or RL): what it logs, how it is scored.

One implementation for all trainers, so a BC run's ``results.json`` and an RL run's have the same
fields and the tournament, the notebook and the README tables read them the same way: offline
metrics on the *validation* split while training, and at the end on the *test* split next to the win
rate in *fresh* matches (other seeds than the ones the best checkpoint was selected on), with a
Wilson interval. Matches are played at the bot's observation delay (:func:`protocol.observation_delay`).

:class:`RunEvaluator` is handed to the run tracker (:class:`agents.tracker.RunTracker`), which calls
it (SB3-callback style) and owns the checkpoints; the tracker never imports this layer.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from hydra.experimental.callback import Callback
from omegaconf import DictConfig
from rich.table import Table

from agents.artifacts import atomic_write_text
from agents.policy import Policy
from envs.terminal import report_console
from evaluation import protocol as eval_protocol
from evaluation.offline import confusion_figure, evaluate_policy
from evaluation.online import action_distribution_figure, evaluate_online
from evaluation.protocol import EvalProtocol, Split


def scalars(prefix: str, metrics: dict[str, float]) -> dict[str, float]:
    """``{"accuracy": .9}`` -> ``{"offline/accuracy": .9}``: the TensorBoard tag namespace."""
    return {f"{prefix}/{k}": float(v) for k, v in metrics.items()}


class RunEvaluator:
    """Scores one run's policies under ``protocol`` on its ``splits`` (validation while training,
    test at the end); ``reference_distribution`` is the training split's command counts."""

    def __init__(self, protocol: EvalProtocol, splits: dict[str, Split], *,
                 reference_distribution: Sequence[float] | None, progress: bool = False) -> None:
        self.protocol = protocol
        self.splits = splits
        self.reference_distribution = reference_distribution
        self.progress = progress
        self.opponents = eval_protocol.opponents(protocol)
        self.dataset = splits["test"].dataset
        self.observation_delay = eval_protocol.observation_delay(protocol, self.dataset)
        self.record = eval_protocol.record(protocol, {k: v for k, v in self.dataset.items()
                                                      if k not in ("split", "matches", "frames")})

    def _online(self, policy: Policy, matches: int, seed: int) -> Any:
        from agents.bc import torch_threads

        with torch_threads(1):  # batch-of-matches forward passes: threads cost more than they give
            return evaluate_online(policy, self.opponents, matches_per_opponent=matches, seed=seed,
                                   reference_distribution=self.reference_distribution,
                                   observation_delay=self.observation_delay, progress=self.progress)

    def evaluate(self, writer: Any, step: int, policy: Policy, *, play: bool = True) -> dict[str, float]:
        """Score ``policy`` during training and log it to TensorBoard at ``step``; return the tags.

        Offline metrics on the validation split (``offline/*`` and the confusion matrix) always; online
        metrics (``online/*`` and the commands-pressed figure) when ``play``. BC calls this per epoch,
        RL per evaluation interval: the same tags, so their curves share charts.
        """
        val = self.splits["val"]
        offline, matrix = evaluate_policy(policy, val.observations, val.labels)
        logged = scalars("offline", offline)
        writer.add_figure("offline/confusion_matrix", confusion_figure(matrix), step)
        if play:
            online = self._online(policy, self.protocol.matches_per_opponent, self.protocol.seed)
            logged.update(scalars("online", online.metrics()))
            writer.add_figure("online/action_distribution", action_distribution_figure(online), step)
        for tag, value in logged.items():
            writer.add_scalar(tag, value, step)
        return logged

    def selection_key(self, logged: dict[str, float]) -> tuple[float, float] | None:
        return eval_protocol.selection_key(logged, self.protocol.best_metric)

    def is_better(self, candidate: tuple[float, float] | None, best: tuple[float, float] | None) -> bool:
        return eval_protocol.is_better(candidate, best)

    def final(self, policy: Policy) -> dict[str, Any]:
        """Test-split metrics and fresh-match results of ``policy``: the results sections of a run."""
        test = self.splits["test"]
        offline, _ = evaluate_policy(policy, test.observations, test.labels)
        online = self._online(policy, self.protocol.final_matches_per_opponent, self.protocol.final_seed)
        return {"test": offline, "online": online.metrics(),
                "online_per_opponent": {o.opponent: {"wins": o.wins, "losses": o.losses, "draws": o.draws,
                                                     "ci": list(o.interval)} for o in online.opponents},
                "protocol": self.record}

    def report(self, run_dir: Path, name: str, results: dict[str, Any], *, step_name: str) -> None:
        write_results(run_dir, results)
        report_console().print(final_table(name, results, step_name=step_name))


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


def read_results(run_dir: Path) -> dict[str, Any] | None:
    """``results.json`` of a finished run, or None when the run has not finished."""
    path = Path(run_dir) / "results.json"
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None


def final_table(run_name: str, results: dict[str, Any], *, step_name: str = "epoch") -> Table:
    test, online = results["test"], results["online"]
    table = Table(title=f"{run_name}: best checkpoint ({step_name} {results['best_epoch']}), test split "
                        f"and {int(online['matches'])} fresh matches")
    for column in ("accuracy", "bal. acc", "macro-F1", "NO_ACT rec", "skill rec"):
        table.add_column(column, justify="right")
    table.add_column("win rate [95% CI]", justify="right", no_wrap=True)  # one line, however narrow
    table.add_row(f"{test['accuracy']:.3f}", f"{test['balanced_accuracy']:.3f}", f"{test['macro_f1']:.3f}",
                  f"{test['no_action_recall']:.3f}", f"{test['mean_skill_recall']:.3f}",
                  win_rate_with_interval(online))
    return table


def win_rate_with_interval(online: dict[str, Any]) -> str:
    """``0.250 [0.101, 0.495]``: a run's win rate and its Wilson 95% interval."""
    return f"{online['win_rate']:.3f} [{online['win_rate_ci_low']:.3f}, {online['win_rate_ci_high']:.3f}]"


# ---- a Hydra sweep's runs in one table ---------------------------------------------------------------
SWEEP_RUN_POINTER = "run_folder.txt"  # written by train.py into each sweep job's folder: the run it made
SWEEP_SUMMARY = "sweep_summary"  # <sweep dir>/sweep_summary.md and .csv


def sweep_jobs(sweep_dir: Path) -> list[Path]:
    """The job folders of a Hydra sweep (``<sweep dir>/<job number>/`` with ``.hydra/overrides.yaml``),
    in job order."""
    jobs = [d for d in Path(sweep_dir).iterdir() if (d / ".hydra" / "overrides.yaml").is_file()]
    return sorted(jobs, key=lambda d: (not d.name.isdigit(), int(d.name) if d.name.isdigit() else 0, d.name))


def _overrides(job_dir: Path) -> dict[str, str]:
    listed = yaml.safe_load((job_dir / ".hydra" / "overrides.yaml").read_text(encoding="utf-8")) or []
    return dict(item.split("=", 1) if "=" in item else (item, "") for item in map(str, listed))


def sweep_summary(sweep_dir: Path) -> list[dict[str, Any]]:
    """One row per job of the sweep in ``sweep_dir``: its run folder, the overrides that differ
    between the jobs, and its final results (test split, fresh matches) read from ``results.json``;
    a job without results (it failed, or was interrupted) has ``None`` metrics."""
    jobs = sweep_jobs(sweep_dir)
    overrides = {job: _overrides(job) for job in jobs}
    keys = sorted({k for o in overrides.values() for k in o})
    differing = [k for k in keys if len({o.get(k) for o in overrides.values()}) > 1]
    rows = []
    for job in jobs:
        pointer = job / SWEEP_RUN_POINTER
        run_dir = Path(pointer.read_text(encoding="utf-8").strip()) if pointer.is_file() else None
        results = read_results(run_dir) if run_dir is not None else None
        test, online = (results or {}).get("test", {}), (results or {}).get("online", {})
        rows.append({"job": job.name, "run_folder": str(run_dir) if run_dir else None,
                     "overrides": " ".join(f"{k}={overrides[job][k]}" for k in differing
                                           if k in overrides[job]),
                     "best_step": (results or {}).get("best_epoch"),
                     "accuracy": test.get("accuracy"), "balanced_accuracy": test.get("balanced_accuracy"),
                     **{k: online.get(k) for k in ("win_rate", "win_rate_ci_low", "win_rate_ci_high",
                                                   "matches")}})
    return rows


def _shown_path(path: str | None) -> str:
    if path is None:
        return "-"
    try:
        return str(Path(path).relative_to(Path.cwd()))
    except ValueError:
        return path


def sweep_table(sweep_dir: Path, rows: list[dict[str, Any]]) -> Table:
    table = Table(title=f"sweep {_shown_path(str(sweep_dir))}: {len(rows)} runs, best checkpoint on the test "
                        "split and in fresh matches")
    table.add_column("run folder", no_wrap=True)
    table.add_column("overrides")
    for column in ("best step", "accuracy", "bal. acc"):
        table.add_column(column, justify="right")
    table.add_column("win rate [95% CI]", justify="right", no_wrap=True)
    for row in rows:
        finished = row["accuracy"] is not None
        table.add_row(_shown_path(row["run_folder"]), row["overrides"] or "-",
                      str(row["best_step"]) if finished else "-",
                      f"{row['accuracy']:.3f}" if finished else "-",
                      f"{row['balanced_accuracy']:.3f}" if finished else "-",
                      win_rate_with_interval(row) if row["win_rate"] is not None else "no results (failed?)")
    return table


def sweep_markdown(sweep_dir: Path, rows: list[dict[str, Any]]) -> str:
    lines = [f"# Sweep {sweep_dir}", "", "| run folder | overrides | best step | accuracy | bal. acc | "
             "win rate [95% CI] |", "|---|---|---|---|---|---|"]
    for row in rows:
        finished = row["accuracy"] is not None
        cells = [_shown_path(row["run_folder"]), row["overrides"] or "-",
                 str(row["best_step"]) if finished else "-",
                 f"{row['accuracy']:.3f}" if finished else "-",
                 f"{row['balanced_accuracy']:.3f}" if finished else "-",
                 win_rate_with_interval(row) if row["win_rate"] is not None else "no results"]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines) + "\n"


def write_sweep_summary(sweep_dir: Path, rows: list[dict[str, Any]]) -> list[Path]:
    """``sweep_summary.md`` and ``sweep_summary.csv`` in ``sweep_dir``, written atomically."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return [atomic_write_text(sweep_dir / f"{SWEEP_SUMMARY}.md", sweep_markdown(sweep_dir, rows)),
            atomic_write_text(sweep_dir / f"{SWEEP_SUMMARY}.csv", buffer.getvalue())]


class SweepSummary(Callback):
    """Hydra callback (``hydra.callbacks.sweep_summary`` in ``conf/train.yaml``): after
    ``python train.py -m ...``, one table over the sweep's runs (run folder, the overrides that
    differ, test accuracy and balanced accuracy, win rate with its 95% interval), printed and
    written as ``sweep_summary.md`` / ``.csv`` in the sweep folder.

    It reads each job's run folder (which ``train.py`` notes in the job's folder) and that run's
    ``results.json``, so it works with any launcher and with runs that were reused, not retrained."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(str(config.hydra.sweep.dir))
        if not sweep_dir.is_dir():
            return
        rows = sweep_summary(sweep_dir)
        if not rows:
            return
        console = report_console()
        console.print(sweep_table(sweep_dir, rows))
        paths = write_sweep_summary(sweep_dir, rows)
        console.print(f"wrote {', '.join(_shown_path(str(p)) for p in paths)}", highlight=False,
                      soft_wrap=True)


def class_counts_of(splits: dict[str, Split]) -> np.ndarray:
    """The training split's command counts (the reference the bots' command mix is compared to)."""
    from agents.rebalance import class_counts

    return class_counts(splits["train"].labels)
