"""The tournament's tables: per pairing, per participant, as console tables, files and a heatmap.

Win rates count draws as not won (as everywhere in FightLab: :mod:`evaluation.online`), with 95%
Wilson intervals; ``score`` counts draws as half (what the ratings are fitted on). Files are
written atomically: ``results.json`` (everything), ``pairings.csv``, ``standings.csv``,
``results.md`` (paste into a paper or an issue) and ``win_rates.png`` (row bot's win rate against
column bot, bots in rating order).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from envs.actions import ACTION_NAMES  # noqa: E402
from envs.atomic_files import atomic_write_text, save_figure  # noqa: E402
from evaluation.online import wilson_interval  # noqa: E402
from evaluation.ratings import Ratings  # noqa: E402
from evaluation.tournament import TournamentResults  # noqa: E402


def pairing_table(results: TournamentResults) -> pd.DataFrame:
    """One row per pairing: a, b, matches, a_wins, b_wins, draws, a_win_rate (+ Wilson CI), forfeits."""
    rows = []
    for (a, b), group in results.matches.groupby(["a", "b"], sort=True):
        wins = int((group["result"] == "win").sum())
        losses = int((group["result"] == "loss").sum())
        draws = int((group["result"] == "draw").sum())
        low, high = wilson_interval(wins, len(group))
        rows.append({"a": a, "b": b, "matches": len(group), "a_wins": wins, "b_wins": losses,
                     "draws": draws, "a_win_rate": wins / len(group), "a_win_rate_ci_low": low,
                     "a_win_rate_ci_high": high, "forfeits": int((group["forfeit_by"] != "").sum())})
    columns = ["a", "b", "matches", "a_wins", "b_wins", "draws", "a_win_rate", "a_win_rate_ci_low",
               "a_win_rate_ci_high", "forfeits"]
    return pd.DataFrame(rows, columns=columns)


def standings_table(results: TournamentResults, pairings: pd.DataFrame, ratings: Ratings,
                    groups: Mapping[str, Sequence[str]] | None = None) -> pd.DataFrame:
    """One row per participant, best rating first: record, win rate vs the pool, score, rating.

    ``groups`` (name -> participant labels) adds a ``vs_<name>`` column per group: the win rate
    against that group's members only (a bot's matches against itself excluded), e.g. a trained
    bot against the reference pros, whatever else is in the tournament.
    """
    rows = []
    kinds = {p.label: p.kind for p in results.participants}
    for label in results.labels:
        as_a = pairings[pairings["a"] == label]
        as_b = pairings[pairings["b"] == label]
        wins = int(as_a["a_wins"].sum() + as_b["b_wins"].sum())
        losses = int(as_a["b_wins"].sum() + as_b["a_wins"].sum())
        draws = int(as_a["draws"].sum() + as_b["draws"].sum())
        matches = wins + losses + draws
        low, high = wilson_interval(wins, matches)
        forfeits = int((results.matches["forfeit_by"].isin([label, "both"])
                        & ((results.matches["a"] == label) | (results.matches["b"] == label))).sum())
        rows.append({"label": label, "kind": kinds[label], "matches": matches, "wins": wins,
                     "losses": losses, "draws": draws, "win_rate": wins / max(matches, 1),
                     "win_rate_ci_low": low, "win_rate_ci_high": high,
                     "score": (wins + draws / 2) / max(matches, 1), "forfeits": forfeits})
    table = pd.DataFrame(rows).set_index("label").join(ratings.table())
    for name, members in (groups or {}).items():  # (tournament.py checked the names before playing)
        table[f"vs_{name}"] = [group_win_rate(pairings, label, members) for label in table.index]
    return table.sort_values(["rating", "win_rate"], ascending=False, kind="stable")


def group_win_rate(pairings: pd.DataFrame, label: str, members: Sequence[str]) -> float:
    """``label``'s share of matches won against ``members`` (other than itself); NaN if none played."""
    others = [m for m in members if m != label]
    as_a = pairings[(pairings["a"] == label) & pairings["b"].isin(others)]
    as_b = pairings[(pairings["b"] == label) & pairings["a"].isin(others)]
    matches = int(as_a["matches"].sum() + as_b["matches"].sum())
    wins = int(as_a["a_wins"].sum() + as_b["b_wins"].sum())
    return wins / matches if matches else float("nan")


def win_rate_matrix(order: Sequence[str], pairings: pd.DataFrame) -> pd.DataFrame:
    """``W.loc[i, j]`` = i's win rate against j (NaN on the diagonal)."""
    matrix = pd.DataFrame(np.nan, index=list(order), columns=list(order))
    for row in pairings.itertuples(index=False):
        matrix.loc[row.a, row.b] = row.a_wins / row.matches
        matrix.loc[row.b, row.a] = row.b_wins / row.matches
    return matrix


def win_rate_heatmap(matrix: pd.DataFrame, title: str) -> Figure:
    """Row bot's win rate against column bot, annotated; draws make a pair's cells sum below 1."""
    n = len(matrix)
    size = max(5.0, 0.6 * n + 2.5)
    fig, ax = plt.subplots(figsize=(size + 1.0, size), dpi=80)
    image = ax.imshow(matrix.to_numpy(dtype=float), cmap="RdYlGn", vmin=0.0, vmax=1.0)
    ax.set_xticks(range(n), matrix.columns, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(n), matrix.index, fontsize=8)
    ax.set_xlabel("opponent")
    ax.set_ylabel("bot (rating order)")
    ax.set_title(title, fontsize=10)
    for i in range(n):
        for j in range(n):
            value = matrix.iat[i, j]
            if not np.isnan(value):
                ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=7)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="win rate (draws not won)")
    fig.tight_layout()
    return fig


