"""Reading log datasets: load into pandas, stream shard by shard, split by match.

Every reader checks the manifest first (:func:`datasets.manifest.read_manifest`): a dataset written
with another log schema or observation encoding is refused with both versions named, because the
same 42 numbers would mean something else to a model.

Splits are by match, never by frame: consecutive frames of one match are nearly identical, so a
frame-level split would put near-copies of test rows in the training set and inflate the offline
accuracy the project exists to question.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from datasets.manifest import MANIFEST_NAME, MATCHES_NAME, DatasetError, frames_hash, read_manifest
from datasets.schema import FRAME_SCHEMA, MATCH_SCHEMA, OBSERVATION_COLUMNS

SPLIT_NAMES = ("train", "val", "test")


@dataclass
class LogDataset:
    """A dataset in memory: the per-frame rows, the per-match rows and the manifest.

    ``frames`` keeps the file's row order (the order matches were played); ``match(match_id)``
    gives one match's timeline sorted by frame and side.
    """

    frames: pd.DataFrame
    matches: pd.DataFrame
    manifest: dict[str, Any]
    path: Path | None = None
    split: str | None = field(default=None)

    @property
    def num_frames(self) -> int:
        """Rows of the frames table (one per side per frame played)."""
        return len(self.frames)

    @property
    def num_matches(self) -> int:
        return len(self.matches)

    def to_numpy(self) -> tuple[np.ndarray, np.ndarray]:
        """``(observations float32 (N, 42), labels int64 (N,))``: what behaviour cloning trains on."""
        observations = self.frames[list(OBSERVATION_COLUMNS)].to_numpy(dtype=np.float32)
        labels = self.frames["action_id"].to_numpy(dtype=np.int64)
        return observations, labels

    def match(self, match_id: int) -> pd.DataFrame:
        """One match's rows in time order (``frame``, then ``side``)."""
        rows = self.frames[self.frames["match_id"] == match_id]
        if rows.empty:
            raise KeyError(f"no match {match_id} in this dataset")
        return rows.sort_values(["frame", "side"], kind="stable").reset_index(drop=True)


def _shard_paths(path: Path, manifest: dict[str, Any]) -> list[Path]:
    shards = manifest["shards"]
    if not isinstance(shards, list):
        raise DatasetError(f"{path / MANIFEST_NAME} is corrupt: 'shards' must be a list")
    paths = []
    for shard in shards:
        relative = shard.get("path") if isinstance(shard, dict) else None
        if not isinstance(relative, str):
            raise DatasetError(f"{path / MANIFEST_NAME} is corrupt: bad shard entry {shard!r}")
        shard_path = path / relative
        if not shard_path.is_file():
            raise DatasetError(f"{shard_path} is missing: {path / MANIFEST_NAME} lists it as a frames "
                               "shard; the dataset is incomplete, regenerate or re-import it")
        paths.append(shard_path)
    return paths


def _read_parquet(file: Path, schema: pa.Schema, columns: Sequence[str] | None = None) -> pa.Table:
    try:
        table = pq.read_table(file, columns=list(columns) if columns is not None else None)
    except (OSError, pa.ArrowException) as err:
        raise DatasetError(f"{file} cannot be read as Parquet: {err}") from err
    expected = schema if columns is None else pa.schema([schema.field(c) for c in columns])
    if not table.schema.equals(expected, check_metadata=False):
        raise DatasetError(f"{file} does not have the log schema: expected {expected.names} with types "
                           f"{[str(t) for t in expected.types]}, got {table.schema}")
    return table


def _check_columns(columns: Sequence[str] | None) -> list[str] | None:
    if columns is None:
        return None
    unknown = [c for c in columns if c not in FRAME_SCHEMA.names]
    if unknown:
        raise ValueError(f"unknown frames columns {unknown}; valid columns: {FRAME_SCHEMA.names}")
    return list(columns)


