"""Inference speed of an exported bot: ONNX Runtime against torch eager, same model, same run.

The lecture's serving requirements are processing time (per decision, at the tail: one slow frame
is a visible hitch), throughput (QPS) and model size. A game asks the bot for one decision per
frame, so the headline is the latency of a batch-1 decision on one thread: observation (numpy) in,
command id out, including the framework's own call overhead, which at this model size dominates
the arithmetic. Reference: torch eager (``torch.inference_mode``, ``torch.set_num_threads(1)``) on
the same network; ONNX Runtime gets ``intra_op_num_threads=1``. The two are timed in alternating
blocks of calls, so machine noise (2 shared cores here) hits both alike.

Model: a :class:`~agents.networks.PolicyNetwork` of the default BC size ([256, 256]), loaded from a
checkpoint if one is given (logit adjustment folded in, as ``export.py`` does), else freshly
initialised with seed 0. Also measured: decisions/s at batch 1024 (many concurrent matches, one
call), int8 latency, and the model files' sizes.

Targets: ``onnx_p99_ms`` <= 0.1 at batch 1 and ``onnx_speedup_vs_torch_p50`` >= 3.
``bots_per_core_at_60fps`` = floor(16.667 ms / onnx_p99_ms): batch-1 decisions that fit in one
60 fps frame on one core even at the p99 latency. Writes ``benchmarks/results/inference.json``.

    python benchmarks/bench_inference.py [runs/<experiment>/<run>] [--calls 20000] [--seconds 2]
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agents.bc import BCConfig, BCPolicy  # noqa: E402
from agents.export import bc_policy_network, quantize_int8, write_onnx  # noqa: E402
from agents.networks import PolicyNetwork  # noqa: E402
from agents.onnx_policy import INPUT_NAME, OUTPUT_NAME, OnnxPolicy, open_session  # noqa: E402
from agents.requirements import latencies, observation_pool  # noqa: E402
from benchmarks.common import rate, write_results  # noqa: E402

FRAME_MS = 1000.0 / 60.0
TARGETS = {"onnx_p99_ms": 0.1, "onnx_speedup_vs_torch_p50": 3.0}
BLOCKS = 10  # alternating blocks per engine


def network_under_test(checkpoint: str | None) -> PolicyNetwork:
    if checkpoint:
        from agents.checkpoint import load

        return bc_policy_network(load(checkpoint))
    torch.manual_seed(0)
    return PolicyNetwork(hidden_sizes=BCConfig().hidden_sizes).eval()


def alternate(deciders: dict[str, Callable[[np.ndarray], object]], pool: np.ndarray,
              calls: int) -> dict[str, np.ndarray]:
    """Time every decider in alternating blocks (order rotated each block); warm-up first."""
    for decide in deciders.values():
        latencies(decide, pool, 500)
    block = max(calls // BLOCKS, 1)
    times: dict[str, list[np.ndarray]] = {name: [] for name in deciders}
    names = list(deciders)
    for b in range(BLOCKS):
        for name in names[b % len(names):] + names[:b % len(names)]:
            times[name].append(latencies(deciders[name], pool, block))
    return {name: np.concatenate(chunks) for name, chunks in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", nargs="?", default=None,
                        help="a checkpoint (default: a fresh [256, 256] network)")
    parser.add_argument("--calls", type=int, default=20_000, help="timed batch-1 calls per engine")
    parser.add_argument("--seconds", type=float, default=2.0, help="time per batch-1024 throughput measure")
    args = parser.parse_args()
    torch.set_num_threads(1)
    network = network_under_test(args.checkpoint)
    pool = observation_pool()
    with tempfile.TemporaryDirectory() as tmp:
        fp32_path = write_onnx(network, Path(tmp) / "model.onnx")
        int8_path = quantize_int8(fp32_path, Path(tmp) / "model.int8.onnx")
        sizes = {"onnx_bytes": fp32_path.stat().st_size, "int8_bytes": int8_path.stat().st_size}
        onnx, int8 = open_session(fp32_path, threads=1), open_session(int8_path, threads=1)
        onnx_policy = OnnxPolicy(onnx, name="onnx")
        bc_policy = BCPolicy(network, name="torch")
        outputs = [OUTPUT_NAME]

        @torch.inference_mode()
        def torch_decide(obs: np.ndarray) -> np.ndarray:
            return network(torch.from_numpy(obs)).argmax(dim=1).numpy()

        deciders = {
            "onnx": lambda obs: onnx.run(outputs, {INPUT_NAME: obs})[0].argmax(axis=1),
            "torch": torch_decide,
            "int8": lambda obs: int8.run(outputs, {INPUT_NAME: obs})[0].argmax(axis=1),
            "onnx_policy_act": onnx_policy.act,
            "bc_policy_act": bc_policy.act,
        }
        if not np.array_equal(deciders["onnx"](pool), torch_decide(pool)):  # timing the same bot?
            raise SystemExit("ONNX Runtime and torch disagree on the benchmark rows; not timing them")
        times = alternate(deciders, pool, args.calls)
        batch = np.ascontiguousarray(np.resize(pool, (1024, pool.shape[1])))

        def onnx_batch() -> int:
            onnx.run(outputs, {INPUT_NAME: batch})[0].argmax(axis=1)
            return len(batch)

        def torch_batch() -> int:
            torch_decide(batch)
            return len(batch)

        onnx_rate, torch_rate = rate(onnx_batch, args.seconds), rate(torch_batch, args.seconds)
        onnx_rate = max(onnx_rate, rate(onnx_batch, args.seconds))  # best of two, alternating
        torch_rate = max(torch_rate, rate(torch_batch, args.seconds))

    ms = {name: (float(np.percentile(t, 50)) / 1e6, float(np.percentile(t, 99)) / 1e6)
          for name, t in times.items()}
    payload: dict[str, object] = {
        "model": args.checkpoint or "PolicyNetwork([256, 256]), seed 0",
        "hidden_sizes": list(network.hidden_sizes),
        "parameters": sum(p.numel() for p in network.parameters()),
        "threads": 1, "batch1_calls_per_engine": int(len(times["onnx"])),
    }
    for name, (p50, p99) in ms.items():
        payload[f"{name}_p50_ms"], payload[f"{name}_p99_ms"] = p50, p99
    speedup = ms["torch"][0] / ms["onnx"][0]
    payload.update({
        "onnx_speedup_vs_torch_p50": speedup, "onnx_speedup_vs_torch_p99": ms["torch"][1] / ms["onnx"][1],
        "bots_per_core_at_60fps": math.floor(FRAME_MS / ms["onnx"][1]),
        "onnx_decisions_per_s_batch1024": onnx_rate, "torch_decisions_per_s_batch1024": torch_rate,
        **sizes, "int8_size_ratio": sizes["int8_bytes"] / sizes["onnx_bytes"], "targets": TARGETS,
    })
    met = {"onnx_p99_ms": ms["onnx"][1] <= TARGETS["onnx_p99_ms"],
           "onnx_speedup_vs_torch_p50": speedup >= TARGETS["onnx_speedup_vs_torch_p50"]}
    payload["targets_met"] = met
    path = write_results("inference", payload)

    table = Table(title="bot inference, batch 1, 1 thread (same run, alternating blocks)")
    for column in ("engine", "p50 ms", "p99 ms", "decisions/s at batch 1024"):
        table.add_column(column, justify="left" if column == "engine" else "right")
    rows = (("torch eager (reference)", "torch", torch_rate), ("ONNX Runtime fp32", "onnx", onnx_rate),
            ("ONNX Runtime int8", "int8", None), ("OnnxPolicy.act (fp32)", "onnx_policy_act", None),
            ("BCPolicy.act (torch)", "bc_policy_act", None))
    for label, name, throughput in rows:
        table.add_row(label, f"{ms[name][0]:.4f}", f"{ms[name][1]:.4f}",
                      "" if throughput is None else f"{throughput:,.0f}")
    Console().print(table)
    verdict = {True: "met", False: "NOT met"}
    print(f"model size: onnx {sizes['onnx_bytes']:,} bytes, int8 {sizes['int8_bytes']:,} bytes "
          f"({payload['int8_size_ratio']:.2f}x)")
    print(f"ONNX p99 {ms['onnx'][1]:.4f} ms (target <= {TARGETS['onnx_p99_ms']} ms): "
          f"{verdict[met['onnx_p99_ms']]}")
    target = TARGETS["onnx_speedup_vs_torch_p50"]
    print(f"ONNX speedup vs torch at p50 {speedup:.2f}x (target >= {target:g}x): "
          f"{verdict[met['onnx_speedup_vs_torch_p50']]}")
    print(f"bots per core at 60 fps (16.667 ms / onnx p99): {payload['bots_per_core_at_60fps']}")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
