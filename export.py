"""Export a trained bot for a game engine: ONNX model + manifest, checked and scored before it is saved.

    python export.py bot=runs/lecture/oversample_seed0/best       # -> runs/lecture/oversample_seed0/export/
    python export.py bot=runs/lecture/oversample_seed0 export.quantize=true export.out=bots/oversample
    python export.py bot=... export.play=false export.parity_rows=10000   # quick: no matches
    python export.py bot=... export.serve=false        # requirements sheet without serving the bundle
    python play.py bot=runs/lecture/oversample_seed0/export            # the bundle is a bot like any other

What happens, top to bottom (each step in :mod:`agents.export`):

1. load the checkpoint (hash-checked safetensors, never unpickled) and the test split it was
   scored on: the dataset and split (fractions, seed) recorded in its manifest
   (:func:`evaluation.protocol.test_split`, the one test split of the project);
2. export the network with its logit adjustment folded into the output bias to ``model.onnx``;
3. parity: ONNX Runtime vs torch on the test split: logits within ``export.parity_atol`` and every
   command identical, or the export stops with nothing written;
4. ``export.quantize=true``: ``model.int8.onnx`` (dynamic int8 weights), measured against fp32;
5. metrics of the exported model(s): offline on the test split, online under the evaluation protocol
   (``eval`` group: opponents, ``eval.final_matches_per_opponent`` matches with ``eval.final_seed``,
   at the bot's recorded observation delay), the same as ``train.py``'s final report;
6. the requirements sheet of each variant (:mod:`agents.requirements`, the lecture's table):
   processing time offline (in-process p50 / p99) and online (the staged bundle served on a local
   Ray Serve and loaded over localhost, ``export.serve=false`` skips it), accuracy and win rate,
   QPS per replica, decisions/s per core, model size, memory per loaded bot and bots per GB;
   printed, and kept in the manifest under ``requirements`` (``export.requirements=false`` skips it);
7. ``manifest.json`` (the engine's contract, see ``agents/onnx_policy.py``), then the whole folder
   is moved into place at once; an existing bundle is only replaced with ``export.overwrite=true``.

Config schema: :class:`ExportConfig` below (a typo'd override fails with the list of valid keys);
the YAML file is ``conf/export.yaml``.
"""

from __future__ import annotations

import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import hydra
import numpy as np
from hydra.core.config_store import ConfigStore
from hydra.utils import to_absolute_path
from omegaconf import MISSING, DictConfig, OmegaConf

from agents.artifacts import atomic_write_text
from agents.checkpoint import CheckpointError, checkpoint_dir, load, read_manifest
from agents.export import (
    OPSET,
    ExportError,
    agreement,
    bc_policy_network,
    check_parity,
    commit_bundle,
    interface_spec,
    json_safe,
    model_entry,
    observation_delay,
    quantize_int8,
    staging_dir,
    timing_spec,
    write_onnx,
)
from agents.networks import parameter_count
from agents.onnx_policy import (
    FORMAT,
    FORMAT_VERSION,
    MANIFEST_NAME,
    MODEL_FILES,
    OnnxPolicy,
    is_bundle_path,
    load_bundle,
    open_session,
)
from agents.requirements import online_timing, requirements_sheet, sheet_rows
from envs.config_checks import check_overrides_or_exit
from evaluation import protocol as eval_protocol
from evaluation.offline import SCALAR_METRICS, evaluate_policy
from evaluation.online import evaluate_online
from evaluation.protocol import EvalProtocol, ProtocolError


# ---- config schemas (conf/export.yaml extends these) ----------------------------------------------
@dataclass
class ExportSettings:
    out: str | None = None  # bundle folder; null: <checkpoint's run folder>/export
    overwrite: bool = False  # replace an existing bundle at `out`
    quantize: bool = False  # also write model.int8.onnx (dynamic int8 weights) and measure it
    parity_rows: int | None = None  # test rows for the parity check; null: all of them
    parity_atol: float = 1e-4  # allowed |ONNX logit - torch logit|: atol + rtol * the row's largest |logit|
    parity_rtol: float = 1e-5
    play: bool = True  # the online win rate at export time (the eval group's final matches); false: skip
    requirements: bool = True  # the requirements sheet (agents/requirements.py): timing, QPS, size, memory
    serve: bool = True  # its online part: serve the bundle on a local Ray Serve and load it (~1 min)
    serve_requests: int = 1000  # requests from one client (p50 / p99), twice that from 16 (QPS)
    opset: int = OPSET
    progress: bool = True


