"""Export a trained bot for an engine: ONNX model(s) plus a manifest, checked before anything is saved.

The steps, each a function so tests and benchmarks can use them alone:

1. :func:`fold_logit_adjustment`: a copy of the network whose output bias already has the
   checkpoint's logit adjustment subtracted, so ``argmax(onnx logits)`` *is* the bot's command and
   an engine needs no post-processing.
2. :func:`write_onnx`: ``torch.onnx.export`` with a dynamic batch axis (input ``obs`` float32
   ``(B, 42)``, output ``logits`` float32 ``(B, 12)``), then ``onnx.checker``.
3. :func:`check_parity`: ONNX Runtime against the torch bot on real observations; a logit
   difference over the tolerance or a different command (other than at a numerical near-tie)
   raises :class:`ParityError`.
4. :func:`quantize_int8`: optional dynamic int8 weights (``onnxruntime.quantization``); int8 may
   change some commands, so it is *measured* (agreement, accuracy and win-rate change), not checked.
5. :func:`commit_bundle`: the bundle is built in a temp folder beside the target and renamed into
   place, so a failed export leaves nothing behind and an existing bundle is only replaced on request.

``export.py`` at the repository root runs these top to bottom and writes the manifest.
"""

from __future__ import annotations

import copy
import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch

from agents.artifacts import publish_folder, sha256_file, temp_sibling
from agents.bc import BCPolicy
from agents.networks import PolicyNetwork
from agents.onnx_policy import FORMAT, INPUT_NAME, OUTPUT_NAME, OnnxPolicy, open_session
from envs.actions import ACTION_NAMES
from envs.observation import ENCODING_VERSION, OBS_DIM, observation_field_table
from envs.params import GameParams

OPSET = 17


class ExportError(RuntimeError):
    """An export that cannot finish: bundle folder in the way, bad settings, a failed check."""


class ParityError(ExportError):
    """The ONNX model does not compute what the torch bot computes (logits or commands differ)."""


# ---- 1. the network an engine runs ---------------------------------------------------------------
def fold_logit_adjustment(network: PolicyNetwork, adjustment: np.ndarray | None) -> PolicyNetwork:
    """A CPU copy of ``network`` in eval mode with ``adjustment`` subtracted from its output bias.

    ``BCPolicy`` plays ``argmax(net(x) - adjustment)``; the last layer is linear, so
    ``W h + (b - adjustment)`` gives the same logits (up to float rounding) in one fewer op.
    """
    folded = copy.deepcopy(network).to("cpu").eval()
    if adjustment is not None:
        last = folded.layers[-1]
        if not isinstance(last, torch.nn.Linear):
            raise ExportError(f"cannot fold a logit adjustment into {type(last).__name__}: the network's "
                              "last layer must be Linear")
        with torch.no_grad():
            last.bias -= torch.as_tensor(np.asarray(adjustment, dtype=np.float32))
    return folded


def bc_policy_network(policy: BCPolicy) -> PolicyNetwork:
    """The network of a loaded BC bot with its logit adjustment folded in (what gets exported)."""
    adjustment = None if policy.logit_adjustment is None else policy.logit_adjustment.cpu().numpy()
    return fold_logit_adjustment(policy.network, adjustment)


# ---- 2. ONNX -------------------------------------------------------------------------------------
def write_onnx(network: PolicyNetwork, path: str | Path, opset: int = OPSET) -> Path:
    """Export ``network`` to ``path``: ``obs`` float32 ``(batch, 42)`` -> ``logits`` float32 ``(batch, 12)``.

    Uses the TorchScript exporter (``dynamo=False``): the network is a plain MLP, and the dynamo
    exporter would need onnxscript, which this project does not install.
    """
    import onnx

    path = Path(path)
    network = network.to("cpu").eval()
    example = torch.zeros(1, network.obs_dim, dtype=torch.float32)
    with warnings.catch_warnings():  # "legacy TorchScript-based ONNX export" deprecation notice
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(network, (example,), str(path), input_names=[INPUT_NAME],
                          output_names=[OUTPUT_NAME], opset_version=opset, dynamo=False,
                          dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}})
    model = onnx.load(str(path))
    onnx.checker.check_model(model)
    return path


