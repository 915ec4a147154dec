"""Writing log datasets: streamed Parquet shards, a manifest, a card, published atomically.

:class:`DatasetWriter` is the match runner's ``FrameRecorder``: ``play_matches(..., recorder=writer)``
hands it every frame of every live match, and it keeps one row per side per frame (what that side
saw and which command it pressed). Rows are buffered column by column in numpy arrays and written
as ``frames/part-NNNNN.parquet`` shards of at most ``shard_rows`` rows by a background thread, so
memory stays flat however many millions of frames are generated and Parquet encoding overlaps with
the engine. Buffers are recycled, not re-allocated per shard: first-touch page faults on fresh
buffers cost more than the copying. Rows are stored in the order they were played: a wave of
concurrent matches frame by frame (match by match, side 0 then side 1 within a frame); sort by
``(match_id, frame, side)`` for one match's timeline (``LogDataset.match``).

Nothing is written in place: shards, ``matches.parquet``, ``manifest.json`` and the card go to a
hidden temp folder next to the target, which is renamed onto the target only when everything is
complete. An exception leaves no partial dataset behind; a killed process leaves only that hidden
folder, which the next writer of the same path removes (:func:`agents.artifacts.recover_folder`, which
also finishes or undoes a replacement killed between its renames). An existing dataset is replaced
only with ``overwrite=True``, only after the new one is complete, and only if it is a dataset (its
manifest says so): a checkpoint or any other folder is refused, naming what it is. A full disk is
:class:`agents.artifacts.StorageError` ("no space left on device while writing PATH").

:func:`write_dataset` writes an in-memory (already validated) frames and matches table through the
same writer, so imported logs and generated logs share one layout, one manifest and one hash.
"""

from __future__ import annotations

import json
import shutil
from collections import deque
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from agents import artifacts
from datasets.manifest import (
    DATASET_FORMAT,
    FRAMES_DIR,
    MANIFEST_NAME,
    MATCHES_NAME,
    FramesHasher,
    shard_name,
)
from datasets.schema import (
    ACTION_IDS,
    ENCODING_VERSION,
    FRAME_SCHEMA,
    MATCH_COLUMNS,
    MATCH_SCHEMA,
    OBSERVATION_COLUMNS,
    SCHEMA_VERSION,
)
from datasets.situations import NUM_SITUATIONS, counts_record, situation_action_counts, situation_codes
from envs.actions import ACTION_NAMES, NUM_ACTIONS
from envs.observation import OBS_DIM

OVERWRITE_HINT = ("pass overwrite=True (overwrite=true on the command line) to replace it, or choose "
                  "another path")
DEFAULT_SHARD_ROWS = 262_144
MAX_PENDING_SHARDS = 2  # shards encoded in the background at once: bounds memory
_SIDES = np.array([0, 1], dtype=np.int8)
_ACTION_NAME_ARRAY = pa.array(ACTION_NAMES, pa.string())


@dataclass(frozen=True)
class PlayerInfo:
    """Who played a side: the ``player_id``, ``style`` and ``skill`` columns of every row they press."""

    player_id: str
    style: str
    skill: str

    def __post_init__(self) -> None:
        for field in ("player_id", "style", "skill"):
            value = getattr(self, field)
            if not isinstance(value, str) or not value:
                raise ValueError(f"PlayerInfo.{field} must be a non-empty string, got {value!r}")

    @classmethod
    def of(cls, policy: object) -> PlayerInfo:
        """From a policy: its ``name``, its ``style`` (default: the name) and ``skill`` ("scripted")."""
        name = getattr(policy, "name", type(policy).__name__)
        style = getattr(policy, "style", name)
        skill = getattr(policy, "skill", "scripted")
        # a policy may use ``style`` for something else (a config object): fall back to the name
        return cls(str(name), style if isinstance(style, str) else str(name),
                   skill if isinstance(skill, str) else "scripted")