@dataclass
class ExportConfig:
    bot: str = MISSING  # a checkpoint folder, its manifest.json / model.safetensors, or a run folder
    export: ExportSettings = field(default_factory=ExportSettings)
    # the eval group: eval.dataset.path=null scores the bot on its own dataset's test split
    eval: EvalProtocol = field(default_factory=EvalProtocol)


ConfigStore.instance().store(name="export_schema", node=ExportConfig)


# ---- inputs ------------------------------------------------------------------------------------------
def default_out(checkpoint: Path) -> Path:
    """``<run>/export`` for a run's ``best/``, ``last/`` or ``epoch_NNN/``, else ``<checkpoint>/export``."""
    if checkpoint.name in ("best", "last") or checkpoint.name.startswith("epoch_"):
        return checkpoint.parent / "export"
    return checkpoint / "export"


# ---- scoring -----------------------------------------------------------------------------------------
def score(policy: OnnxPolicy, observations: np.ndarray, labels: np.ndarray | None,
          settings: ExportSettings, protocol: EvalProtocol | None = None,
          observation_delay: int = 0) -> dict[str, Any]:
    """Offline metrics on the test rows and the online win rate under ``protocol``'s final matches."""
    protocol = protocol if protocol is not None else EvalProtocol()
    result: dict[str, Any] = {"offline": None, "online": None}
    if labels is not None:
        result["offline"] = evaluate_policy(policy, observations, labels)[0]
    if settings.play:
        opponents = eval_protocol.opponents(protocol)
        online = evaluate_online(policy, opponents, matches_per_opponent=protocol.final_matches_per_opponent,
                                 seed=protocol.final_seed, observation_delay=observation_delay,
                                 progress=settings.progress)
        result["online"] = {**online.metrics(), "opponents": opponents,
                            "matches_per_opponent": protocol.final_matches_per_opponent,
                            "seed": protocol.final_seed, "observation_delay": observation_delay}
    return result


def compare(fp32: dict[str, Any], int8: dict[str, Any]) -> dict[str, float | None]:
    """int8 minus fp32 for the headline numbers (None where a side was not measured)."""
    deltas: dict[str, float | None] = {}
    for key in SCALAR_METRICS:
        a, b = (fp32["offline"] or {}).get(key), (int8["offline"] or {}).get(key)
        deltas[f"offline/{key}"] = None if a is None or b is None else b - a
    a, b = (fp32["online"] or {}).get("win_rate"), (int8["online"] or {}).get("win_rate")
    deltas["online/win_rate"] = None if a is None or b is None else b - a
    return deltas


def parity_sample(observations: np.ndarray, rows: int | None) -> np.ndarray:
    """All rows, or ``rows`` of them spread over the split (seeded, so reruns check the same rows)."""
    if rows is None or rows >= len(observations):
        return observations
    if rows < 1:
        raise ExportError(f"export.parity_rows must be >= 1 or null (all test rows), got {rows}")
    picked = np.sort(np.random.default_rng(0).choice(len(observations), size=rows, replace=False))
    return observations[picked]


