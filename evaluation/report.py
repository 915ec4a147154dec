"""The offline-vs-online report: the lecture's question answered per bot, in one table.

For every participant, *offline* metrics on the held-out test split of the pro logs (accuracy,
balanced accuracy, macro-F1, NO_ACTION recall, mean skill recall; :mod:`evaluation.offline`) sit
next to its *online* results in the tournament (win rate against the pool, rating). Scripted bots
are scored too, as reference points: ``idle`` is the lecture's bot with ~95% accuracy and no wins.

Across participants, Spearman and Kendall rank correlations between each offline metric and the
win rate say which offline number, if any, predicts the online one (a sentence names the best).
With only a handful of bots these are rough: the p-values are printed so nobody over-reads them.

Human-likeness: the Jensen-Shannon divergence (base 2, so in [0, 1]) between the commands a bot
pressed in its tournament matches and the commands the pros pressed in the logs (the dataset
manifest's counts). 0 means the same mix of commands; it says nothing about *when* they are pressed.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from scipy import stats  # noqa: E402
from scipy.spatial.distance import jensenshannon  # noqa: E402

from agents.artifacts import atomic_write_text, save_figure  # noqa: E402
from envs.actions import ACTION_NAMES  # noqa: E402
from envs.params import GameParams  # noqa: E402
from evaluation.offline import SCALAR_METRICS, evaluate_policy  # noqa: E402
from evaluation.participants import Participant, training_dataset  # noqa: E402
from evaluation.protocol import DatasetSpec, Split, test_split  # noqa: E402
from evaluation.standings import markdown_table, p_value_text  # noqa: E402

ONLINE_METRIC = "win_rate"


def dataset_label(dataset: Mapping[str, Any]) -> str:
    """A short name for a dataset in tables: its folder name and the start of its content hash."""
    return f"{Path(dataset['path']).name}@{str(dataset.get('frames_sha256') or '?')[:8]}"


def offline_table(participants: Sequence[Participant], spec: DatasetSpec | None = None,
                  params: GameParams | None = None) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The :data:`~evaluation.offline.SCALAR_METRICS` of every participant on *its own* test split.

    A trained bot is scored on the test split of the dataset it was trained on (path, fractions and
    seed as its checkpoint recorded them), so no bot is scored on matches it trained on and no bot
    is scored on another dataset without saying so; ``spec`` with a path scores everyone on that
    dataset's test split instead. Scripted bots use ``spec`` (default: the default dataset). The
    table has a ``dataset`` column (folder@hash) and ``test_frames``; also returns, per dataset
    label, the split's dataset record (for the pros' command mix of :func:`action_jsd`).

    Scripted bots see the logged rows as one batch, not as a timeline, so stateful bots (the pros'
    reaction delay) are scored as if every row were a fresh match: a reference point, not their best.
    """
    splits: dict[tuple[Any, ...], Split] = {}
    rows, datasets = {}, {}
    for participant in participants:
        recorded = training_dataset(participant)
        if spec is not None and spec.path:
            key = (spec.path, tuple(spec.split_fractions), spec.split_seed)
        else:
            key = (recorded.get("path"), tuple(recorded.get("split_fractions") or ()),
                   recorded.get("split_seed"))
        if key not in splits:
            splits[key] = test_split(spec, recorded)
        split = splits[key]
        label = dataset_label(split.dataset)
        datasets[label] = split.dataset
        metrics, _ = evaluate_policy(participant.make(params), split.observations, split.labels)
        rows[participant.label] = {**{name: metrics[name] for name in SCALAR_METRICS}, "dataset": label,
                                   "test_frames": split.dataset["frames"],
                                   "own_dataset": None if not participant.learned
                                   else split.dataset["frames_sha256"] == recorded.get("frames_sha256")}
    table = pd.DataFrame.from_dict(rows, orient="index")[[*SCALAR_METRICS, "dataset", "test_frames",
                                                          "own_dataset"]]
    return table, datasets


