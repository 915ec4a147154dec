"""The evaluation protocol: what every result was measured on, in one place, recorded with the result.

A win rate or an accuracy means nothing without its protocol: which logs (path *and* content hash),
which split of them (by match: fractions and seed), which opponents, how many matches, which match
seeds, and at which observation delay the bot played. This module is the one home of that protocol:

* :class:`EvalProtocol` (with :class:`DatasetSpec`) is the schema of the ``eval`` Hydra group
  (``conf/eval/``) that ``train.py``, ``export.py``, ``tournament.py`` and ``experiment.py`` share;
  its defaults live here only, the YAML files hold what differs;
* :func:`load_splits` and :func:`test_split` are the one way to get the split a bot is scored on
  (a trained bot's *own* split, from what its checkpoint recorded, unless the user names another);
* :func:`record` is what every run, checkpoint, bundle and tournament writes down, and
  :func:`fingerprint` / :func:`differences` decide whether a result on disk is the result a command
  would produce now (``experiment.py`` reuses a step only then);
* :func:`selection_key` is the one rule for choosing the best checkpoint.

Named opponent pools (``reference``, ``perfect_pros``) are defined next to the bot registry
(:data:`agents.registry.POOLS`); a protocol names them, and :func:`opponents` expands the names.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from hydra.core.config_store import ConfigStore

from agents.registry import resolve_pool

# the metric that breaks ties of the best metric (e.g. equal win rates early in training)
TIE_BREAK = "offline/balanced_accuracy"
REPO_ROOT = Path(__file__).resolve().parent.parent


class ProtocolError(ValueError):
    """A protocol that cannot be used: an empty split, a bad value, a dataset that is not there."""


@dataclass
class DatasetSpec:
    """Which logs and which split of them (by match, so no match is in two splits)."""

    path: str | None = None  # a dataset folder; null: the default one, or for a trained bot its own
    split_fractions: list[float] = field(default_factory=lambda: [0.8, 0.1, 0.1])  # train, val, test
    split_seed: int = 0  # the split is fixed by this seed (not by the training seed)


@dataclass
class EvalProtocol:
    """The ``eval`` group: how a bot is scored, during training and for the record."""

    dataset: DatasetSpec = field(default_factory=DatasetSpec)
    opponents: list[str] = field(default_factory=lambda: ["reference"])  # pool names and/or bot names
    every_epochs: int = 2  # BC: online evaluation every k epochs and after the last; 0: only the last
    matches_per_opponent: int = 24  # during training: what the best checkpoint is chosen on
    final_matches_per_opponent: int = 100  # the reported win rate (train's final report, export)
    seed: int = 1000  # match seeds during training
    final_seed: int = 2000  # fresh match seeds for the reported win rate
    observation_delay: int | None = None  # frames; null: the delay the bot's logs were recorded with
    best_metric: str = "online/win_rate"  # any logged offline/... or online/... tag


# the schema of the eval group: conf/eval/*.yaml extend it (the defaults above are the only defaults)
ConfigStore.instance().store(group="eval", name="eval_schema", node=EvalProtocol)


def check(protocol: EvalProtocol) -> None:
    """Fail early, naming the field, on values that cannot work."""
    fractions = protocol.dataset.split_fractions
    if len(fractions) != 3 or any(f < 0 for f in fractions) or not math.isclose(sum(fractions), 1.0,
                                                                                   abs_tol=1e-6):
        raise ProtocolError(f"eval.dataset.split_fractions must be three fractions (train, val, test) "
                            f"summing to 1, got {list(fractions)}")
    if protocol.every_epochs < 0:
        raise ProtocolError(f"eval.every_epochs must be >= 0, got {protocol.every_epochs}")
    for key in ("matches_per_opponent", "final_matches_per_opponent"):
        if getattr(protocol, key) < 1:
            raise ProtocolError(f"eval.{key} must be >= 1, got {getattr(protocol, key)}")
    if not protocol.opponents:
        raise ProtocolError("eval.opponents is empty: name a pool (reference, perfect_pros) or bots")
    if protocol.observation_delay is not None and protocol.observation_delay < 0:
        raise ProtocolError(f"eval.observation_delay must be >= 0 or null, got {protocol.observation_delay}")
    if protocol.best_metric.split("/")[0] not in ("offline", "online"):
        raise ProtocolError(f"eval.best_metric must be an offline/... or online/... tag, got "
                            f"{protocol.best_metric!r}")
    opponents(protocol)  # an unknown pool or bot name fails now, listing what exists


def opponents(protocol: EvalProtocol) -> list[str]:
    """The protocol's opponents with pool names expanded into bot names."""
    return list(resolve_pool(list(protocol.opponents)))


