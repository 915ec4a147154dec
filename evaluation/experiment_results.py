"""Read what ``experiment.py`` wrote, for ``notebooks/accuracy_vs_winrate.ipynb`` (and anyone else).

An experiment folder (``runs/<name>/``) holds training runs next to each other and a tournament:

- BC runs ``<rebalance>_seed<seed>/`` and RL runs (``ppo_<start>_seed<seed>/``), each with
  TensorBoard event files, ``config.yaml`` (written when the run starts) and ``results.json`` (when
  it finishes). Their curves are read with TensorBoard's ``EventAccumulator``: the x-axis is the
  epoch for BC and the environment step for RL (step 0 is the BC start). ``offline/*`` is measured on
  the validation split during training; ``online/win_rate`` against the run's ``eval.opponents``
  (for the experiment: the reference pool for BC, the perfect-skill pros for RL).
- ``tournament/``: ``report.csv`` / ``report.json`` (per bot: offline metrics on the test split,
  tournament win rate and rating; rank correlations), ``standings.csv``, ``results.json``.

Every reader copes with a missing piece (an unfinished run, no RL run, no tournament yet) by
returning an empty table or ``None``; :func:`finding` then says what is missing instead of failing.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from evaluation.protocol import TIE_BREAK  # the best checkpoint by win rate, then this
from evaluation.standings import p_value_text

REPO_ROOT = Path(__file__).resolve().parents[1]
ENV_VAR = "FIGHTLAB_EXPERIMENT"
DEFAULT_EXPERIMENT = "runs/lecture"

# the curves the notebook plots: two offline metrics and the online one (plus its interval)
CURVE_TAGS = ("offline/accuracy", "offline/balanced_accuracy", "offline/macro_f1", "online/win_rate",
              "online/win_rate_ci_low", "online/win_rate_ci_high")
CURVE_COLUMNS = ["run", "kind", "step", "tag", "value"]
RUN_COLUMNS = ["agent", "kind", "rebalance", "init", "eval_opponents", "finished", "best_step"]
PROGRESS_COLUMNS = ["init", "eval_opponents", "start_step", "best_step", "accuracy_start", "accuracy_best",
                    "balanced_accuracy_start", "balanced_accuracy_best", "win_rate_start", "win_rate_best"]
NOT_RUNS = {"data", "tournament"}  # folders of an experiment that are not training runs
NAIVE_REBALANCE = "none"
OFFLINE_METRICS = ("accuracy", "balanced_accuracy", "macro_f1", "no_action_recall", "mean_skill_recall")


def experiment_dir(path: str | os.PathLike[str] | None = None,
                   root: str | os.PathLike[str] = REPO_ROOT) -> Path:
    """The experiment folder: ``path``, else ``$FIGHTLAB_EXPERIMENT``, else ``runs/lecture``.

    A relative path is relative to ``root`` (the repository root), not to the working directory, so
    the notebook finds the same folder whether it runs from the root or from ``notebooks/``.
    """
    chosen = Path(os.fspath(path) if path is not None else os.environ.get(ENV_VAR) or DEFAULT_EXPERIMENT)
    chosen = chosen.expanduser()
    return chosen if chosen.is_absolute() else Path(root) / chosen


def _event_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob("events.out.tfevents.*") if p.is_file())


def _run_folders(exp_dir: Path) -> list[Path]:
    """Direct sub-folders that are training runs: a ``config.yaml`` or event files inside."""
    if not exp_dir.is_dir():
        return []
    return [p for p in sorted(exp_dir.iterdir())
            if p.is_dir() and p.name not in NOT_RUNS and ((p / "config.yaml").is_file() or _event_files(p))]


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        loaded = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError):
        return {}
    return loaded if isinstance(loaded, dict) else {}


def _is_checkpoint_folder(name: str) -> bool:
    return name in ("best", "last", "export") or name.startswith("epoch_")


def _run_name_of(path: str | None) -> str | None:
    """``.../oversample_seed0/best`` -> ``oversample_seed0`` (the run folder of a checkpoint: the
    parent of ``best``, ``last``, ``epoch_*`` or ``export``; else the last part of the path)."""
    if not path:
        return None
    parts = Path(path).parts
    if len(parts) > 1 and _is_checkpoint_folder(parts[-1]):
        parts = parts[:-1]
    return parts[-1] if parts else None


def _short_labels(labels: Sequence[str], kinds: Sequence[str]) -> list[str]:
    """Tournament labels for people: a scripted bot's name, a ``best`` checkpoint's run folder
    (``none_seed0``), another checkpoint's ``run/folder``; the full label where two would clash."""
    short = []
    for label, kind in zip(labels, kinds, strict=True):
        parts = Path(str(label)).parts
        if kind == "scripted" or len(parts) < 2:
            short.append(str(label))
        else:
            short.append(parts[-2] if parts[-1] == "best" else "/".join(parts[-2:]))
    return [s if short.count(s) == 1 else str(label) for s, label in zip(short, labels, strict=True)]


