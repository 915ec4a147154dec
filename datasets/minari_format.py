"""Minari export and import: our pro logs as a Minari dataset, and back.

Offline-RL libraries (d3rlpy, CORL, ...) read `Minari <https://minari.farama.org>`_ datasets. This
module writes a log dataset (or one split of it) as one, so those peers train on our logs
unmodified, and reads one back into our Parquet log format::

    python -m datasets.minari_format export data/default --out fightlab/default-v0
    python -m datasets.minari_format export data/default --out fightlab/train-v0 --split train
    python -m datasets.minari_format import fightlab/default-v0 --out data/from_minari

What the Minari dataset holds:

* **episodes**: one per (match, side) (:func:`datasets.episodes.build_episodes`): the match from
  that fighter's egocentric point of view, so ``2 x matches`` episodes. ``actions`` are the pro's
  command ids, ``rewards`` damage dealt - taken per frame plus the +-1 / 0 result on the last frame
  (the Gymnasium env's reward), ``terminations`` True on the last frame, no truncations. Minari
  stores ``T + 1`` observations per episode; the logs do not record the state after the final
  command, so the last observation is repeated (a terminal transition: its next state is unused).
* **spaces** from the env (``FightLab/Duel-v0``): ``Box(42,)`` float32 of :mod:`envs.observation`
  and ``Discrete(12)`` of :mod:`envs.actions`; the env spec too, so ``recover_environment()`` and
  ``d3rlpy.datasets.get_minari`` work.
* **metadata** from our manifest and card: observation encoding and log schema versions, action
  names, the frames' content hash, the pros (players, styles, skills), the split, the card text as
  ``description``; per episode the match id, side, player, style, skill and the match's row of the
  matches table, so an import gives back the same logs (same frames hash).

Import refuses a dataset whose spaces or observation encoding differ from this code's, naming what
differs. Minari keeps datasets under ``$MINARI_DATASETS_PATH`` or ``~/.minari/datasets``;
``--root`` (``root=``) chooses the folder. An existing dataset is replaced only with
``--overwrite``, and only if this module wrote it; a dataset appears whole or not at all (written in
a temp folder beside it, then renamed into place: :mod:`agents.artifacts`).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import sys
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pandas as pd

from agents import artifacts
from agents.artifacts import MANIFEST_NAME, atomic_write_text, read_json_bounded, temp_sibling
from datasets.episodes import build_episodes
from datasets.load import LogDataset, load_dataset, split_by_match
from datasets.manifest import CARD_NAME, DatasetError
from datasets.schema import ENCODING_VERSION, FRAME_SCHEMA, MATCH_SCHEMA, OBSERVATION_COLUMNS, SCHEMA_VERSION
from datasets.writer import check_target, write_dataset
from envs import ENV_ID
from envs.actions import ACTION_NAMES, NUM_ACTIONS
from envs.observation import observation_space
from envs.params import GameParams

MINARI_FORMAT = "fightlab-minari"  # our manifest.json beside Minari's data/: "this export is ours"
DATA_DIR = "data"  # Minari's layout: <root>/<dataset id>/data/{metadata.json, main_data.hdf5}
FIGHTLAB_KEY = "fightlab"  # the dataset metadata entry holding our manifest's facts
MATCH_KEYS = [name for name in MATCH_SCHEMA.names if name != "match_id"]
OVERWRITE_HINT = "pass --overwrite (overwrite=True) to replace it, or choose another dataset id"


class MinariFormatError(ValueError):
    """A Minari dataset that cannot be imported, or an export that cannot be written (message says why)."""


def default_root() -> Path:
    """Where Minari looks for datasets: ``$MINARI_DATASETS_PATH``, else ``~/.minari/datasets``."""
    env = os.environ.get("MINARI_DATASETS_PATH")
    return Path(env) if env else Path.home() / ".minari" / "datasets"


def dataset_folder(dataset_id: str, root: str | Path | None = None) -> Path:
    """The folder of Minari dataset ``dataset_id`` under ``root`` (default :func:`default_root`)."""
    if not dataset_id or dataset_id.startswith("/") or ".." in Path(dataset_id).parts:
        raise MinariFormatError(f"{dataset_id!r} is not a Minari dataset id: expected "
                                "'[namespace/]name-v<version>', e.g. 'fightlab/default-v0'")
    return Path(root if root is not None else default_root()) / dataset_id


def env_spaces() -> tuple[gym.spaces.Box, gym.spaces.Discrete]:
    """The env's observation and action spaces: what an exported dataset declares and an import needs."""
    return observation_space(), gym.spaces.Discrete(NUM_ACTIONS)


