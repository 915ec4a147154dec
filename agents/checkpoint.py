"""Checkpoints: weights in safetensors plus a JSON manifest; loading never unpickles anything.

A checkpoint is a folder::

    <checkpoint>/
      model.safetensors   the network's tensors (safetensors: a header and raw arrays, no code)
      manifest.json       architecture (class + constructor args), observation encoding version,
                          action names, logit adjustment, rebalancing config, dataset hash, metrics,
                          and the sha256 of model.safetensors
      optimizer.pt        (resumable "last" checkpoints only) optimizer state, torch.save'd and read
                          back with ``torch.load(weights_only=True)``, which refuses arbitrary objects

A checkpoint is written whole into a hidden temp folder beside ``<checkpoint>`` and swapped in at
once (:func:`agents.artifacts.write_folder`): a reader never sees new weights next to an old
manifest, and a crash mid-save leaves the previous checkpoint in place. Only a checkpoint (or an
empty folder) is ever replaced. The manifest records the weights' hash, so a weights file
truncated or swapped later is detected at load time instead of loading half-written or foreign
tensors; a manifest without the hash is refused, not trusted. The
architecture is looked up in :data:`ARCHITECTURES` by name, never imported from a string in the file.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from agents.artifacts import (
    MANIFEST_NAME,
    check_file_entry,
    read_json_manifest,
    recover_folder,
    sha256_file,
    write_folder,
)
from agents.bc import BCPolicy
from agents.errors import CheckpointError, missing_bot_hint  # CheckpointError re-exported
from agents.networks import PolicyNetwork
from envs.actions import ACTION_NAMES
from envs.observation import ENCODING_VERSION, OBS_DIM

FORMAT = "fightlab-policy-checkpoint"
FORMAT_VERSION = 1
WEIGHTS_NAME = "model.safetensors"
OPTIMIZER_NAME = "optimizer.pt"
ARCHITECTURES: dict[str, type[torch.nn.Module]] = {"PolicyNetwork": PolicyNetwork}


# ---- writing ---------------------------------------------------------------------------------------
def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "value"):  # enums
        return value.value
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def save_checkpoint(path: str | Path, network: PolicyNetwork, *,
                    logit_adjustment: np.ndarray | None = None, name: str = "bc",
                    metadata: Mapping[str, Any] | None = None,
                    optimizer: torch.optim.Optimizer | None = None, overwrite: bool = True) -> Path:
    """Write ``network`` (and optionally the optimizer state) as a checkpoint folder at ``path``.

    ``metadata`` (JSON-serialisable: rebalancing config, dataset hash, metrics, training state...)
    is stored in the manifest next to what loading needs. The folder is built beside ``path`` and
    swapped in whole; an existing checkpoint there is replaced (unless ``overwrite=False``), anything
    else there raises :class:`FileExistsError`. A full disk (or a read-only or forbidden folder) is
    :class:`agents.artifacts.StorageError` naming ``path``; the previous checkpoint stays as it was,
    as it does when the process is killed mid-save. Returns the folder.
    """
    path = Path(path)
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in network.state_dict().items()}
    with write_folder(path, kind=FORMAT, overwrite=overwrite) as tmp:
        save_file(tensors, str(tmp / WEIGHTS_NAME))
        weights_hash = sha256_file(tmp / WEIGHTS_NAME)
        if optimizer is not None:
            torch.save({"optimizer": optimizer.state_dict()}, tmp / OPTIMIZER_NAME)
        manifest = _manifest(network, tensors, weights_hash, logit_adjustment=logit_adjustment,
                             name=name, metadata=metadata, has_optimizer_state=optimizer is not None)
        (tmp / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2, default=_json_default) + "\n",
                                         encoding="utf-8")
    return path


def _manifest(network: PolicyNetwork, tensors: Mapping[str, torch.Tensor], weights_hash: str, *,
              logit_adjustment: np.ndarray | None, name: str, metadata: Mapping[str, Any] | None,
              has_optimizer_state: bool) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "name": name,
        "architecture": {"class": type(network).__name__, "config": network.config()},
        "observation_encoding_version": ENCODING_VERSION,
        "action_names": list(ACTION_NAMES),
        "logit_adjustment": None if logit_adjustment is None else
        [float(v) for v in np.asarray(logit_adjustment).ravel()],
        "weights": {"file": WEIGHTS_NAME, "sha256": weights_hash,
                    "tensors": {k: list(v.shape) for k, v in tensors.items()}},
        "has_optimizer_state": has_optimizer_state,
        "created_with": {"torch": torch.__version__},
        **dict(metadata or {}),
    }


# ---- reading ---------------------------------------------------------------------------------------
def checkpoint_dir(path: str | Path) -> Path:
    """The checkpoint folder for ``path``: the folder itself, its manifest or weights file, or a run
    folder holding ``best/`` (preferred) or ``last/``. A save that a killed process left half swapped
    in is finished or undone first (:func:`agents.artifacts.recover_folder`)."""
    path = Path(path)
    for folder in (path, path / "best", path / "last"):
        if not folder.exists():
            recover_folder(folder)
    if not path.exists():
        raise CheckpointError(f"no checkpoint at {path}: the path does not exist; {missing_bot_hint(path)}")
    if path.is_file():
        if path.name not in (MANIFEST_NAME, WEIGHTS_NAME):
            raise CheckpointError(f"{path} is not a checkpoint: expected a checkpoint folder, its "
                                  f"{MANIFEST_NAME} or its {WEIGHTS_NAME}")
        return path.parent
    if not (path / MANIFEST_NAME).exists():
        for sub in ("best", "last"):
            if (path / sub / MANIFEST_NAME).is_file():
                return path / sub
    return path


def read_manifest(path: str | Path) -> dict[str, Any]:
    """Read and check a checkpoint's manifest; every error names the file and what was expected."""
    folder = checkpoint_dir(path)
    manifest_path = folder / MANIFEST_NAME
    manifest = read_json_manifest(manifest_path, FORMAT, CheckpointError,
                                  kind="a FightLab checkpoint manifest",
                                  missing_hint=f"a checkpoint folder holds {MANIFEST_NAME} and "
                                               f"{WEIGHTS_NAME} (written by train.py)")
    missing = [k for k in ("format_version", "architecture", "observation_encoding_version",
                           "action_names", "weights") if k not in manifest]
    if missing:
        raise CheckpointError(f"{manifest_path} is corrupt: missing keys {missing}")
    if manifest["format_version"] != FORMAT_VERSION:
        raise CheckpointError(f"{manifest_path}: checkpoint format version {manifest['format_version']!r}, "
                              f"this code reads version {FORMAT_VERSION}")
    if str(manifest["observation_encoding_version"]) != ENCODING_VERSION:
        raise CheckpointError(
            f"{manifest_path}: the model was trained on observation encoding version "
            f"{manifest['observation_encoding_version']!r}, but this code encodes version "
            f"{ENCODING_VERSION!r}; its inputs would mean something else. Retrain it on logs of "
            "this version")
    if list(manifest["action_names"]) != list(ACTION_NAMES):
        raise CheckpointError(f"{manifest_path}: action names {manifest['action_names']} do not match "
                              f"this code's action set {list(ACTION_NAMES)}")
    _check_weights_entry(manifest["weights"], manifest_path)
    return manifest


