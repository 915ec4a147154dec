"""The dataset manifest: what a dataset folder contains, and the checks every reader runs first.

``manifest.json`` is the first file any reader opens. It says which log schema and which observation
encoding the rows were written with (a model trained on encoding "1" must not be fed encoding "2"
logs), what the frames contain (counts per command, style and skill), where the frames are (the
shard list), how they were made (generator config and seed), and a content hash of the frames that
BC checkpoints record to say exactly which data they were trained on.

The hash (:class:`FramesHasher`) covers the *values* of the frames table in row order, column by
column; it does not depend on how the rows are split into shards, on Parquet compression or on the
pyarrow version, so the same seed gives the same hash on any machine.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from agents.artifacts import MANIFEST_NAME, read_json_bounded
from datasets.schema import ENCODING_VERSION, FRAME_SCHEMA, SCHEMA_VERSION

DATASET_FORMAT = "fightlab-logs"  # the manifest's "format": what marks a folder as a dataset
FRAMES_DIR = "frames"
MATCHES_NAME = "matches.parquet"
CARD_NAME = "card.md"
CLASS_PLOT_NAME = "class_distribution.png"
HASH_ALGORITHM = "sha256"


class DatasetError(ValueError):
    """A dataset folder that cannot be read: missing or corrupt files, or incompatible versions."""


class DatasetVersionError(DatasetError):
    """A dataset written with a log schema or observation encoding this code does not read."""


def shard_name(index: int) -> str:
    """Relative path of the ``index``-th frames shard: ``frames/part-00000.parquet``."""
    return f"{FRAMES_DIR}/part-{index:05d}.parquet"


class FramesHasher:
    """Streaming content hash of a frames table (``sha256`` of per-column ``sha256`` digests).

    Feed it tables or record batches with :data:`FRAME_SCHEMA` in row order with :meth:`update`;
    ``hexdigest()`` is the same however the rows were chunked. Numeric columns hash their raw
    little-endian values; string columns hash their value lengths and UTF-8 bytes separately, so
    ``["ab", "c"]`` and ``["a", "bc"]`` differ.
    """

    def __init__(self) -> None:
        self._columns: dict[str, tuple[Any, Any]] = {
            field.name: (hashlib.new(HASH_ALGORITHM), hashlib.new(HASH_ALGORITHM))
            for field in FRAME_SCHEMA
        }

    def update(self, table: pa.Table | pa.RecordBatch) -> None:
        for field in FRAME_SCHEMA:
            column = table.column(field.name)
            chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
            values_hash, lengths_hash = self._columns[field.name]
            for chunk in chunks:
                if chunk.null_count:
                    raise ValueError(f"frames column {field.name!r} has {chunk.null_count} missing "
                                     "values; every frames field is required")
                if pa.types.is_string(chunk.type) or pa.types.is_large_string(chunk.type):
                    _update_strings(values_hash, lengths_hash, chunk)
                else:
                    values = chunk.to_numpy(zero_copy_only=False)
                    values_hash.update(np.ascontiguousarray(values, values.dtype.newbyteorder("<")))

    def hexdigest(self) -> str:
        total = hashlib.new(HASH_ALGORITHM)
        for name, (values_hash, lengths_hash) in self._columns.items():
            total.update(name.encode())
            total.update(values_hash.digest())
            total.update(lengths_hash.digest())
        return total.hexdigest()


def _update_strings(values_hash: Any, lengths_hash: Any, chunk: pa.Array) -> None:
    """Hash a string array's lengths and bytes straight from its Arrow buffers (no Python strings)."""
    chunk = chunk.cast(pa.large_string())
    _, offsets_buffer, data_buffer = chunk.buffers()
    offsets = np.frombuffer(offsets_buffer, dtype="<i8")[chunk.offset:chunk.offset + len(chunk) + 1]
    if len(chunk) == 0:
        return
    lengths_hash.update(np.diff(offsets).astype("<i8"))
    data = np.frombuffer(data_buffer, dtype=np.uint8) if data_buffer is not None else np.zeros(0, np.uint8)
    values_hash.update(data[offsets[0]:offsets[-1]])


def frames_hash(frames: pa.Table) -> str:
    """Content hash of a whole frames table (what ``manifest["frames_sha256"]`` records)."""
    hasher = FramesHasher()
    hasher.update(frames)
    return hasher.hexdigest()


def read_manifest(path: str | Path, *, check_versions: bool = True) -> dict[str, Any]:
    """Read and check ``<path>/manifest.json``; every error names the file and what was expected.

    With ``check_versions`` (the default) a dataset written with another log schema or observation
    encoding raises :class:`DatasetVersionError` naming both versions: rows encoded differently
    would silently mean something else to a model.
    """
    path = Path(path)
    manifest_path = path / MANIFEST_NAME
    if not path.exists():
        raise FileNotFoundError(f"no dataset at {path}: the folder does not exist")
    if not manifest_path.is_file():
        raise DatasetError(f"{manifest_path} is missing: {path} is not a FightLab dataset (a dataset "
                           "folder holds manifest.json, frames/ and matches.parquet)")
    manifest = read_json_bounded(manifest_path, error=DatasetError)  # size and nesting bounded
    if not isinstance(manifest, dict):
        raise DatasetError(f"{manifest_path} is corrupt: expected a JSON object, got "
                           f"{type(manifest).__name__}")
    required = ("schema_version", "observation_encoding_version", "shards", "num_frames", "num_matches",
                "frames_sha256")
    missing = [key for key in required if key not in manifest]
    if missing:
        raise DatasetError(f"{manifest_path} is corrupt: missing keys {missing}")
    if check_versions:
        check_versions_match(manifest, manifest_path)
    return manifest


def check_versions_match(manifest: dict[str, Any], manifest_path: Path | str) -> None:
    """Raise :class:`DatasetVersionError` unless the manifest's versions are the ones this code writes."""
    for key, ours, what in (("schema_version", SCHEMA_VERSION, "log schema"),
                            ("observation_encoding_version", ENCODING_VERSION, "observation encoding")):
        theirs = manifest.get(key)
        if str(theirs) != ours:
            raise DatasetVersionError(
                f"{manifest_path}: {what} version {theirs!r} does not match this code's version "
                f"{ours!r} ({key}); regenerate the dataset with this version (python -m "
                "datasets.generate) or use the code it was written with")
