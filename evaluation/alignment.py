"""Align offline with online: which number computed from logs alone predicts who wins?

    python -m evaluation.alignment                 # the default zoo (~85 bots): build, fit, validate, report
    python -m evaluation.alignment zoo=small       # a few minutes: the same pipeline on a tiny zoo (CI)
    python -m evaluation.alignment overwrite=true  # recompute zoo steps whose inputs changed
    python -m evaluation.alignment reuse_zoo=true  # analyse the zoo on disk as it is (no step re-run)

Steps (each cached or resumable, see :mod:`evaluation.zoo`):

1. **the zoo**: BC bots (every rebalancing method x seed x size x epoch), RL snapshots, scripted
   bots, handicapped variants, and their round-robin tournament (the online truth: win rate);
2. **offline estimators** on the held-out test split of the logs, each bot replayed in time order
   (:func:`evaluation.ope.replay`): today's metrics (accuracy, balanced accuracy, macro-F1,
   NO_ACTION recall, mean skill recall), the situation metrics (:func:`evaluation.offline.situation_metrics`:
   ``situation_recall``, ``restraint`` = 1 - how often it presses where the pro waited), the value
   estimators of Fitted Q Evaluation (:func:`evaluation.ope.fitted_q_evaluation`: ``fqe_value``,
   ``pro_advantage``), ``situation_advantage`` (situations x values: the advantage over the pro's
   command averaged per kind of moment, so a rare punish counts as much as neutral walking),
   ``stake_weighted_recall`` (situations x values the other way: the per-situation recall of the
   pro's commands, weighted by what pressing was worth there under the pros' Q), and
   ``fitted`` (a ridge regression of win rate on all of those, fitted on some bots only);
3. **validation like the OPE benchmarks** (Fu et al. 2021): the zoo is split by family (fit on BC,
   validate on the rest; the reverse; leave each family out); on the held-out bots every estimator
   gets Spearman and Kendall rank correlation with win rate and regret@1 / regret@3 (win rate of the
   best held-out bot minus the best among the estimator's top k; ties broken against the estimator),
   each with a bootstrap interval over bots;
4. **checkpoint selection without matches**: each BC run's checkpoint picked by the best estimator,
   by validation accuracy, by validation loss and by the training-time online win rate (a few
   matches), with the regret of each against the run's best checkpoint in the tournament;
5. **the report**: ``<zoo>/alignment/`` ``report.md``, ``alignment.png``, ``report.json``,
   ``features.csv`` and ``estimator.json`` (the ridge fitted on the whole zoo: what
   ``tournament.py report.estimator=<it>`` uses for its "predicted win rate" column).

Every estimator is oriented so that higher means "should win more"; none but ``fitted`` has weights
fitted to win rates, and ``fitted`` is only ever scored on bots it was not fitted on.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import hydra  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from hydra.core.config_store import ConfigStore  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from omegaconf import DictConfig, OmegaConf  # noqa: E402
from rich.console import Console  # noqa: E402
from scipy import stats  # noqa: E402

from agents.artifacts import atomic_write_text, read_json_bounded, save_figure  # noqa: E402
from agents.registry import make_policy  # noqa: E402
from datasets.situations import DECISION_SITUATIONS  # noqa: E402
from envs.seeding import derived_seed  # noqa: E402
from evaluation.offline import SCALAR_METRICS, offline_metrics, situation_metrics  # noqa: E402
from evaluation.ope import FQEConfig, Timelines, fitted_q_evaluation, replay, timelines  # noqa: E402
from evaluation.standings import markdown_table  # noqa: E402
from evaluation.steps import run_or_exit  # noqa: E402
from evaluation.zoo import FAMILIES, ZooConfig, build_zoo, read_zoo, zoo_root, zoo_table  # noqa: E402

# offline estimators that need no fitting, each oriented so that higher = should win more
UNFITTED = (*SCALAR_METRICS, "situation_recall", "restraint", "fqe_value", "pro_advantage",
            "situation_advantage", "stake_weighted_recall")
FITTED = "fitted"  # ridge regression of win rate on the UNFITTED columns, fitted on other bots
ESTIMATORS = (*UNFITTED, FITTED)
ESTIMATOR_VERSION = 1


@dataclass
class AlignmentConfig:
    zoo: ZooConfig = field(default_factory=ZooConfig)
    seed: int = 0
    logdir: str = "runs"
    overwrite: bool = False  # recompute zoo steps made differently (else: say what differs, stop)
    progress: bool = True
    # true: analyse the zoo already built in <logdir>/zoo[_<name>] (its zoo.json and tournament) as it
    # is, without re-running its steps: a zoo built by an older commit is otherwise rebuilt (every
    # run's fingerprint records the code commit), which takes the full build time again
    reuse_zoo: bool = False
    fqe: FQEConfig = field(default_factory=FQEConfig)
    bootstrap: int = 1000  # resamples of held-out bots for the intervals
    ridge_alpha: float = 1.0  # the fitted estimator's L2 penalty (features standardised)
    torch_threads: int = 1  # FQE and replay (small batches: a 2nd thread only adds contention)
    # also write the headline figures here (benchmarks/results/alignment.json)
    results_json: str | None = None


ConfigStore.instance().store(name="alignment_schema", node=AlignmentConfig)
ConfigStore.instance().store(group="zoo", name="zoo_schema", node=ZooConfig)


# ---- 2. offline estimators ----------------------------------------------------------------------

def bot_features(specs: Mapping[str, str], lines: Timelines, fqe: FQEConfig | None = None,
                 threads: int = 1) -> pd.DataFrame:
    """Every :data:`UNFITTED` estimator for each bot (``label -> spec``) on the logged timelines."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(max(1, threads))
    try:
        actions = np.stack([replay(make_policy(spec), lines) for spec in specs.values()])
    finally:
        torch.set_num_threads(previous)
    result = fitted_q_evaluation(lines, actions, fqe, threads=max(1, threads))
    labels, situations = lines.actions[lines.valid], lines.situations[lines.valid]
    rows = {}
    for k, label in enumerate(specs):
        predictions = actions[k][lines.valid]
        offline = offline_metrics(labels, predictions)
        per_situation = situation_metrics(labels, predictions, situations)
        waited = [v for key, v in per_situation.items() if key.endswith("/pressed_where_pro_waited")]
        recalls = np.array([per_situation[f"situation/{name}/recall"] for name in DECISION_SITUATIONS])
        weighted = ~np.isnan(recalls) & ~np.isnan(result.stakes) & (result.stakes > 0)
        stake_recall = (float(np.average(recalls[weighted], weights=result.stakes[weighted]))
                        if weighted.any() else math.nan)
        rows[label] = {**{name: offline[name] for name in SCALAR_METRICS},
                       "situation_recall": per_situation["situation_recall"],
                       "restraint": 1.0 - float(np.nanmean(waited)),
                       "fqe_value": float(result.value[k]), "pro_advantage": float(result.advantage[k]),
                       "situation_advantage": float(np.nanmean(result.situation_advantage[k])),
                       "stake_weighted_recall": stake_recall}
    return pd.DataFrame.from_dict(rows, orient="index")