class DatasetWriter:
    """Streams frames into a new dataset folder at ``path``; publish it with :meth:`close`.

    Typical use (what ``datasets.generate`` does for each pairing)::

        with DatasetWriter("data/mine", generator={"players": [...]}, seed=0) as writer:
            writer.set_players(PlayerInfo.of(a), PlayerInfo.of(b))
            results = play_matches(a, b, 100, seed=s, recorder=writer, first_match_id=0)
            writer.add_matches(results)
        # leaving the block publishes the dataset; an exception inside it discards everything

    ``generator`` and ``seed`` go into the manifest as the provenance of the rows. Raises
    :class:`FileExistsError` at once when ``path`` exists and ``overwrite`` is False.
    """

    def __init__(self, path: str | Path, *, generator: Mapping[str, Any] | None = None,
                 seed: int | None = None, shard_rows: int = DEFAULT_SHARD_ROWS,
                 overwrite: bool = False, compression: str = "zstd") -> None:
        if isinstance(shard_rows, bool) or not isinstance(shard_rows, (int, np.integer)) or shard_rows < 1:
            raise ValueError(f"shard_rows must be a positive int, got {shard_rows!r}")
        self.path = Path(path).absolute()
        self.generator = dict(generator or {})
        self.seed = seed
        self.shard_rows = int(shard_rows)
        self.overwrite = overwrite
        self.compression = compression
        check_target(self.path, overwrite)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # hidden, unique, same filesystem as the target (so publishing is a rename)
        self._tmp = artifacts.temp_sibling(self.path)
        (self._tmp / FRAMES_DIR).mkdir()
        self._players: list[PlayerInfo] = []
        self._player_index: dict[PlayerInfo, int] = {}
        # rows per (registered player, command): every count in the manifest derives from it
        self._counts = np.zeros((0, NUM_ACTIONS), dtype=np.int64)
        # rows per (situation, command): the card's situations table (datasets/situations.py)
        self._situation_counts = np.zeros((NUM_SITUATIONS, NUM_ACTIONS), dtype=np.int64)
        self._pair: tuple[int, int] | None = None
        self._wave_ids = np.zeros(0, dtype=np.int64)
        self._wave_players = np.zeros((0, 2), dtype=np.int16)
        self._match_tables: list[pd.DataFrame] = []
        self._match_notes: dict[int, dict[str, Any]] = {}
        self._shards: list[dict[str, Any]] = []
        self._num_rows = 0
        self._hasher = FramesHasher()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="datasets-writer")
        self._pending: deque[tuple[Future[None], dict[str, np.ndarray]]] = deque()
        self._free_buffers: list[dict[str, np.ndarray]] = []
        self._closed = False
        self._new_buffers()

    # ---- who plays -----------------------------------------------------------------------------
    def set_players(self, player_a: PlayerInfo, player_b: PlayerInfo) -> None:
        """Declare policy A and policy B of the next ``play_matches`` call (sides come per wave)."""
        self._pair = (self._register(player_a), self._register(player_b))

    def _register(self, player: PlayerInfo) -> int:
        if not isinstance(player, PlayerInfo):
            raise TypeError(f"expected a PlayerInfo (PlayerInfo.of(policy)), got {type(player).__name__}")
        if player not in self._player_index:
            if len(self._players) >= np.iinfo(np.int16).max:
                raise ValueError("too many distinct players in one dataset")
            self._player_index[player] = len(self._players)
            self._players.append(player)
            self._counts = np.vstack([self._counts, np.zeros((1, NUM_ACTIONS), dtype=np.int64)])
        return self._player_index[player]

    # ---- the FrameRecorder protocol (envs.match_runner) ------------------------------------
    def begin_wave(self, match_ids: np.ndarray, a_side: np.ndarray) -> None:
        if self._pair is None:
            raise RuntimeError("call DatasetWriter.set_players(player_a, player_b) before play_matches")
        a, b = self._pair
        self._wave_ids = np.asarray(match_ids, dtype=np.int64)
        # _wave_players[m, side] = index of the player on that side of wave match m
        self._wave_players = np.where(np.asarray(a_side)[:, None] == _SIDES[None, :], a, b).astype(np.int16)

    def record_frame(self, rows: np.ndarray, frame: int, obs: np.ndarray, actions: np.ndarray) -> None:
        m = len(rows)
        if m == 0:
            return
        self._append(np.repeat(self._wave_ids[rows], 2), frame, np.tile(_SIDES, m),
                     self._wave_players[rows].reshape(-1), obs[rows].reshape(2 * m, OBS_DIM),
                     actions[rows].reshape(-1))

    # ---- other ways in -------------------------------------------------------------------------
    def add_rows(self, match_id: int | np.ndarray, frame: int | np.ndarray, side: np.ndarray,
                 obs: np.ndarray, action: np.ndarray, players: Sequence[PlayerInfo]) -> None:
        """Append rows directly (``RecordLogs`` does): ``players[side]`` played each row's side."""
        index = np.array([self._register(p) for p in players], dtype=np.int16)
        side = np.asarray(side, dtype=np.int8)
        obs = np.asarray(obs, dtype=np.float32).reshape(-1, OBS_DIM)
        k = obs.shape[0]
        self._append(np.broadcast_to(np.asarray(match_id, dtype=np.int64), (k,)), frame, side,
                     index[side], obs, np.asarray(action).reshape(k))

    def add_frames(self, frames: pd.DataFrame) -> None:
        """Append a whole frames table (columns of :data:`FRAME_SCHEMA`), in its row order."""
        missing = [f.name for f in FRAME_SCHEMA if f.name not in frames.columns]
        if missing:
            raise ValueError(f"frames table is missing columns {missing}")
        action = frames["action_id"].to_numpy()
        names = frames["action_name"].to_numpy(dtype=object)
        if len(frames) and (action.min() < 0 or action.max() >= NUM_ACTIONS):
            raise ValueError(f"frames: action_id out of range 0..{NUM_ACTIONS - 1}")
        if len(frames) and not (np.asarray(ACTION_NAMES, dtype=object)[action] == names).all():
            raise ValueError("frames: action_name does not match action_id on some rows")
        codes = []
        uniques = []
        for column in ("player_id", "style", "skill"):
            code, unique = pd.factorize(frames[column], use_na_sentinel=True)
            if (code < 0).any():
                raise ValueError(f"frames column {column!r} has missing values")
            codes.append(code.astype(np.int64))
            uniques.append(list(unique))
        combined = (codes[0] * len(uniques[1]) + codes[1]) * len(uniques[2]) + codes[2]
        combos, inverse = np.unique(combined, return_inverse=True)
        index = np.empty(len(combos), dtype=np.int16)
        for k, combo in enumerate(combos):
            rest, skill = divmod(int(combo), len(uniques[2]))
            player, style = divmod(rest, len(uniques[1]))
            index[k] = self._register(PlayerInfo(str(uniques[0][player]), str(uniques[1][style]),
                                                 str(uniques[2][skill])))
        obs = frames[list(OBSERVATION_COLUMNS)].to_numpy(dtype=np.float32)
        self._append(frames["match_id"].to_numpy(np.int64), frames["frame"].to_numpy(np.int32),
                     frames["side"].to_numpy(np.int8), index[inverse.reshape(-1)], obs, action)

    def add_matches(self, results: Any, *, seed: int | None = None,
                    players: tuple[PlayerInfo, PlayerInfo] | None = None) -> None:
        """Add the matches of a ``MatchResults`` (A and B as given to :meth:`set_players`)."""
        if players is None:
            if self._pair is None:
                raise RuntimeError("call set_players(...) (or pass players=) before add_matches")
            player_a, player_b = (self._players[i] for i in self._pair)
        else:
            player_a, player_b = players
        table = results.table
        a_on_0 = table["a_side"].to_numpy() == 0
        result = table["result"].to_numpy(dtype=object)
        a_won, draw = result == "win", result == "draw"
        winner = np.where(draw, "draw", np.where(a_won == a_on_0, "player_0", "player_1"))
        hp_a, hp_b = table["hp_a"].to_numpy(), table["hp_b"].to_numpy()
        self.add_match_rows(pd.DataFrame({
            "match_id": table["match_id"].to_numpy(np.int64),
            "player_0_id": np.where(a_on_0, player_a.player_id, player_b.player_id),
            "player_0_style": np.where(a_on_0, player_a.style, player_b.style),
            "player_1_id": np.where(a_on_0, player_b.player_id, player_a.player_id),
            "player_1_style": np.where(a_on_0, player_b.style, player_a.style),
            "winner": winner,
            "hp_0": np.where(a_on_0, hp_a, hp_b),
            "hp_1": np.where(a_on_0, hp_b, hp_a),
            "duration_frames": table["duration_frames"].to_numpy(),
            "seed": np.full(len(table), -1 if seed is None else seed, dtype=np.int64),
        }))

    def add_match_rows(self, matches: pd.DataFrame) -> None:
        """Append rows of the matches table (columns of :data:`MATCH_SCHEMA`)."""
        missing = [name for name, _, _ in MATCH_COLUMNS if name not in matches.columns]
        if missing:
            raise ValueError(f"matches table is missing columns {missing}")
        self._match_tables.append(matches[[name for name, _, _ in MATCH_COLUMNS]].copy())

    def add_match_notes(self, match_id: int, notes: Mapping[str, Any]) -> None:
        """Attach free-form, JSON-able notes to a match already added (e.g. playtest ratings).

        They go into ``manifest["match_notes"]`` (a list of ``{"match_id": ..., **notes}`` sorted by
        match), so the matches table keeps its fixed schema and every reader still loads the
        dataset. Calling again for the same match updates its notes.
        """
        if isinstance(match_id, bool) or not isinstance(match_id, (int, np.integer)):
            raise TypeError(f"match_id must be an int, got {match_id!r}")
        known = any((table["match_id"] == match_id).any() for table in self._match_tables)
        if not known:
            raise ValueError(f"no match {match_id} in this dataset yet; add its row before its notes")
        notes = dict(notes)
        if "match_id" in notes:
            raise ValueError("notes must not carry their own 'match_id' key")
        json.dumps(notes)  # fail now, not when the manifest is written
        self._match_notes.setdefault(int(match_id), {}).update(notes)

    # ---- buffering and shards --------------------------------------------------------------------
    def _new_buffers(self) -> None:
        """Columnar buffers for the next shard: a recycled set when one is free, else a new one."""
        self._fill = 0
        if self._free_buffers:
            self._buf = self._free_buffers.pop()
            return
        cap = self.shard_rows
        self._buf = {
            "match_id": np.empty(cap, dtype=np.int64),
            "frame": np.empty(cap, dtype=np.int32),
            "side": np.empty(cap, dtype=np.int8),
            "player": np.empty(cap, dtype=np.int16),
            "action_id": np.empty(cap, dtype=np.int16),
            "obs": np.empty((OBS_DIM, cap), dtype=np.float32),  # by column: Arrow arrays without a copy
        }

    def _append(self, match_id: np.ndarray, frame: int | np.ndarray, side: np.ndarray,
                player: np.ndarray, obs: np.ndarray, action: np.ndarray) -> None:
        if self._closed:
            raise RuntimeError(f"the writer for {self.path} is closed")
        k = obs.shape[0]
        frame = np.broadcast_to(np.asarray(frame, dtype=np.int32), (k,))
        pos = 0
        while pos < k:
            if self._fill == self.shard_rows:
                self._flush()
            n = min(k - pos, self.shard_rows - self._fill)
            dst, src = slice(self._fill, self._fill + n), slice(pos, pos + n)
            buf = self._buf
            buf["match_id"][dst] = match_id[src]
            buf["frame"][dst] = frame[src]
            buf["side"][dst] = side[src]
            buf["player"][dst] = player[src]
            buf["action_id"][dst] = action[src]
            buf["obs"][:, dst] = obs[src].T
            self._fill += n
            pos += n

    def _flush(self) -> None:
        """Hand the filled buffers to the background thread as the next shard; start new buffers."""
        if self._fill == 0:
            return
        n = self._fill
        columns = {key: value[..., :n] for key, value in self._buf.items()}
        flat = columns["player"].astype(np.int64) * NUM_ACTIONS + columns["action_id"]
        self._counts += np.bincount(flat, minlength=self._counts.size).reshape(self._counts.shape)
        self._situation_counts += situation_action_counts(situation_codes(columns["obs"].T),
                                                          columns["action_id"])
        index = len(self._shards)
        self._shards.append({"path": shard_name(index), "rows": n})
        self._num_rows += n
        self._reclaim(keep=MAX_PENDING_SHARDS - 1)
        future = self._executor.submit(self._write_shard, self._tmp / shard_name(index), columns,
                                       tuple(self._players))
        self._pending.append((future, self._buf))
        self._new_buffers()

    def _reclaim(self, keep: int) -> None:
        """Collect finished shard writes (re-raising their errors), waiting until <= ``keep`` remain."""
        while self._pending and (self._pending[0][0].done() or len(self._pending) > keep):
            future, buffers = self._pending.popleft()
            with artifacts.storage_errors(self.path):
                future.result()
            self._free_buffers.append(buffers)

    def _write_shard(self, target: Path, columns: dict[str, np.ndarray],
                     players: tuple[PlayerInfo, ...]) -> None:
        player = pa.array(columns["player"])
        arrays: dict[str, pa.Array] = {
            "match_id": pa.array(columns["match_id"]),
            "frame": pa.array(columns["frame"]),
            "side": pa.array(columns["side"]),
            "player_id": pa.array([p.player_id for p in players], pa.string()).take(player),
            "style": pa.array([p.style for p in players], pa.string()).take(player),
            "skill": pa.array([p.skill for p in players], pa.string()).take(player),
        }
        for j, name in enumerate(OBSERVATION_COLUMNS):
            arrays[name] = pa.array(columns["obs"][j])
        arrays["action_id"] = pa.array(columns["action_id"])
        arrays["action_name"] = _ACTION_NAME_ARRAY.take(pa.array(columns["action_id"]))
        table = pa.Table.from_arrays([arrays[f.name] for f in FRAME_SCHEMA], schema=FRAME_SCHEMA)
        self._hasher.update(table)
        pq.write_table(table, target, compression=self.compression, row_group_size=len(table))

    # ---- finishing -------------------------------------------------------------------------------
    def close(self) -> Path:
        """Write the last shard, the matches table, the manifest and the card; publish atomically."""
        if self._closed:
            return self.path
        try:
            with artifacts.storage_errors(self.path):
                self._flush()
                self._reclaim(keep=0)
                self._executor.shutdown(wait=True)
                self._free_buffers.clear()
                self._closed = True
                if self._num_rows == 0:
                    raise ValueError(f"nothing to write to {self.path}: no frames were recorded")
                matches = self._matches_table()
                pq.write_table(matches, self._tmp / MATCHES_NAME, compression=self.compression)
                (self._tmp / MANIFEST_NAME).write_text(
                    json.dumps(self._manifest(matches.num_rows), indent=2, default=str) + "\n",
                    encoding="utf-8")
                from datasets.card import write_card  # card reads datasets; imported late: layers stay flat

                write_card(self._tmp, name=self.path.name)
                publish(self._tmp, self.path, overwrite=self.overwrite)
        except BaseException:
            self.abort()
            raise
        return self.path

    finalize = close

    def abort(self) -> None:
        """Discard everything written so far (the temp folder); the target is left untouched."""
        self._closed = True
        for future, _ in self._pending:
            future.cancel()
        self._executor.shutdown(wait=True, cancel_futures=True)
        self._pending.clear()
        self._free_buffers.clear()
        shutil.rmtree(self._tmp, ignore_errors=True)

    def __enter__(self) -> DatasetWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def _matches_table(self) -> pa.Table:
        if not self._match_tables:
            raise ValueError(f"nothing to write to {self.path}: frames were recorded but no matches "
                             "(call add_matches / add_match_rows)")
        matches = pd.concat(self._match_tables, ignore_index=True)
        duplicated = matches["match_id"][matches["match_id"].duplicated()]
        if len(duplicated):
            raise ValueError(f"match ids must be unique in a dataset; repeated: "
                             f"{sorted(set(duplicated.tolist()))[:10]}")
        return pa.Table.from_pandas(matches, schema=MATCH_SCHEMA, preserve_index=False)

    def _manifest(self, num_matches: int) -> dict[str, Any]:
        style_counts: dict[str, int] = {}
        skill_counts: dict[str, int] = {}
        player_counts: dict[str, int] = {}
        style_actions: dict[str, np.ndarray] = {}
        for player, per_action in zip(self._players, self._counts, strict=True):
            rows = int(per_action.sum())
            if rows:
                style_counts[player.style] = style_counts.get(player.style, 0) + rows
                skill_counts[player.skill] = skill_counts.get(player.skill, 0) + rows
                player_counts[player.player_id] = player_counts.get(player.player_id, 0) + rows
                style_actions[player.style] = style_actions.get(player.style, 0) + per_action
        extra: dict[str, Any] = {}
        if self._match_notes:
            extra["match_notes"] = [{"match_id": k, **v} for k, v in sorted(self._match_notes.items())]
        return {
            "format": DATASET_FORMAT,
            "schema_version": SCHEMA_VERSION,
            "observation_encoding_version": ENCODING_VERSION,
            "observation_columns": list(OBSERVATION_COLUMNS),
            "actions": dict(ACTION_IDS),
            "num_matches": int(num_matches),
            "num_frames": int(self._num_rows),  # rows: one per side per frame played
            "action_counts": dict(zip(ACTION_NAMES, self._counts.sum(axis=0).tolist(), strict=True)),
            "action_counts_by_style": {
                style: dict(zip(ACTION_NAMES, counts.tolist(), strict=True))
                for style, counts in sorted(style_actions.items())},
            "situation_action_counts": counts_record(self._situation_counts),
            "style_counts": dict(sorted(style_counts.items())),
            "skill_counts": dict(sorted(skill_counts.items())),
            "player_counts": dict(sorted(player_counts.items())),
            "frames_sha256": self._hasher.hexdigest(),
            "shards": self._shards,
            "generator": self.generator,
            "seed": self.seed,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "created_with": {"pyarrow": pa.__version__, "compression": self.compression},
            **extra,
        }


