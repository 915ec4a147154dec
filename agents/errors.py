"""Errors for trained-bot artifacts; nothing heavy imported.

Checkpoints (torch, :mod:`agents.checkpoint`) and exported bundles (ONNX, :mod:`agents.onnx_policy`)
share one error family, so every caller that already reports a bad checkpoint (``train.py``,
``tournament.py``, ``play.py``) reports a bad bundle the same way. It lives here rather than in
:mod:`agents.checkpoint` so that loading an ONNX bot never imports torch. The helpers both artifact
kinds read with (a file's sha256, a checked JSON manifest) live in :mod:`agents.artifacts`.
"""

from __future__ import annotations

import re
from pathlib import Path

# agent.rebalance values (agents.rebalance.Rebalance, which imports torch; tests/agents/test_checkpoint.py
# checks the two agree)
REBALANCE_NAMES = ("none", "class_weight", "effective_number", "focal", "undersample", "oversample",
                   "smote", "logit_adjust")


class CheckpointError(ValueError):
    """A checkpoint that cannot be loaded: missing, corrupt or made for another encoding or action set."""


class BundleError(CheckpointError):
    """An exported bundle (ONNX + manifest) that cannot be loaded: missing or corrupt files, another
    format version, observation encoding or action set, or a model whose inputs/outputs do not fit."""


def missing_bot_hint(path: str | Path) -> str:
    """What creates a missing bot at ``path``, for the error a pasted command gets before its run exists.

    ``runs/<experiment>/<rebalance>_seed<seed>[/best|/last|/export]`` names the exact ``train.py``
    (and ``export.py``) command; any other path gets where trained and exported bots come from.
    """
    parts = Path(path).parts
    export = "export" in parts
    if export:
        parts = parts[:parts.index("export")]
    if parts and (parts[-1] in ("best", "last") or parts[-1].startswith("epoch_")):
        parts = parts[:-1]
    run = Path(*parts) if parts else Path(path)
    match = re.fullmatch(r"(?P<rebalance>\w+?)_seed(?P<seed>\d+)", run.name)
    if match and match["rebalance"] in REBALANCE_NAMES and len(parts) >= 2:
        seed = f" seed={match['seed']}" if match["seed"] != "0" else ""
        logdir = run.parent.parent
        logdir = "" if logdir.resolve() == Path("runs").resolve() else f" train.logdir={logdir}"
        steps = [f"python train.py agent=bc agent.rebalance={match['rebalance']} "
                 f"experiment={run.parent.name}{logdir}{seed}"]
        if export:
            steps.append(f"python export.py bot={run}")
        return "make it first with " + " && ".join(steps)
    return ("trained bots are run folders that `python train.py` creates (runs/<experiment>/<run>/, "
            "see the docs' Get started page); exported ones come from `python export.py bot=<run>`")