def list_runs(exp_dir: str | os.PathLike[str]) -> pd.DataFrame:
    """One row per training run (index: the run folder's name), columns :data:`RUN_COLUMNS`.

    ``kind`` is ``"bc"`` or ``"rl"``; ``init`` is the BC run an RL run started from (``"scratch"``
    without one); ``finished`` says whether ``results.json`` exists; ``best_step`` is the step (epoch
    for BC, environment step for RL) of the ``best/`` checkpoint: from ``results.json``, or for an
    unfinished run from the training state in ``last/manifest.json`` (missing before the first save).
    """
    rows = {}
    for folder in _run_folders(Path(exp_dir)):
        config = _read_yaml(folder / "config.yaml")
        agent_config = config.get("agent") or {}
        results = _read_json(folder / "results.json")
        agent = agent_config.get("name") or (results or {}).get("agent")
        if agent is None:
            agent = "ppo" if folder.name.startswith(("ppo_", "sb3_ppo_")) else "bc"
        kind = "bc" if agent == "bc" else "rl"
        init = None
        if kind == "rl":
            init = _run_name_of(agent_config.get("init_from")) or "scratch"
        opponents = (config.get("eval") or {}).get("opponents")
        best = (results or {}).get("best_epoch")
        if best is None:  # unfinished: the training state saved with the last checkpoint
            state = (_read_json(folder / "last" / "manifest.json") or {}).get("training_state") or {}
            best = state.get("best_step", state.get("best_epoch"))
        rows[folder.name] = {
            "agent": agent, "kind": kind, "init": init,
            "rebalance": agent_config.get("rebalance") if kind == "bc" else None,
            "eval_opponents": ", ".join(opponents) if opponents else "default pool",
            "finished": results is not None,
            "best_step": int(best) if best is not None and best >= 0 else None}
    runs = pd.DataFrame.from_dict(rows, orient="index", columns=RUN_COLUMNS).rename_axis("run")
    return runs.astype({"best_step": "Int64", "finished": bool})


def read_scalars(run_dir: str | os.PathLike[str], tags: Iterable[str] = CURVE_TAGS) -> pd.DataFrame:
    """``step, tag, value`` of the scalars ``tags`` in every event file of ``run_dir``.

    Files are read one by one (no orphan purging) and a step logged twice (a resumed run) keeps its
    latest value.
    """
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    wanted = set(tags)
    rows = []
    for path in _event_files(Path(run_dir)):
        accumulator = EventAccumulator(str(path), size_guidance={"scalars": 0}, purge_orphaned_data=False)
        try:
            accumulator.Reload()
        except Exception:  # a truncated file of a run still being written: keep what the others have  # noqa: BLE001
            continue
        for tag in sorted(wanted & set(accumulator.Tags()["scalars"])):
            rows += [(event.wall_time, event.step, tag, event.value) for event in accumulator.Scalars(tag)]
    frame = pd.DataFrame(rows, columns=["wall_time", "step", "tag", "value"])
    frame = frame.sort_values("wall_time", kind="stable").drop_duplicates(["tag", "step"], keep="last")
    return frame.sort_values(["tag", "step"]).reset_index(drop=True)[["step", "tag", "value"]]


def load_curves(exp_dir: str | os.PathLike[str], tags: Iterable[str] = CURVE_TAGS) -> pd.DataFrame:
    """Every run's curves as one long table: ``run, kind, step, tag, value`` (see :data:`CURVE_TAGS`).

    ``kind`` is ``"bc"`` (``step`` = epoch) or ``"rl"`` (``step`` = environment steps, 0 = the BC
    start). Empty (with these columns) when the folder holds no runs.
    """
    tags = tuple(tags)
    runs = list_runs(exp_dir)
    frames = []
    for run, info in runs.iterrows():
        scalars = read_scalars(Path(exp_dir) / str(run), tags)
        if not scalars.empty:
            frames.append(scalars.assign(run=run, kind=info["kind"]))
    if not frames:
        dtypes = ["object", "object", "int64", "object", "float64"]
        return pd.DataFrame({c: pd.Series(dtype=t) for c, t in zip(CURVE_COLUMNS, dtypes, strict=True)})
    return pd.concat(frames, ignore_index=True)[CURVE_COLUMNS]


