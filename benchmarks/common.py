"""Helpers shared by the benchmarks: timing loops and atomic JSON results."""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path

from agents.artifacts import atomic_write_text

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
    return atomic_write_text(RESULTS_DIR / f"{name}.json",
                             json.dumps({**payload, "machine": machine()}, indent=2) + "\n")