# ---- 3. parity -------------------------------------------------------------------------------------
def check_parity(model_path: str | Path, reference: BCPolicy, observations: np.ndarray, *,
                 atol: float = 1e-4, rtol: float = 1e-5, batch_size: int = 65_536) -> dict[str, Any]:
    """Run ``model_path`` in ONNX Runtime and ``reference`` in torch on ``observations``.

    A row passes when every logit is within ``atol + rtol * max|torch logit of the row|`` (float32
    sums of a few hundred products differ with summation order by a relative ~1e-6 of the terms'
    size; trained logits reach the hundreds) and the command (argmax) is the same. A different
    command is tolerated only at a numerical near-tie: the torch top-2 gap is itself within the
    row's tolerance, where torch on another batch size could flip too; those rows are counted.

    Returns ``{"rows", "max_abs_logit_diff", "max_diff_over_tolerance", "atol", "rtol",
    "argmax_agreement", "near_tie_mismatches", "passed"}``; raises :class:`ParityError` naming the
    file, the worst row and the first real command mismatch otherwise.
    """
    model_path = Path(model_path)
    observations = np.ascontiguousarray(observations, dtype=np.float32)
    if observations.ndim != 2 or observations.shape[1] != OBS_DIM or len(observations) == 0:
        raise ExportError(f"parity check needs observations of shape (rows > 0, {OBS_DIM}), got "
                          f"{observations.shape}")
    policy = OnnxPolicy(open_session(model_path), name=str(model_path))
    worst_abs, worst_ratio, worst_row = 0.0, 0.0, 0
    mismatches, near_ties, first_mismatch = 0, 0, None
    for start in range(0, len(observations), batch_size):
        chunk = observations[start:start + batch_size]
        expected = reference.logits(chunk).cpu().numpy()
        got = policy.logits(chunk)
        diff = np.abs(got - expected).max(axis=1)
        tolerance = atol + rtol * np.abs(expected).max(axis=1)
        ratio = diff / tolerance
        if ratio.max() > worst_ratio:
            worst_ratio, worst_row = float(ratio.max()), start + int(ratio.argmax())
        worst_abs = max(worst_abs, float(diff.max()))
        differ = np.flatnonzero(got.argmax(axis=1) != expected.argmax(axis=1))
        if len(differ):
            top2 = np.sort(expected[differ], axis=1)[:, -2:]
            tie = (top2[:, 1] - top2[:, 0]) <= tolerance[differ]
            near_ties += int(tie.sum())
            real = differ[~tie]
            if len(real) and first_mismatch is None:
                row = int(real[0])
                first_mismatch = (start + row, int(expected[row].argmax()), int(got[row].argmax()))
            mismatches += len(real)
    rows = len(observations)
    result = {"rows": rows, "max_abs_logit_diff": worst_abs, "max_diff_over_tolerance": worst_ratio,
              "atol": float(atol), "rtol": float(rtol),
              "argmax_agreement": 1.0 - (mismatches + near_ties) / rows,
              "near_tie_mismatches": near_ties, "passed": worst_ratio <= 1.0 and mismatches == 0}
    if not result["passed"]:
        problems = []
        if worst_ratio > 1.0:
            problems.append(f"logits differ by up to {worst_abs:.3g}; at row {worst_row} the difference is "
                            f"{worst_ratio:.3g}x the tolerance (atol {atol:g} + rtol {rtol:g} x the row's "
                            "largest logit)")
        if first_mismatch is not None:
            row, want, got_id = first_mismatch
            problems.append(f"{mismatches} of {rows} commands differ (first: row {row}, torch "
                            f"{ACTION_NAMES[want]}, ONNX {ACTION_NAMES[got_id]})")
        raise ParityError(f"parity check failed for {model_path} against the torch bot "
                          f"{reference.name!r} on {rows} test rows: {'; '.join(problems)}. Nothing was "
                          "written.")
    return result


def agreement(a: OnnxPolicy, b: OnnxPolicy, observations: np.ndarray,
              batch_size: int = 65_536) -> dict[str, float]:
    """How closely policy ``b`` (e.g. int8) follows ``a`` (fp32): command agreement and logit drift."""
    same, worst, total = 0, 0.0, 0
    for start in range(0, len(observations), batch_size):
        chunk = observations[start:start + batch_size]
        la, lb = a.logits(chunk), b.logits(chunk)
        same += int((la.argmax(axis=1) == lb.argmax(axis=1)).sum())
        worst = max(worst, float(np.abs(la - lb).max()))
        total += len(chunk)
    return {"rows": total, "argmax_agreement": same / max(total, 1), "max_abs_logit_diff": worst}


