"""Helpers shared by the benchmarks: timing loops and atomic JSON results."""

from __future__ import annotations

import json
from pathlib import Path

from agents.artifacts import atomic_write_text
from agents.requirements import machine, rate  # noqa: F401 - the benchmarks' timing loop and machine record

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def write_results(name: str, payload: dict[str, object]) -> Path:
    """Write ``benchmarks/results/<name>.json`` atomically (temp file, then rename)."""
    return atomic_write_text(RESULTS_DIR / f"{name}.json",
                             json.dumps({**payload, "machine": machine()}, indent=2) + "\n")
