"""Errors for trained-bot artifacts, and the reading both artifact kinds share; nothing heavy imported.

Checkpoints (torch, :mod:`agents.checkpoint`) and exported bundles (ONNX, :mod:`agents.onnx_policy`)
share one error family, so every caller that already reports a bad checkpoint (``train.py``,
``tournament.py``, ``play.py``) reports a bad bundle the same way. It lives here rather than in
:mod:`agents.checkpoint` so that loading an ONNX bot never imports torch.
Also the two helpers both artifact kinds read with: a file's sha256 and a checked JSON manifest.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any


class CheckpointError(ValueError):
    """A checkpoint that cannot be loaded: missing, corrupt or made for another encoding or action set."""


class BundleError(CheckpointError):
    """An exported bundle (ONNX + manifest) that cannot be loaded: missing or corrupt files, another
    format version, observation encoding or action set, or a model whose inputs/outputs do not fit."""


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks: manifests record it to catch truncated files."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_json_manifest(manifest_path: Path, expected_format: str, error: type[CheckpointError], *,
                       kind: str, missing_hint: str) -> dict[str, Any]:
    """Parse ``manifest_path`` and check its ``"format"``; every failure is ``error`` naming the file.

    Shared by checkpoints and exported bundles: both are a folder of weights plus a JSON manifest.
    """
    if not manifest_path.is_file():
        raise error(f"{manifest_path} is missing: {missing_hint}")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise error(f"{manifest_path} is corrupt: not valid JSON ({err})") from err
    if not isinstance(manifest, dict) or manifest.get("format") != expected_format:
        found = manifest.get("format") if isinstance(manifest, dict) else type(manifest).__name__
        raise error(f"{manifest_path} is not {kind}: expected \"format\": \"{expected_format}\", "
                    f"found {found!r}")
    return manifest