def _env_spec() -> gym.envs.registration.EnvSpec | None:
    """The registered env's spec (``FightLab/Duel-v0``, registered by importing :mod:`agents`), with
    the round's length as ``max_episode_steps``: a match ends on the timer anyway, and readers such
    as ``d3rlpy.datasets.get_minari`` wrap the recovered env in a time limit that must be positive."""
    import agents  # noqa: F401  (registers the Gymnasium ids)

    try:
        spec = gym.spec(ENV_ID)
    except gym.error.Error:
        return None
    return dataclasses.replace(spec, max_episode_steps=spec.max_episode_steps or GameParams().round_frames)


@contextmanager
def _quiet_minari() -> Iterator[None]:
    """Minari warns about every optional metadata field it is not given; we set what we have."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", module=r"minari(\..*)?")
        yield


def _constant(values: pd.Series, what: str, match_id: int, side: int) -> str:
    unique = pd.unique(values)
    if len(unique) != 1:
        raise MinariFormatError(f"match {match_id} side {side}: {what} changes within the match "
                                f"({list(unique)[:3]}); a Minari episode records one player per side")
    return str(unique[0])


def _fightlab_metadata(dataset: LogDataset, split: str | None) -> dict[str, Any]:
    manifest = dataset.manifest
    return {
        "format": MINARI_FORMAT,
        "schema_version": SCHEMA_VERSION,
        "observation_encoding_version": ENCODING_VERSION,
        "observation_columns": list(OBSERVATION_COLUMNS),
        "action_names": list(ACTION_NAMES),
        "source_dataset": str(dataset.path) if dataset.path is not None else None,
        "source_frames_sha256": manifest.get("frames_sha256"),
        "source_seed": manifest.get("seed"),
        "split": manifest.get("split") if split is not None else None,
        "num_matches": int(dataset.num_matches),
        "num_frames": int(dataset.num_frames),
        "pros": manifest.get("player_counts"),
        "styles": manifest.get("style_counts"),
        "skills": manifest.get("skill_counts"),
        "action_counts": {name: int(dataset.frames["action_id"].eq(i).sum())
                          for i, name in enumerate(ACTION_NAMES)},
        "generator": manifest.get("generator"),
        "observation_delay": (manifest.get("generator") or {}).get("observation_delay"),
    }


def export_minari(dataset_dir: str | Path, dataset_id: str, *, root: str | Path | None = None,
                  split: str | None = None, split_fractions: Sequence[float] = (0.8, 0.1, 0.1),
                  split_seed: int = 0, overwrite: bool = False) -> Path:
    """Write the log dataset at ``dataset_dir`` (or its ``split``) as Minari dataset ``dataset_id``.

    ``split`` is ``train`` / ``val`` / ``test`` of :func:`datasets.load.split_by_match` with
    ``split_fractions`` and ``split_seed`` (the evaluation protocol's defaults), or None for every
    match. Returns the dataset folder (``<root>/<dataset_id>``). Raises :class:`FileExistsError`
    when it exists and ``overwrite`` is False (or it is not an export of ours), and
    :class:`~datasets.manifest.DatasetError` on an unreadable log dataset.
    """
    target = dataset_folder(dataset_id, root)
    artifacts.check_target(target, overwrite=overwrite, kind=MINARI_FORMAT, overwrite_hint=OVERWRITE_HINT)
    dataset = load_dataset(dataset_dir)
    if split is not None:
        splits = split_by_match(dataset, split_fractions, seed=split_seed)
        if split not in splits:
            raise ValueError(f"split must be one of {sorted(splits)} or None, got {split!r}")
        dataset = splits[split]
    if dataset.num_frames == 0:
        raise DatasetError(f"{dataset_dir}: the {split or 'whole'} dataset has no frames to export")
    from minari.data_collector.episode_buffer import EpisodeBuffer
    from minari.dataset.minari_storage import MinariStorage

    episodes = build_episodes(dataset)
    frames = dataset.frames
    matches = dataset.matches.set_index("match_id")
    obs_space, action_space = env_spaces()
    buffers, episode_meta = [], []
    for e in range(episodes.num_episodes):
        rows = episodes.episode(e)
        observations = episodes.observations[rows]
        match_id, side = int(episodes.match_ids[e]), int(episodes.sides[e])
        logged = frames.iloc[episodes.order[rows]]
        match_row = matches.loc[match_id]
        buffers.append(EpisodeBuffer(
            id=e, observations=np.concatenate([observations, observations[-1:]]),
            actions=episodes.actions[rows], rewards=episodes.rewards[rows],
            terminations=episodes.terminals[rows], truncations=np.zeros(len(observations), dtype=bool)))
        episode_meta.append({
            "match_id": match_id, "side": side, "first_frame": int(logged["frame"].iloc[0]),
            "player_id": _constant(logged["player_id"], "player_id", match_id, side),
            "style": _constant(logged["style"], "style", match_id, side),
            "skill": _constant(logged["skill"], "skill", match_id, side),
            "result": float(episodes.results[e]),
            "match_order": int(matches.index.get_loc(match_id)),
            **{f"match_{key}": match_row[key].item() if hasattr(match_row[key], "item") else match_row[key]
               for key in MATCH_KEYS}})
    card = dataset.path / CARD_NAME if dataset.path is not None else None
    description = card.read_text(encoding="utf-8") if card is not None and card.is_file() else \
        f"FightLab pro logs ({dataset.num_matches} matches)"
    fightlab = _fightlab_metadata(dataset, split)

    tmp = temp_sibling(target)
    try:
        with artifacts.storage_errors(target), _quiet_minari():
            storage = MinariStorage.new(tmp / DATA_DIR, observation_space=obs_space,
                                        action_space=action_space, env_spec=_env_spec())
            storage.update_metadata({
                "dataset_id": dataset_id, "minari_version": _minari_version(),
                "algorithm_name": "logged players" if (fightlab["generator"] or {}).get("source") == "import"
                else "FightLab pros (datasets.generate)",
                "author": {"FightLab"},
                "description": description, FIGHTLAB_KEY: fightlab})
            storage.update_episodes(buffers)
            storage.update_episode_metadata(episode_meta, range(len(episode_meta)))
            atomic_write_text(tmp / MANIFEST_NAME, json.dumps(
                {"format": MINARI_FORMAT, "dataset_id": dataset_id, "data": DATA_DIR, **fightlab},
                indent=2, default=str) + "\n")
            artifacts.publish_folder(tmp, target, overwrite=overwrite, kind=MINARI_FORMAT,
                                     overwrite_hint=OVERWRITE_HINT)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def _minari_version() -> str:
    import minari

    return str(minari.__version__)


# ---- import ---------------------------------------------------------------------------------------------
def describe_space(space: gym.Space) -> str:
    """One line for a message: ``Box(shape=(42,), dtype=float32)``, ``Discrete(12)``."""
    if isinstance(space, gym.spaces.Box):
        return f"Box(shape={space.shape}, dtype={space.dtype})"
    return str(space).replace("\n", " ")


def check_spaces(observation_space_: gym.Space, action_space_: gym.Space, where: str) -> None:
    """Raise :class:`MinariFormatError` naming what differs from the env's spaces."""
    ours_obs, ours_act = env_spaces()
    problems = []
    if not isinstance(observation_space_, gym.spaces.Box) or observation_space_.shape != ours_obs.shape \
            or observation_space_.dtype != ours_obs.dtype:
        problems.append(f"observation space is {describe_space(observation_space_)}, expected "
                        f"{describe_space(ours_obs)} (the {ours_obs.shape[0]}-field egocentric encoding, "
                        f"version {ENCODING_VERSION})")
    else:
        differs = ~np.isclose(observation_space_.low, ours_obs.low) | ~np.isclose(observation_space_.high,
                                                                                   ours_obs.high)
        if differs.any():
            fields = [OBSERVATION_COLUMNS[i] for i in np.flatnonzero(differs)]
            problems.append(f"observation space bounds differ from the env's in fields {fields[:5]}"
                            f"{' ...' if len(fields) > 5 else ''}")
    if action_space_ != ours_act:
        problems.append(f"action space is {describe_space(action_space_)}, expected {ours_act} "
                        f"({', '.join(ACTION_NAMES)})")
    if problems:
        raise MinariFormatError(f"{where}: " + "; ".join(problems))


def _check_metadata(fightlab: Any, where: str) -> None:
    if not isinstance(fightlab, dict):
        raise MinariFormatError(f"{where}: metadata has no {FIGHTLAB_KEY!r} entry (it was not exported by "
                                "python -m datasets.minari_format export): the match, side and player of "
                                "each episode are unknown")
    version = str(fightlab.get("observation_encoding_version"))
    if version != ENCODING_VERSION:
        raise MinariFormatError(f"{where}: observation encoding version {version!r} (metadata "
                                f"{FIGHTLAB_KEY}.observation_encoding_version) does not match this code's "
                                f"version {ENCODING_VERSION!r}; export it again with this version")
    names = fightlab.get("action_names")
    if names != list(ACTION_NAMES):
        raise MinariFormatError(f"{where}: action names {names} (metadata {FIGHTLAB_KEY}.action_names) do "
                                f"not match this code's {list(ACTION_NAMES)}")


_EPISODE_KEYS = ("match_id", "side", "first_frame", "player_id", "style", "skill", "match_order",
                 *(f"match_{k}" for k in MATCH_KEYS))


def read_minari(dataset_id: str, *, root: str | Path | None = None) -> tuple[pd.DataFrame, pd.DataFrame,
                                                                               dict[str, Any]]:
    """Our ``(frames, matches, fightlab metadata)`` tables from Minari dataset ``dataset_id``, checked.

    Raises :class:`MinariFormatError` on a missing dataset, other spaces, another observation
    encoding or action set, or episodes without our per-episode metadata (naming the episode and key).
    """
    folder = dataset_folder(dataset_id, root)
    data = folder / DATA_DIR
    if not (data / "metadata.json").is_file():
        raise MinariFormatError(f"{folder}: no Minari dataset there ({DATA_DIR}/metadata.json is missing); "
                                f"datasets under {folder.parent}: choose --root or the dataset id")
    from minari.dataset.minari_dataset import MinariDataset

    with _quiet_minari():
        try:
            minari_dataset = MinariDataset(data)
        except Exception as err:  # h5py / json errors of a damaged dataset
            raise MinariFormatError(f"{data}: cannot be read as a Minari dataset ({err})") from err
    where = str(data / "metadata.json")
    check_spaces(minari_dataset.observation_space, minari_dataset.action_space, where)
    _check_metadata(minari_dataset.storage.metadata.get(FIGHTLAB_KEY), where)
    num = minari_dataset.total_episodes
    metas = list(minari_dataset.storage.get_episode_metadata(range(num)))
    frame_parts, match_rows = [], {}
    for index, (episode, meta) in enumerate(zip(minari_dataset.iterate_episodes(), metas, strict=True)):
        missing = [k for k in _EPISODE_KEYS if k not in meta]
        if missing:
            raise MinariFormatError(f"{data}: episode {index} lacks the episode metadata {missing} "
                                    "that an export of ours writes")
        steps = len(episode.actions)
        observations = np.asarray(episode.observations, dtype=np.float32)[:steps]
        actions = np.asarray(episode.actions, dtype=np.int64).reshape(steps)
        part = pd.DataFrame(observations, columns=list(OBSERVATION_COLUMNS))
        part.insert(0, "match_id", np.int64(meta["match_id"]))
        part.insert(1, "frame", np.arange(steps, dtype=np.int32) + np.int32(meta["first_frame"]))
        part.insert(2, "side", np.int8(meta["side"]))
        for position, key in enumerate(("player_id", "style", "skill"), start=3):
            part.insert(position, key, str(meta[key]))
        part["action_id"] = actions.astype(np.int16)
        part["action_name"] = np.asarray(ACTION_NAMES, dtype=object)[actions]
        part["_order"] = int(meta["match_order"])
        frame_parts.append(part)
        match_rows.setdefault(int(meta["match_id"]), {
            "match_id": int(meta["match_id"]), "_order": int(meta["match_order"]),
            **{k: _plain(meta[f"match_{k}"]) for k in MATCH_KEYS}})
    frames = pd.concat(frame_parts, ignore_index=True)
    frames = frames.sort_values(["_order", "frame", "side"], kind="stable").drop(columns="_order")
    matches = pd.DataFrame(sorted(match_rows.values(), key=lambda r: r["_order"])).drop(columns="_order")
    frames = frames.reset_index(drop=True).astype({f.name: f.type.to_pandas_dtype() for f in FRAME_SCHEMA})
    matches = matches.astype({f.name: f.type.to_pandas_dtype() for f in MATCH_SCHEMA})
    return frames, matches, dict(minari_dataset.storage.metadata[FIGHTLAB_KEY])


def _plain(value: Any) -> Any:
    """h5py attributes come back as numpy scalars or bytes: plain Python values for the tables."""
    if isinstance(value, bytes):
        return value.decode("utf-8")
    return value.item() if hasattr(value, "item") else value


def import_minari(dataset_id: str, dest: str | Path, *, root: str | Path | None = None,
                  overwrite: bool = False) -> Path:
    """Read Minari dataset ``dataset_id`` (checked: :func:`read_minari`) and write it as a log dataset
    at ``dest`` through :func:`datasets.writer.write_dataset` (manifest, hash and card as any dataset)."""
    dest = Path(dest)
    check_target(dest.absolute(), overwrite)  # before reading: an existing dataset needs overwrite
    frames, matches, fightlab = read_minari(dataset_id, root=root)
    generator = {"source": "minari", "dataset_id": dataset_id,
                 "root": str(Path(root) if root is not None else default_root()),
                 "exported_from": fightlab.get("source_dataset"),
                 "exported_frames_sha256": fightlab.get("source_frames_sha256"),
                 "split": fightlab.get("split"), "observation_delay": fightlab.get("observation_delay")}
    return write_dataset(dest, frames, matches, generator=generator, seed=fightlab.get("source_seed"),
                         overwrite=overwrite)


# ---- command line ---------------------------------------------------------------------------------------
def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m datasets.minari_format",
        description="Export a FightLab log dataset as a Minari dataset (one episode per match and side), or "
                    "import a Minari dataset exported that way back into the log format.")
    commands = parser.add_subparsers(dest="command", required=True)
    export = commands.add_parser("export", help="log dataset -> Minari dataset")
    export.add_argument("dataset", help="log dataset folder, e.g. data/default")
    export.add_argument("--out", required=True, metavar="ID",
                        help="Minari dataset id to write, e.g. fightlab/default-v0")
    export.add_argument("--split", choices=["train", "val", "test"],
                        help="export one split by match (default: every match)")
    export.add_argument("--split-fractions", type=float, nargs=3, default=[0.8, 0.1, 0.1],
                        metavar=("TRAIN", "VAL", "TEST"), help="split fractions (default: 0.8 0.1 0.1)")
    export.add_argument("--split-seed", type=int, default=0, help="split seed (default: 0)")
    imp = commands.add_parser("import", help="Minari dataset -> log dataset")
    imp.add_argument("dataset_id", metavar="ID", help="Minari dataset id, e.g. fightlab/default-v0")
    imp.add_argument("--out", required=True, metavar="DEST", help="log dataset folder to write")
    for sub in (export, imp):
        sub.add_argument("--root", metavar="DIR",
                         help="Minari datasets folder (default: $MINARI_DATASETS_PATH or ~/.minari/datasets)")
        sub.add_argument("--overwrite", action="store_true", help="replace an existing dataset there")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run export or import; print a one-line summary, or the error and exit code 2 (no traceback)."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "export":
            path = export_minari(args.dataset, args.out, root=args.root, split=args.split,
                                 split_fractions=args.split_fractions, split_seed=args.split_seed,
                                 overwrite=args.overwrite)
            manifest = read_json_bounded(path / MANIFEST_NAME)
            print(f"exported {manifest['num_matches']:,} matches as {2 * manifest['num_matches']:,} Minari "
                  f"episodes ({manifest['num_frames']:,} rows) to {path}")
        else:
            path = import_minari(args.dataset_id, args.out, root=args.root, overwrite=args.overwrite)
            manifest = read_json_bounded(path / MANIFEST_NAME)
            print(f"imported {manifest['num_matches']:,} matches ({manifest['num_frames']:,} rows) from "
                  f"Minari dataset {args.dataset_id} into {path}")
    except (MinariFormatError, DatasetError, OSError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
