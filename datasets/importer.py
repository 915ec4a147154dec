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

CSV files are comma-separated unless ``delimiter=`` (``--delimiter ';'``, ``--delimiter tab``) says
otherwise; a header that splits into the schema's names by another delimiter is named as such.
Parquet files written with page checksums (``write_page_checksum=True``) are verified on reading.
Before any file is read, the output is checked (its folder must be writable) and every file must be
given once; before any row is validated, the logs may name at most :data:`MAX_PLAYERS` distinct
players (the writer's player index is a 16-bit integer). Column types are converted only when no
value changes (see ``datasets.validation``).
"""

from __future__ import annotations

import argparse
import codecs
import csv
import io
import json
import os
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
    FRAME_COLUMN_NAMES,
    MATCH_COLUMN_NAMES,
    LogBoundsWarning,
    LogValidationError,
    duplicate_columns_message,
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
_HEADER_BYTES = 1 << 20
# delimiters a header is tried with when it does not split into known column names
DELIMITERS: dict[str, str] = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
_DELIMITER_WORDS = {"comma": ",", "semicolon": ";", "tab": "\t", "\\t": "\t", "pipe": "|"}
_KNOWN_COLUMNS = frozenset(FRAME_COLUMN_NAMES) | frozenset(MATCH_COLUMN_NAMES)
# the dataset writer stores each row's player as an index into the manifest's player list, an int16
# (``datasets.writer.DatasetWriter``): it registers at most this many distinct (player_id, style, skill)
MAX_PLAYERS = int(np.iinfo(np.int16).max)


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


def parse_delimiter(value: str) -> str:
    """A CSV delimiter from its character or name (``;``, ``tab``, ``\\t``, ``comma``, ``pipe``)."""
    delimiter = _DELIMITER_WORDS.get(value.lower(), value) if isinstance(value, str) else value
    if not isinstance(delimiter, str) or len(delimiter) != 1 or delimiter in "\"\r\n":
        raise ValueError(f"a CSV delimiter is one character other than a quote or a newline (or one of "
                         f"{', '.join(_DELIMITER_WORDS)}), got {value!r}")
    return delimiter


def _show_delimiter(delimiter: str) -> str:
    return "'\\t' (a tab)" if delimiter == "\t" else repr(delimiter)


def _cli_delimiter(delimiter: str) -> str:
    return "tab" if delimiter == "\t" else f"'{delimiter}'"


def read_log_table(path: str | Path, text_columns: Sequence[str] = FRAME_TEXT_COLUMNS, *,
                   delimiter: str = ",") -> tuple[pd.DataFrame, str | None]:
    """Read one log file into a DataFrame in file order, plus the encoding version it declares.

    ``text_columns`` are read as text in a CSV (a ``player_id`` of ``007`` stays ``"007"``);
    ``delimiter`` separates a CSV's fields. Any file that cannot be parsed (truncated, corrupt, a
    failed Parquet page checksum, not UTF-8, another delimiter, a repeated column name, not the format
    its extension says) raises :class:`LogValidationError` naming the file and, where it can be
    found, the line or row and the column; never a parser traceback.
    """
    path = Path(path)
    check_log_file(path)
    if path.stat().st_size == 0:
        raise LogValidationError.at(path, "the file is empty (0 bytes); a log needs at least one row")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return _read_csv(path, text_columns, parse_delimiter(delimiter)), None
    if suffix == ".parquet":
        return _read_parquet(path)
    return _read_jsonl(path), None


def _read_csv(path: Path, text_columns: Sequence[str], delimiter: str = ",") -> pd.DataFrame:
    _check_csv_header(path, delimiter)
    try:
        header = pd.read_csv(path, nrows=0, encoding="utf-8-sig", sep=delimiter).columns
        text = [c for c in header if c in text_columns]
        frame = pd.read_csv(
            path, encoding="utf-8-sig", sep=delimiter, dtype={c: str for c in text}, keep_default_na=False,
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
        raise _not_utf8(path, delimiter) or LogValidationError.at(
            path, f"not UTF-8 text ({err.reason}); save the CSV as UTF-8") from err
    # trailing blank lines (an editor's extra newline) are not rows
    end = len(frame)
    while end > 0 and frame.iloc[end - 1].isna().all():
        end -= 1
    frame = frame.iloc[:end]
    _check_last_csv_line(path, len(header), len(frame), delimiter)
    return frame


def _split(line: str, delimiter: str) -> list[str]:
    return [field.strip() for field in next(csv.reader([line], delimiter=delimiter), [])]


def _check_csv_header(path: Path, delimiter: str) -> None:
    """Before parsing: a header that splits into known column names only by another delimiter, and
    a column name given twice (pandas would rename the second ``me_hp`` to ``me_hp.1``)."""
    with path.open("rb") as handle:
        first = handle.readline(_HEADER_BYTES)
    line = first.decode("utf-8", errors="replace").removeprefix("\ufeff").rstrip("\r\n")
    names = _split(line, delimiter)
    known = sum(name in _KNOWN_COLUMNS for name in names)
    for other in DELIMITERS:
        if other == delimiter or other not in line:
            continue
        split = _split(line, other)
        found = sum(name in _KNOWN_COLUMNS for name in split)
        if found >= 2 and found > known:
            shown = ", ".join(split[:4]) + (", ..." if len(split) > 4 else "")
            raise LogValidationError.at(
                path, f"the file seems to use {_show_delimiter(other)} as delimiter, not "
                f"{_show_delimiter(delimiter)}: its header splits into {len(split)} columns by {other!r} "
                f"({shown}; {found} of them known column names) but into {len(names)} by {delimiter!r}; "
                f"pass --delimiter {_cli_delimiter(other)} (import_logs(..., delimiter={other!r})) or "
                f"export the file with {delimiter!r} between fields", row=1)
    repeated = [name for name in dict.fromkeys(names) if names.count(name) > 1]
    if repeated:
        raise LogValidationError.at(path, duplicate_columns_message(names, repeated), row=1,
                                    column=repeated[0])


def _not_utf8(path: Path, delimiter: str | None = None) -> LogValidationError | None:
    """Where the first byte that is not UTF-8 is: the line (CSV, header = line 1) or row (JSON lines,
    blank lines not counted), the column it falls in, and its character position on the line."""
    csv_file = delimiter is not None
    header: list[str] = []
    row = 0
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if number == 1 and raw.startswith(codecs.BOM_UTF8):
                raw = raw[len(codecs.BOM_UTF8):]
            if raw.strip():
                row += 1
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as err:
                bad, reason = err.start, err.reason
                break
            if number == 1 and csv_file:
                header = _split(line, delimiter)
        else:
            return None
    character = len(raw[:bad].decode("utf-8")) + 1
    escaped = raw.decode("utf-8", errors="surrogateescape").rstrip("\r\n")
    column = None
    if csv_file:
        fields = next(csv.reader([escaped], delimiter=delimiter), [])
        index = next((i for i, f in enumerate(fields) if _has_bad_byte(f)), None)
        if number == 1:
            column = None  # a column name itself
        elif index is not None and index < len(header):
            column = header[index]
    else:
        column = _json_key_with_bad_byte(escaped, character)
    start = max(0, character - 16)
    near = escaped[start:character + 15].encode("utf-8", errors="surrogateescape").decode(
        "utf-8", errors="backslashreplace")
    what = "in the header" if csv_file and number == 1 else ""
    advice = "save the CSV as UTF-8 (in Excel: CSV UTF-8)" if csv_file else "write the file as UTF-8"
    return LogValidationError.at(
        path, f"not UTF-8 text{' ' + what if what else ''}: byte 0x{raw[bad]:02x} at character "
        f"{character} of the {'line' if csv_file else 'row'} ({reason}), near '{near}'; {advice}",
        row=number if csv_file else row, column=column)


def _has_bad_byte(text: str) -> bool:
    return any("\udc80" <= ch <= "\udcff" for ch in text)


def _json_key_with_bad_byte(line: str, character: int) -> str | None:
    """The key whose value (or name) holds the undecodable byte, in a line decoded with surrogateescape."""
    try:
        record = json.loads(line)
    except ValueError:
        record = None
    if isinstance(record, dict):
        for key, value in record.items():
            if _has_bad_byte(str(key)):
                return None  # a column name itself
            if _has_bad_byte(value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)):
                return str(key)
    keys = re.findall(r'"((?:[^"\\]|\\.)*)"\s*:', line[:character - 1])  # not JSON: the last key before it
    return keys[-1] if keys else None


def _check_last_csv_line(path: Path, num_columns: int, num_rows: int, delimiter: str = ",") -> None:
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
    fields = next(csv.reader([lines[-1]], delimiter=delimiter), [])
    if len(fields) < num_columns:
        raise LogValidationError.at(
            path, f"the last line has {len(fields)} of the header's {num_columns} fields: the file looks "
            "truncated (cut off mid-row); export it again or delete the incomplete last line",
            row=num_rows + 1)


def _read_parquet(path: Path) -> tuple[pd.DataFrame, str | None]:
    try:
        names = pq.read_schema(path).names
        repeated = [name for name in dict.fromkeys(names) if names.count(name) > 1]
        if repeated:  # Arrow cannot select columns by a repeated name: say which one it is
            raise LogValidationError.at(path, duplicate_columns_message(names, repeated), column=repeated[0])
        # pages written with a CRC (write_page_checksum=True) are verified; pages without one are not
        table = pq.read_table(path, page_checksum_verification=True)
        frame = table.to_pandas()
    except LogValidationError:
        raise
    except (pa.ArrowException, OSError, ValueError) as err:
        if "checksum" in str(err).lower():
            raise _checksum_error(path, err) from err
        raise LogValidationError.at(path, f"cannot be read as Parquet: the file is truncated or corrupt "
                                    f"({err})") from err
    metadata = table.schema.metadata or {}
    declared = metadata.get(ENCODING_KEY.encode())
    return frame, None if declared is None else declared.decode("utf-8", errors="replace")


def _checksum_error(path: Path, err: Exception) -> LogValidationError:
    """Name the column and rows (row group) whose page failed its checksum (only runs on failure)."""
    advice = ("the file changed after it was written (a damaged disk, copy or download): copy or export "
              "it again")
    try:
        parquet = pq.ParquetFile(path, page_checksum_verification=True)
        first_row = 0
        for group in range(parquet.num_row_groups):
            rows = parquet.metadata.row_group(group).num_rows
            for name in parquet.schema_arrow.names:
                try:
                    parquet.read_row_group(group, columns=[name])
                except (pa.ArrowException, OSError):
                    return LogValidationError.at(
                        path, f"a data page of this column in rows {first_row + 1}..{first_row + rows} (row "
                        f"group {group + 1} of {parquet.num_row_groups}) fails its page checksum ({err}); "
                        f"{advice}", row=first_row + 1, column=name)
            first_row += rows
    except (pa.ArrowException, OSError, ValueError):
        pass
    return LogValidationError.at(path, f"a data page fails its page checksum ({err}); {advice}")


def _read_jsonl(path: Path) -> pd.DataFrame:
    try:
        with path.open("r", encoding="utf-8") as handle:
            return pd.read_json(handle, lines=True, dtype=False, precise_float=True)
    except UnicodeDecodeError as err:
        raise _not_utf8(path) or LogValidationError.at(path, f"not UTF-8 text ({err.reason})") from err
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


def _check_each_file_once(paths: Sequence[Path], matches: Path | None) -> None:
    """The same file (after resolving ``./``, ``..`` and links) given twice would be its own duplicate."""
    seen: dict[Path, int] = {}
    for index, path in enumerate(paths):
        first = seen.setdefault(path.resolve(), index)
        if first != index:
            also = "" if str(paths[first]) == str(path) else f" (also as {str(paths[first])!r})"
            raise LogValidationError.at(
                path, f"this file was given twice{also}: as log files {first + 1} and {index + 1} of "
                f"{len(paths)}; pass each file once (a match split across files needs each part once)")
    if matches is not None and matches.resolve() in seen:
        raise LogValidationError.at(
            matches, f"the matches file is also given as log file {seen[matches.resolve()] + 1}; pass the "
            "frames as log files and the matches table only with --matches (matches=)")


def _check_output_writable(dest: Path) -> None:
    """Fail before reading anything when the dataset cannot be created where asked.

    The writer creates missing folders, a hidden temp folder beside ``dest`` and renames it into
    place, so the nearest existing folder above ``dest`` must be writable.
    """
    dest = dest.absolute()
    folder = dest.parent
    while not (folder.exists() or folder.is_symlink()) and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise NotADirectoryError(f"{dest}: cannot create the dataset there: {folder} is a file, not a "
                                 "folder; choose another --out (dest)")
    if not os.access(folder, os.W_OK | os.X_OK):
        need = "the dataset folder" if folder == dest.parent else f"the folder {dest.parent}"
        raise PermissionError(f"{dest}: cannot write the dataset there: {folder} is read-only (no permission "
                              f"to create {need} in it); choose another --out (dest) or make {folder} "
                              "writable")


def _check_player_count(tables: Sequence[pd.DataFrame], paths: Sequence[Path]) -> None:
    """More distinct (player_id, style, skill) than the writer's int16 player index holds."""
    columns = ("player_id", "style", "skill")
    if not all(c in t.columns for t in tables for c in columns) or sum(len(t) for t in tables) <= MAX_PLAYERS:
        return  # missing columns are the validator's to report
    codes = pd.DataFrame({c: pd.factorize(pd.concat([t[c].astype(str) for t in tables],
                                                    ignore_index=True))[0] for c in columns})
    first = codes.drop_duplicates()
    if len(first) <= MAX_PLAYERS:
        return
    position = int(first.index[MAX_PLAYERS])  # where the first player past the limit appears
    index = 0
    while position >= len(tables[index]):
        position -= len(tables[index])
        index += 1
    path, table = paths[index], tables[index]
    player = tuple(str(table[c].iloc[position]) for c in columns)
    raise LogValidationError.at(
        path, f"the logs name {len(first):,} distinct players ((player_id, style, skill) combinations), more "
        f"than the {MAX_PLAYERS:,} a dataset holds (its player index is a 16-bit integer); player number "
        f"{MAX_PLAYERS + 1:,} {player!r} first appears here. Import the logs as several datasets",
        row=position + (2 if path.suffix.lower() == ".csv" else 1), column="player_id")


