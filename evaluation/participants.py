"""Who plays in a tournament: scripted bots by name, trained bots by path, glob patterns over runs.

A participant is a *label* (what tables show and what pairing seeds are derived from) and a *spec*
(what :func:`agents.registry.make_policy` builds a fresh policy from: a registered bot name, a
checkpoint folder, an exported ``.onnx`` file). Keeping the spec, not the policy object, is what
lets every pairing, every resumed run and every Ray worker build its own fresh, identically seeded
copy of a bot instead of sharing (or pickling) one.

Everything is checked before the first match: an unknown name or an unreadable bot file fails with
the list of registered bots, and a glob that matches nothing is a note, not an error, so the default
config runs on a fresh checkout that has no trained bots yet.
"""

from __future__ import annotations

import glob
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agents.difficulty import split_difficulty_spec
from agents.errors import CheckpointError
from agents.onnx_policy import is_bundle_path
from agents.policy import Policy
from agents.registry import POOLS, available_bots, make_policy
from envs.params import GameParams


class ParticipantError(ValueError):
    """A participant that cannot play: unknown name, missing or unreadable bot file, duplicate label."""


@dataclass(frozen=True)
class Participant:
    """One entry of the tournament: ``label`` shown in tables, ``spec`` to build the policy from."""

    label: str
    spec: str
    kind: str  # "scripted", "checkpoint" or "onnx"

    @property
    def file(self) -> str:
        """The bot without its difficulty knobs (``footsies@apm_cap:60`` -> ``footsies``): the name
        or the path of the checkpoint or bundle it plays with."""
        return split_difficulty_spec(self.spec)[0]

    @property
    def learned(self) -> bool:
        """Trained bots (checkpoints, exported files), as opposed to the scripted reference points."""
        return self.kind != "scripted"

    def make(self, params: GameParams | None = None) -> Policy:
        """A fresh policy (never shared between pairings unless it declares ``deterministic = True``)."""
        return build_policy(self.spec, params)


def build_policy(spec: str, params: GameParams | None = None) -> Policy:
    """A fresh policy from a spec: :func:`agents.registry.make_policy` resolves names and bot paths."""
    return make_policy(spec, params)


def recorded_manifest(participant: Participant) -> dict[str, Any] | None:
    """The manifest a trained participant was saved with (checkpoint or bundle); None for scripted bots."""
    if participant.kind == "scripted":
        return None
    if participant.kind == "onnx":
        from agents.onnx_policy import bundle_paths, read_bundle_manifest

        return read_bundle_manifest(bundle_paths(participant.file)[0])
    from agents.checkpoint import checkpoint_dir, read_manifest

    return read_manifest(checkpoint_dir(participant.file))


def artifact_sha256(participant: Participant) -> str | None:
    """The hash of what a participant plays with: its weights (checkpoint) or model file (bundle);
    None for scripted bots and for a bot file that cannot be read (it forfeits its matches)."""
    try:
        manifest = recorded_manifest(participant)
    except (CheckpointError, OSError):
        return None
    if manifest is None:
        return None
    if participant.kind == "onnx":
        return json.dumps({k: v.get("sha256") for k, v in sorted((manifest.get("models") or {}).items())})
    return (manifest.get("weights") or {}).get("sha256")


def training_dataset(participant: Participant) -> dict[str, Any]:
    """The dataset (path, hash, split) a trained participant learned from; {} for scripted bots (and
    for a bot file that cannot be read)."""
    try:
        manifest = recorded_manifest(participant) or {}
    except (CheckpointError, OSError):
        return {}
    if participant.kind == "onnx":
        return dict((manifest.get("provenance") or {}).get("training_dataset") or {})
    return dict(manifest.get("dataset") or {})


def _kind(spec: str) -> str:
    if spec in available_bots():
        return "scripted"
    return "onnx" if is_bundle_path(spec) else "checkpoint"  # an .onnx file or an exported bundle folder


def _path_label(path: str, runs_dir: str | None) -> str:
    """A short, stable label for a bot file: its path relative to ``runs_dir`` (else as given)."""
    normalised = Path(os.path.normpath(path))
    if runs_dir:
        try:
            return normalised.relative_to(Path(os.path.normpath(runs_dir))).as_posix()
        except ValueError:
            pass
    return normalised.as_posix()