# ---- the export ---------------------------------------------------------------------------------------
def export_bundle(checkpoint: str | Path, target: str | Path, settings: ExportSettings, *,
                  observations: np.ndarray, labels: np.ndarray | None = None,
                  dataset: dict[str, Any] | None = None, config: dict[str, Any] | None = None,
                  protocol: EvalProtocol | None = None,
                  report: Callable[[str], object] = print) -> tuple[Path, dict[str, Any]]:
    """Export the checkpoint at ``checkpoint`` to the bundle folder ``target``; return (folder, manifest).

    ``observations`` (and ``labels``, for offline metrics) are the test rows; ``dataset`` describes
    them for the manifest. Nothing is written unless every step succeeds.
    """
    target = Path(target)
    protocol = protocol if protocol is not None else EvalProtocol()
    if settings.play:
        eval_protocol.check(protocol)
    if target.exists() and not settings.overwrite:  # fail before any work, and again at the commit
        raise ExportError(f"{target} already exists: pass export.overwrite=true to replace it, or "
                          "export.out=<another folder>")
    folder = checkpoint_dir(checkpoint)
    ckpt_manifest = read_manifest(folder)
    policy = load(folder)
    started = time.perf_counter()
    staging = staging_dir(target)
    try:
        fp32_path = write_onnx(bc_policy_network(policy), staging / MODEL_FILES["fp32"], settings.opset)
        parity = check_parity(fp32_path, policy, parity_sample(observations, settings.parity_rows),
                              atol=settings.parity_atol, rtol=settings.parity_rtol)
        report_parity(parity, report)
        fp32 = OnnxPolicy(open_session(fp32_path), name=str(ckpt_manifest.get("name", "bc")))
        models = {"fp32": {**model_entry(fp32_path), "opset": settings.opset, "precision": "float32"}}
        delay, delay_source = observation_delay(ckpt_manifest, dataset)  # what the engine must feed it
        if protocol.observation_delay is not None:
            delay, delay_source = protocol.observation_delay, "eval.observation_delay (set at export)"
        metrics = {"fp32": score(fp32, observations, labels, settings, protocol, delay)}
        report_metrics("fp32", metrics["fp32"], report)
        quantization = None
        if settings.quantize:
            int8_path = quantize_int8(fp32_path, staging / MODEL_FILES["int8"])
            models["int8"] = {**model_entry(int8_path), "opset": settings.opset,
                              "precision": "int8 weights (onnxruntime quantize_dynamic, QInt8), float32 "
                                           "input and output"}
            int8 = OnnxPolicy(open_session(int8_path), name=f"{fp32.name}[int8]", variant="int8")
            metrics["int8"] = score(int8, observations, labels, settings, protocol, delay)
            report_metrics("int8", metrics["int8"], report)
            sample = parity_sample(observations, settings.parity_rows)
            quantization = {"fp32_bytes": models["fp32"]["bytes"], "int8_bytes": models["int8"]["bytes"],
                            "size_ratio": models["int8"]["bytes"] / models["fp32"]["bytes"],
                            "vs_fp32": agreement(fp32, int8, sample),
                            "delta": compare(metrics["fp32"], metrics["int8"])}
            report_quantization(quantization, report)
        manifest = {
            "format": FORMAT, "format_version": FORMAT_VERSION,
            "name": str(ckpt_manifest.get("name", "bc")),
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            **interface_spec(policy.network.num_actions),
            "models": models,
            "timing": timing_spec(delay, delay_source),
            "logit_adjustment_folded": None if policy.logit_adjustment is None
            else [float(v) for v in policy.logit_adjustment.cpu().numpy()],
            "parity": parity, "metrics": metrics, "quantization": quantization,
            "provenance": {
                "checkpoint": {"path": str(folder), "weights_sha256": ckpt_manifest["weights"].get("sha256"),
                               "architecture": ckpt_manifest["architecture"],
                               "step": ckpt_manifest.get("step"),
                               "rebalance": ckpt_manifest.get("rebalance"),
                               "training_metrics": ckpt_manifest.get("metrics")},
                "training_dataset": ckpt_manifest.get("dataset"),
                "training_fingerprint": ckpt_manifest.get("fingerprint"),
                "evaluation_dataset": dataset,
                "protocol": eval_protocol.record(protocol, dataset),
                "export_config": config, "config_sha256": eval_protocol.config_sha256(config or {}),
                "code": eval_protocol.code_version(), "created_with": _versions(),
                "export_seconds": round(time.perf_counter() - started, 2)},
        }
        atomic_write_text(staging / MANIFEST_NAME, _dumps(manifest))
        if settings.requirements:  # measured on the staged bundle, served as a user will serve it
            manifest["requirements"] = sheets(staging, models, metrics, policy, protocol, settings, report)
            atomic_write_text(staging / MANIFEST_NAME, _dumps(manifest))
        for variant in models:  # read back exactly as a user will, checks included
            load_bundle(staging, variant)
        commit_bundle(staging, target, overwrite=settings.overwrite)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target, manifest


def sheets(bundle: Path, models: dict[str, Any], metrics: dict[str, Any], policy: Any,
           protocol: EvalProtocol, settings: ExportSettings,
           report: Callable[[str], object]) -> dict[str, Any]:
    """The requirements sheet of every model variant in ``bundle`` (printed as a table)."""
    parameters = parameter_count(policy.network)
    files = {variant: (bundle / entry["file"]).resolve() for variant, entry in models.items()}
    online = online_timing({v: str(f) for v, f in files.items()}, requests=settings.serve_requests) \
        if settings.serve else {}
    result = {}
    for variant, model in files.items():
        offline, played = metrics[variant]["offline"] or {}, metrics[variant]["online"]
        against = None if played is None else \
            f"{int(played['matches'])} matches vs {len(played['opponents'])} opponents"
        result[variant] = requirements_sheet(model, parameters=parameters, accuracy=offline.get("accuracy"),
                                             balanced_accuracy=offline.get("balanced_accuracy"),
                                             win_rate=(played or {}).get("win_rate"),
                                             win_rate_against=against, online=online.get(variant))
        report_sheet(variant, result[variant], report)
    return result


def report_sheet(variant: str, sheet: dict[str, Any], report: Callable[[str], object]) -> None:
    width = max(len(name) for name, _ in sheet_rows(sheet))
    report(f"requirements sheet ({variant}):")
    for name, value in sheet_rows(sheet):
        report(f"  {name:<{width}}  {value}")


