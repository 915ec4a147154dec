"""Exported bots: an ONNX bundle (model + manifest) played through ONNX Runtime as a Policy.

``python export.py bot=<checkpoint>`` writes a bundle folder (see :mod:`agents.export`)::

    <bundle>/
      manifest.json     what goes in and comes out: input/output names, shapes and dtypes, action
                        ids, observation fields, frame rate, observation delay, provenance, metrics,
                        and the sha256 of every model file
      model.onnx        float32 network: obs (B, 42) float32 -> logits (B, 12) float32
      model.int8.onnx   (export.quantize=true) the same network with dynamically quantized int8 weights

The bot's command is ``argmax(logits)``: any logit adjustment of the checkpoint is already folded
into the output bias, so an engine needs nothing but the model and the manifest.

Loading checks the manifest first (format and version, observation encoding, action names, the
model file's sha256, which every listed model must have: a bundle without it is refused) and then
the model's declared inputs and outputs, and raises :class:`~agents.errors.BundleError` naming the
file and what was expected. ONNX files are protobuf data, never unpickled; this module does not
import torch, so playing an exported bot does not need it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from agents.artifacts import (
    MANIFEST_NAME,
    check_file_entry,
    read_json_bounded,
    read_json_manifest,
    sha256_file,
)
from agents.errors import BundleError, missing_bot_hint
from envs.actions import ACTION_NAMES, NUM_ACTIONS
from envs.observation import ENCODING_VERSION, OBS_DIM

FORMAT = "fightlab-onnx-bot"
FORMAT_VERSION = 1
MODEL_FILES = {"fp32": "model.onnx", "int8": "model.int8.onnx"}
INPUT_NAME = "obs"
OUTPUT_NAME = "logits"


def _peek_format(manifest_path: Path) -> str | None:
    if not manifest_path.is_file():
        return None
    try:
        data = read_json_bounded(manifest_path)  # a hostile manifest is refused later, by the loader
    except ValueError:
        return None
    return data.get("format") if isinstance(data, dict) else None


def is_bundle_path(spec: str | Path) -> bool:
    """True for an ``.onnx`` file, a bundle folder, or a bundle's ``manifest.json``.

    The registry asks this before the checkpoint loader: a folder or ``manifest.json`` is a bundle
    when its manifest says ``"format": "fightlab-onnx-bot"`` (a corrupt manifest next to an
    ``.onnx`` file also counts, so that its error comes from the bundle loader).
    """
    path = Path(spec)
    if path.suffix == ".onnx":
        return True
    folder = path if path.is_dir() else path.parent if path.name == MANIFEST_NAME else None
    if folder is None:
        return False
    if _peek_format(folder / MANIFEST_NAME) == FORMAT:
        return True
    return (folder / MODEL_FILES["fp32"]).exists() and not (folder / "model.safetensors").exists()


def bundle_paths(path: str | Path, variant: str | None = None) -> tuple[Path, str]:
    """The bundle folder and model variant for a folder, its ``manifest.json`` or one of its models."""
    path = Path(path)
    if not path.exists():
        raise BundleError(f"no exported bot at {path}: the path does not exist; {missing_bot_hint(path)}")
    if path.is_dir():
        return path, variant or "fp32"
    if path.name == MANIFEST_NAME:
        return path.parent, variant or "fp32"
    for name, file in MODEL_FILES.items():
        if path.name == file:
            if variant is not None and variant != name:
                raise BundleError(f"{path} is the {name} model, but variant={variant!r} was asked for")
            return path.parent, name
    raise BundleError(f"{path} is not part of an exported bundle: expected a bundle folder, its "
                      f"{MANIFEST_NAME}, or one of {sorted(MODEL_FILES.values())}")


def read_bundle_manifest(folder: str | Path) -> dict[str, Any]:
    """Read and check a bundle's manifest (format, versions, actions, observation size)."""
    manifest_path = Path(folder) / MANIFEST_NAME
    manifest = read_json_manifest(manifest_path, FORMAT, BundleError, kind="an exported-bot manifest",
                                  missing_hint=f"an exported bundle holds {MANIFEST_NAME} and "
                                               f"{MODEL_FILES['fp32']} (written by python export.py "
                                               "bot=<checkpoint>)")
    missing = [k for k in ("format_version", "input", "output", "models", "actions", "observation")
               if k not in manifest]
    if missing:
        raise BundleError(f"{manifest_path} is corrupt: missing keys {missing}")
    if manifest["format_version"] != FORMAT_VERSION:
        raise BundleError(f"{manifest_path}: bundle format version {manifest['format_version']!r}, this "
                          f"code reads version {FORMAT_VERSION}; re-export the bot with this code")
    encoding = str((manifest.get("observation") or {}).get("encoding_version"))
    if encoding != ENCODING_VERSION:
        raise BundleError(f"{manifest_path}: the bot was exported for observation encoding version "
                          f"{encoding!r}, but this code encodes version {ENCODING_VERSION!r}; its inputs "
                          "would mean something else")
    try:
        names = [a["name"] for a in sorted(manifest["actions"], key=lambda a: a["id"])]
    except (TypeError, KeyError) as err:
        raise BundleError(f"{manifest_path} is corrupt: 'actions' must be a list of {{id, name}}") from err
    if names != list(ACTION_NAMES):
        raise BundleError(f"{manifest_path}: action names {names} do not match this code's action set "
                          f"{list(ACTION_NAMES)}")
    models = manifest["models"]
    if not isinstance(models, dict) or not models:
        raise BundleError(f"{manifest_path} is corrupt: 'models' must map a variant to {{file, sha256}}")
    for variant, entry in models.items():
        _check_model_entry(entry, variant, manifest_path)
    return manifest


