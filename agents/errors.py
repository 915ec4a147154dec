"""Errors for trained-bot artifacts; nothing heavy imported.

Checkpoints (torch, :mod:`agents.checkpoint`) and exported bundles (ONNX, :mod:`agents.onnx_policy`)
share one error family, so every caller that already reports a bad checkpoint (``train.py``,
``tournament.py``, ``play.py``) reports a bad bundle the same way. It lives here rather than in
:mod:`agents.checkpoint` so that loading an ONNX bot never imports torch. The helpers both artifact
kinds read with (a file's sha256, a checked JSON manifest) live in :mod:`agents.artifacts`.
"""

from __future__ import annotations


class CheckpointError(ValueError):
    """A checkpoint that cannot be loaded: missing, corrupt or made for another encoding or action set."""


class BundleError(CheckpointError):
    """An exported bundle (ONNX + manifest) that cannot be loaded: missing or corrupt files, another
    format version, observation encoding or action set, or a model whose inputs/outputs do not fit."""
