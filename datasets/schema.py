"""The log format: one row per frame per side, a matches table, and a manifest per dataset.

A user who wants to train on logs from their own game writes these columns (see the README's schema
table) and imports them with ``datasets.importer``. Observation columns are the fields of the
egocentric encoding (``envs.observation``), in encoding order, so a row *is* what the player saw.

Dataset folder layout::

    <dataset>/
      manifest.json            schema and encoding versions, action names and ids, counts, config, seed
      frames/part-00000.parquet ...  the per-frame rows, in shards
      matches.parquet          one row per match
      card.md, class_distribution.png   the dataset card
"""

from __future__ import annotations

import pyarrow as pa

from envs.actions import ACTION_NAMES
from envs.observation import ENCODING_VERSION, observation_field_names

SCHEMA_VERSION = "1"
OBSERVATION_COLUMNS: tuple[str, ...] = observation_field_names()

# (column, arrow type, description) for the per-frame table, in file order.
FRAME_COLUMNS: tuple[tuple[str, pa.DataType, str], ...] = (
    ("match_id", pa.int64(), "match this frame belongs to (matches.parquet)"),
    ("frame", pa.int32(), "frame index within the match, 0-based, contiguous"),
    ("side", pa.int8(), "0 = the fighter that starts on the left, 1 = right"),
    ("player_id", pa.string(), "who played this side, e.g. 'rushdown' or 'human:alice'"),
    ("style", pa.string(), "play style, e.g. 'rushdown', 'zoner', 'turtle', 'human'"),
    ("skill", pa.string(), "skill level, e.g. 'pro', 'club', 'human'"),
    *((name, pa.float32(), "observation field (see the observation table)")
      for name in OBSERVATION_COLUMNS),
    ("action_id", pa.int16(), "command id pressed this frame (envs.actions.Action)"),
    ("action_name", pa.string(), "command name, must match action_id"),
)

MATCH_COLUMNS: tuple[tuple[str, pa.DataType, str], ...] = (
    ("match_id", pa.int64(), "unique match id within the dataset"),
    ("player_0_id", pa.string(), "player on side 0"),
    ("player_0_style", pa.string(), "its style"),
    ("player_1_id", pa.string(), "player on side 1"),
    ("player_1_style", pa.string(), "its style"),
    ("winner", pa.string(), "'player_0', 'player_1' or 'draw'"),
    ("hp_0", pa.int32(), "side 0 HP left at the end"),
    ("hp_1", pa.int32(), "side 1 HP left at the end"),
    ("duration_frames", pa.int32(), "frames played"),
    ("seed", pa.int64(), "seed the match was played with (-1 if unknown, e.g. imported)"),
)

FRAME_SCHEMA = pa.schema([(name, dtype) for name, dtype, _ in FRAME_COLUMNS])
MATCH_SCHEMA = pa.schema([(name, dtype) for name, dtype, _ in MATCH_COLUMNS])
ACTION_IDS: dict[str, int] = {name: i for i, name in enumerate(ACTION_NAMES)}

__all__ = ["ACTION_IDS", "ENCODING_VERSION", "FRAME_COLUMNS", "FRAME_SCHEMA", "MATCH_COLUMNS",
           "MATCH_SCHEMA", "OBSERVATION_COLUMNS", "SCHEMA_VERSION"]