# ---- atomic publishing ------------------------------------------------------------------------------
def check_target(path: str | Path, overwrite: bool) -> None:
    """Fail early, before any work, when ``path`` cannot be (re)written as a dataset: it exists and
    ``overwrite`` is False, or it is something other than a dataset (or an empty folder)."""
    artifacts.check_target(path, overwrite=overwrite, kind=DATASET_FORMAT, overwrite_hint=OVERWRITE_HINT)


def publish(tmp: Path, target: Path, *, overwrite: bool) -> None:
    """Move the complete dataset folder ``tmp`` onto ``target`` (:func:`agents.artifacts.publish_folder`).

    With ``overwrite``, an existing dataset is first renamed aside, then removed once the new one
    is in place; if the swap fails the old one is put back, and if the process is killed between
    the renames the next writer of ``target`` finishes or undoes it (:func:`agents.artifacts.recover_folder`).
    """
    artifacts.publish_folder(tmp, target, overwrite=overwrite, kind=DATASET_FORMAT,
                             overwrite_hint=OVERWRITE_HINT)


def write_dataset(path: str | Path, frames: pd.DataFrame, matches: pd.DataFrame, *,
                  generator: dict[str, Any], seed: int | None, overwrite: bool = False,
                  shard_rows: int = DEFAULT_SHARD_ROWS) -> Path:
    """Write already validated in-memory ``frames`` and ``matches`` tables as a dataset at ``path``.

    Same layout, manifest, hash and card as generated datasets, written atomically. Rows keep
    their order. ``generator`` (how the rows were made, e.g. ``{"source": "import", "file": ...}``)
    and ``seed`` (None when unknown) go into the manifest. Returns the dataset's absolute path.
    """
    writer = DatasetWriter(path, generator=generator, seed=seed, overwrite=overwrite,
                           shard_rows=shard_rows)
    with writer:
        writer.add_frames(frames)
        writer.add_match_rows(matches)
    return writer.path