def resolve_participants(entries: Sequence[str], globs: Sequence[str] = (), *,
                         runs_dir: str | None = "runs", base_dir: str | Path | None = None,
                         ) -> tuple[list[Participant], list[str]]:
    """Turn config entries and glob patterns into participants; return ``(participants, notes)``.

    ``entries`` are bot names, pool names (``reference``: :data:`agents.registry.POOLS`), bot
    paths, or ``label=spec`` for a custom label. ``globs`` are
    recursive patterns (``runs/**/best``) matched relative to ``base_dir`` (default: the current
    folder); each match is a checkpoint labelled by its path relative to ``runs_dir``. A pattern that
    matches nothing adds a note saying how to add trained bots. Names and files are only *resolved*
    here; :func:`check_participants` builds each policy once to prove it loads.
    """
    base = Path(base_dir) if base_dir is not None else Path.cwd()
    participants: list[Participant] = []
    notes: list[str] = []
    problems: list[str] = []
    expanded = [name for entry in entries for name in (POOLS.get(entry.strip()) or [entry])]
    for entry in expanded:
        label, _, spec = entry.partition("=") if "=" in entry else ("", "", entry)
        spec = spec.strip()
        try:
            bot = split_difficulty_spec(spec)[0]
        except ValueError as err:
            problems.append(str(err))
            continue
        knobs = spec[len(bot):]  # "" or "@reaction_delay:12,..."
        if bot in available_bots():
            participants.append(Participant(label or spec, spec, "scripted"))
            continue
        path = Path(bot) if Path(bot).is_absolute() else base / bot
        if "/" in bot or os.sep in bot or bot.endswith(".onnx") or path.exists():
            if not path.exists():
                problems.append(f"{bot!r}: no such file or folder ({path})")
                continue
            participants.append(Participant(label or _path_label(bot, runs_dir) + knobs, str(path) + knobs,
                                            _kind(str(path))))
            continue
        problems.append(f"{spec!r}: unknown bot name")
    for pattern in globs:
        matches = sorted(glob.glob(pattern if Path(pattern).is_absolute() else str(base / pattern),
                                   recursive=True))
        if not matches:
            notes.append(f"no trained bots matched {pattern!r} yet: train one (python train.py agent=bc) "
                         f"or add its path to tournament.participants, then run again")
        for match in matches:
            relative = os.path.relpath(match, base)
            participants.append(Participant(_path_label(relative, runs_dir), match, _kind(match)))
    labels = [p.label for p in participants]
    repeated = sorted({label for label in labels if labels.count(label) > 1})
    if repeated:
        problems.append(f"labels {repeated} appear more than once (list a bot once, or give it a "
                        "label: label=spec)")
    if problems:
        raise ParticipantError(_problem_message(problems))
    if len(participants) < 2:
        raise ParticipantError(f"a tournament needs at least 2 participants, got {labels}; "
                               f"registered bots: {', '.join(available_bots())}")
    return participants, notes


def check_participants(participants: Sequence[Participant], params: GameParams | None = None) -> None:
    """Build every participant's policy once, before any match, and report *all* that fail."""
    problems = []
    for participant in participants:
        try:
            policy = participant.make(params)
        except Exception as err:  # noqa: BLE001 - a corrupt file may fail in any library
            problems.append(f"{participant.label!r} ({participant.spec}): {type(err).__name__}: {err}")
            continue
        if not (callable(getattr(policy, "act", None)) and callable(getattr(policy, "reset", None))):
            problems.append(f"{participant.label!r} ({participant.spec}): not a Policy (needs act and reset)")
    if problems:
        raise ParticipantError(_problem_message(problems))


def _problem_message(problems: list[str]) -> str:
    return ("cannot start the tournament:\n  " + "\n  ".join(problems)
            + f"\nregistered bots: {', '.join(available_bots())}; trained bots are given by path "
              "(a checkpoint folder, a run folder, an exported .onnx file) or by a glob in tournament.globs")