# ---- data ------------------------------------------------------------------------------------------
@dataclass
class Split:
    """One split's arrays and where they came from."""

    observations: np.ndarray
    labels: np.ndarray
    dataset: dict[str, Any]  # path, frames_sha256, split fractions and seed, observation delay, ...


def _load(spec: DatasetSpec) -> Any:
    from datasets.generate import ensure_default_dataset
    from datasets.load import load_dataset

    if spec.path is None:
        return ensure_default_dataset()
    return load_dataset(spec.path)


def dataset_info(dataset: Any, spec: DatasetSpec) -> dict[str, Any]:
    """What a result records about its data: enough to find it again and to know it is the same."""
    manifest = dataset.manifest
    return {"path": str(dataset.path), "frames_sha256": manifest.get("frames_sha256"),
            "split_fractions": [float(f) for f in spec.split_fractions], "split_seed": int(spec.split_seed),
            # the reaction delay the logs were recorded with (None for imported logs)
            "observation_delay": (manifest.get("generator") or {}).get("observation_delay")}


def load_splits(spec: DatasetSpec) -> tuple[dict[str, Split], Any]:
    """Train, validation and test splits of ``spec`` (by match), and the loaded dataset."""
    from datasets.load import split_by_match

    dataset = _load(spec)
    info = dataset_info(dataset, spec)
    splits = {}
    for name, split in split_by_match(dataset, spec.split_fractions, seed=spec.split_seed).items():
        if split.num_frames == 0:
            raise ProtocolError(f"the {name} split of {dataset.path} is empty ({split.num_matches} matches); "
                                "use a larger dataset or other eval.dataset.split_fractions")
        x, y = split.to_numpy()
        splits[name] = Split(x, y, {**info, "split": name, "matches": split.num_matches,
                                    "frames": split.num_frames})
    return splits, dataset


def recorded_dataset(manifest: Mapping[str, Any] | None) -> dict[str, Any]:
    """The dataset entry a checkpoint (or a bundle's provenance) recorded; {} for scripted bots."""
    if not manifest:
        return {}
    protocol = manifest.get("protocol") or {}
    return dict(protocol.get("dataset") or manifest.get("dataset") or {})


def test_split(spec: DatasetSpec | None = None, recorded: Mapping[str, Any] | None = None) -> Split:
    """The held-out test split a bot is scored on.

    ``recorded`` is the dataset entry the bot's checkpoint recorded (:func:`recorded_dataset`): a
    trained bot is scored on *its own* dataset and split. ``spec`` with a ``path`` names another
    dataset for everyone (the result then says it is not the training dataset). Without either,
    the default dataset. ``dataset["is_training_dataset"]`` tells whether the content hash matches
    what the bot recorded.
    """
    from datasets.load import split_by_match

    recorded = dict(recorded or {})
    if spec is not None and spec.path is not None:
        chosen = DatasetSpec(spec.path, list(spec.split_fractions), spec.split_seed)
    elif recorded.get("path"):
        chosen = DatasetSpec(recorded["path"], list(recorded.get("split_fractions") or [0.8, 0.1, 0.1]),
                             int(recorded.get("split_seed", 0)))
        if not Path(chosen.path).exists():
            raise ProtocolError(f"the dataset this bot was trained on, {chosen.path}, is not there "
                                f"(content hash {recorded.get('frames_sha256')}); name one with "
                                "eval.dataset.path=<dataset folder>")
    else:
        chosen = spec if spec is not None else DatasetSpec()
    dataset = _load(chosen)
    test = split_by_match(dataset, chosen.split_fractions, seed=chosen.split_seed)["test"]
    if test.num_frames == 0:
        raise ProtocolError(f"the test split of {dataset.path} is empty ({test.num_matches} matches); use "
                            "a larger dataset or other eval.dataset.split_fractions")
    x, y = test.to_numpy()
    info = {**dataset_info(dataset, chosen), "split": "test", "matches": test.num_matches,
            "frames": test.num_frames}
    info["is_training_dataset"] = bool(recorded.get("frames_sha256")) \
        and info["frames_sha256"] == recorded.get("frames_sha256")
    info["action_counts"] = dict(dataset.manifest.get("action_counts") or {})  # the pros' command mix
    return Split(x, y, info)


