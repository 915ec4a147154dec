"""The dataset card: what is in a log dataset, in one page a person reads before training on it.

The card leads with the class distribution because that is the lecture's point: pro logs are mostly
``NO_ACTION``, so "always predict NO_ACTION" already scores that share as accuracy. It also shows
who played (styles, skill levels, players), how the styles fared against each other, and how the
data was made. ``card.md`` plus ``class_distribution.png`` (log scale, every bar annotated, so rare
commands stay visible) are written next to the manifest, atomically.

    python -m datasets.card data/default      # (re)write the card of a dataset and print it
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from agents.artifacts import atomic_write_bytes, atomic_write_text
from datasets.manifest import CARD_NAME, CLASS_PLOT_NAME, MANIFEST_NAME, MATCHES_NAME, read_manifest
from datasets.situations import REACTIONS, situation_table
from envs.actions import ACTION_NAMES
from envs.win_record import WinRecord

FPS = 60


def class_distribution(manifest: dict[str, Any]) -> pd.DataFrame:
    """``id``, ``command``, ``count``, ``share`` per command in id order (NO_ACTION, id 0, first)."""
    counts = manifest["action_counts"]
    total = max(sum(counts.values()), 1)
    return pd.DataFrame({
        "id": range(len(ACTION_NAMES)),
        "command": list(ACTION_NAMES),
        "count": [int(counts.get(name, 0)) for name in ACTION_NAMES],
        "share": [int(counts.get(name, 0)) / total for name in ACTION_NAMES],
    })


def win_rates(matches: pd.DataFrame, key: str = "style") -> tuple[pd.DataFrame, pd.DataFrame]:
    """Row-vs-column win rate (draws count as not won) and match counts, by ``style`` or ``id``.

    Each match counts once from each side's point of view (a :class:`~envs.win_record.WinRecord` per
    cell), so a mirror cell is (1 - draw rate) / 2; its count is the number of matches, not views.
    """
    p0, p1 = f"player_0_{key}", f"player_1_{key}"
    winner = matches["winner"].to_numpy()
    result_0 = np.select([winner == "player_0", winner == "player_1"], ["win", "loss"], "draw")
    result_1 = np.select([winner == "player_1", winner == "player_0"], ["win", "loss"], "draw")
    views = pd.concat([
        pd.DataFrame({"me": matches[p0].to_numpy(), "them": matches[p1].to_numpy(), "result": result_0}),
        pd.DataFrame({"me": matches[p1].to_numpy(), "them": matches[p0].to_numpy(), "result": result_1}),
    ], ignore_index=True)
    records = {cell: WinRecord.from_results(group["result"])
               for cell, group in views.groupby(["me", "them"], sort=True)}
    index = pd.MultiIndex.from_tuples(list(records), names=["me", "them"])
    rates = pd.Series([r.win_rate for r in records.values()], index=index, dtype=float).unstack("them")
    seen = [r.matches // (2 if me == them else 1) for (me, them), r in records.items()]  # mirrors: twice
    counts = pd.Series(seen, index=index).unstack("them").fillna(0).astype(int)
    return rates, counts


def _markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _counts_table(title: str, counts: dict[str, int]) -> str:
    total = max(sum(counts.values()), 1)
    rows = [[name, f"{n:,}", f"{n / total:.1%}"] for name, n in counts.items()]
    return _markdown_table([title, "rows", "share"], rows)


def _matrix_table(rates: pd.DataFrame, counts: pd.DataFrame) -> str:
    names = sorted(set(rates.index) | set(rates.columns))
    rows = []
    for me in names:
        cells = [f"**{me}**"]
        for them in names:
            n = int(counts.at[me, them]) if me in counts.index and them in counts.columns else 0
            cells.append(f"{rates.at[me, them]:.2f} ({n})" if n else "-")
        rows.append(cells)
    return _markdown_table(["row vs column"] + names, rows)


def _style_actions_table(by_style: dict[str, dict[str, int]]) -> str:
    if not by_style:
        return "No per-style counts in this manifest."
    styles = sorted(by_style)
    totals = {style: max(sum(by_style[style].values()), 1) for style in styles}
    rows = [[command] + [f"{by_style[style].get(command, 0) / totals[style]:.2%}" for style in styles]
            for command in ACTION_NAMES]
    return _markdown_table(["command"] + styles, rows)


def _situations_section(manifest: dict[str, Any]) -> list[str]:
    """The rows per decision situation (:mod:`datasets.situations`), when the manifest counted them."""
    record = manifest.get("situation_action_counts")
    if not record:
        return []
    rows = situation_table(record)
    share = sum(r["rows"] for r in rows if r["situation"] in REACTIONS) / max(1, sum(r["rows"] for r in rows))
    return [
        "## Situations",
        "",
        "What kind of moment each row is, read from its observation (`datasets/situations.py`; the "
        f"first that holds, in this order). The reactions (`anti_air` to `guard_break`) are {share:.1%} "
        "of the rows, and that is where matches are decided: judge a bot there "
        "(`evaluation.offline.situation_metrics`), not on the average row.",
        "",
        _markdown_table(["situation", "rows", "share", "pressed something", "most pressed (share of rows)"],
                        [[r["situation"], f"{r['rows']:,}", f"{r['share']:.2%}",
                          "" if r["rows"] == 0 else f"{r['pressed_share']:.1%}",
                          f"{r['top_command']} ({r['top_command_share']:.1%})" if r["top_command"] else ""]
                         for r in rows]),
        "",
    ]


def render_card(name: str, manifest: dict[str, Any], matches: pd.DataFrame) -> str:
    """The card's markdown text for the dataset called ``name``."""
    classes = class_distribution(manifest)
    no_action = classes.loc[0, "share"]
    frames = int(manifest["num_frames"])
    mean_seconds = matches["duration_frames"].mean() / FPS if len(matches) else 0.0
    generator = manifest.get("generator") or {}
    parts = [
        f"# Dataset card: {name}",
        "",
        "FightLab fighting-game logs: one row per side per frame (what that player saw, the command "
        "it pressed), one row per match. Schema version "
        f"{manifest['schema_version']}, observation encoding {manifest['observation_encoding_version']}.",
        "",
        _markdown_table(["", ""], [
            ["matches", f"{int(manifest['num_matches']):,}"],
            ["frames (rows: one per side per frame)", f"{frames:,}"],
            ["mean match length", f"{mean_seconds:.1f} s"],
            ["seed", str(manifest.get("seed"))],
            ["created", str(manifest.get("created_at", "?"))],
            ["frames sha256", f"`{manifest['frames_sha256']}`"],
        ]),
        "",
        "## Class distribution",
        "",
        f"`NO_ACTION` is {no_action:.1%} of all frames: a model that never presses a button scores "
        f"{no_action:.1%} accuracy on these logs. Judge models by balanced accuracy, per-class recall "
        "and, above all, win rate.",
        "",
        _markdown_table(["id", "command", "count", "share"],
                        [[str(r.id), r.command, f"{r.count:,}", f"{r.share:.2%}"]
                         for r in classes.itertuples()]),
        "",
        f"![class distribution]({CLASS_PLOT_NAME})",
        "",
        *_situations_section(manifest),
        "## Who played",
        "",
        _counts_table("style", manifest.get("style_counts", {})),
        "",
        _counts_table("skill", manifest.get("skill_counts", {})),
        "",
        _counts_table("player", manifest.get("player_counts", {})),
        "",
        "## Commands by style",
        "",
        "Share of each style's rows per command: how differently the styles play.",
        "",
        _style_actions_table(manifest.get("action_counts_by_style", {})),
        "",
        "## Win rates between styles",
        "",
        "Share of matches the row style won against the column style (draws count as not won; "
        "matches in brackets).",
        "",
    ]
    if len(matches):
        parts.append(_matrix_table(*win_rates(matches, "style")))
        ids_per_style = pd.concat([matches[["player_0_style", "player_0_id"]].set_axis(["s", "i"], axis=1),
                                   matches[["player_1_style", "player_1_id"]].set_axis(["s", "i"], axis=1)])
        if (ids_per_style.groupby("s")["i"].nunique() > 1).any():
            parts += ["", "By player:", "", _matrix_table(*win_rates(matches, "id"))]
    else:
        parts.append("No matches.")
    notes = manifest.get("match_notes") or []
    if notes:
        keys = sorted({key for note in notes for key in note} - {"match_id"})
        parts += ["", "## Match notes", "",
                  "Notes attached to matches after they were played (e.g. playtest ratings, 1-5; "
                  "empty: skipped).", "",
                  _markdown_table(["match", *keys], [[str(note["match_id"]),
                                                      *("" if note.get(k) is None else str(note[k])
                                                        for k in keys)] for note in notes])]
    parts += ["", "## How it was made", "",
              _markdown_table(["setting", "value"],
                              [[key, f"`{json.dumps(value, default=str)}`"] for key, value in
                               {**generator, "seed": manifest.get("seed")}.items()]), ""]
    return "\n".join(parts)


