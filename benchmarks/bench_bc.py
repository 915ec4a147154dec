"""BC training speed: our epoch loop against a bare torch loop, measured in the same run.

Reference: the default :class:`~agents.networks.PolicyNetwork` trained with AdamW and plain
cross-entropy over tensors already in memory, batch size as in ``conf/agent/bc.yaml``: the least a
training loop can do. Ours: the loop of ``train.py`` for one epoch's worth of steps (shuffled index
batches, the configured loss, loss accumulation), here with ``rebalance=class_weight`` so the
weighted loss path is measured. Both run on the same synthetic rows (shaped like the default
dataset: 95% ``NO_ACTION``), so the ratio isolates loop overhead.

Also times the whole default job, ``python train.py agent=bc`` (dataset load, 8 epochs, online
evaluation, final report), as a subprocess unless ``--skip-train``.

Target: ``bc_ratio_vs_bare_torch`` >= 0.7. Writes ``benchmarks/results/bc.json``.

    python benchmarks/bench_bc.py [--seconds 3] [--skip-train]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agents.bc import BCConfig  # noqa: E402
from agents.networks import PolicyNetwork  # noqa: E402
from agents.rebalance import Rebalance, class_counts, loss_class_weights  # noqa: E402
from benchmarks.common import rate, write_results  # noqa: E402
from envs.actions import NUM_ACTIONS  # noqa: E402
from envs.observation import OBS_DIM  # noqa: E402

ROWS = 262_144


def synthetic_rows(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    rng = np.random.default_rng(seed)
    labels = np.where(rng.random(ROWS) < 0.95, 0, rng.integers(1, NUM_ACTIONS, ROWS))
    obs = rng.uniform(-1, 1, (ROWS, OBS_DIM)).astype(np.float32)
    return torch.from_numpy(obs), torch.from_numpy(labels.astype(np.int64))


def bare_torch_rate(x: torch.Tensor, y: torch.Tensor, config: BCConfig, seconds: float) -> float:
    torch.manual_seed(0)
    net = PolicyNetwork(OBS_DIM, NUM_ACTIONS, config.hidden_sizes)
    opt = torch.optim.AdamW(net.parameters(), lr=config.lr)
    steps = 64

    def chunk() -> int:
        for k in range(steps):
            first = (k * config.batch_size) % (ROWS - config.batch_size)
            xb, yb = x[first:first + config.batch_size], y[first:first + config.batch_size]
            loss = F.cross_entropy(net(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
        return steps * config.batch_size

    return rate(chunk, seconds)


def our_loop_rate(x: torch.Tensor, y: torch.Tensor, config: BCConfig, seconds: float) -> float:
    """The body of train.py's epoch loop (kept in step with it: shuffled batches, weighted loss)."""
    torch.manual_seed(0)
    net = PolicyNetwork(OBS_DIM, NUM_ACTIONS, config.hidden_sizes, config.activation)
    opt = torch.optim.AdamW(net.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    weights = torch.as_tensor(loss_class_weights(Rebalance.class_weight, class_counts(y.numpy()),
                                                 beta=config.effective_number_beta), dtype=torch.float32)
    epoch = [0]

    def chunk() -> int:
        order = torch.randperm(len(y), generator=torch.Generator().manual_seed(epoch[0]))
        epoch[0] += 1
        loss_sum = torch.zeros(())
        for first in range(0, len(y), config.batch_size):
            batch = order[first:first + config.batch_size]
            loss = F.cross_entropy(net(x[batch]), y[batch], weight=weights)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            loss_sum += loss.detach()
        float(loss_sum)
        return len(y)

    return rate(chunk, seconds)


def default_train_seconds() -> float:
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        subprocess.run([sys.executable, str(ROOT / "train.py"), "agent=bc", "train.progress=false",
                        f"train.logdir={tmp}/runs"], cwd=tmp, check=True, capture_output=True, text=True)
        return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="time per measurement")
    parser.add_argument("--skip-train", action="store_true", help="don't time python train.py agent=bc")
    args = parser.parse_args()
    torch.set_num_threads(min(torch.get_num_threads(), 8))
    config = BCConfig()
    x, y = synthetic_rows()
    bare = bare_torch_rate(x, y, config, args.seconds)
    ours = our_loop_rate(x, y, config, args.seconds)
    train_seconds = None if args.skip_train else default_train_seconds()
    payload = {
        "batch_size": config.batch_size, "hidden_sizes": config.hidden_sizes,
        "torch_threads": torch.get_num_threads(),
        "bare_torch_samples_per_s": bare, "bc_loop_samples_per_s": ours,
        "bc_ratio_vs_bare_torch": ours / bare,
        "default_train_seconds": train_seconds,
        "targets": {"bc_ratio_vs_bare_torch": 0.7},
    }
    path = write_results("bc", payload)
    table = Table(title="BC training speed (same run)")
    for column in ("what", "value", "ratio", "target"):
        table.add_column(column, justify="left" if column == "what" else "right")
    table.add_row("bare torch loop, samples/s (reference)", f"{bare:,.0f}", "", "")
    table.add_row("train.py BC loop, samples/s", f"{ours:,.0f}", f"{ours / bare:.2f}", ">= 0.7")
    if train_seconds is not None:
        table.add_row("python train.py agent=bc, seconds", f"{train_seconds:,.1f}", "", "")
    Console().print(table)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