def markdown_table(frame: pd.DataFrame, floats: int = 3) -> str:
    """A GitHub Markdown table (no extra dependency), floats rounded to ``floats`` places."""
    def cell(value: Any) -> str:
        if isinstance(value, float | np.floating):
            return "" if np.isnan(value) else f"{value:.{floats}f}"
        return str(value).replace("|", "\\|")

    header = "| " + " | ".join(str(c) for c in frame.columns) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    body = ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *body])


def _standings_for_display(standings: pd.DataFrame) -> pd.DataFrame:
    out = standings.reset_index()
    return pd.DataFrame({
        "bot": out["label"], "kind": out["kind"], "W-L-D": [f"{w}-{lo}-{d}" for w, lo, d in
                                                            zip(out["wins"], out["losses"], out["draws"],
                                                                strict=True)],
        "win rate [95% CI]": [f"{r:.3f} [{a:.3f}, {b:.3f}]" for r, a, b in
                              zip(out["win_rate"], out["win_rate_ci_low"], out["win_rate_ci_high"],
                                  strict=True)],
        "rating [95% CI]": [f"{r:.0f} [{a:.0f}, {b:.0f}]" for r, a, b in
                            zip(out["rating"], out["rating_ci_low"], out["rating_ci_high"], strict=True)],
        "forfeits": out["forfeits"],
        **{column: [f"{v:.3f}" for v in out[column]] for column in out.columns if column.startswith("vs_")}})


def _pairings_for_display(pairings: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({
        "a": pairings["a"], "b": pairings["b"], "a wins": pairings["a_wins"], "b wins": pairings["b_wins"],
        "draws": pairings["draws"],
        "a win rate [95% CI]": [f"{r:.3f} [{lo:.3f}, {hi:.3f}]" for r, lo, hi in
                                zip(pairings["a_win_rate"], pairings["a_win_rate_ci_low"],
                                    pairings["a_win_rate_ci_high"], strict=True)],
        "forfeits": pairings["forfeits"]})


def print_standings(console: Console, standings: pd.DataFrame, pairings: pd.DataFrame, title: str,
                    show_pairings: bool = True) -> None:
    """The standings (and the per-pairing table) as rich tables."""
    for frame, caption in ((_standings_for_display(standings), title),
                           (_pairings_for_display(pairings), "pairings") if show_pairings else (None, "")):
        if frame is None:
            continue
        table = Table(title=caption)
        for column in frame.columns:
            table.add_column(str(column), justify="left" if column in ("bot", "kind", "a", "b") else "right")
        for row in frame.itertuples(index=False):
            table.add_row(*(str(v) for v in row))
        console.print(table)


def standings_markdown(standings: pd.DataFrame, pairings: pd.DataFrame, title: str,
                       notes: Sequence[str] = ()) -> str:
    lines = [f"# {title}", "", "## Standings", "", markdown_table(_standings_for_display(standings)), "",
             "## Pairings", "", markdown_table(_pairings_for_display(pairings)), ""]
    if notes:
        lines += ["## Notes", "", *[f"- {note}" for note in notes], ""]
    return "\n".join(lines)


def write_standings(out_dir: str | Path, results: TournamentResults, pairings: pd.DataFrame,
                    standings: pd.DataFrame, ratings: Ratings, title: str,
                    notes: Sequence[str] = ()) -> list[Path]:
    """Write results.json, pairings.csv, standings.csv, results.md and win_rates.png; return the paths."""
    out = Path(out_dir)
    forfeits = results.forfeits
    payload = {
        "title": title, "seed": results.seed, "matches_per_pairing": results.matches_per_pairing,
        "participants": [{"label": p.label, "spec": p.spec, "kind": p.kind} for p in results.participants],
        "standings": json.loads(standings.reset_index().to_json(orient="records")),
        "pairings": json.loads(pairings.to_json(orient="records")),
        "ratings": {"scale": "Elo-like: 1500 + 400/ln(10) * Bradley-Terry strength, pool mean 1500",
                    "bootstrap": ratings.bootstrap},
        "action_counts": {label: dict(zip(ACTION_NAMES, map(int, counts), strict=True))
                          for label, counts in results.action_counts.items()},
        "forfeits": json.loads(forfeits[["a", "b", "match", "forfeit_by", "forfeit_reason"]]
                               .to_json(orient="records")),
        "notes": list(notes),
    }
    paths = [atomic_write_text(out / "results.json", json.dumps(payload, indent=2) + "\n"),
             atomic_write_text(out / "pairings.csv", pairings.to_csv(index=False)),
             atomic_write_text(out / "standings.csv", standings.reset_index().to_csv(index=False)),
             atomic_write_text(out / "results.md", standings_markdown(standings, pairings, title, notes))]
    figure = win_rate_heatmap(win_rate_matrix(list(standings.index), pairings), title)
    paths.append(save_figure(out / "win_rates.png", figure))
    plt.close(figure)
    return paths
