"""The tournament's tables: per pairing, per participant, as console tables, files and a heatmap.

Every count is a :class:`envs.win_record.WinRecord`: win rates count draws as not won (as everywhere
in FightLab), with 95% Wilson intervals; ``score`` counts draws as half (what the ratings are fitted
on); a bot with no matches against a group has a NaN win rate there (no evidence), not 0. Files are
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

from agents.artifacts import atomic_write_text, save_figure  # noqa: E402
from envs.actions import ACTION_NAMES  # noqa: E402
from envs.win_record import WinRecord  # noqa: E402
from evaluation.ratings import Ratings  # noqa: E402
from evaluation.tournament import TournamentResults  # noqa: E402


def pairing_table(results: TournamentResults) -> pd.DataFrame:
    """One row per pairing: a, b, matches, a_wins, b_wins, draws, a_win_rate (+ Wilson CI), forfeits."""
    rows = []
    for (a, b), group in results.matches.groupby(["a", "b"], sort=True):
        record = WinRecord.from_results(group["result"])
        low, high = record.interval
        rows.append({"a": a, "b": b, "matches": record.matches, "a_wins": record.wins,
                     "b_wins": record.losses, "draws": record.draws, "a_win_rate": record.win_rate,
                     "a_win_rate_ci_low": low,
                     "a_win_rate_ci_high": high, "forfeits": int((group["forfeit_by"] != "").sum())})
    columns = ["a", "b", "matches", "a_wins", "b_wins", "draws", "a_win_rate", "a_win_rate_ci_low",
               "a_win_rate_ci_high", "forfeits"]
    return pd.DataFrame(rows, columns=columns)


def pairing_record(row: Any) -> WinRecord:
    """A pairing row's record from ``a``'s side (``.flipped()`` for ``b``'s)."""
    return WinRecord(row.a_wins, row.draws, row.b_wins)


def participant_record(pairings: pd.DataFrame, label: str,
                       opponents: Sequence[str] | None = None) -> WinRecord:
    """``label``'s record over its pairings (against ``opponents`` only, when given)."""
    record = WinRecord()
    for row in pairings.itertuples(index=False):
        if row.a == label and (opponents is None or row.b in opponents):
            record += pairing_record(row)
        elif row.b == label and (opponents is None or row.a in opponents):
            record += pairing_record(row).flipped()
    return record


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
        record = participant_record(pairings, label)
        low, high = record.interval
        forfeits = int((results.matches["forfeit_by"].isin([label, "both"])
                        & ((results.matches["a"] == label) | (results.matches["b"] == label))).sum())
        rows.append({"label": label, "kind": kinds[label], "matches": record.matches,
                     "wins": record.wins, "losses": record.losses, "draws": record.draws,
                     "win_rate": record.win_rate, "win_rate_ci_low": low, "win_rate_ci_high": high,
                     "score": record.score, "forfeits": forfeits})
    table = pd.DataFrame(rows).set_index("label").join(ratings.table())
    for name, members in (groups or {}).items():  # (tournament.py checked the names before playing)
        table[f"vs_{name}"] = [group_win_rate(pairings, label, members) for label in table.index]
    return table.sort_values(["rating", "win_rate"], ascending=False, kind="stable")


def group_win_rate(pairings: pd.DataFrame, label: str, members: Sequence[str]) -> float:
    """``label``'s share of matches won against ``members`` (other than itself); NaN if none played."""
    return participant_record(pairings, label, [m for m in members if m != label]).win_rate


def win_rate_matrix(order: Sequence[str], pairings: pd.DataFrame) -> pd.DataFrame:
    """``W.loc[i, j]`` = i's win rate against j (NaN on the diagonal)."""
    matrix = pd.DataFrame(np.nan, index=list(order), columns=list(order))
    for row in pairings.itertuples(index=False):
        record = pairing_record(row)
        matrix.loc[row.a, row.b] = record.win_rate
        matrix.loc[row.b, row.a] = record.flipped().win_rate
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


def format_p_value(p: float) -> str:
    """A p-value for a table: ``0.013``, ``<0.001`` below 0.001 (never ``0.000``, which reads as
    impossible), empty when undefined (NaN)."""
    if p is None or np.isnan(p):
        return ""
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def p_value_text(p: float) -> str:
    """A p-value in a sentence: ``p=0.013`` or ``p<0.001``."""
    shown = format_p_value(p)
    return f"p{shown}" if shown.startswith("<") else f"p={shown or 'n/a'}"


def is_p_value_column(name: Any) -> bool:
    """``p``, ``spearman_p``, ``kendall_p``...: the columns :func:`markdown_table` shows as p-values."""
    return str(name).strip() == "p" or str(name).endswith("_p")


def markdown_table(frame: pd.DataFrame, floats: int = 3) -> str:
    """A GitHub Markdown table (no extra dependency), floats rounded to ``floats`` places and
    p-value columns (:func:`is_p_value_column`) written by :func:`format_p_value`."""
    def cell(value: Any, p_value: bool) -> str:
        if isinstance(value, float | np.floating):
            if p_value:
                return format_p_value(float(value))
            return "" if np.isnan(value) else f"{value:.{floats}f}"
        return str(value).replace("|", "\\|")

    p_values = [is_p_value_column(c) for c in frame.columns]
    header = "| " + " | ".join(str(c) for c in frame.columns) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    body = ["| " + " | ".join(cell(v, p) for v, p in zip(row, p_values, strict=True)) + " |"
            for row in frame.itertuples(index=False)]
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
        for column in frame.columns:  # "0.512 [0.490, 0.534]" on one line, however narrow the console
            table.add_column(str(column), justify="left" if column in ("bot", "kind", "a", "b") else "right",
                             no_wrap="CI]" in str(column))
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
                    notes: Sequence[str] = (), fingerprint: dict[str, Any] | None = None) -> list[Path]:
    """Write results.json, pairings.csv, standings.csv, results.md and win_rates.png; return the paths.

    ``fingerprint`` (what the tables were made from) goes into results.json, so a rerun can tell
    whether they are up to date."""
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
        "fingerprint": fingerprint,
    }
    paths = [atomic_write_text(out / "results.json", json.dumps(payload, indent=2) + "\n"),
             atomic_write_text(out / "pairings.csv", pairings.to_csv(index=False)),
             atomic_write_text(out / "standings.csv", standings.reset_index().to_csv(index=False)),
             atomic_write_text(out / "results.md", standings_markdown(standings, pairings, title, notes))]
    figure = win_rate_heatmap(win_rate_matrix(list(standings.index), pairings), title)
    paths.append(save_figure(out / "win_rates.png", figure))
    plt.close(figure)
    return paths