def wide_curves(curves: pd.DataFrame, run: str) -> pd.DataFrame:
    """One run's curves with one column per tag, indexed by step (NaN where a tag was not logged)."""
    one = curves[curves["run"] == run]
    return one.pivot_table(index="step", columns="tag", values="value", aggfunc="last").sort_index()


@dataclass
class TournamentReport:
    """The tournament's offline-vs-online report of an experiment.

    ``bots``: one row per bot (index: the tournament label), columns as ``report.csv`` (kind,
    win_rate and its CI, rating and its CI, accuracy, balanced_accuracy, macro_f1,
    no_action_recall, mean_skill_recall, action_jsd) plus ``run`` (the run folder of a trained bot,
    else None) and ``bot`` (a short label, e.g. ``none_seed0``). ``correlations``: Spearman and
    Kendall rank correlation of each offline metric with win rate; ``sentence``: the report's own.
    """

    path: Path
    bots: pd.DataFrame
    correlations: pd.DataFrame
    sentence: str
    matches_per_pairing: int | None


def load_tournament(exp_dir: str | os.PathLike[str]) -> TournamentReport | None:
    """``<exp_dir>/tournament``'s report, or None when the tournament has not written it yet."""
    out = Path(exp_dir) / "tournament"
    report = _read_json(out / "report.json")
    if not (out / "report.csv").is_file() or report is None:
        return None
    bots = pd.read_csv(out / "report.csv").set_index("label")
    for metric in OFFLINE_METRICS:  # a report written without a dataset has no offline columns
        if metric not in bots:
            bots[metric] = math.nan
    bots["run"] = [(_run_name_of(label) if kind != "scripted" else None)
                   for label, kind in zip(bots.index, bots["kind"], strict=True)]
    bots["bot"] = _short_labels(list(bots.index), list(bots["kind"]))
    correlations = pd.DataFrame(report.get("correlations", []))
    if not correlations.empty:
        correlations = correlations.set_index("metric")
    matches = (_read_json(out / "results.json") or {}).get("matches_per_pairing")
    return TournamentReport(path=out, bots=bots, correlations=correlations,
                            sentence=str(report.get("sentence", "")),
                            matches_per_pairing=int(matches) if matches is not None else None)


def _value_at(wide: pd.DataFrame, tag: str, step: Any) -> float:
    if tag not in wide or step not in wide.index:
        return math.nan
    return float(wide.at[step, tag])