def action_jsd(bot_counts: Mapping[str, np.ndarray], reference_counts: Sequence[float]) -> pd.Series:
    """Jensen-Shannon divergence (bits) of each bot's command mix from the reference (pros') mix."""
    reference = np.asarray(reference_counts, dtype=np.float64)
    out = {}
    for label, counts in bot_counts.items():
        counts = np.asarray(counts, dtype=np.float64)
        out[label] = float(jensenshannon(counts, reference, base=2) ** 2) if counts.sum() > 0 else math.nan
    return pd.Series(out, name="action_jsd")


def pro_action_counts(manifest: Mapping[str, Any]) -> np.ndarray:
    """The dataset manifest's per-command counts in command-id order."""
    counts = manifest.get("action_counts", {})
    return np.array([float(counts.get(name, 0)) for name in ACTION_NAMES])


def join_report(standings: pd.DataFrame, offline: pd.DataFrame | None, jsd: pd.Series | None) -> pd.DataFrame:
    """One row per bot (rating order): kind, offline metrics, win rate (+CI), rating (+CI), JSD."""
    online = standings[["kind", "win_rate", "win_rate_ci_low", "win_rate_ci_high", "rating",
                        "rating_ci_low", "rating_ci_high"]]
    table = online if offline is None else online.join(offline)
    if jsd is not None:
        table = table.join(jsd)
    return table


def rank_correlations(table: pd.DataFrame, metrics: Sequence[str] = SCALAR_METRICS,
                      online: str = ONLINE_METRIC) -> pd.DataFrame:
    """Spearman and Kendall rank correlation of each offline metric with ``online`` across bots.

    Bots with a NaN metric are left out of that metric's correlation; fewer than 3 bots (or a
    constant column) give NaN.
    """
    rows = []
    for metric in metrics:
        pair = table[[metric, online]].dropna()
        if len(pair) < 3 or pair[metric].nunique() < 2 or pair[online].nunique() < 2:
            rho = rho_p = tau = tau_p = math.nan
        else:
            rho, rho_p = stats.spearmanr(pair[metric], pair[online])
            tau, tau_p = stats.kendalltau(pair[metric], pair[online])
        rows.append({"metric": metric, "n": len(pair), "spearman": float(rho), "spearman_p": float(rho_p),
                     "kendall": float(tau), "kendall_p": float(tau_p)})
    return pd.DataFrame(rows).set_index("metric")


def best_predictor_sentence(correlations: pd.DataFrame, online: str = ONLINE_METRIC,
                            who: str = "bots") -> str:
    """One sentence naming the offline metric whose ranking best matches the online ranking."""
    valid = correlations.dropna(subset=["spearman"])
    if valid.empty:
        return f"Too few {who} with distinct results to correlate offline metrics with {online}."
    best = valid["spearman"].idxmax()
    row = valid.loc[best]
    sentence = (f"Across {int(row['n'])} {who}, {best} predicts {online} best "
                f"(Spearman {row['spearman']:+.2f}, "
                f"{p_value_text(row['spearman_p'])}; Kendall {row['kendall']:+.2f}, "
                f"{p_value_text(row['kendall_p'])})")
    if "accuracy" in valid.index and best != "accuracy":
        acc = valid.loc["accuracy"]
        sentence += f"; plain accuracy ranks them at Spearman {acc['spearman']:+.2f}"
    if row["spearman"] <= 0:
        sentence += ". No offline metric ranks the bots the way matches do"
    return sentence + "."


# bots closer than this in both accuracy and win rate share one marker and one label: the lecture's
# point is that idle, naive BC and focal all sit at accuracy ~0.965, win rate 0, and their names
# printed on top of each other would hide exactly that
SAME_POINT = 0.01
KIND_MARKERS = {"scripted": "s", "checkpoint": "o", "onnx": "^"}
KIND_COLORS = {"scripted": "tab:blue", "checkpoint": "tab:orange", "onnx": "tab:green"}
MIXED_MARKER, MIXED_COLOR = "D", "tab:purple"  # a group of bots of different kinds


