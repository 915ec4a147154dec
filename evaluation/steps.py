"""Run the project's entry scripts as steps of a bigger job, the way a user would type them.

``experiment.py`` and the bot zoo (:mod:`evaluation.zoo`) are pipelines of ``train.py`` and
``tournament.py`` runs. Each step runs as its own process (no script imports another), with its
command printed first so a reader can copy it, and a failed step stops the pipeline naming the
command (its own message is already printed above it).
"""

from __future__ import annotations

import shlex
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from rich.console import Console

ROOT = Path(__file__).resolve().parent.parent  # the repository root: where the entry scripts live


class StepError(RuntimeError):
    """A step that failed or left no result."""


def override_value(value: Any) -> str:
    """A Hydra override value: lists as [a,b], strings quoted when Hydra would parse them."""
    if isinstance(value, list | tuple):
        return "[" + ",".join(override_value(v) for v in value) + "]"
    if isinstance(value, bool):
        return str(value).lower()
    if value is None:
        return "null"
    text = str(value)
    return f"'{text}'" if any(c in text for c in "=,[]{}:'@ ") else text


def run_step(console: Console, script: str, overrides: Mapping[str, Any]) -> None:
    """Run ``python <script> <overrides>`` from the current folder; raise :class:`StepError` on failure."""
    arguments = [f"{key}={override_value(value)}" for key, value in overrides.items()]
    command = [sys.executable, str(ROOT / script), *arguments]
    shown = shlex.join([Path(command[0]).name, script, *command[2:]])
    console.print(f"$ {shown if len(shown) < 600 else shown[:600] + ' ...'}", highlight=False, markup=False,
                  soft_wrap=True)
    if subprocess.run(command, cwd=Path.cwd()).returncode != 0:
        raise StepError(f"the step above failed (its message is printed above): {script} "
                        f"{' '.join(list(command[2:])[:6])}{' ...' if len(command) > 8 else ''}")


def read_step_results(run_dir: Path) -> dict[str, Any]:
    """The ``results.json`` a finished ``train.py`` step wrote (:func:`evaluation.run_report.read_results`);
    :class:`StepError` if there is none."""
    from evaluation.run_report import read_results

    results = read_results(run_dir)
    if results is None:
        raise StepError(f"{run_dir} has no readable results.json after its step finished")
    return results


def run_or_exit(program: str, job: Callable[[], Any], interrupted: str) -> None:
    """Run a pipeline's ``job``; a failed step or bad input is one line on stderr (exit 1), Ctrl-C
    the ``interrupted`` line (exit 130): no traceback either way."""
    try:
        job()
    except (StepError, ValueError, FileNotFoundError, OSError) as err:
        print(f"{program}: {err}", file=sys.stderr)
        raise SystemExit(1) from None
    except KeyboardInterrupt:  # the running step has printed what it saved
        print(interrupted, file=sys.stderr)
        raise SystemExit(130) from None