def import_logs(source: str | Path | Sequence[str | Path], dest: str | Path, *,
                matches: str | Path | None = None, encoding_version: str | None = None,
                overwrite: bool = False, allow_out_of_bounds: bool = False, delimiter: str = ",") -> Path:
    """Validate the log file(s) ``source`` and write them as a dataset at ``dest``; return its path.

    ``source`` is one file or a list (CSV, Parquet or JSON lines, by extension; one match may span
    files; each file once). ``matches`` is an optional matches table file (else derived from the
    frames). ``encoding_version`` is the observation encoding your exporter wrote. ``delimiter``
    separates the fields of every CSV file (``","``; ``";"``, ``"\\t"`` or ``"tab"``, ...). Raises
    :class:`LogValidationError` (nothing is written) on any bad file or row, :class:`FileExistsError`
    when ``dest`` exists and ``overwrite`` is False, and :class:`PermissionError` (before reading)
    when the folder it would be created in is read-only.
    """
    paths = _as_paths(source)
    dest = Path(dest)
    delimiter = parse_delimiter(delimiter)
    if (dest.exists() or dest.is_symlink()) and not overwrite:  # fail before reading gigabytes
        raise FileExistsError(f"{dest} already exists; pass overwrite=True (--overwrite) to replace it, "
                              "or choose another path")
    check_target(dest.absolute(), overwrite)  # and refuse to replace anything but a dataset
    _check_output_writable(dest)
    for path in paths + ([Path(matches)] if matches is not None else []):
        check_log_file(path)
    _check_each_file_once(paths, Path(matches) if matches is not None else None)
    if encoding_version is not None:
        for path in paths:
            _check_version(encoding_version, str(path), "the encoding_version argument (--encoding-version)")
    declared = {str(p): v for p in paths if (v := _sidecar_version(p)) is not None}
    tables = []
    for path in paths:
        table, version = read_log_table(path, FRAME_TEXT_COLUMNS, delimiter=delimiter)
        if version is not None:
            _check_version(version, str(path), f"its Parquet metadata key {ENCODING_KEY!r}")
            declared[str(path)] = version
        tables.append(table)
    _check_player_count(tables, paths)  # before validating: the writer could not store them
    frames = validate_frames(tables, [str(p) for p in paths], allow_out_of_bounds=allow_out_of_bounds)
    if matches is not None:
        match_table, _ = read_log_table(matches, MATCH_TEXT_COLUMNS, delimiter=delimiter)
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
        "delimiter": delimiter,
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
    parser.add_argument("--delimiter", default=",", type=_delimiter_argument, metavar="CHAR",
                        help="field delimiter of the CSV files: one character, or tab / semicolon / pipe "
                             "(default: ',')")
    return parser


def _delimiter_argument(value: str) -> str:
    try:
        return parse_delimiter(value)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from err


def main(argv: Sequence[str] | None = None) -> int:
    """Run the importer; print a one-line summary, or the error and exit code 2 (no traceback)."""
    args = _parser().parse_args(argv)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", LogBoundsWarning)
        try:
            path = import_logs(args.sources, args.out, matches=args.matches,
                               encoding_version=args.encoding_version, overwrite=args.overwrite,
                               allow_out_of_bounds=args.allow_out_of_bounds, delimiter=args.delimiter)
        except (LogValidationError, OSError) as err:  # OSError: missing file, existing or read-only output
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
