"""Importing logs from your own game: read CSV / Parquet / JSON lines, validate everything, then write.

A data person exports per-frame rows in the log schema (``datasets.schema.FRAME_COLUMNS``: match,
frame, side, who played, the 42 observation fields of ``envs.observation``, the command pressed) and
runs::

    python -m datasets.importer logs/*.csv --out data/my_logs
    python -m datasets.importer day1.parquet day2.parquet --matches matches.csv --out data/my_logs

Import is all or nothing: every file is read and validated (``datasets.validation``) before a
single byte is written, so a bad row anywhere rejects the whole import with a message naming the
file, row, column and what was expected, and leaves no half-written dataset. The valid rows are
then written through ``datasets.writer.write_dataset``, the same code path as generated logs, so an
imported dataset has the same shards, manifest, hash and card, and an existing dataset is replaced
only with ``overwrite=True``.

Without a matches file the matches table is derived from the frames: players and styles per side
from ``player_id`` / ``style``, duration from the frame count, and the winner from ``me_hp`` /
``opp_hp`` on side 0's last logged frame (higher HP wins, equal HP is a draw). If your logs end with
the state *before* the final hit, that HP is not the final HP: pass a matches file to be exact.

Encoding version: your logs must use this code's observation encoding
(``envs.observation.ENCODING_VERSION``). Declare the version your exporter wrote with
``encoding_version=`` (``--encoding-version``), a sidecar ``<log file>.meta.json`` holding
``{"observation_encoding_version": "1"}``, or Parquet schema metadata with the same key; any
declared version that differs is an error naming both versions.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import re
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from datasets.manifest import MANIFEST_NAME
from datasets.schema import ENCODING_VERSION, FRAME_COLUMNS, MATCH_COLUMNS
from datasets.validation import (
    LogBoundsWarning,
    LogValidationError,
    validate_frames,
    validate_matches,
)
from datasets.writer import check_target, write_dataset
from envs.params import GameParams

SUPPORTED_FORMATS: dict[str, str] = {".csv": "CSV", ".parquet": "Parquet", ".jsonl": "JSON lines",
                                     ".ndjson": "JSON lines"}
SIDECAR_SUFFIX = ".meta.json"
ENCODING_KEY = "observation_encoding_version"
FRAME_TEXT_COLUMNS: tuple[str, ...] = tuple(n for n, t, _ in FRAME_COLUMNS if pa.types.is_string(t))
MATCH_TEXT_COLUMNS: tuple[str, ...] = tuple(n for n, t, _ in MATCH_COLUMNS if pa.types.is_string(t))
# what pandas reads as a missing number in a CSV (its defaults); text columns treat only "" as missing,
# so a player called "NA" or "None" stays a name
_CSV_NA_NUMBERS = ["", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND",
                   "1.#QNAN", "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null"]
_TAIL_BYTES = 1 << 20


# ---- reading -----------------------------------------------------------------------------------------
def _supported_list() -> str:
    return ", ".join(f"{ext} ({name})" for ext, name in SUPPORTED_FORMATS.items())


def check_log_file(path: Path) -> None:
    """Fail before any reading on a missing file, a folder or an unsupported extension."""
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    if path.is_dir():
        raise LogValidationError.at(path, "is a folder; pass the log files themselves (e.g. folder/*.csv)")
    if path.suffix.lower() not in SUPPORTED_FORMATS:
        raise LogValidationError.at(path, f"unsupported file type {path.suffix or '(no extension)'!r}; "
                                    f"supported formats: {_supported_list()}")


def read_log_table(path: str | Path, text_columns: Sequence[str] = FRAME_TEXT_COLUMNS
                   ) -> tuple[pd.DataFrame, str | None]:
    """Read one log file into a DataFrame in file order, plus the encoding version it declares.

    ``text_columns`` are read as text in a CSV (a ``player_id`` of ``007`` stays ``"007"``). Any
    file that cannot be parsed (truncated, corrupt, not UTF-8, not the format its extension says)
    raises :class:`LogValidationError` naming the file, never a parser traceback.
    """
    path = Path(path)
    check_log_file(path)
    if path.stat().st_size == 0:
        raise LogValidationError.at(path, "the file is empty (0 bytes); a log needs at least one row")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return _read_csv(path, text_columns), None
    if suffix == ".parquet":
        return _read_parquet(path)
    return _read_jsonl(path), None


def _read_csv(path: Path, text_columns: Sequence[str]) -> pd.DataFrame:
    try:
        header = pd.read_csv(path, nrows=0, encoding="utf-8-sig").columns
        text = [c for c in header if c in text_columns]
        frame = pd.read_csv(
            path, encoding="utf-8-sig", dtype={c: str for c in text}, keep_default_na=False,
            na_values={c: ([""] if c in text_columns else _CSV_NA_NUMBERS) for c in header},
            skip_blank_lines=False,  # keep blank lines so row positions stay line numbers
            low_memory=False)  # one type per column, not per chunk (no mixed-type columns or warnings)
    except pd.errors.EmptyDataError as err:
        raise LogValidationError.at(path, "the file has no header and no rows") from err
    except pd.errors.ParserError as err:
        found = re.search(r"in line (\d+)", str(err))
        line = int(found.group(1)) if found else None
        raise LogValidationError.at(path, f"not a well-formed CSV file ({str(err).strip()}); every line "
                                    "needs one value per header column", row=line) from err
    except UnicodeDecodeError as err:
        raise LogValidationError.at(path, f"not UTF-8 text ({err.reason} at byte {err.start}); save "
                                    "the CSV as UTF-8") from err
    # trailing blank lines (an editor's extra newline) are not rows
    end = len(frame)
    while end > 0 and frame.iloc[end - 1].isna().all():
        end -= 1
    frame = frame.iloc[:end]
    _check_last_csv_line(path, len(header), len(frame))
    return frame


def _check_last_csv_line(path: Path, num_columns: int, num_rows: int) -> None:
    """A file cut off mid-row has a last line with too few fields (pandas would pad it with NaN)."""
    if num_rows == 0:
        return
    with path.open("rb") as handle:
        size = handle.seek(0, io.SEEK_END)
        handle.seek(max(0, size - _TAIL_BYTES))
        tail = handle.read().decode("utf-8", errors="replace")
    lines = [line for line in tail.splitlines() if line.strip()]
    if not lines:
        return
    fields = next(csv.reader([lines[-1]]), [])
    if len(fields) < num_columns:
        raise LogValidationError.at(
            path, f"the last line has {len(fields)} of the header's {num_columns} fields: the file looks "
            "truncated (cut off mid-row); export it again or delete the incomplete last line",
            row=num_rows + 1)


def _read_parquet(path: Path) -> tuple[pd.DataFrame, str | None]:
    try:
        table = pq.read_table(path)
        frame = table.to_pandas()
    except (pa.ArrowException, OSError, ValueError) as err:
        raise LogValidationError.at(path, f"cannot be read as Parquet: the file is truncated or corrupt "
                                    f"({err})") from err
    metadata = table.schema.metadata or {}
    declared = metadata.get(ENCODING_KEY.encode())
    return frame, None if declared is None else declared.decode("utf-8", errors="replace")


def _read_jsonl(path: Path) -> pd.DataFrame:
    try:
        with path.open("r", encoding="utf-8") as handle:
            return pd.read_json(handle, lines=True, dtype=False, precise_float=True)
    except UnicodeDecodeError as err:
        raise LogValidationError.at(path, f"not UTF-8 text ({err.reason} at byte {err.start})") from err
    except (ValueError, TypeError) as err:  # TypeError: a line that is valid JSON but not an object
        raise _json_error(path) or LogValidationError.at(
            path, f"not valid JSON lines ({err}); expected one JSON object per line") from err


def _json_error(path: Path) -> LogValidationError | None:
    """Find the first record that is not a JSON object (only runs once parsing has failed)."""
    with path.open("r", encoding="utf-8") as handle:
        lines = [line for line in handle if line.strip()]
    for index, line in enumerate(lines):
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            last = " (the last row: the file looks truncated, cut off mid-row)" if index == len(lines) - 1 \
                else ""
            return LogValidationError.at(path, f"not valid JSON{last}: {err.msg} at character {err.colno}; "
                                         "expected one JSON object per line", row=index + 1)
        if not isinstance(record, dict):
            return LogValidationError.at(path, f"expected a JSON object ({{\"column\": value, ...}}), got "
                                         f"{type(record).__name__}", row=index + 1)
    return None


# ---- encoding versions ---------------------------------------------------------------------------------
def _check_version(declared: object, source: str, declared_by: str) -> None:
    if str(declared) != ENCODING_VERSION:
        raise LogValidationError.at(
            source, f"observation encoding version {str(declared)!r} (declared by {declared_by}) does not "
            f"match this code's encoding version {ENCODING_VERSION!r}; re-export the logs with encoding "
            f"{ENCODING_VERSION} (the observation table in the README) or import them with the FightLab "
            "version they were made for")


def _sidecar_version(path: Path) -> str | None:
    sidecar = Path(str(path) + SIDECAR_SUFFIX)
    if not sidecar.is_file():
        return None
    try:
        meta = json.loads(sidecar.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise LogValidationError.at(sidecar, f"not valid JSON ({err}); expected "
                                    f"{{\"{ENCODING_KEY}\": \"{ENCODING_VERSION}\"}}") from err
    if not isinstance(meta, dict) or ENCODING_KEY not in meta:
        raise LogValidationError.at(sidecar, f"expected a JSON object with the key {ENCODING_KEY!r}, e.g. "
                                    f"{{\"{ENCODING_KEY}\": \"{ENCODING_VERSION}\"}}")
    _check_version(meta[ENCODING_KEY], str(path), f"its sidecar {sidecar.name}")
    return str(meta[ENCODING_KEY])


# ---- the matches table ----------------------------------------------------------------------------------
def derive_matches(frames: pd.DataFrame) -> pd.DataFrame:
    """The matches table implied by validated, sorted ``frames`` (for logs that come without one).

    HP left is side 0's last logged ``me_hp`` / ``opp_hp`` times FightLab's max HP (so a percentage
    for other games); the winner compares the unrounded fractions; the seed is -1 (unknown).
    """
    last = frames.drop_duplicates(["match_id", "side"], keep="last")
    side0 = last[last["side"].to_numpy() == 0].set_index("match_id")
    side1 = last[last["side"].to_numpy() == 1].set_index("match_id").reindex(side0.index)
    me_hp = side0["me_hp"].to_numpy(np.float64)
    opp_hp = side0["opp_hp"].to_numpy(np.float64)
    max_hp = GameParams().max_hp
    winner = np.where(me_hp > opp_hp, "player_0", np.where(me_hp < opp_hp, "player_1", "draw"))
    return pd.DataFrame({
        "match_id": side0.index.to_numpy(np.int64),
        "player_0_id": side0["player_id"].to_numpy(),
        "player_0_style": side0["style"].to_numpy(),
        "player_1_id": side1["player_id"].to_numpy(),
        "player_1_style": side1["style"].to_numpy(),
        "winner": winner,
        "hp_0": np.rint(me_hp * max_hp).astype(np.int32),
        "hp_1": np.rint(opp_hp * max_hp).astype(np.int32),
        "duration_frames": (side0["frame"].to_numpy(np.int64) + 1).astype(np.int32),
        "seed": np.full(len(side0), -1, dtype=np.int64),
    })


# ---- import ---------------------------------------------------------------------------------------------
def _as_paths(source: str | Path | Sequence[str | Path]) -> list[Path]:
    items = [source] if isinstance(source, (str, Path)) else list(source)
    if not items:
        raise ValueError("import_logs needs at least one log file")
    return [Path(item) for item in items]


def import_logs(source: str | Path | Sequence[str | Path], dest: str | Path, *,
                matches: str | Path | None = None, encoding_version: str | None = None,
                overwrite: bool = False, allow_out_of_bounds: bool = False) -> Path:
    """Validate the log file(s) ``source`` and write them as a dataset at ``dest``; return its path.

    ``source`` is one file or a list (CSV, Parquet or JSON lines, by extension; one match may span
    files). ``matches`` is an optional matches table file (else derived from the frames).
    ``encoding_version`` is the observation encoding your exporter wrote. Raises
    :class:`LogValidationError` (nothing is written) on any bad file or row, and
    :class:`FileExistsError` when ``dest`` exists and ``overwrite`` is False.
    """
    paths = _as_paths(source)
    dest = Path(dest)
    if (dest.exists() or dest.is_symlink()) and not overwrite:  # fail before reading gigabytes
        raise FileExistsError(f"{dest} already exists; pass overwrite=True (--overwrite) to replace it, "
                              "or choose another path")
    check_target(dest.absolute(), overwrite)  # and refuse to replace anything but a dataset
    for path in paths + ([Path(matches)] if matches is not None else []):
        check_log_file(path)
    if encoding_version is not None:
        for path in paths:
            _check_version(encoding_version, str(path), "the encoding_version argument (--encoding-version)")
    declared = {str(p): v for p in paths if (v := _sidecar_version(p)) is not None}
    tables = []
    for path in paths:
        table, version = read_log_table(path, FRAME_TEXT_COLUMNS)
        if version is not None:
            _check_version(version, str(path), f"its Parquet metadata key {ENCODING_KEY!r}")
            declared[str(path)] = version
        tables.append(table)
    frames = validate_frames(tables, [str(p) for p in paths], allow_out_of_bounds=allow_out_of_bounds)
    if matches is not None:
        match_table, _ = read_log_table(matches, MATCH_TEXT_COLUMNS)
        match_table = validate_matches(match_table, frames, str(matches))
    else:
        match_table = derive_matches(frames)
    generator: dict[str, Any] = {
        "source": "import",
        "files": [str(p) for p in paths],
        "matches": str(matches) if matches is not None else "derived from the frames",
        "declared_encoding_versions": declared or None,
        "encoding_version_argument": encoding_version,
        "allow_out_of_bounds": allow_out_of_bounds,
    }
    return write_dataset(dest, frames, match_table, generator=generator, seed=None, overwrite=overwrite)


# ---- command line ---------------------------------------------------------------------------------------
def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m datasets.importer",
        description="Import per-frame logs from your own game (CSV, Parquet or JSON lines in the log schema) "
                    "as a FightLab dataset. Everything is validated first; a bad file writes nothing.")
    parser.add_argument("sources", nargs="+", metavar="SOURCE",
                        help=f"log files ({', '.join(SUPPORTED_FORMATS)}); one match may span files")
    parser.add_argument("--out", required=True, metavar="DEST", help="dataset folder to write")
    parser.add_argument("--matches", metavar="FILE",
                        help="matches table (default: derived from the frames)")
    parser.add_argument("--encoding-version", metavar="V",
                        help=f"observation encoding your logs use (this code: {ENCODING_VERSION})")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing dataset at DEST")
    parser.add_argument("--allow-out-of-bounds", action="store_true",
                        help="import observation values outside the documented ranges, with a warning")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the importer; print a one-line summary, or the error and exit code 2 (no traceback)."""
    args = _parser().parse_args(argv)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", LogBoundsWarning)
        try:
            path = import_logs(args.sources, args.out, matches=args.matches,
                               encoding_version=args.encoding_version, overwrite=args.overwrite,
                               allow_out_of_bounds=args.allow_out_of_bounds)
        except (LogValidationError, FileNotFoundError, FileExistsError) as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
    for warning in caught:
        print(f"warning: {warning.message}", file=sys.stderr)
    manifest = json.loads((path / MANIFEST_NAME).read_text(encoding="utf-8"))
    files = len(args.sources)
    print(f"imported {manifest['num_matches']:,} matches ({manifest['num_frames']:,} rows) from {files} "
          f"file{'s' if files > 1 else ''} into {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