@dataclass
class RidgeEstimator:
    """``win_rate ~ intercept + coef . (x - mean) / scale`` over :data:`UNFITTED` features (JSON-able)."""

    features: list[str]
    mean: list[float]
    scale: list[float]
    coef: list[float]
    intercept: float
    fitted_on: int = 0  # bots

    @classmethod
    def fit(cls, table: pd.DataFrame, target: str = "win_rate", alpha: float = 1.0,
            features: Sequence[str] = UNFITTED) -> RidgeEstimator:
        from sklearn.linear_model import Ridge

        x = table[list(features)].to_numpy(dtype=np.float64)
        mean = np.nanmean(x, axis=0)
        scale = np.nanstd(x, axis=0)
        scale[~(scale > 1e-12)] = 1.0
        z = np.nan_to_num((x - mean) / scale)
        model = Ridge(alpha=alpha).fit(z, table[target].to_numpy(dtype=np.float64))
        return cls(list(features), mean.tolist(), scale.tolist(), model.coef_.tolist(),
                   float(model.intercept_), len(table))

    def predict(self, table: pd.DataFrame) -> np.ndarray:
        """Predicted win rate, clipped to [0, 1] (a NaN feature counts as the zoo's mean)."""
        x = table[self.features].to_numpy(dtype=np.float64)
        z = np.nan_to_num((x - np.array(self.mean)) / np.array(self.scale))
        return np.clip(self.intercept + z @ np.array(self.coef), 0.0, 1.0)

    def save(self, path: str | Path, provenance: Mapping[str, Any]) -> Path:
        payload = {"kind": "fightlab-win-rate-estimator", "version": ESTIMATOR_VERSION, **asdict(self),
                   "provenance": dict(provenance)}
        return atomic_write_text(Path(path), json.dumps(payload, indent=2) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> tuple[RidgeEstimator, dict[str, Any]]:
        """Read an ``estimator.json`` (plain JSON: nothing is executed); errors name the file and field."""
        payload = read_json_bounded(Path(path))
        if payload.get("kind") != "fightlab-win-rate-estimator" \
                or payload.get("version") != ESTIMATOR_VERSION:
            raise ValueError(f"{path} is not a win-rate estimator of version {ESTIMATOR_VERSION} (kind "
                             f"{payload.get('kind')!r}, version {payload.get('version')!r}); make one with "
                             "python -m evaluation.alignment")
        names = ("features", "mean", "scale", "coef")
        if any(not isinstance(payload.get(n), list) or len(payload[n]) != len(payload.get("features") or [])
               for n in names) or set(payload["features"]) - set(UNFITTED):
            raise ValueError(f"{path}: fields {list(names)} must be equal-length lists over features among "
                             f"{list(UNFITTED)}")
        return cls(*(payload[n] for n in names), float(payload["intercept"]),
                   int(payload.get("fitted_on", 0))), dict(payload.get("provenance") or {})


def predicted_win_rates(estimator_path: str | Path, specs: Mapping[str, str], dataset_path: str | None,
                        fractions: Sequence[float] = (0.8, 0.1, 0.1), split_seed: int = 0,
                        threads: int = 1) -> pd.Series:
    """What an ``estimator.json`` predicts for each bot (``label -> spec``) from the logs alone: its
    offline estimators on the test split of ``dataset_path`` (None: the default dataset), then the
    ridge. The prediction is the win rate in the round robin of the zoo the estimator was fitted on."""
    estimator, provenance = RidgeEstimator.load(estimator_path)
    fqe = FQEConfig(**{k: v for k, v in (provenance.get("fqe") or {}).items()
                       if k in FQEConfig.__dataclass_fields__})
    lines, _ = held_out_timelines(dataset_path, fractions, split_seed)
    features = bot_features(specs, lines, fqe, threads)
    return pd.Series(estimator.predict(features), index=features.index, name="predicted_win_rate")


# ---- 3. validation --------------------------------------------------------------------------------

def ranking_scores(estimate: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """Spearman, Kendall and regret@1/@3 of ``estimate`` against ``truth`` (one value per bot).

    regret@k = best true value - best true value among the estimator's top k, ties in the estimate
    broken against it (the worse bot first), so a constant estimator gets no credit for luck.
    """
    estimate, truth = np.asarray(estimate, dtype=np.float64), np.asarray(truth, dtype=np.float64)
    ok = ~np.isnan(estimate) & ~np.isnan(truth)
    estimate, truth = estimate[ok], truth[ok]
    out = {"n": float(len(truth))}
    if len(truth) < 3 or np.ptp(estimate) == 0 or np.ptp(truth) == 0:
        out.update(spearman=math.nan, kendall=math.nan)
    else:
        out["spearman"] = float(stats.spearmanr(estimate, truth).statistic)
        out["kendall"] = float(stats.kendalltau(estimate, truth).statistic)
    order = np.lexsort((truth, -estimate))  # by estimate (desc), ties: lowest truth first
    for k in (1, 3):
        out[f"regret_at_{k}"] = float(truth.max() - truth[order[:k]].max()) if len(truth) else math.nan
    return out


def bootstrap_scores(estimate: np.ndarray, truth: np.ndarray, resamples: int, seed: int
                     ) -> dict[str, tuple[float, float]]:
    """95% percentile intervals of :func:`ranking_scores` over bots resampled with replacement."""
    rng = np.random.default_rng(seed)
    n = len(truth)
    samples: dict[str, list[float]] = {}
    for _ in range(resamples):
        pick = rng.integers(0, n, n)
        for key, value in ranking_scores(estimate[pick], truth[pick]).items():
            samples.setdefault(key, []).append(value)
    return {key: (float(np.nanpercentile(v, 2.5)), float(np.nanpercentile(v, 97.5)))
            for key, v in samples.items() if key != "n" and not np.all(np.isnan(v))}


def family_splits(families: Sequence[str]) -> dict[str, tuple[list[str], list[str]]]:
    """``name -> (fit families, held-out families)``: BC vs the rest, both ways; leave one family out."""
    present = [f for f in FAMILIES if f in set(families)]
    splits = {}
    if "bc" in present and len(present) > 1:
        rest = [f for f in present if f != "bc"]
        splits["fit bc -> " + "+".join(rest)] = (["bc"], rest)
        splits["fit " + "+".join(rest) + " -> bc"] = (rest, ["bc"])
    for family in present:
        others = [f for f in present if f != family]
        if others and f"fit {'+'.join(others)} -> {family}" not in splits:
            splits[f"leave out {family}"] = (others, [family])
    return splits


def validate(table: pd.DataFrame, *, resamples: int = 1000, seed: int = 0, alpha: float = 1.0
             ) -> pd.DataFrame:
    """One row per (split, estimator): the held-out bots' :func:`ranking_scores` with intervals."""
    rows = []
    for split, (fit, held) in family_splits(table["family"].tolist()).items():
        train, test = table[table["family"].isin(fit)], table[table["family"].isin(held)]
        estimates = {name: test[name].to_numpy(dtype=np.float64) for name in UNFITTED}
        estimates[FITTED] = RidgeEstimator.fit(train, alpha=alpha).predict(test)
        truth = test["win_rate"].to_numpy(dtype=np.float64)
        for name, estimate in estimates.items():
            scores = ranking_scores(estimate, truth)
            intervals = bootstrap_scores(estimate, truth, resamples,
                                         derived_seed(seed, "bootstrap", split, name))
            row = {"split": split, "estimator": name, **scores}
            for key, (low, high) in intervals.items():
                row[f"{key}_ci_low"], row[f"{key}_ci_high"] = low, high
            rows.append(row)
    return pd.DataFrame(rows)


def out_of_family_predictions(table: pd.DataFrame, alpha: float = 1.0) -> pd.Series:
    """The :data:`FITTED` estimator for every bot, each fitted on the *other* families only (so a
    bot's own win rate, and its family's, never went into its prediction)."""
    out = pd.Series(np.nan, index=table.index, name=FITTED)
    for family in table["family"].unique():
        own = table["family"] == family
        if (~own).sum() >= 2:
            out[own] = RidgeEstimator.fit(table[~own], alpha=alpha).predict(table[own])
    return out


def summarise(validation: pd.DataFrame) -> pd.DataFrame:
    """Per estimator, the mean over held-out splits (best first by mean Spearman)."""
    summary = validation.groupby("estimator")[["spearman", "kendall", "regret_at_1", "regret_at_3"]].mean()
    worst = validation.groupby("estimator")["spearman"].min().rename("worst_spearman")
    return summary.join(worst).sort_values("spearman", ascending=False)


# ---- 4. checkpoint selection ----------------------------------------------------------------------

def validation_loss(spec: str, observations: np.ndarray, labels: np.ndarray) -> float:
    """Cross-entropy of a BC checkpoint's command distribution on logged rows (its training loss,
    unweighted, on the validation split)."""
    import torch

    policy = make_policy(spec)
    with torch.no_grad():
        logits = policy.logits(observations)
        return float(torch.nn.functional.cross_entropy(logits, torch.from_numpy(labels)).item())


def checkpoint_selection(table: pd.DataFrame, estimator: str, val_observations: np.ndarray,
                         val_labels: np.ndarray) -> pd.DataFrame:
    """Per BC run: the checkpoint each rule picks and its regret against the run's best (win rate)."""
    bc = table[(table["family"] == "bc") & table["run"].notna()].copy()
    bc["val_loss"] = [validation_loss(spec, val_observations, val_labels) for spec in bc["spec"]]
    rules = {"offline estimator": (estimator, True), "validation accuracy": ("val_accuracy", True),
             "validation loss": ("val_loss", False),
             "online win rate (training eval)": ("val_win_rate", True)}
    rows = []
    for run, group in bc.groupby("run", sort=True):
        best = group["win_rate"].max()
        row: dict[str, Any] = {"run": run, "checkpoints": len(group), "best_win_rate": best}
        for rule, (column, higher) in rules.items():
            values = group[column].to_numpy(dtype=np.float64)
            # ties broken against the rule (the worse checkpoint), as in ranking_scores
            key = np.lexsort((group["win_rate"].to_numpy(), -values if higher else values))
            row[rule] = float(best - group["win_rate"].to_numpy()[key[0]])
        rows.append(row)
    return pd.DataFrame(rows)


def checkpoint_metrics(spec: str) -> dict[str, float]:
    """The validation accuracy and online win rate a BC checkpoint recorded when it was saved."""
    from agents.checkpoint import checkpoint_dir, read_manifest

    metrics = read_manifest(checkpoint_dir(spec)).get("metrics") or {}
    return {"val_accuracy": float(metrics.get("offline/accuracy", math.nan)),
            "val_win_rate": float(metrics.get("online/win_rate", math.nan))}


# ---- 5. the report --------------------------------------------------------------------------------

def alignment_figure(table: pd.DataFrame, summary: pd.DataFrame, best: str) -> Figure:
    """Left: held-out Spearman per estimator (mean over splits, worst split as a tick). Right: the
    best estimator against tournament win rate, by family."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 5.5), dpi=80)
    order = summary.sort_values("spearman")
    colors = ["tab:red" if name in ("accuracy",) else "tab:green" if name == best else "tab:blue"
              for name in order.index]
    left.barh(order.index, order["spearman"], color=colors)
    left.plot(order["worst_spearman"], order.index, "k|", markersize=12, label="worst held-out split")
    left.axvline(0, color="black", linewidth=0.8)
    left.axvline(0.9, color="gray", linestyle="--", linewidth=0.8, label="target 0.9")
    left.set_xlabel("Spearman with tournament win rate (held-out bots, mean over splits)")
    left.set_xlim(-1, 1)
    left.legend(fontsize=8, loc="lower right")
    left.set_title("which offline number ranks bots like matches do?", fontsize=10)
    for family, marker in zip(FAMILIES, "os^D", strict=True):
        rows = table[table["family"] == family]
        if not rows.empty:
            right.scatter(rows[best], rows["win_rate"], marker=marker, label=f"{family} ({len(rows)})",
                          alpha=0.8)
    right.set_xlabel(f"offline: {best}")
    right.set_ylabel("online: round-robin win rate")
    right.set_ylim(-0.05, 1.05)
    right.grid(alpha=0.3)
    right.legend(fontsize=8)
    right.set_title(f"{best} vs win rate, every bot of the zoo", fontsize=10)
    fig.tight_layout()
    return fig


def _interval(row: pd.Series, key: str) -> str:
    value = row[key]
    low, high = row.get(f"{key}_ci_low", math.nan), row.get(f"{key}_ci_high", math.nan)
    if isinstance(value, float) and math.isnan(value):
        return "-"
    if isinstance(low, float) and math.isnan(low):
        return f"{value:+.2f}" if "regret" not in key else f"{value:.3f}"
    if "regret" in key:
        return f"{value:.3f} [{low:.3f}, {high:.3f}]"
    return f"{value:+.2f} [{low:+.2f}, {high:+.2f}]"


def validation_markdown(validation: pd.DataFrame) -> str:
    lines = []
    for split, group in validation.groupby("split", sort=False):
        shown = pd.DataFrame({
            "estimator": group["estimator"], "held-out bots": group["n"].astype(int),
            "Spearman": [_interval(r, "spearman") for _, r in group.iterrows()],
            "Kendall": [_interval(r, "kendall") for _, r in group.iterrows()],
            "regret@1": [_interval(r, "regret_at_1") for _, r in group.iterrows()],
            "regret@3": [_interval(r, "regret_at_3") for _, r in group.iterrows()]})
        lines += [f"### {split}", "", markdown_table(shown.sort_values("estimator")), ""]
    return "\n".join(lines)


def report_markdown(table: pd.DataFrame, validation: pd.DataFrame, summary: pd.DataFrame, best: str,
                    selection: pd.DataFrame, headline: Mapping[str, Any], timings: Mapping[str, float]
                    ) -> str:
    families = table.groupby("family")["win_rate"].agg(["count", "min", "max"]).reset_index()
    lines = ["# Offline vs online, aligned: which offline number predicts win rate?", "",
             headline["sentence"], "",
             "## The zoo", "", markdown_table(families.rename(columns={"count": "bots",
                                                                      "min": "lowest win rate",
                                                                      "max": "highest win rate"})), "",
             "## Held-out validation (mean over the family splits)", "",
             markdown_table(summary.reset_index()), "",
             "## Per split (95% bootstrap intervals over held-out bots)", "", validation_markdown(validation),
             "## Checkpoint selection without matches", "",
             f"Regret (tournament win rate of the run's best checkpoint minus the chosen one's) of each "
             f"rule; the offline estimator is `{best}`.", "",
             markdown_table(selection), "",
             markdown_table(selection.drop(columns=["run", "checkpoints", "best_win_rate"])
                            .agg(["mean", "max"]).reset_index(names="over runs")), "",
             "## Every bot", "", markdown_table(table.drop(columns=["spec"]).reset_index(names="bot")), "",
             "Timings (s): " + ", ".join(f"{k} {v:.0f}" for k, v in timings.items()), ""]
    return "\n".join(lines)


def headline(summary: pd.DataFrame, validation: pd.DataFrame) -> dict[str, Any]:
    """The best estimator by mean held-out Spearman, its figures, and accuracy's for contrast."""
    best = str(summary.index[0])
    row = summary.loc[best]
    accuracy = summary.loc["accuracy"] if "accuracy" in summary.index else None
    sentence = (f"On held-out bot families, `{best}` ranks bots best: mean Spearman {row['spearman']:+.2f} "
                f"(worst split {row['worst_spearman']:+.2f}), Kendall {row['kendall']:+.2f}, regret@1 "
                f"{row['regret_at_1']:.3f} win rate")
    if accuracy is not None:
        sentence += (f"; plain accuracy gets Spearman {accuracy['spearman']:+.2f} and regret@1 "
                     f"{accuracy['regret_at_1']:.3f}")
    return {"best_estimator": best, "best_heldout_spearman": float(row["spearman"]),
            "best_heldout_worst_split_spearman": float(row["worst_spearman"]),
            "best_heldout_kendall": float(row["kendall"]),
            "best_heldout_regret_at_1": float(row["regret_at_1"]),
            "best_heldout_regret_at_3": float(row["regret_at_3"]),
            "accuracy_heldout_spearman": float(accuracy["spearman"]) if accuracy is not None else math.nan,
            "target_spearman": 0.9, "target_regret_at_1": 0.05, "sentence": sentence + "."}


def held_out_timelines(dataset_path: str | None, fractions: Sequence[float] = (0.8, 0.1, 0.1), seed: int = 0
                   ) -> tuple[Timelines, Any]:
    """The held-out test split as timelines, and the validation split (for checkpoint selection)."""
    from datasets.generate import ensure_default_dataset
    from datasets.load import load_dataset, split_by_match

    dataset = ensure_default_dataset() if dataset_path is None else load_dataset(dataset_path)
    splits = split_by_match(dataset, fractions, seed=seed)
    return timelines(splits["test"]), splits["val"]


def per_split_best(validation: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """Per held-out split: the estimator with the highest Spearman and the one with the lowest regret@1."""
    out = {}
    for split, group in validation.groupby("split", sort=False):
        ranked = group.dropna(subset=["spearman"])
        top = ranked.loc[ranked["spearman"].idxmax()] if not ranked.empty else None
        low = group.loc[group["regret_at_1"].idxmin()]
        out[split] = {"held_out_bots": int(group["n"].iloc[0]),
                      "best_spearman_estimator": None if top is None else str(top["estimator"]),
                      "best_spearman": math.nan if top is None else float(top["spearman"]),
                      "lowest_regret_at_1_estimator": str(low["estimator"]),
                      "lowest_regret_at_1": float(low["regret_at_1"])}
    return out


def run_alignment(cfg: AlignmentConfig, console: Console | None = None) -> dict[str, Any]:
    console = console or Console(stderr=True)
    timings: dict[str, float] = {}
    start = time.perf_counter()
    if cfg.reuse_zoo:
        bots, tournament_dir = read_zoo(zoo_root(cfg.zoo, cfg.logdir))
        console.print(f"[alignment] the zoo as built in {zoo_root(cfg.zoo, cfg.logdir)} ({len(bots)} bots)")
    else:
        bots, tournament_dir = build_zoo(cfg.zoo, logdir=cfg.logdir, seed=cfg.seed, overwrite=cfg.overwrite,
                                         progress=cfg.progress, console=console)
    timings["zoo"] = time.perf_counter() - start
    table = zoo_table(bots, tournament_dir)
    record = read_json_bounded(zoo_root(cfg.zoo, cfg.logdir) / "zoo.json")
    lines, val = held_out_timelines(record.get("dataset"))
    console.print(f"[alignment] offline estimators for {len(table)} bots on {lines.num_rows:,} held-out rows "
                  f"({lines.actions.shape[1]} timelines)")
    start = time.perf_counter()
    specs = dict(zip(table.index, table["spec"], strict=True))
    features = bot_features(specs, lines, cfg.fqe, cfg.torch_threads)
    timings["offline estimators"] = time.perf_counter() - start
    table = table.join(features)
    learned = table["family"] == "bc"
    for column in ("val_accuracy", "val_win_rate"):
        table[column] = math.nan
    for label in table.index[learned]:
        for key, value in checkpoint_metrics(table.at[label, "spec"]).items():
            table.at[label, key] = value

    start = time.perf_counter()
    validation = validate(table, resamples=cfg.bootstrap, seed=cfg.seed, alpha=cfg.ridge_alpha)
    summary = summarise(validation)
    head = headline(summary, validation)
    table[FITTED] = out_of_family_predictions(table, cfg.ridge_alpha)
    estimator = RidgeEstimator.fit(table, alpha=cfg.ridge_alpha)  # on every bot: for bots outside the zoo
    table["predicted_win_rate"] = estimator.predict(table)
    val_obs, val_labels = val.to_numpy()
    selection = checkpoint_selection(table, head["best_estimator"], val_obs, val_labels)
    timings["validation"] = time.perf_counter() - start
    out = zoo_root(cfg.zoo, cfg.logdir) / "alignment"
    provenance = {"zoo": str(zoo_root(cfg.zoo, cfg.logdir)), "bots": len(table),
                  "dataset": record.get("dataset"), "fqe": asdict(cfg.fqe),
                  "note": "predicts the win rate in the zoo's round robin"}
    estimator.save(out / "estimator.json", provenance)
    atomic_write_text(out / "features.csv", table.reset_index(names="label").to_csv(index=False))
    markdown = report_markdown(table, validation, summary, head["best_estimator"], selection, head, timings)
    atomic_write_text(out / "report.md", markdown)
    selection_means = selection.drop(columns=["run", "checkpoints", "best_win_rate"]).mean().to_dict()
    payload = {**head, "bots": len(table), "families": table["family"].value_counts().to_dict(),
               "summary": json.loads(summary.reset_index().to_json(orient="records")),
               "validation": json.loads(validation.to_json(orient="records")),
               "checkpoint_selection_mean_regret": selection_means, "per_split": per_split_best(validation),
               "timings_s": timings}
    atomic_write_text(out / "report.json", json.dumps(payload, indent=2) + "\n")
    figure = alignment_figure(table, summary, head["best_estimator"])
    save_figure(out / "alignment.png", figure)
    plt.close(figure)
    if cfg.results_json:
        keys = ("best_estimator", "best_heldout_spearman", "best_heldout_regret_at_1",
                "best_heldout_regret_at_3", "best_heldout_kendall", "best_heldout_worst_split_spearman",
                "accuracy_heldout_spearman",
                "target_spearman", "target_regret_at_1")
        atomic_write_text(Path(cfg.results_json), json.dumps(
            {**{k: head[k] for k in keys}, "bots": len(table), "per_split": payload["per_split"],
             "checkpoint_selection_mean_regret": selection_means, "timings_s": timings}, indent=2) + "\n")
    console.print(head["sentence"])
    console.print(f"report: {out / 'report.md'}, figure: {out / 'alignment.png'}, estimator: "
                  f"{out / 'estimator.json'}")
    return payload


@hydra.main(version_base=None, config_path="../conf", config_name="alignment")
def main(cfg: DictConfig) -> None:
    config: AlignmentConfig = OmegaConf.to_object(cfg)
    run_or_exit("evaluation.alignment", lambda: run_alignment(config),
                "interrupted: rerun the same command to continue (finished zoo steps are reused, the "
                "tournament resumes)")


if __name__ == "__main__":
    from envs.config_checks import check_overrides_or_exit

    check_overrides_or_exit("alignment", program="python -m evaluation.alignment")
    main()