def observation_delay(protocol: EvalProtocol, dataset: Mapping[str, Any] | None) -> int:
    """The delay a bot plays at: the protocol's if set, else the one its logs were recorded with, else 0."""
    if protocol.observation_delay is not None:
        return int(protocol.observation_delay)
    recorded = (dataset or {}).get("observation_delay")
    return int(recorded) if isinstance(recorded, int) else 0


# ---- the record ------------------------------------------------------------------------------------
def record(protocol: EvalProtocol, dataset: Mapping[str, Any] | None) -> dict[str, Any]:
    """The resolved protocol as recorded with a result: pools expanded, dataset with its hash."""
    return {"dataset": dict(dataset or {}), "opponents": opponents(protocol),
            "matches_per_opponent": protocol.matches_per_opponent,
            "final_matches_per_opponent": protocol.final_matches_per_opponent,
            "seed": protocol.seed, "final_seed": protocol.final_seed, "every_epochs": protocol.every_epochs,
            "observation_delay": observation_delay(protocol, dataset), "best_metric": protocol.best_metric}


def config_sha256(config: Mapping[str, Any]) -> str:
    """sha256 of a resolved config (canonical JSON): two runs with equal hashes had equal settings."""
    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()


def code_version() -> dict[str, Any] | None:
    """``{"commit", "dirty"}`` of this checkout (``git``), or None outside a git checkout."""
    import subprocess

    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True,
                                timeout=10, check=True).stdout.strip()
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO_ROOT,
                                capture_output=True, text=True, timeout=10, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": commit, "dirty": bool(status.strip())}


def fingerprint(*, protocol: Mapping[str, Any], config: Mapping[str, Any],
                parent: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Everything a result depends on: the resolved protocol, the config's hash, the parent artifact
    (e.g. the BC checkpoint a PPO run started from, by weights hash) and the code commit. The config
    itself is kept too, so :func:`differences` can name the settings that changed."""
    return {"protocol": dict(protocol), "config_sha256": config_sha256(config), "config": dict(config),
            "parent": dict(parent) if parent else None, "code": code_version()}


def differences(recorded: Mapping[str, Any] | None, expected: Mapping[str, Any], *,
                check_code: bool = True) -> list[str]:
    """What differs between a recorded fingerprint and the expected one, in words (empty: the same)."""
    if not recorded:
        return ["no fingerprint was recorded (written by an older version)"]
    out = []
    for key in ("protocol", "config_sha256", "parent", "code"):
        if key == "code" and not check_code:
            continue
        was, now = recorded.get(key), expected.get(key)
        if key == "code":
            was, now = (was or {}).get("commit"), (now or {}).get("commit")
        if was == now:
            continue
        if key == "config_sha256" and isinstance(recorded.get("config"), dict):
            key, was, now = "config", _flat(recorded["config"]), _flat(expected.get("config") or {})
        if isinstance(was, dict) and isinstance(now, dict):
            for sub in sorted(set(was) | set(now)):
                if was.get(sub) != now.get(sub):
                    out.append(f"{key}.{sub}: {_short(was.get(sub))} -> {_short(now.get(sub))}")
        else:
            out.append(f"{key}: {_short(was)} -> {_short(now)}")
    return out


def _flat(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"agent": {"lr": 1}}`` -> ``{"agent.lr": 1}``: differences name the override to look at."""
    out: dict[str, Any] = {}
    for key, value in config.items():
        if isinstance(value, Mapping):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _short(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= 80 else text[:77] + "..."


# ---- choosing the best checkpoint --------------------------------------------------------------------
def selection_key(logged: Mapping[str, float], best_metric: str) -> tuple[float, float] | None:
    """``(best metric, tie break)`` of an evaluation, or None when the best metric was not logged then.

    The one rule: the higher key wins (ties of the best metric broken by balanced accuracy), and an
    earlier checkpoint keeps its place on an exact tie.
    """
    if best_metric not in logged:
        return None
    return float(logged[best_metric]), float(logged.get(TIE_BREAK, float("-inf")))


def is_better(candidate: tuple[float, float] | None, best: tuple[float, float] | None) -> bool:
    return candidate is not None and (best is None or tuple(candidate) > tuple(best))