def _check_model_entry(entry: Any, variant: str, manifest_path: Path) -> None:
    """A model entry names a file in the bundle folder and its sha256 (required)."""
    check_file_entry(entry, field=f"models.{variant}", default_file=MODEL_FILES.get(variant),
                     manifest_path=manifest_path, error=BundleError, folder="bundle",
                     missing_hash="(a bundle without it could hold any model), re-export the bot")


def session_options(threads: int = 1) -> Any:
    """ORT options for playing: ``threads`` intra-op threads (1: a per-frame batch is small, and
    extra threads only add synchronisation on a busy machine), sequential execution, all graph
    optimisations."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3  # errors only: no warnings printed into a user's game log
    return options


def open_session(model_path: Path, threads: int = 1) -> Any:
    """An ORT session for ``model_path`` whose input and output match the bundle layout."""
    import onnxruntime as ort

    try:
        session = ort.InferenceSession(str(model_path), session_options(threads),
                                       providers=["CPUExecutionProvider"])
    except Exception as err:  # ORT raises its own exception types for unreadable models
        raise BundleError(f"{model_path} cannot be loaded by ONNX Runtime ({err}); the file is corrupt "
                          "or truncated") from err
    inputs, outputs = session.get_inputs(), session.get_outputs()
    expected_in = f"one input '{INPUT_NAME}' tensor(float) [batch, {OBS_DIM}]"
    expected_out = f"one output '{OUTPUT_NAME}' tensor(float) [batch, {NUM_ACTIONS}]"
    if len(inputs) != 1 or inputs[0].name != INPUT_NAME or inputs[0].type != "tensor(float)" \
            or len(inputs[0].shape) != 2 or inputs[0].shape[1] != OBS_DIM:
        got = [(i.name, i.type, i.shape) for i in inputs]
        raise BundleError(f"{model_path}: expected {expected_in}, the model has {got}")
    if len(outputs) != 1 or outputs[0].name != OUTPUT_NAME or outputs[0].type != "tensor(float)" \
            or len(outputs[0].shape) != 2 or outputs[0].shape[1] != NUM_ACTIONS:
        got = [(o.name, o.type, o.shape) for o in outputs]
        raise BundleError(f"{model_path}: expected {expected_out}, the model has {got}")
    return session


class OnnxPolicy:
    """An exported bot as a Policy: ``act`` is one ONNX Runtime call for the batch and an argmax.

    Build it with :func:`load_bundle` (checks everything) or directly from a session. The policy is
    deterministic (``reset`` has nothing to seed), like the BC policy it was exported from.
    """

    deterministic = True  # same obs, same action: the tournament may batch it across pairings

    def __init__(self, session: Any, *, name: str = "onnx", variant: str = "fp32",
                 manifest: dict[str, Any] | None = None) -> None:
        self.session = session
        self.name = name
        self.variant = variant
        self.manifest = manifest or {}
        self._outputs = [OUTPUT_NAME]

    @classmethod
    def from_bundle(cls, path: str | Path, variant: str | None = None, *, threads: int = 1) -> OnnxPolicy:
        """Same as :func:`load_bundle`: a bundle folder, its manifest or a model file, all checks run."""
        return load_bundle(path, variant, threads=threads)

    def reset(self, num_envs: int, seed: int | None = None,
              env_ids: np.ndarray | None = None) -> None:
        pass

    def logits(self, obs: np.ndarray) -> np.ndarray:
        """Decision logits ``(B, 12)`` float32 (logit adjustment already folded in)."""
        obs = np.ascontiguousarray(obs, dtype=np.float32)
        if obs.ndim != 2 or obs.shape[1] != OBS_DIM:
            raise ValueError(f"{self.name}: observations must have shape (batch, {OBS_DIM}), got {obs.shape}")
        return self.session.run(self._outputs, {INPUT_NAME: obs})[0]

    def act(self, obs: np.ndarray) -> np.ndarray:
        return self.logits(obs).argmax(axis=1).astype(np.int64, copy=False)


def load_bundle(path: str | Path, variant: str | None = None, *, threads: int = 1) -> OnnxPolicy:
    """An exported bot as a Policy. ``path`` is a bundle folder, its ``manifest.json`` or one of its
    model files; ``variant`` (``"fp32"`` or ``"int8"``) picks the model (default: the file named, or
    fp32). Raises :class:`~agents.errors.BundleError` naming the file on any mismatch."""
    folder, variant = bundle_paths(path, variant)
    if variant not in MODEL_FILES:
        raise BundleError(f"unknown model variant {variant!r}; a bundle may hold {sorted(MODEL_FILES)}")
    manifest = read_bundle_manifest(folder)
    manifest_path = folder / MANIFEST_NAME
    entry = manifest["models"].get(variant)  # read_bundle_manifest checked every entry's file and hash
    if entry is None:
        hint = " (export with export.quantize=true to add it)" if variant == "int8" else ""
        raise BundleError(f"{manifest_path} lists no {variant} model{hint}; it has "
                          f"{sorted(manifest['models'])}")
    model_path = folder / entry.get("file", MODEL_FILES[variant])
    if not model_path.is_file():
        raise BundleError(f"{model_path} is missing: {manifest_path} lists it as the {variant} model")
    expected = entry["sha256"]
    if sha256_file(model_path) != expected:
        raise BundleError(f"{model_path} is corrupt, truncated or replaced: its sha256 does not match the "
                          f"one recorded in {manifest_path} ({expected[:12]}...)")
    session = open_session(model_path, threads)
    name = str(manifest.get("name", folder.name))
    return OnnxPolicy(session, name=name if variant == "fp32" else f"{name}[{variant}]", variant=variant,
                      manifest=manifest)