def _check_weights_entry(weights: Any, manifest_path: Path) -> None:
    """``"weights"`` names a file in the checkpoint folder and its sha256 (required)."""
    check_file_entry(weights, field="weights", default_file=WEIGHTS_NAME, manifest_path=manifest_path,
                     error=CheckpointError, folder="checkpoint", shape="{file, sha256, tensors}",
                     missing_hash="(a checkpoint without it could hold any weights), so it is not loaded; "
                                  "save the checkpoint again with this code")


def _build_network(manifest: dict[str, Any], manifest_path: Path) -> PolicyNetwork:
    architecture = manifest["architecture"]
    cls = ARCHITECTURES.get(architecture.get("class")) if isinstance(architecture, dict) else None
    if cls is None:
        raise CheckpointError(f"{manifest_path}: unknown architecture {architecture!r}; known classes: "
                              f"{sorted(ARCHITECTURES)}")
    config = dict(architecture.get("config") or {})
    try:
        network = cls(**config)
    except (TypeError, ValueError) as err:
        raise CheckpointError(f"{manifest_path}: cannot build {architecture['class']} from {config}: "
                              f"{err}") from err
    if getattr(network, "obs_dim", OBS_DIM) != OBS_DIM:
        raise CheckpointError(f"{manifest_path}: the network takes {network.obs_dim} observation "
                              f"fields, this code's observation has {OBS_DIM}")
    return network


