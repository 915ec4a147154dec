"""Helpers shared by the benchmarks: timing loops and atomic JSON results."""

from __future__ import annotations

import json
import os
import platform
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def rate(step: Callable[[], int], min_seconds: float) -> float:
    """Call ``step`` (which returns how many units it did) until ``min_seconds`` pass; units / s."""
    step()  # warm-up: compiles, caches, first-touch allocations
    done, start = 0, time.perf_counter()
    while True:
        done += step()
        elapsed = time.perf_counter() - start
        if elapsed >= min_seconds:
            return done / elapsed


def machine() -> dict[str, object]:
    return {"python": platform.python_version(), "machine": platform.machine(),
            "cpus": os.cpu_count(), "platform": platform.platform()}


def write_results(name: str, payload: dict[str, object]) -> Path:
    """Write ``benchmarks/results/<name>.json`` atomically (temp file, then rename)."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    target = RESULTS_DIR / f"{name}.json"
    fd, tmp = tempfile.mkstemp(dir=RESULTS_DIR, suffix=".tmp")
    with os.fdopen(fd, "w") as handle:
        json.dump({**payload, "machine": machine()}, handle, indent=2)
        handle.write("\n")
    os.replace(tmp, target)
    return target