def point_groups(table: pd.DataFrame, tolerance: float = SAME_POINT) -> list[list[Any]]:
    """Bots (rows with an accuracy) grouped by where they land on the accuracy-vs-win-rate plane:
    a bot joins the first group whose first member is within ``tolerance`` in both coordinates."""
    rows = table.dropna(subset=["accuracy", "win_rate"]).sort_values(["accuracy", "win_rate"])
    groups: list[list[Any]] = []
    anchors: list[tuple[float, float]] = []
    for label, row in rows.iterrows():
        for group, (x, y) in zip(groups, anchors, strict=True):
            if abs(row["accuracy"] - x) <= tolerance and abs(row["win_rate"] - y) <= tolerance:
                group.append(label)
                break
        else:
            groups.append([label])
            anchors.append((float(row["accuracy"]), float(row["win_rate"])))
    return groups


def group_label(labels: Sequence[Any], width: int = 34) -> str:
    """``idle, none_seed0, focal_seed0``, wrapped onto lines of about ``width`` characters."""
    import textwrap

    return "\n".join(textwrap.wrap(", ".join(str(label) for label in labels), width=width,
                                    break_long_words=False, break_on_hyphens=False))


def accuracy_vs_win_rate_figure(table: pd.DataFrame, title: str = "offline accuracy vs online win rate"
                                ) -> Figure:
    """Scatter: accuracy on held-out logs (x) vs tournament win rate (y), CI as bars, bots labelled.

    Bots at the same spot (:func:`point_groups`) get one marker and one combined label (a diamond
    when they are of different kinds); labels are moved apart by adjustText, with a thin line back
    to their point when moved; the legend sits outside the axes.
    """
    from adjustText import adjust_text

    fig, ax = plt.subplots(figsize=(9.5, 6), dpi=80)
    texts, xs, ys, shown_kinds = [], [], [], set()
    for group in point_groups(table):
        rows = table.loc[group]
        kinds = sorted(set(rows["kind"]))
        kind = kinds[0] if len(kinds) == 1 else " + ".join(kinds)
        marker = KIND_MARKERS.get(kind, MIXED_MARKER) if len(kinds) == 1 else MIXED_MARKER
        color = KIND_COLORS.get(kind, MIXED_COLOR)
        x, y = float(rows["accuracy"].mean()), float(rows["win_rate"].mean())
        low = float(np.nanmin(rows["win_rate_ci_low"])) if "win_rate_ci_low" in rows else y
        high = float(np.nanmax(rows["win_rate_ci_high"])) if "win_rate_ci_high" in rows else y
        ax.errorbar([x], [y], yerr=[[max(y - low, 0.0)], [max(high - y, 0.0)]], fmt=marker, capsize=3,
                    color=color, markersize=7 if len(group) == 1 else 9,
                    label=None if kind in shown_kinds else kind)
        shown_kinds.add(kind)
        texts.append(ax.text(x + 0.01, y + 0.01, group_label(group), fontsize=7,
                             fontweight="bold" if len(group) > 1 else "normal"))
        # what a label must not cover: the marker and its interval bar
        bar = np.linspace(min(low, y), max(high, y), 5)
        xs.extend([x] * (len(bar) + 1))
        ys.extend([y, *bar])
    ax.set_xlabel("offline: accuracy on the held-out pro logs")
    ax.set_ylabel("online: tournament win rate (95% CI)")
    ax.set_ylim(-0.08, 1.08)
    ax.set_xlim(-0.05, 1.12)  # room on the right for the labels of the many bots near accuracy 0.9-1
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    if shown_kinds:
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
    fig.tight_layout()
    if texts:
        adjust_text(texts, x=xs, y=ys, ax=ax, expand=(1.15, 1.5), force_text=(0.3, 0.6),
                    force_static=(0.3, 0.6), time_lim=5,
                    arrowprops={"arrowstyle": "-", "color": "0.5", "lw": 0.5})
    return fig