def _versions() -> dict[str, str]:
    import onnx
    import onnxruntime
    import torch

    return {"torch": torch.__version__, "onnx": onnx.__version__, "onnxruntime": onnxruntime.__version__}


def _dumps(manifest: dict[str, Any]) -> str:
    import json

    return json.dumps(json_safe(manifest), indent=2, allow_nan=False) + "\n"


# ---- printing ----------------------------------------------------------------------------------------
def report_parity(parity: dict[str, Any], report: Callable[[str], object]) -> None:
    commands = "identical" if not parity["near_tie_mismatches"] else \
        f"identical except {parity['near_tie_mismatches']} numerical near-ties"
    report(f"parity: ONNX Runtime vs torch on {parity['rows']:,} test rows: max |logit diff| "
           f"{parity['max_abs_logit_diff']:.3g} ({parity['max_diff_over_tolerance']:.2f}x the tolerance "
           f"atol {parity['atol']:g} + rtol {parity['rtol']:g} x the row's largest |logit|); "
           f"commands {commands}")


def report_metrics(variant: str, metrics: dict[str, Any], report: Callable[[str], object]) -> None:
    offline, online = metrics["offline"], metrics["online"]
    if offline is not None:
        report(f"offline ({variant}, test split): accuracy {offline['accuracy']:.4f}, balanced accuracy "
               f"{offline['balanced_accuracy']:.4f}, macro-F1 {offline['macro_f1']:.4f}")
    if online is not None:
        report(f"online ({variant}, {int(online['matches'])} matches vs {len(online['opponents'])} "
               f"opponents): win rate {online['win_rate']:.3f} [{online['win_rate_ci_low']:.3f}, "
               f"{online['win_rate_ci_high']:.3f}]")
    else:
        report(f"online ({variant}): skipped (export.play=false)")


def report_quantization(q: dict[str, Any], report: Callable[[str], object]) -> None:
    delta = q["delta"]
    parts = [f"int8: {q['fp32_bytes']:,} -> {q['int8_bytes']:,} bytes ({q['size_ratio']:.2f}x)",
             f"command agreement with fp32 {q['vs_fp32']['argmax_agreement']:.4%}"]
    if delta["offline/accuracy"] is not None:
        parts.append(f"accuracy change {delta['offline/accuracy']:+.4f}, balanced accuracy change "
                     f"{delta['offline/balanced_accuracy']:+.4f}")
    if delta["online/win_rate"] is not None:
        parts.append(f"win rate change {delta['online/win_rate']:+.3f}")
    report("; ".join(parts))


@hydra.main(version_base=None, config_path="conf", config_name="export")
def main(cfg: DictConfig) -> None:
    if OmegaConf.is_missing(cfg, "bot"):
        print("export.py: say which bot to export: python export.py bot=<checkpoint> (a run folder such as "
              "runs/<experiment>/<run>, its best/ or last/ folder, or their manifest.json)", file=sys.stderr)
        raise SystemExit(1)
    config: ExportConfig = OmegaConf.to_object(cfg)
    try:
        if is_bundle_path(to_absolute_path(config.bot)):
            raise ExportError(f"bot={config.bot} is already an exported bundle; export.py takes a "
                              "checkpoint (a run folder, its best/ or last/, or manifest.json)")
        checkpoint = checkpoint_dir(to_absolute_path(config.bot))
        target = Path(to_absolute_path(config.export.out)) if config.export.out else default_out(checkpoint)
        if target.exists() and not config.export.overwrite:
            raise ExportError(f"{target} already exists: pass export.overwrite=true to replace it, or "
                              "export.out=<another folder>")
        split = eval_protocol.test_split(config.eval.dataset,
                                         eval_protocol.recorded_dataset(read_manifest(checkpoint)))
        observations, labels, dataset = split.observations, split.labels, split.dataset
        if not dataset["is_training_dataset"]:
            print(f"note: {dataset['path']} is not the dataset recorded in the checkpoint (content hash "
                  "differs or none recorded); test metrics are on this dataset's test split", file=sys.stderr)
        record = OmegaConf.to_container(OmegaConf.structured(config))
        target, _ = export_bundle(checkpoint, target, config.export, observations=observations,
                                  labels=labels, dataset=dataset, config=record, protocol=config.eval)
    except (ExportError, CheckpointError, ProtocolError, FileNotFoundError, ValueError) as err:
        print(f"export.py: {err}", file=sys.stderr)
        raise SystemExit(1) from None
    print(f"wrote {target} ({', '.join(sorted(p.name for p in target.iterdir()))})")


if __name__ == "__main__":
    check_overrides_or_exit("export")  # bad overrides fail here, naming the valid keys
    main()