def plot_class_distribution(manifest: dict[str, Any]) -> bytes:
    """PNG bytes of the class distribution: log-scale bars, each annotated with its share."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    classes = class_distribution(manifest)
    figure = Figure(figsize=(9, 4.5), dpi=110)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    counts = classes["count"].clip(lower=0)
    colors = ["#c0392b" if i == 0 else "#2e86c1" for i in classes["id"]]
    bars = axes.bar(classes["command"], counts.where(counts > 0, 0.5), color=colors)
    axes.set_yscale("log")
    axes.set_ylabel("frames (log scale)")
    axes.set_title(f"Commands pressed: NO_ACTION is {classes.loc[0, 'share']:.1%} of "
                   f"{int(manifest['num_frames']):,} frames")
    for bar, count, share in zip(bars, classes["count"], classes["share"], strict=True):
        axes.annotate(f"{share:.2%}\n{count:,}", (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                      ha="center", va="bottom", fontsize=7)
    axes.tick_params(axis="x", rotation=45, labelsize=8)
    axes.margins(y=0.25)
    figure.subplots_adjust(left=0.08, right=0.98, top=0.9, bottom=0.27)  # tight_layout costs ~0.4 s
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def write_card(path: str | Path, name: str | None = None) -> str:
    """Write ``card.md`` and ``class_distribution.png`` into the dataset at ``path``; return the text.

    ``name`` titles the card (default: the folder's name; the writer passes the final name while
    the dataset still sits in its temp folder).
    """
    path = Path(path)
    manifest = read_manifest(path)
    matches = pq.read_table(path / MATCHES_NAME).to_pandas()
    text = render_card(name or path.absolute().name, manifest, matches)
    atomic_write_bytes(path / CLASS_PLOT_NAME, plot_class_distribution(manifest))
    atomic_write_text(path / CARD_NAME, text)
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m datasets.card", description=__doc__.splitlines()[0])
    parser.add_argument("dataset", type=Path, help=f"a dataset folder (with {MANIFEST_NAME})")
    args = parser.parse_args(argv)
    try:
        text = write_card(args.dataset)
    except (FileNotFoundError, ValueError) as err:
        print(f"datasets.card: {err}", file=sys.stderr)
        return 1
    print(text)
    print(f"wrote {args.dataset / CARD_NAME} and {args.dataset / CLASS_PLOT_NAME}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