def load_dataset(path: str | Path, *, columns: Sequence[str] | None = None,
                 verify: bool = False) -> LogDataset:
    """Load a dataset folder (manifest checked, every shard read) into a :class:`LogDataset`.

    ``columns`` restricts the frames columns read (all by default). ``verify`` recomputes the
    frames' content hash and compares it with ``manifest["frames_sha256"]`` (what a checkpoint
    trained on this data recorded); it needs all columns. Raises
    :class:`datasets.manifest.DatasetError` (naming the file) on a missing or corrupt manifest,
    a missing or unreadable shard, or :class:`~datasets.manifest.DatasetVersionError` on a schema or
    encoding version mismatch.
    """
    path = Path(path)
    manifest = read_manifest(path)
    columns = _check_columns(columns)
    tables = [_read_parquet(shard, FRAME_SCHEMA, columns) for shard in _shard_paths(path, manifest)]
    schema = FRAME_SCHEMA if columns is None else pa.schema([FRAME_SCHEMA.field(c) for c in columns])
    frames = pa.concat_tables(tables) if tables else schema.empty_table()
    matches_file = path / MATCHES_NAME
    if not matches_file.is_file():
        raise DatasetError(f"{matches_file} is missing: the dataset is incomplete")
    matches = _read_parquet(matches_file, MATCH_SCHEMA)
    if frames.num_rows != manifest["num_frames"]:
        raise DatasetError(f"{path / MANIFEST_NAME} says {manifest['num_frames']} frames but the shards "
                           f"hold {frames.num_rows}")
    if verify:
        if columns is not None:
            raise ValueError("verify=True hashes every column; do not pass columns=")
        if frames_hash(frames) != manifest["frames_sha256"]:
            raise DatasetError(f"the frames in {path} do not match the content hash in "
                               f"{path / MANIFEST_NAME}: the shards were modified after writing")
    return LogDataset(frames.to_pandas(), matches.to_pandas(), manifest, path)


def iter_frames(path: str | Path, *, columns: Sequence[str] | None = None,
                batch_rows: int = 65_536) -> Iterator[pd.DataFrame]:
    """Stream the frames table as pandas batches of up to ``batch_rows`` rows, in file order.

    For datasets larger than memory: only one batch is in memory at a time.
    """
    path = Path(path)
    manifest = read_manifest(path)
    columns = _check_columns(columns)
    for shard in _shard_paths(path, manifest):
        try:
            parquet = pq.ParquetFile(shard)
        except (OSError, pa.ArrowException) as err:
            raise DatasetError(f"{shard} cannot be read as Parquet: {err}") from err
        for batch in parquet.iter_batches(batch_size=batch_rows, columns=columns):
            yield batch.to_pandas()


def split_by_match(dataset: LogDataset, fractions: Sequence[float] = (0.8, 0.1, 0.1),
                   seed: int = 0) -> dict[str, LogDataset]:
    """Split into ``train`` / ``val`` / ``test`` by match id: every match lands in exactly one split.

    Match ids are shuffled with ``seed`` and cut by ``fractions`` (three non-negative numbers that
    sum to 1), so the same seed always gives the same split. Each split keeps the parent's manifest,
    plus a ``split`` entry (name, fractions, seed, match count).
    """
    fractions = tuple(float(f) for f in fractions)
    if len(fractions) != len(SPLIT_NAMES) or any(f < 0 for f in fractions) \
            or not np.isclose(sum(fractions), 1.0):
        raise ValueError(f"fractions must be three non-negative numbers (train, val, test) summing to "
                         f"1, got {fractions}")
    match_ids = np.sort(dataset.matches["match_id"].to_numpy())
    shuffled = np.random.default_rng(seed).permutation(match_ids)
    bounds = np.rint(np.cumsum(fractions) * len(shuffled)).astype(int)
    bounds[-1] = len(shuffled)
    frame_ids = dataset.frames["match_id"].to_numpy()
    splits = {}
    for name, ids in zip(SPLIT_NAMES, np.split(shuffled, bounds[:-1]), strict=True):
        in_frames = np.isin(frame_ids, ids)
        in_matches = dataset.matches["match_id"].isin(ids).to_numpy()
        manifest = {**dataset.manifest, "split": {"name": name, "fractions": list(fractions),
                                                  "seed": seed, "num_matches": len(ids)}}
        splits[name] = replace(dataset, frames=dataset.frames[in_frames].reset_index(drop=True),
                               matches=dataset.matches[in_matches].reset_index(drop=True),
                               manifest=manifest, split=name)
    return splits