def rl_progress(curves: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """Per RL run: accuracy, balanced accuracy and win rate at the start (first evaluation, step 0 =
    the BC bot) and at the best checkpoint (``runs["best_step"]``; where that is unknown, the best
    evaluation in the curves as training picks it: highest win rate, then balanced accuracy, earliest).

    Columns :data:`PROGRESS_COLUMNS`; empty when there is no RL run with curves.
    """
    rows = {}
    for run, info in runs[runs["kind"] == "rl"].iterrows():
        wide = wide_curves(curves, str(run))
        if wide.empty or "online/win_rate" not in wide:
            continue
        evaluated = wide.dropna(subset=["online/win_rate"])
        if evaluated.empty:
            continue
        start = evaluated.index[0]
        best = info["best_step"]
        if pd.isna(best) or int(best) not in wide.index:
            tie = evaluated[TIE_BREAK] if TIE_BREAK in evaluated else pd.Series(0.0, index=evaluated.index)
            order = pd.DataFrame({"win": evaluated["online/win_rate"].to_numpy(),
                                  "tie": tie.fillna(-np.inf).to_numpy(), "step": evaluated.index.to_numpy()})
            best = order.sort_values(["win", "tie", "step"], ascending=[False, False, True])["step"].iloc[0]
        rows[run] = {"init": info["init"], "eval_opponents": info["eval_opponents"],
                     "start_step": int(start), "best_step": int(best),
                     **{f"{name}_{when}": _value_at(wide, tag, step)
                        for name, tag in (("accuracy", "offline/accuracy"),
                                          ("balanced_accuracy", "offline/balanced_accuracy"),
                                          ("win_rate", "online/win_rate"))
                        for when, step in (("start", start), ("best", best))}}
    return pd.DataFrame.from_dict(rows, orient="index", columns=PROGRESS_COLUMNS).rename_axis("run")


def plot_curves(curves: pd.DataFrame, kind: str,
                tags: Sequence[str] = ("offline/accuracy", "offline/balanced_accuracy", "online/win_rate")
                ) -> Figure | None:
    """One panel per tag, one line per run of ``kind`` (``"bc"``: by epoch, ``"rl"``: by env step).

    None when no run of that kind has curves. The win rate gets its 95% interval as a band.
    """
    subset = curves[curves["kind"] == kind]
    if subset.empty:
        return None
    figure = Figure(figsize=(4.2 * len(tags) + 2.0, 3.6), dpi=80, layout="constrained")
    axes = figure.subplots(1, len(tags), squeeze=False, sharex=True)[0]
    for run in sorted(subset["run"].unique()):
        wide = wide_curves(subset, run)
        for ax, tag in zip(axes, tags, strict=True):
            if tag not in wide:
                continue
            series = wide[tag].dropna()
            (line,) = ax.plot(series.index, series.to_numpy(), marker="o", markersize=3, label=run)
            interval = ["online/win_rate_ci_low", "online/win_rate_ci_high"]
            if tag == "online/win_rate" and set(interval) <= set(wide):
                band = wide[interval].dropna()
                ax.fill_between(band.index, band.iloc[:, 0], band.iloc[:, 1], alpha=0.15,
                                color=line.get_color())
    for ax, tag in zip(axes, tags, strict=True):
        ax.set_title(tag, fontsize=10)
        ax.set_xlabel("epoch" if kind == "bc" else "environment steps (0 = the BC start)")
        ax.set_ylim(-0.05, 1.05)
        ax.grid(alpha=0.3)
        if kind == "bc":
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    # one legend for all panels (the runs are the same), outside them: inside, it covered the curves
    handles, labels = axes[-1].get_legend_handles_labels()
    figure.legend(handles, labels, loc="outside right upper", fontsize=7, title="run", title_fontsize=8)
    figure.suptitle("behaviour cloning runs" if kind == "bc" else "RL fine-tuning runs", fontsize=11)
    return figure


def _fmt(value: float, places: int = 3) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{value:.{places}f}"


def _delta(start: float, end: float) -> str:
    return "n/a" if math.isnan(start) or math.isnan(end) else f"{end - start:+.3f}"


def _correlation_sentence(correlations: pd.DataFrame) -> list[str]:
    valid = correlations.dropna(subset=["spearman"]) if "spearman" in correlations else correlations
    if valid.empty:
        return ["Too few bots with distinct results to rank-correlate offline metrics with win rate."]
    best = str(valid["spearman"].idxmax())
    row = valid.loc[best]
    out = [f"Across {int(row['n'])} bots, the offline metric that best predicts the tournament win rate is "
           f"`{best}` (Spearman {row['spearman']:+.2f}, {p_value_text(row['spearman_p'])})."]
    if "accuracy" in valid.index:
        rho = float(valid.loc["accuracy", "spearman"])
        if rho <= -0.3:
            how = "backwards (the more accurate a bot, the fewer matches it tends to win)"
        elif rho < 0.3:
            how = "hardly at all"
        else:
            how = "in roughly the same order"
        out.append(f"Plain accuracy's rank correlation with win rate is {rho:+.2f}: it ranks the bots {how}.")
    return out


def _naive_sentence(bots: pd.DataFrame, runs: pd.DataFrame) -> list[str]:
    naive_runs = set(runs.index[(runs["kind"] == "bc") & (runs["rebalance"] == NAIVE_REBALANCE)])
    naive = bots[bots["run"].isin(naive_runs)].dropna(subset=["accuracy", "win_rate"])
    if naive.empty:
        return ["The naive BC bot (no rebalancing) is not in the tournament."]
    _, row = next(iter(naive.iterrows()))
    ranked = bots.dropna(subset=["accuracy"])
    rank = int((ranked["accuracy"] > row["accuracy"]).sum()) + 1
    sentence = (f"The naive BC bot (`{row['bot']}`) has accuracy {row['accuracy']:.3f}, "
                f"#{rank} of {len(ranked)} bots, and wins {row['win_rate']:.1%} of its tournament matches")
    if row["win_rate"] <= 0.05 and rank <= max(1, math.ceil(len(ranked) / 3)):
        sentence += ": the lecture's bot, high accuracy and (almost) no wins."
    else:
        sentence += "."
    return [sentence]


def _extremes_sentence(bots: pd.DataFrame) -> list[str]:
    scored = bots.dropna(subset=["accuracy", "win_rate"]).set_index("bot")
    if scored.empty:
        return []
    accurate = scored["accuracy"].idxmax()
    winner = scored.sort_values(["win_rate", "rating"], ascending=False, kind="stable").index[0]
    if accurate == winner:
        return [f"The most accurate bot, `{accurate}`, also wins the most "
                f"({scored.at[winner, 'win_rate']:.1%})."]
    return [f"The most accurate bot, `{accurate}` (accuracy {scored.at[accurate, 'accuracy']:.3f}), wins "
            f"{scored.at[accurate, 'win_rate']:.1%}; the bot that wins the most, `{winner}` "
            f"({scored.at[winner, 'win_rate']:.1%}), has accuracy {scored.at[winner, 'accuracy']:.3f}."]


def _rl_sentences(progress: pd.DataFrame, runs: pd.DataFrame,
                  tournament: TournamentReport | None) -> list[str]:
    if not (runs["kind"] == "rl").any():
        return ["No RL run in this experiment: nothing to say about fine-tuning."]
    if progress.empty:
        return ["The RL run has not logged an evaluation yet."]
    out = []
    for run, row in progress.iterrows():
        start = "its BC start" if row["init"] != "scratch" else "its random start"
        where = ("the start is still its best checkpoint" if row["best_step"] == row["start_step"]
                 else f"from {start} (step {row['start_step']}) to its best checkpoint "
                      f"(step {row['best_step']:,})")
        out.append(f"RL fine-tuning `{run}`: {where}, validation accuracy "
                   f"{_fmt(row['accuracy_start'])} -> {_fmt(row['accuracy_best'])} "
                   f"({_delta(row['accuracy_start'], row['accuracy_best'])}), balanced accuracy "
                   f"{_fmt(row['balanced_accuracy_start'])} -> {_fmt(row['balanced_accuracy_best'])} "
                   f"({_delta(row['balanced_accuracy_start'], row['balanced_accuracy_best'])}), win rate "
                   f"against {row['eval_opponents']} {_fmt(row['win_rate_start'])} -> "
                   f"{_fmt(row['win_rate_best'])} ({_delta(row['win_rate_start'], row['win_rate_best'])})"
                   f"{_directions(row)}.")
        if tournament is not None:
            bots = tournament.bots
            mine, theirs = bots[bots["run"] == run], bots[bots["run"] == row["init"]]
            if not mine.empty and not theirs.empty:
                out.append(f"In the tournament `{run}` wins {mine['win_rate'].iloc[0]:.1%} "
                           f"(accuracy {mine['accuracy'].iloc[0]:.3f}) and its start `{row['init']}` "
                           f"{theirs['win_rate'].iloc[0]:.1%} (accuracy {theirs['accuracy'].iloc[0]:.3f}).")
    return out


def _direction(start: float, end: float, tolerance: float = 0.01) -> str | None:
    if math.isnan(start) or math.isnan(end):
        return None
    return "rose" if end - start > tolerance else "fell" if start - end > tolerance else "held steady"


def _directions(row: pd.Series) -> str:
    """``": accuracy fell while the win rate rose"`` (changes within 0.01 count as steady)."""
    accuracy = _direction(row["accuracy_start"], row["accuracy_best"])
    win_rate = _direction(row["win_rate_start"], row["win_rate_best"])
    if accuracy is None or win_rate is None or row["best_step"] == row["start_step"]:
        return ""
    if accuracy == win_rate == "held steady":
        return ": neither moved by more than 0.01"
    return f": accuracy {accuracy} while the win rate {win_rate}"


def finding(tournament: TournamentReport | None, curves: pd.DataFrame, runs: pd.DataFrame) -> str:
    """The experiment's result in a few sentences (Markdown), every number computed from the data:
    which offline metric predicts win rate best and how plain accuracy does, where the naive BC bot
    lands, and what RL fine-tuning did to accuracy and to the win rate. Missing pieces are named."""
    lines: list[str] = []
    if tournament is None:
        lines.append("No tournament report yet (`tournament/report.csv`): run `python experiment.py` to "
                     "the end for the per-bot comparison.")
    else:
        has_offline = "accuracy" in tournament.bots and tournament.bots["accuracy"].notna().any()
        if not has_offline:
            lines.append("The tournament report has no offline metrics (it ran without a dataset).")
        else:
            lines += _correlation_sentence(tournament.correlations)
            lines += _extremes_sentence(tournament.bots)
            lines += _naive_sentence(tournament.bots, runs)
    if runs.empty:
        lines.append("No training runs in this folder.")
    else:
        lines += _rl_sentences(rl_progress(curves, runs), runs, tournament)
    return "\n".join(f"- {line}" for line in lines)


__all__ = ["CURVE_TAGS", "TournamentReport", "experiment_dir", "finding", "list_runs", "load_curves",
           "load_tournament", "plot_curves", "read_scalars", "rl_progress", "wide_curves"]
