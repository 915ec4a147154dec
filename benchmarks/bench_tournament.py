"""Tournament speed against the raw batched loop, measured in the same run.

Eight MLP bots (``agents.networks.PolicyNetwork``, default (256, 256) architecture, untrained
weights, argmax) play a full round robin (28 pairings x M matches) through
:func:`evaluation.tournament.run_tournament`: guards, per-match bookkeeping, action counts, the
fsynced match log. The reference is the raw loop over the same number of concurrent matches: the
batched engine stepping plus one batched MLP forward per frame over every observation of every
match, and nothing else. Both count decisions (one per fighter per frame played).

Target: ``tournament_ratio_vs_raw`` >= 0.7. Also measured: the same tournament with the bots not
declaring ``deterministic = True``, so each pairing gets its own instance and a forward pass per
pairing per frame (what a policy class without that declaration gets). Writes
``benchmarks/results/tournament.json``.

    python benchmarks/bench_tournament.py [--matches-per-pairing 16] [--min-seconds 10] [--torch-threads 1]
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

from agents.networks import PolicyNetwork  # noqa: E402
from benchmarks.common import write_results  # noqa: E402
from envs.engine import DuelEngine  # noqa: E402
from envs.observation import OBS_DIM  # noqa: E402
from envs.params import GameParams  # noqa: E402
from evaluation.participants import Participant  # noqa: E402
from evaluation.tournament import run_tournament  # noqa: E402

NUM_BOTS = 8


class MLPBot:
    """An untrained PolicyNetwork as a Policy: one forward pass and an argmax per batched call."""

    def __init__(self, seed: int, deterministic: bool = True) -> None:
        torch.manual_seed(seed)
        self.network = PolicyNetwork().eval()
        self.name = f"mlp{seed}"
        self.deterministic = deterministic

    def reset(self, num_envs: int, seed: int | None = None, env_ids: np.ndarray | None = None) -> None:
        pass

    @torch.inference_mode()
    def act(self, obs: np.ndarray) -> np.ndarray:
        return self.network(torch.from_numpy(np.ascontiguousarray(obs))).argmax(dim=1).numpy()


@dataclass(frozen=True)
class MLPParticipant(Participant):
    """A participant built in-process (no file): bot ``seed``, shared across pairings or not."""

    seed: int = 0
    shared: bool = True

    def make(self, params: GameParams | None = None) -> MLPBot:
        return MLPBot(self.seed, deterministic=self.shared)


def tournament_rate(matches_per_pairing: int, shared: bool) -> tuple[float, float, int]:
    """(decisions / s, seconds, decisions) for one full round robin."""
    participants = [MLPParticipant(f"mlp{k}", f"mlp{k}", "checkpoint", seed=k, shared=shared)
                    for k in range(NUM_BOTS)]
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        results = run_tournament(participants, out_dir=out, matches_per_pairing=matches_per_pairing,
                                 block_matches=matches_per_pairing, wave_matches=1 << 20, seed=0,
                                 time_budget_s=None, progress=False)
        seconds = time.perf_counter() - start
    decisions = int(results.matches["frames"].sum()) * 2
    return decisions / seconds, seconds, decisions


def raw_rate(num_matches: int) -> tuple[float, float, int]:
    """(decisions / s, seconds, decisions): engine + one forward over all observations per frame."""
    bot = MLPBot(0)
    engine = DuelEngine(num_matches)
    engine.reset(rng=np.random.default_rng(0))
    decisions = 0
    start = time.perf_counter()
    while not engine.done.all():
        decisions += 2 * int((~engine.done).sum())
        obs = engine.observe().reshape(-1, OBS_DIM)
        engine.step(bot.act(obs).reshape(num_matches, 2), validate=False)
    seconds = time.perf_counter() - start
    return decisions / seconds, seconds, decisions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--matches-per-pairing", type=int, default=16)
    parser.add_argument("--min-seconds", type=float, default=10.0)
    parser.add_argument("--torch-threads", type=int, default=1,
                        help="intra-op threads (default 1: on a 2-core machine shared with anything else, "
                             "torch's second thread waits on a busy core and is 10x slower)")
    args = parser.parse_args()
    torch.set_num_threads(args.torch_threads)
    pairings = NUM_BOTS * (NUM_BOTS - 1) // 2
    m = args.matches_per_pairing
    raw_rate(64)  # warm-up: numba cache load, torch's first call
    while True:
        tournament = tournament_rate(m, shared=True)
        if tournament[1] >= args.min_seconds:
            break
        m *= 2
    raw = raw_rate(pairings * m)
    separate = tournament_rate(m, shared=False)
    ratio = tournament[0] / raw[0]
    table = Table(title=f"tournament of {NUM_BOTS} MLP bots: {pairings} pairings x {m} matches "
                        f"({pairings * m} concurrent), torch threads {torch.get_num_threads()}")
    for column in ("what", "decisions / s", "seconds", "decisions", "ratio vs raw"):
        table.add_column(column, justify="left" if column == "what" else "right")
    table.add_row("raw: engine + one MLP forward per frame (reference)", f"{raw[0]:,.0f}", f"{raw[1]:.1f}",
                  f"{raw[2]:,}", "")
    table.add_row("tournament, deterministic bots shared across pairings", f"{tournament[0]:,.0f}",
                  f"{tournament[1]:.1f}", f"{tournament[2]:,}", f"{ratio:.2f}")
    table.add_row("tournament, one instance per pairing", f"{separate[0]:,.0f}", f"{separate[1]:.1f}",
                  f"{separate[2]:,}", f"{separate[0] / raw[0]:.2f}")
    Console().print(table)
    path = write_results("tournament", {
        "bots": NUM_BOTS, "pairings": pairings, "matches_per_pairing": m,
        "architecture": "PolicyNetwork (256, 256)",
        "torch_threads": torch.get_num_threads(),
        "raw_decisions_per_s": raw[0], "raw_seconds": raw[1],
        "tournament_decisions_per_s": tournament[0], "tournament_seconds": tournament[1],
        "tournament_ratio_vs_raw": ratio, "target_ratio": 0.7,
        "per_pairing_instances_decisions_per_s": separate[0],
        "per_pairing_instances_ratio_vs_raw": separate[0] / raw[0],
    })
    print(f"tournament_ratio_vs_raw = {ratio:.2f} (target >= 0.7); wrote {path}")


if __name__ == "__main__":
    main()
