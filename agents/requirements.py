"""The lecture's requirements sheet of one bot: processing time, accuracy, QPS, model size, hardware.

A service model is specified by what the service needs, not by its accuracy alone (the lecture's
table): processing time offline (the model alone, in-process) and online (what a client waits
for: network, server, batching), target accuracy, QPS, and the serving hardware it takes. For an
exported bot this module measures, on the machine it runs on:

* ``offline``: batch-1 decisions in-process on one thread (ONNX Runtime), p50 / p99 ms, and
  decisions/s per core at batch 1 and at batch 1024 (many matches in one call);
* ``online`` (:func:`online_timing`): the bot served on a local Ray Serve (:mod:`agents.serving`,
  1 replica, 1 CPU) and loaded by :mod:`agents.loadgen`: p50 / p99 ms of one request of one row at a
  time (a single game session), and the QPS that replica sustains under ``concurrency`` sessions
  (dynamic batching on);
* ``size``: parameters, model bytes, the memory one more loaded copy of the bot takes in a process
  (resident set growth per further ONNX Runtime session, over 16 to 256 copies until the growth
  stands out of page-level noise; at least the model's bytes), and so bots per GB of memory.

``export.py`` adds accuracy and win rate (its own metrics) and writes the sheet into the bundle's
manifest; :func:`print_sheet` is what it prints. The same timing helpers serve
``benchmarks/bench_inference.py`` and ``benchmarks/bench_serve.py``.
"""

from __future__ import annotations

import math
import os
import platform
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from envs.observation import observation_space

GB = 1024 ** 3


def observation_pool(rows: int = 1024, seed: int = 0) -> np.ndarray:
    """Observations inside the documented field bounds (each timed call gets a different row)."""
    space = observation_space()
    rng = np.random.default_rng(seed)
    return rng.uniform(space.low, space.high, (rows, len(space.low))).astype(np.float32)


def latencies(decide: Callable[[np.ndarray], object], pool: np.ndarray, calls: int) -> np.ndarray:
    """Per-call wall times (ns) of ``decide`` on batch-1 rows of ``pool``."""
    out = np.empty(calls, dtype=np.int64)
    n = len(pool)
    for i in range(calls):
        row = pool[i % n: i % n + 1]
        start = time.perf_counter_ns()
        decide(row)
        out[i] = time.perf_counter_ns() - start
    return out


def rate(step: Callable[[], int], min_seconds: float) -> float:
    """Call ``step`` (which returns how many units it did) until ``min_seconds`` pass; units / s."""
    step()  # warm-up: compiles, caches, first-touch allocations
    done, start = 0, time.perf_counter()
    while True:
        done += step()
        elapsed = time.perf_counter() - start
        if elapsed >= min_seconds:
            return done / elapsed


def _resident_bytes() -> int | None:
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return pages * os.sysconf("SC_PAGE_SIZE")


