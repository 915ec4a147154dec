"""Serving under load and distillation: the lecture's QPS equation checked on this machine.

The lecture: QPS rises N x with N x the machines (replicas), N x with an N x faster model, and
N x with N x more models per machine from an N x smaller one; lightweighting (distillation,
quantization) is how a model gets smaller and faster. This benchmark measures, in one run:

1. **in-process** (no network): per bot, batch-1 p50 / p99 on one thread, decisions/s per core,
   parameters, bytes, memory per loaded copy (:func:`agents.requirements.offline_timing`);
2. **served** on a local Ray Serve (:mod:`agents.serving`) and loaded by :mod:`agents.loadgen`
   (binary endpoint, one row per request unless said otherwise): QPS and p50 / p99 against
   concurrency, against ``max_batch_size`` (1, 8, 64), for 1 and 2 replicas, for ONNX fp32 vs
   int8 vs torch, for the teacher vs its distilled students, JSON vs binary, 64 rows per request;
3. **distillation**: teacher and students (``train.py agent=distill`` runs) in matches against
   the reference pool and the perfect pros (``--matches`` per opponent, fixed seed), and their
   command agreement with the teacher on the test split.

The equation checks: ``qps_ratio_2_vs_1_replicas`` (lecture: 2) and, for the headline student
(below), its in-process speed ratio k against its served QPS ratio, and its bots per GB of memory
against the teacher's.
Targets: ``distill_size_ratio`` >= 15 with ``distill_win_rate_retained`` >= 0.95 (win rate against
the perfect pros, student / teacher). Writes ``benchmarks/results/serve.json`` and
``notebooks/figures/serve.png``.

    python benchmarks/bench_serve.py --teacher runs/teachers/<run> \\
        --students runs/distill/distill_h8_seed0 runs/distill/distill_h16_seed0 ... [--matches 100]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agents.checkpoint import checkpoint_dir, load_network, read_manifest  # noqa: E402
from agents.export import agreement  # noqa: E402
from agents.loadgen import run_load  # noqa: E402
from agents.networks import parameter_count  # noqa: E402
from agents.onnx_policy import load_bundle  # noqa: E402
from agents.registry import PERFECT_PROS, REFERENCE_POOL  # noqa: E402
from agents.requirements import free_port, observation_pool, offline_timing  # noqa: E402
from benchmarks.common import write_results  # noqa: E402
from evaluation import protocol as eval_protocol  # noqa: E402
from evaluation.online import evaluate_online  # noqa: E402

TARGETS = {"distill_size_ratio": 15.0, "distill_win_rate_retained": 0.95, "qps_ratio_2_vs_1_replicas": 2.0}
FIGURE = ROOT / "notebooks" / "figures" / "serve.png"


def export(checkpoint: Path, out: Path) -> Path:
    """``python export.py`` (fp32 + int8, no matches, no sheet): the bundle a server loads."""
    command = [sys.executable, str(ROOT / "export.py"), f"bot={checkpoint}", f"export.out={out}",
               "export.quantize=true", "export.play=false", "export.requirements=false",
               "export.parity_rows=5000", "export.progress=false"]
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    if done.returncode:
        raise SystemExit(f"export of {checkpoint} failed:\n{done.stderr[-2000:]}")
    return out


def run_label(checkpoint: Path) -> str:
    """``h32_seed1`` for ``runs/distill/distill_h32_seed1/best``."""
    run = checkpoint.parent.name if checkpoint.name in ("best", "last") else checkpoint.name
    return run.removeprefix("distill_")


def headline(rows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], float]:
    """The smallest student size >= 15x smaller that keeps >= 95% on every seed given (else the size
    >= 15x smaller that keeps the most on its worst seed): its rows and its worst retained share."""
    sizes: dict[tuple[int, ...], list[dict[str, Any]]] = {}
    for row in rows[1:]:
        sizes.setdefault(tuple(row["hidden_sizes"]), []).append(row)
    small = [group for group in sizes.values() if group[0]["size_ratio"] >= TARGETS["distill_size_ratio"]]
    if not small:
        small = [max(sizes.values(), key=lambda group: group[0]["size_ratio"])]
    worst = {id(group): min(r["win_rate_retained"] for r in group) for group in small}
    keeping = [g for g in small if worst[id(g)] >= TARGETS["distill_win_rate_retained"]]
    if keeping:
        group = max(keeping, key=lambda g: g[0]["size_ratio"])
    else:
        group = max(small, key=lambda g: worst[id(g)])
    return group, worst[id(group)]


def load(url: str, bot: str, pool: np.ndarray, requests: int, concurrency: int, **kwargs: Any) -> dict:
    result = run_load(url, bot, pool, requests=requests, concurrency=concurrency, **kwargs)
    if result.errors:
        raise SystemExit(f"{bot}: {result.errors} errors under load: {result.first_error}")
    return {k: v for k, v in result.as_dict().items() if k != "first_error"}


def served(bundles: dict[str, Path], teacher_checkpoint: Path, student_names: list[str], requests: int,
           pool: np.ndarray) -> dict[str, Any]:
    """Every served measurement, on one local Ray instance with one app per setting."""
    import ray

    from agents.rl.ray_runtime import init_ray
    from agents.serving import start

    init_ray(None, 8)  # logical CPUs: one per replica below (idle replicas use no CPU)
    port = free_port()
    teacher = str(bundles["teacher"])
    bots = {"teacher_fp32": teacher, "teacher_int8": str(bundles["teacher"] / "model.int8.onnx"),
            "teacher_torch": str(teacher_checkpoint),
            **{f"{name}_fp32": str(bundles[name]) for name in student_names}}
    urls = {"b64": start(bots, port=port, name="b64", route_prefix="/b64", max_batch_size=64)}
    for batch in (1, 8):
        urls[f"b{batch}"] = start({"teacher_fp32": teacher}, port=port, name=f"b{batch}",
                                  route_prefix=f"/b{batch}", max_batch_size=batch)
    urls["r2"] = start({"teacher_fp32": teacher}, port=port, name="r2", route_prefix="/r2", replicas=2)
    out: dict[str, Any] = {"concurrency": {}, "max_batch_size": {}, "replicas": {}, "runtime": {}}
    try:
        for concurrency in (1, 4, 16, 64):
            out["concurrency"][concurrency] = load(urls["b64"], "teacher_fp32", pool, requests, concurrency)
        for batch in (1, 8, 64):
            out["max_batch_size"][batch] = load(urls[f"b{batch}"], "teacher_fp32", pool, requests, 32)
        for replicas, app in ((1, "b64"), (2, "r2")):
            out["replicas"][replicas] = load(urls[app], "teacher_fp32", pool, requests * 2, 64)
        for bot in bots:
            out["runtime"][bot] = load(urls["b64"], bot, pool, requests, 16)
        out["json_vs_binary"] = {enc: load(urls["b64"], "teacher_fp32", pool, requests, 16, encoding=enc)
                                 for enc in ("json", "binary")}
        out["rows_per_request_64"] = load(urls["b64"], "teacher_fp32", pool, requests // 4, 4,
                                          rows_per_request=64)
    finally:
        ray.shutdown()
    return out


def win_rates(bundle: Path, matches: int, seed: int) -> dict[str, float]:
    policy = load_bundle(bundle)
    return {pool: evaluate_online(policy, list(names), matches_per_opponent=matches, seed=seed).win_rate
            for pool, names in (("reference", REFERENCE_POOL), ("perfect_pros", PERFECT_PROS))}


def figure(payload: dict[str, Any]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    conc = payload["served"]["concurrency"]
    xs = [int(c) for c in conc]
    left.plot(xs, [conc[c]["qps"] for c in conc], "o-", label="QPS (1 replica, batches of <= 64)")
    left.set_xscale("log", base=2)
    left.set_xlabel("concurrent clients (one row per request)")
    left.set_ylabel("requests / s")
    twin = left.twinx()
    twin.plot(xs, [conc[c]["p99_ms"] for c in conc], "s--", color="tab:red", label="p99 latency")
    twin.set_ylabel("p99 ms", color="tab:red")
    left.set_title("served teacher: throughput and tail latency")
    left.legend(loc="upper left")
    table = payload["distillation"]
    for key, marker, label in (("win_rate_perfect_pros", "o", "vs perfect pros"),
                               ("win_rate_reference", "s", "vs reference pool")):
        right.plot([r["parameters"] for r in table], [r[key] for r in table], marker, linestyle="",
                   alpha=0.8, label=label)
    labelled: set[int] = set()
    for row in table:  # one label per size (seeds share it)
        if row["parameters"] not in labelled:
            labelled.add(row["parameters"])
            name = row["bot"].split("_seed")[0]
            right.annotate(f"{name}\n{row['size_ratio']:.0f}x smaller" if name != "teacher" else name,
                           (row["parameters"], row["win_rate_perfect_pros"]), fontsize=8,
                           xytext=(0, -24), textcoords="offset points", ha="center")
    right.axhline(TARGETS["distill_win_rate_retained"] * table[0]["win_rate_perfect_pros"], color="grey",
                  linestyle=":", label="95% of the teacher vs perfect pros")
    right.set_xscale("log")
    right.set_xlabel("parameters")
    right.set_ylabel("win rate")
    right.set_ylim(0.75, 1.02)
    right.set_title("teacher and distilled students (seeds 0 and 1)")
    right.legend(loc="lower right")
    fig.tight_layout()
    FIGURE.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(FIGURE, dpi=110)


def redraw() -> None:
    """``python benchmarks/bench_serve.py --redraw``: the figure again from serve.json."""
    figure(json.loads((ROOT / "benchmarks" / "results" / "serve.json").read_text()))


def main() -> None:
    if sys.argv[1:] == ["--redraw"]:
        return redraw()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--teacher", required=True, help="the teacher's checkpoint (an RL run or its best/)")
    parser.add_argument("--students", nargs="+", required=True, help="distilled students' checkpoints")
    parser.add_argument("--requests", type=int, default=2000, help="requests per served measurement")
    parser.add_argument("--matches", type=int, default=100, help="matches per opponent for win rates")
    parser.add_argument("--seed", type=int, default=0, help="the matches' seed")
    args = parser.parse_args()
    started = time.perf_counter()
    teacher = checkpoint_dir(args.teacher)
    students = {f"student_{i}": checkpoint_dir(s) for i, s in enumerate(args.students)}
    names = {"teacher": teacher, **students}
    pool = observation_pool()
    console = Console()
    with tempfile.TemporaryDirectory() as tmp:
        bundles = {name: export(ckpt, Path(tmp) / name) for name, ckpt in names.items()}
        offline = {name: offline_timing(bundles[name] / "model.onnx") for name in names}
        offline["teacher_int8"] = offline_timing(bundles["teacher"] / "model.int8.onnx")
        split = eval_protocol.test_split(None, eval_protocol.recorded_dataset(read_manifest(teacher)))
        teacher_onnx = load_bundle(bundles["teacher"])
        rows = []
        for name, ckpt in names.items():
            manifest = read_manifest(ckpt)
            wins = win_rates(bundles[name], args.matches, args.seed)
            rows.append({
                "bot": "teacher" if name == "teacher" else run_label(ckpt),
                "checkpoint": str(ckpt), "hidden_sizes": manifest["architecture"]["config"]["hidden_sizes"],
                "parameters": parameter_count(load_network(ckpt)[0]),
                "onnx_bytes": (bundles[name] / "model.onnx").stat().st_size,
                "p99_ms": offline[name]["p99_ms"], "p50_ms": offline[name]["p50_ms"],
                "decisions_per_s_per_core": offline[name]["decisions_per_s_per_core_batch1"],
                "win_rate_reference": wins["reference"], "win_rate_perfect_pros": wins["perfect_pros"],
                "agreement_with_teacher": agreement(teacher_onnx, load_bundle(bundles[name]),
                                                    split.observations)["argmax_agreement"]})
            console.print(f"{rows[-1]['bot']}: {rows[-1]['parameters']:,} parameters, win rate "
                          f"{wins['perfect_pros']:.3f} vs perfect pros, {wins['reference']:.3f} vs reference")
        service = served(bundles, teacher, list(students), args.requests, pool)

    head = rows[0]
    for row in rows:
        row["size_ratio"] = head["parameters"] / row["parameters"]
        row["win_rate_retained"] = row["win_rate_perfect_pros"] / head["win_rate_perfect_pros"]
        row["win_rate_retained_reference"] = row["win_rate_reference"] / head["win_rate_reference"]
    group, retained = headline(rows)
    best = min(group, key=lambda r: r["win_rate_retained"])
    best_key = f"{[n for n, c in names.items() if str(c) == best['checkpoint']][0]}_fp32"
    qps = service["replicas"]
    speed_k = best["decisions_per_s_per_core"] / head["decisions_per_s_per_core"]
    served_k = service["runtime"][best_key]["qps"] / service["runtime"]["teacher_fp32"]["qps"]
    payload: dict[str, Any] = {
        "qps_ratio_2_vs_1_replicas": qps[2]["qps"] / qps[1]["qps"],
        "distill_size_ratio": best["size_ratio"], "distill_win_rate_retained": retained,
        "distill_win_rate_retained_reference": min(r["win_rate_retained_reference"] for r in group),
        "distill_student": best["bot"], "distill_student_runs": [r["bot"] for r in group],
        "faster_model_speed_ratio_in_process": speed_k, "faster_model_qps_ratio_served": served_k,
        "smaller_model_bots_per_gb_ratio": offline[best_key.removesuffix("_fp32")]["bots_per_gb"]
        / offline["teacher"]["bots_per_gb"],
        "teacher": str(teacher), "matches_per_opponent": args.matches, "seed": args.seed,
        "requests_per_measurement": args.requests, "targets": TARGETS,
        "targets_met": {"distill": best["size_ratio"] >= TARGETS["distill_size_ratio"]
                        and retained >= TARGETS["distill_win_rate_retained"],
                        "qps_ratio_2_vs_1_replicas": qps[2]["qps"] / qps[1]["qps"]
                        >= 0.9 * TARGETS["qps_ratio_2_vs_1_replicas"]},
        "in_process": offline, "served": service, "distillation": rows,
        "seconds": time.perf_counter() - started,
    }
    path = write_results("serve", json.loads(json.dumps(payload, default=float)))
    figure(payload)
    report(payload, console)
    console.print(f"wrote {path} and {FIGURE.relative_to(ROOT)} ({payload['seconds']:.0f} s)")


def report(payload: dict[str, Any], console: Console) -> None:
    def table(title: str, rows: dict[Any, dict[str, Any]], label: str) -> Table:
        out = Table(title=title)
        for column in (label, "QPS", "decisions/s", "p50 ms", "p99 ms"):
            out.add_column(column, justify="left" if column == label else "right")
        for key, r in rows.items():
            out.add_row(str(key), f"{r['qps']:,.0f}", f"{r['rows_per_s']:,.0f}", f"{r['p50_ms']:.2f}",
                        f"{r['p99_ms']:.2f}")
        return out

    served = payload["served"]
    console.print(table("served teacher, 1 replica, batches <= 64", served["concurrency"], "clients"))
    console.print(table("max batch size, 32 clients", served["max_batch_size"], "max batch"))
    console.print(table("replicas, 64 clients", served["replicas"], "replicas"))
    console.print(table("runtime / model, 16 clients", served["runtime"], "bot"))
    console.print(table("encoding, 16 clients", served["json_vs_binary"], "encoding"))
    console.print(table("64 rows per request (client-side batching), 4 clients",
                        {"binary": served["rows_per_request_64"]}, "encoding"))
    distill = Table(title="distillation (win rates: fresh matches per opponent; agreement: test split)",
                    width=150)
    for column in ("bot", "parameters", "bytes", "size ratio", "p99 ms", "decisions/s/core",
                   "vs reference", "vs perfect pros", "retained", "agreement"):
        distill.add_column(column, justify="left" if column == "bot" else "right")
    for r in payload["distillation"]:
        distill.add_row(r["bot"], f"{r['parameters']:,}", f"{r['onnx_bytes']:,}", f"{r['size_ratio']:.1f}x",
                        f"{r['p99_ms']:.3f}", f"{r['decisions_per_s_per_core']:,.0f}",
                        f"{r['win_rate_reference']:.3f}", f"{r['win_rate_perfect_pros']:.3f}",
                        f"{r['win_rate_retained']:.2f}", f"{r['agreement_with_teacher']:.3f}")
    console.print(distill)
    console.print(f"QPS 2 replicas / 1 replica: {payload['qps_ratio_2_vs_1_replicas']:.2f} (lecture: 2)")
    speed = payload["faster_model_speed_ratio_in_process"]
    served_qps = payload["faster_model_qps_ratio_served"]
    console.print(f"student {payload['distill_student']}: {speed:.2f}x the teacher's decisions/s in-process, "
                  f"{served_qps:.2f}x its served QPS")
    per_gb = payload["smaller_model_bots_per_gb_ratio"]
    console.print(f"bots per GB, that student / the teacher: {per_gb:.1f}x "
                  f"for a {payload['distill_size_ratio']:.0f}x smaller model (lecture: the same factor)")
    console.print(f"distillation: {payload['distill_size_ratio']:.1f}x smaller "
                  f"({', '.join(payload['distill_student_runs'])}) keeps "
                  f"{payload['distill_win_rate_retained']:.1%} "
                  "of the win rate vs the perfect pros on its worst seed "
                  f"(target >= 15x and >= 95%: {'met' if payload['targets_met']['distill'] else 'NOT met'})")


if __name__ == "__main__":
    main()
