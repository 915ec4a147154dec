"""Log generation speed and memory: recording pro matches to Parquet vs the bare batched engine.

Reference, measured in the same run: the same matches (same players, seeds and wave sizes) played
through ``play_matches`` with no recorder. Ours: the same matches recorded by ``DatasetWriter``
into a dataset (shards, manifest, card), until at least ``--frames`` rows (one per side per frame)
are written. ``generation_ratio_vs_engine`` = engine time / generation time for that identical
work (target >= 0.3).

Memory: peak RSS of two child processes generating ``--frames`` and 4x as many rows;
``peak_rss_growth_ratio`` = RSS(4x) / RSS(1x) (target <= 1.3: memory must not grow with the
dataset, shards stream to disk). Writes ``benchmarks/results/logs.json``.

    python benchmarks/bench_logs.py [--players rushdown,zoner,turtle] [--frames 1000000]
"""

from __future__ import annotations

import argparse
import itertools
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agents.registry import available_bots, make_policy  # noqa: E402
from benchmarks.common import write_results  # noqa: E402
from datasets.writer import DatasetWriter, PlayerInfo  # noqa: E402
from envs.match_runner import play_matches  # noqa: E402

DEFAULT_PLAYERS = ("rushdown", "zoner", "turtle")


def schedule(players: list[str], seed: int):
    """Endless (pairing, seed) calls cycling over every pairing of ``players``, mirrors included."""
    games = list(itertools.combinations_with_replacement(players, 2))
    for k, sequence in enumerate(np.random.SeedSequence(seed).spawn(10_000)):
        yield games[k % len(games)], int(sequence.generate_state(1)[0])


def run(players: list[str], min_rows: int, matches_per_call: int, out: Path | None) -> dict[str, float]:
    """Play calls from :func:`schedule` until ``min_rows`` rows (2 per frame); record if ``out``."""
    writer = DatasetWriter(out, generator={"source": "bench_logs"}, seed=0) if out is not None else None
    rows = calls = 0
    start = time.perf_counter()
    for (name_a, name_b), seed in schedule(players, 0):
        a, b = make_policy(name_a), make_policy(name_b)
        if writer is not None:
            writer.set_players(PlayerInfo.of(a), PlayerInfo.of(b))
        results = play_matches(a, b, matches_per_call, seed=seed, recorder=writer,
                               first_match_id=calls * matches_per_call)
        if writer is not None:
            writer.add_matches(results, seed=seed)
        rows += 2 * int(results.table["duration_frames"].sum())
        calls += 1
        if rows >= min_rows:
            break
    if writer is not None:
        writer.close()
    seconds = time.perf_counter() - start
    return {"rows": rows, "match_frames": rows // 2, "calls": calls, "seconds": seconds}


def child(args: argparse.Namespace) -> None:
    """One measurement in a fresh process: optionally the engine reference, then the generation."""
    players = args.players.split(",")
    play_matches(make_policy(players[0]), make_policy(players[-1]), 4, seed=0)  # numba cache, imports
    result: dict[str, object] = {}
    if args.reference:
        result["engine"] = run(players, args.frames, args.matches_per_call, None)
    with tempfile.TemporaryDirectory() as tmp:
        result["generation"] = run(players, args.frames, args.matches_per_call, Path(tmp) / "logs")
        files = (Path(tmp) / "logs").rglob("*")
        result["dataset_bytes"] = sum(p.stat().st_size for p in files if p.is_file())
    result["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    print(json.dumps(result))


def spawn(args: argparse.Namespace, frames: int, reference: bool) -> dict:
    command = [sys.executable, __file__, "--child", "--players", args.players, "--frames", str(frames),
               "--matches-per-call", str(args.matches_per_call)] + (["--reference"] if reference else [])
    out = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    pros = all(p in available_bots() for p in DEFAULT_PLAYERS)
    parser.add_argument("--players", default=",".join(DEFAULT_PLAYERS) if pros else "footsies",
                        help="comma-separated registered bots (default: the pros, else footsies)")
    parser.add_argument("--frames", type=int, default=1_000_000, help="rows to generate (>= 1M)")
    parser.add_argument("--matches-per-call", type=int, default=128,
                        help="matches per play_matches call (one engine wave when <= 1024)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--reference", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return

    small = spawn(args, args.frames, reference=True)
    large = spawn(args, 4 * args.frames, reference=False)
    engine, generation = small["engine"], small["generation"]
    engine_fps = engine["match_frames"] / engine["seconds"]
    generation_fps = generation["match_frames"] / generation["seconds"]
    payload = {
        "players": args.players.split(","),
        "matches_per_call": args.matches_per_call,
        "rows": generation["rows"],
        "engine_frames_per_s": engine_fps,
        "generation_frames_per_s": generation_fps,
        "generation_rows_per_s": generation["rows"] / generation["seconds"],
        "generation_seconds": generation["seconds"],
        "engine_seconds": engine["seconds"],
        "generation_ratio_vs_engine": engine["seconds"] / generation["seconds"],
        "dataset_bytes_per_row": small["dataset_bytes"] / generation["rows"],
        "peak_rss_mib": {str(generation["rows"]): small["peak_rss_mib"],
                         str(large["generation"]["rows"]): large["peak_rss_mib"]},
        "large_run_rows_per_s": large["generation"]["rows"] / large["generation"]["seconds"],
        "peak_rss_growth_ratio": large["peak_rss_mib"] / small["peak_rss_mib"],
        "targets": {"generation_ratio_vs_engine": 0.3, "peak_rss_growth_ratio": 1.3},
    }
    path = write_results("logs", payload)

    table = Table(title=f"log generation, players {args.players} (same run)")
    for column in ("what", "value", "ratio", "target"):
        table.add_column(column, justify="right" if column != "what" else "left")
    table.add_row("engine only, no recorder (reference) frames/s", f"{engine_fps:,.0f}", "", "")
    table.add_row(f"generation + Parquet writing frames/s ({generation['rows']:,} rows)",
                  f"{generation_fps:,.0f}", f"{payload['generation_ratio_vs_engine']:.2f}", ">= 0.3")
    table.add_row("generation rows/s (2 rows per frame)", f"{payload['generation_rows_per_s']:,.0f}", "", "")
    table.add_row("on disk, bytes per row", f"{payload['dataset_bytes_per_row']:.1f}", "", "")
    table.add_row(f"peak RSS, {generation['rows']:,} rows (MiB)", f"{small['peak_rss_mib']:,.0f}", "", "")
    table.add_row(f"peak RSS, {large['generation']['rows']:,} rows (MiB)", f"{large['peak_rss_mib']:,.0f}",
                  f"{payload['peak_rss_growth_ratio']:.2f}", "<= 1.3")
    Console().print(table)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