def offline_timing(model_path: str | Path, *, calls: int = 3000, seconds: float = 0.5) -> dict[str, Any]:
    """In-process timing of one ONNX model on one thread, and the memory one more copy of it takes."""
    from agents.onnx_policy import INPUT_NAME, OUTPUT_NAME, open_session

    session = open_session(Path(model_path), threads=1)
    pool = observation_pool()

    def decide(obs: np.ndarray) -> np.ndarray:
        return session.run([OUTPUT_NAME], {INPUT_NAME: obs})[0].argmax(axis=1)

    latencies(decide, pool, 200)  # warm-up
    ms = latencies(decide, pool, calls) / 1e6
    batch = np.ascontiguousarray(np.resize(pool, (1024, pool.shape[1])))
    # the resident growth per further loaded copy, each answering once: copies are added until the
    # growth is well above page-level noise (16 MiB) or 256 copies; at least the weights' bytes
    size = Path(model_path).stat().st_size
    before, copies = _resident_bytes(), []
    while before is not None and len(copies) < 256:
        for _ in range(16):
            copy = open_session(Path(model_path), threads=1)
            copy.run([OUTPUT_NAME], {INPUT_NAME: batch})
            copies.append(copy)
        if (_resident_bytes() or 0) - before >= 16 * 1024 ** 2:
            break
    after = _resident_bytes()
    per_bot = None if before is None or after is None else max((after - before) / len(copies), size)
    del copies
    return {"p50_ms": float(np.percentile(ms, 50)), "p99_ms": float(np.percentile(ms, 99)),
            "decisions_per_s_per_core_batch1": float(1000.0 / ms.mean()),
            "decisions_per_s_per_core_batch1024": rate(lambda: len(decide(batch)), seconds),
            "memory_per_bot_bytes": per_bot,
            "bots_per_gb": None if per_bot is None else int(GB // per_bot), "calls": calls}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def online_timing(bots: dict[str, str], *, requests: int = 1000, concurrency: int = 16,
                  batch_wait_timeout_s: float = 0.001, max_batch_size: int = 64) -> dict[str, dict[str, Any]]:
    """Serve ``bots`` (name -> bundle or model file) on one local Ray Serve replica and load each in turn."""
    from agents.loadgen import run_load
    from agents.serving import start, stop

    url = start(bots, port=free_port(), replicas=1, cpus_per_replica=1.0, threads=1,
                max_batch_size=max_batch_size, batch_wait_timeout_s=batch_wait_timeout_s, name="requirements")
    timings = {}
    try:
        pool = observation_pool()
        for name in bots:
            single = run_load(url, name, pool, requests=requests, concurrency=1)
            loaded = run_load(url, name, pool, requests=requests * 2, concurrency=concurrency)
            if single.errors or loaded.errors:
                raise RuntimeError(f"the served bot {name} answered {single.errors + loaded.errors} requests "
                                   f"with an error: {single.first_error or loaded.first_error}")
            timings[name] = {
                "p50_ms": single.p50_ms, "p99_ms": single.p99_ms, "requests": single.requests,
                "qps_per_replica": loaded.qps, "qps_concurrency": concurrency,
                "p99_ms_under_load": loaded.p99_ms, "replicas": 1, "cpus_per_replica": 1.0,
                "max_batch_size": max_batch_size, "batch_wait_timeout_s": batch_wait_timeout_s,
                "transport": "HTTP/1.1 on localhost, binary endpoint, one row per request"}
    finally:
        stop("requirements")
    return timings


def machine() -> dict[str, Any]:
    """What figures were measured on (benchmarks and requirements sheets record it)."""
    return {"python": platform.python_version(), "machine": platform.machine(), "cpus": os.cpu_count(),
            "platform": platform.platform(), "processor": platform.processor() or platform.machine()}


def requirements_sheet(model_path: str | Path, *, parameters: int, accuracy: float | None,
                       balanced_accuracy: float | None, win_rate: float | None, win_rate_against: str | None,
                       online: dict[str, Any] | None, frame_rate: int = 60) -> dict[str, Any]:
    """The sheet for the model at ``model_path``; ``online`` is its :func:`online_timing` entry, if served."""
    offline = offline_timing(model_path)
    frame_ms = 1000.0 / frame_rate
    return {
        "processing_time_offline_ms": {"p50": offline["p50_ms"], "p99": offline["p99_ms"],
                                       "what": "batch-1 decision in-process, ONNX Runtime, 1 thread"},
        "processing_time_online_ms": None if online is None else {
            "p50": online["p50_ms"], "p99": online["p99_ms"],
            "what": "one row per request over localhost HTTP to Ray Serve (1 replica), client-measured"},
        "accuracy": accuracy, "balanced_accuracy": balanced_accuracy,
        "win_rate": win_rate, "win_rate_against": win_rate_against,
        "qps_per_replica": None if online is None else online["qps_per_replica"],
        "decisions_per_s_per_core": offline["decisions_per_s_per_core_batch1"],
        "decisions_per_s_per_core_batch1024": offline["decisions_per_s_per_core_batch1024"],
        "bots_per_core_at_frame_rate": math.floor(frame_ms / offline["p99_ms"]),
        "parameters": parameters, "model_bytes": Path(model_path).stat().st_size,
        "memory_per_bot_bytes": offline["memory_per_bot_bytes"], "bots_per_gb": offline["bots_per_gb"],
        "online": online, "machine": machine(),
    }


def sheet_rows(sheet: dict[str, Any]) -> list[tuple[str, str]]:
    """The sheet as (requirement, measured) rows, as the lecture's table lists them."""
    def fmt(value: float | None, pattern: str) -> str:
        return "not measured" if value is None else format(value, pattern)

    online = sheet["processing_time_online_ms"]
    offline = sheet["processing_time_offline_ms"]
    cpus = sheet["machine"]["cpus"]
    return [
        ("processing time, offline (p50 / p99)", f"{offline['p50']:.3f} / {offline['p99']:.3f} ms"),
        ("processing time, online (p50 / p99)",
         "not measured" if online is None else f"{online['p50']:.2f} / {online['p99']:.2f} ms"),
        ("accuracy / balanced accuracy (test split)",
         f"{fmt(sheet['accuracy'], '.4f')} / {fmt(sheet['balanced_accuracy'], '.4f')}"),
        (f"win rate ({sheet['win_rate_against'] or 'no matches played'})", fmt(sheet["win_rate"], ".3f")),
        ("QPS per replica (1 CPU, dynamic batching)", fmt(sheet["qps_per_replica"], ",.0f")),
        ("decisions/s per core (batch 1 / batch 1024)",
         f"{sheet['decisions_per_s_per_core']:,.0f} / {sheet['decisions_per_s_per_core_batch1024']:,.0f}"),
        ("model size", f"{sheet['parameters']:,} parameters, {sheet['model_bytes']:,} bytes"),
        ("memory per loaded bot / bots per GB",
         "not measured" if sheet["memory_per_bot_bytes"] is None
         else f"{sheet['memory_per_bot_bytes'] / 1024:,.0f} KiB / {sheet['bots_per_gb']:,}"),
        ("hardware", f"{cpus} CPU cores ({sheet['machine']['processor']}), no GPU needed"),
    ]