# ---- 4. int8 ---------------------------------------------------------------------------------------
@contextmanager
def _quiet_root_logger() -> Iterator[None]:
    """quantize_dynamic logs a "consider pre-processing" warning through the root logger."""
    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        yield
    finally:
        logging.disable(previous)


def quantize_int8(source: str | Path, target: str | Path) -> Path:
    """Dynamic int8 quantization of the weights (activations are quantized on the fly at run time)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with _quiet_root_logger():
        quantize_dynamic(str(source), str(target), weight_type=QuantType.QInt8)
    return Path(target)


# ---- 5. the bundle folder --------------------------------------------------------------------------
def staging_dir(target: str | Path) -> Path:
    """A fresh hidden temp folder beside ``target`` (same filesystem, so the final rename is atomic)."""
    return temp_sibling(target)


def commit_bundle(staging: Path, target: str | Path, *, overwrite: bool = False) -> Path:
    """Move the finished ``staging`` folder to ``target`` (:func:`agents.artifacts.publish_folder`):
    an existing bundle is replaced only with ``overwrite`` (moved aside first, deleted once the new
    one is in place), and nothing but a bundle (or an empty folder) is ever replaced."""
    try:
        return publish_folder(staging, target, overwrite=overwrite, kind=FORMAT,
                              overwrite_hint="pass export.overwrite=true to replace it, or "
                                             "export.out=<another folder>")
    except FileExistsError as err:
        raise ExportError(str(err)) from err


# ---- manifest pieces an engine integrator reads ------------------------------------------------------
def interface_spec(num_actions: int) -> dict[str, Any]:
    """Input, output, action ids and observation fields: everything needed to wire the model in."""
    return {
        "input": {"name": INPUT_NAME, "dtype": "float32", "shape": ["batch", OBS_DIM],
                  "description": "one row per bot per frame: the egocentric observation below"},
        "output": {"name": OUTPUT_NAME, "dtype": "float32", "shape": ["batch", num_actions],
                   "decision": "argmax over axis 1 is the command id (logit adjustment already folded in)"},
        "actions": [{"id": i, "name": name} for i, name in enumerate(ACTION_NAMES)],
        "observation": {"encoding_version": ENCODING_VERSION, "egocentric": True,
                        "fields": observation_field_table()},
    }


def timing_spec(observation_delay: int, observation_delay_source: str) -> dict[str, Any]:
    """When the engine calls the bot: every frame, on the observation of ``observation_delay`` frames ago."""
    return {"frame_rate": GameParams().fps, "decision_every_frames": 1,
            "observation_delay_frames": observation_delay,
            "observation_delay_source": observation_delay_source,
            "usage": "one call per bot per frame; feed the observation of the frame "
                     "observation_delay_frames ago (0: the current frame); the command "
                     "applies to the current frame, NO_ACTION = press nothing new"}


def model_entry(path: Path) -> dict[str, Any]:
    return {"file": path.name, "sha256": sha256_file(path), "bytes": path.stat().st_size}


def json_safe(value: Any) -> Any:
    """NaN and infinities become null: strict JSON parsers (engines, browsers) reject them."""
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, float | np.floating):
        return float(value) if np.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


def observation_delay(checkpoint_manifest: dict[str, Any],
                      dataset: dict[str, Any] | None) -> tuple[int, str]:
    """The frames of reaction delay the bot was trained with, and where that number comes from.

    A BC bot learned from logs recorded with the generator's ``observation_delay``; the checkpoint
    is asked first (a future trainer may record it), then the dataset it was trained on (only if the
    dataset at hand is that one, by content hash). Unrecorded means 0, and the manifest says so.
    """
    recorded = checkpoint_manifest.get("dataset") or {}
    for where, source in ((checkpoint_manifest, "checkpoint manifest"),
                          (recorded, "checkpoint manifest (dataset)")):
        if isinstance(where, dict) and isinstance(where.get("observation_delay"), int):
            return int(where["observation_delay"]), source
    if dataset and dataset.get("is_training_dataset") and isinstance(dataset.get("observation_delay"), int):
        return int(dataset["observation_delay"]), "training dataset manifest (generator.observation_delay)"
    return 0, "not recorded in the checkpoint or its dataset: assumed 0 (no reaction delay)"