def load_network(path: str | Path, device: str | torch.device = "cpu"
                 ) -> tuple[PolicyNetwork, dict[str, Any]]:
    """Rebuild the network from the manifest and load its weights (hash and shapes checked)."""
    folder = checkpoint_dir(path)
    manifest = read_manifest(folder)
    manifest_path = folder / MANIFEST_NAME
    network = _build_network(manifest, manifest_path)
    weights_path = folder / manifest["weights"].get("file", WEIGHTS_NAME)  # read_manifest checked it
    if not weights_path.is_file():
        raise CheckpointError(f"{weights_path} is missing: {manifest_path} lists it as the weights")
    expected_hash = manifest["weights"]["sha256"]  # required: read_manifest refuses a manifest without it
    if sha256_file(weights_path) != expected_hash:
        raise CheckpointError(f"{weights_path} is corrupt or truncated: its sha256 does not match the "
                              f"one recorded in {manifest_path} ({expected_hash[:12]}...)")
    try:
        tensors = load_file(str(weights_path), device="cpu")
    except (SafetensorError, OSError, ValueError) as err:
        raise CheckpointError(f"{weights_path} cannot be read as safetensors ({err}); the file is "
                              "corrupt or truncated") from err
    expected = {k: tuple(v.shape) for k, v in network.state_dict().items()}
    got = {k: tuple(v.shape) for k, v in tensors.items()}
    if expected != got:
        problems = [f"{k}: expected {expected.get(k)}, got {got.get(k)}"
                    for k in sorted(set(expected) | set(got)) if expected.get(k) != got.get(k)]
        raise CheckpointError(f"{weights_path} does not fit the architecture in {manifest_path} "
                              f"({manifest['architecture']}): {'; '.join(problems)}")
    network.load_state_dict(tensors)
    return network.to(device), manifest


def load(path: str | Path, device: str | torch.device = "cpu") -> BCPolicy:
    """A trained bot from a checkpoint, as a Policy the match runner, envs and tournament accept.

    ``path`` is a checkpoint folder, its ``manifest.json`` or ``model.safetensors``, or a run folder
    (``runs/<experiment>/<run>``: its ``best/`` checkpoint). Raises :class:`CheckpointError` naming
    the file on a missing, corrupt, truncated or mismatched checkpoint.
    """
    network, manifest = load_network(path, device)
    adjustment = manifest.get("logit_adjustment")
    return BCPolicy(network, name=str(manifest.get("name", "bc")),
                    logit_adjustment=None if adjustment is None else np.asarray(adjustment, np.float32),
                    device=device)


def load_optimizer_state(path: str | Path) -> dict[str, Any]:
    """The optimizer state of a resumable checkpoint, read with ``torch.load(weights_only=True)``."""
    file = checkpoint_dir(path) / OPTIMIZER_NAME
    if not file.is_file():
        raise CheckpointError(f"{file} is missing: this checkpoint cannot resume training")
    try:
        state = torch.load(file, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises several types for corrupt or unsafe files
        raise CheckpointError(f"{file} cannot be read as optimizer state ({err})") from err
    if not isinstance(state, dict) or "optimizer" not in state:
        raise CheckpointError(f"{file} is corrupt: expected a dict with an 'optimizer' entry")
    return state["optimizer"]
