"""Tournament speed against the raw batched loop, measured in the same run.

Eight BC bots (:class:`agents.bc.BCPolicy` over ``agents.networks.PolicyNetwork``, default
(256, 256) architecture, untrained weights, argmax) play a full round robin (28 pairings x M
matches) through :func:`evaluation.tournament.run_tournament`: guards, per-match bookkeeping, action
counts, the fsynced match log. The bots share an architecture, so the tournament decides all eight
in one stacked forward pass per frame (``stack_networks``, :mod:`evaluation.stacked`). The
reference is the raw loop over the same number of concurrent matches: the batched engine stepping
plus one batched MLP forward per frame over every observation of every match, and nothing else.
Both count decisions (one per fighter per frame played).

Target: ``tournament_ratio_vs_raw`` >= 0.7. Also measured: the same tournament without stacking
(``stack_networks=False``: one forward pass per bot per frame, each bot shared across its
pairings), and with the bots not declaring ``deterministic = True``, so each pairing gets its own
instance and a forward pass per pairing per frame (what a policy class without that declaration
gets). The raw loop and the stacked tournament are each timed ``--repeats`` times, alternating, and
the best of each is kept (the machines here are shared: a run slowed by another process says
nothing about the code). Writes ``benchmarks/results/tournament.json``.

    python benchmarks/bench_tournament.py [--matches-per-pairing 16] [--min-seconds 10] [--torch-threads 1]
                                          [--repeats 2]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agents.bc import BCPolicy  # noqa: E402
from agents.networks import PolicyNetwork  # noqa: E402
from benchmarks.common import write_results  # noqa: E402
from envs.engine import DuelEngine  # noqa: E402
from envs.observation import OBS_DIM  # noqa: E402
from envs.params import GameParams  # noqa: E402
from evaluation.participants import Participant  # noqa: E402
from evaluation.tournament import run_tournament  # noqa: E402

NUM_BOTS = 8


def mlp_bot(seed: int, deterministic: bool = True) -> BCPolicy:
    """An untrained PolicyNetwork as a BC bot: one forward pass and an argmax per batched call.
    ``deterministic=False`` hides the declaration, so the tournament builds one per pairing."""
    torch.manual_seed(seed)
    bot = BCPolicy(PolicyNetwork().eval(), name=f"mlp{seed}")
    if not deterministic:
        bot.deterministic = False  # type: ignore[misc]  # shadows the class attribute on this instance
    return bot


@dataclass(frozen=True)
class MLPParticipant(Participant):
    """A participant built in-process (no file): bot ``seed``, shared across pairings or not."""

    seed: int = 0
    shared: bool = True

    def make(self, params: GameParams | None = None) -> BCPolicy:
        return mlp_bot(self.seed, deterministic=self.shared)


def tournament_rate(matches_per_pairing: int, shared: bool = True,
                    stack_networks: bool = True) -> tuple[float, float, int]:
    """(decisions / s, seconds, decisions) for one full round robin."""
    participants = [MLPParticipant(f"mlp{k}", f"mlp{k}", "checkpoint", seed=k, shared=shared)
                    for k in range(NUM_BOTS)]
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        results = run_tournament(participants, out_dir=out, matches_per_pairing=matches_per_pairing,
                                 block_matches=matches_per_pairing, wave_matches=1 << 20, seed=0,
                                 time_budget_s=None, progress=False, stack_networks=stack_networks)
        seconds = time.perf_counter() - start
    decisions = int(results.matches["frames"].sum()) * 2
    return decisions / seconds, seconds, decisions


def raw_rate(num_matches: int) -> tuple[float, float, int]:
    """(decisions / s, seconds, decisions): engine + one forward over all observations per frame."""
    network = mlp_bot(0).network
    engine = DuelEngine(num_matches)
    engine.reset(rng=np.random.default_rng(0))
    decisions = 0
    start = time.perf_counter()
    while not engine.done.all():
        decisions += 2 * int((~engine.done).sum())
        obs = engine.observe().reshape(-1, OBS_DIM)
        with torch.inference_mode():
            actions = network(torch.from_numpy(obs)).argmax(dim=1).numpy()
        engine.step(actions.reshape(num_matches, 2), validate=False)
    seconds = time.perf_counter() - start
    return decisions / seconds, seconds, decisions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--matches-per-pairing", type=int, default=16)
    parser.add_argument("--min-seconds", type=float, default=10.0)
    parser.add_argument("--torch-threads", type=int, default=1,
                        help="intra-op threads (default 1: on a 2-core machine shared with anything else, "
                             "torch's second thread waits on a busy core and is 10x slower)")
    parser.add_argument("--repeats", type=int, default=2,
                        help="times the raw loop and the stacked tournament are each timed (alternating); "
                             "the best of each counts")
    args = parser.parse_args()
    torch.set_num_threads(args.torch_threads)
    pairings = NUM_BOTS * (NUM_BOTS - 1) // 2
    m = args.matches_per_pairing
    raw_rate(64)  # warm-up: numba cache load, torch's first call
    while True:
        tournament = tournament_rate(m)
        if tournament[1] >= args.min_seconds:
            break
        m *= 2
    raw = raw_rate(pairings * m)
    for _ in range(args.repeats - 1):  # alternating, so a busy spell slows one of each, not all of one
        tournament = max(tournament, tournament_rate(m))
        raw = max(raw, raw_rate(pairings * m))
    unstacked = tournament_rate(m, stack_networks=False)
    separate = tournament_rate(m, shared=False)
    ratio = tournament[0] / raw[0]
    table = Table(title=f"tournament of {NUM_BOTS} MLP bots: {pairings} pairings x {m} matches "
                        f"({pairings * m} concurrent), torch threads {torch.get_num_threads()}")
    for column in ("what", "decisions / s", "seconds", "decisions", "ratio vs raw"):
        table.add_column(column, justify="left" if column == "what" else "right")
    table.add_row("raw: engine + one MLP forward per frame (reference)", f"{raw[0]:,.0f}", f"{raw[1]:.1f}",
                  f"{raw[2]:,}", "")
    table.add_row("tournament: bots of one architecture stacked, one forward per frame",
                  f"{tournament[0]:,.0f}", f"{tournament[1]:.1f}", f"{tournament[2]:,}", f"{ratio:.2f}")
    table.add_row("tournament, not stacked: each bot shared across pairings", f"{unstacked[0]:,.0f}",
                  f"{unstacked[1]:.1f}", f"{unstacked[2]:,}", f"{unstacked[0] / raw[0]:.2f}")
    table.add_row("tournament, one instance per pairing", f"{separate[0]:,.0f}", f"{separate[1]:.1f}",
                  f"{separate[2]:,}", f"{separate[0] / raw[0]:.2f}")
    Console().print(table)
    path = write_results("tournament", {
        "bots": NUM_BOTS, "pairings": pairings, "matches_per_pairing": m,
        "architecture": "PolicyNetwork (256, 256)",
        "torch_threads": torch.get_num_threads(), "repeats": args.repeats, "stack_networks": True,
        "raw_decisions_per_s": raw[0], "raw_seconds": raw[1],
        "tournament_decisions_per_s": tournament[0], "tournament_seconds": tournament[1],
        "tournament_ratio_vs_raw": ratio, "target_ratio": 0.7,
        "unstacked_decisions_per_s": unstacked[0], "unstacked_seconds": unstacked[1],
        "unstacked_ratio_vs_raw": unstacked[0] / raw[0],
        "per_pairing_instances_decisions_per_s": separate[0],
        "per_pairing_instances_ratio_vs_raw": separate[0] / raw[0],
    })
    print(f"tournament_ratio_vs_raw = {ratio:.2f} (target >= 0.7); wrote {path}")


if __name__ == "__main__":
    main()