def run_groups(participants: Sequence[Participant]) -> dict[str, list[str]]:
    """Checkpoints grouped by run folder (the parent of ``best``/``last``/``epoch_*``): the
    "across the checkpoints of one run" view. Only groups of 3 or more are worth correlating."""
    groups: dict[str, list[str]] = {}
    for p in participants:
        if p.learned and p.file == p.spec:  # difficulty variants are not checkpoints of the run
            groups.setdefault(str(Path(p.spec).parent), []).append(p.label)
    return {run: labels for run, labels in groups.items() if len(labels) >= 3}


def write_report(out_dir: str | Path, table: pd.DataFrame, correlations: pd.DataFrame, sentence: str,
                 group_correlations: Mapping[str, tuple[pd.DataFrame, str]] | None = None,
                 tensorboard: bool = True, fingerprint: dict[str, Any] | None = None) -> list[Path]:
    """report.json / report.csv / report.md / accuracy_vs_win_rate.png, and TensorBoard under
    ``out_dir/tensorboard`` (the figure, per-bot scalars, correlations, the Markdown as text)."""
    out = Path(out_dir)
    markdown = report_markdown(table, correlations, sentence, group_correlations)
    payload = {"bots": _records(table.reset_index(names="label")),
               "correlations": _records(correlations.reset_index()),
               "sentence": sentence, "fingerprint": fingerprint,
               "runs": {run: {"correlations": _records(c.reset_index()), "sentence": s}
                        for run, (c, s) in (group_correlations or {}).items()}}
    paths = [atomic_write_text(out / "report.json", json.dumps(payload, indent=2) + "\n"),
             atomic_write_text(out / "report.csv", table.reset_index(names="label").to_csv(index=False)),
             atomic_write_text(out / "report.md", markdown)]
    figure = accuracy_vs_win_rate_figure(table) if "accuracy" in table else None
    if figure is not None:
        paths.append(save_figure(out / "accuracy_vs_win_rate.png", figure))
    if tensorboard:
        paths.append(_write_tensorboard(out / "tensorboard", table, correlations, markdown, figure))
    if figure is not None:
        plt.close(figure)
    return paths


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as JSON-ready dicts, NaN as null (strict JSON has no NaN)."""
    return json.loads(frame.to_json(orient="records"))


def _write_tensorboard(logdir: Path, table: pd.DataFrame, correlations: pd.DataFrame, markdown: str,
                       figure: Figure | None) -> Path:
    from torch.utils.tensorboard import SummaryWriter  # torch only when TensorBoard is wanted

    with SummaryWriter(str(logdir)) as writer:
        if figure is not None:
            writer.add_figure("report/accuracy_vs_win_rate", figure, global_step=0, close=False)
        numeric = table.select_dtypes("number")
        for label, row in numeric.iterrows():
            for column, value in row.items():
                if not math.isnan(value):
                    writer.add_scalar(f"bots/{label}/{column}", float(value), 0)
        for metric, row in correlations.iterrows():
            for column in ("spearman", "kendall"):
                if not math.isnan(row[column]):
                    writer.add_scalar(f"correlation/{column}/{metric}", float(row[column]), 0)
        writer.add_text("report/table", markdown, 0)
    return logdir


def report_markdown(table: pd.DataFrame, correlations: pd.DataFrame, sentence: str,
                    group_correlations: Mapping[str, tuple[pd.DataFrame, str]] | None = None) -> str:
    lines = ["# Offline vs online", "", markdown_table(table.reset_index(names="bot")), "",
             "## Rank correlation with win rate", "", markdown_table(correlations.reset_index()), "",
             sentence, ""]
    for run, (corr, run_sentence) in (group_correlations or {}).items():
        lines += [f"### Checkpoints of {run}", "", markdown_table(corr.reset_index()), "", run_sentence, ""]
    return "\n".join(lines)
