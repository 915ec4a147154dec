"""Validating user logs before they become a dataset: every problem named by file, row and column.

A data person exports logs from their own game and imports them (``datasets.importer``). A bad log
must fail *before* anything is written and tell them exactly what to fix: which file, which row
(as they see it: ``line N`` of a CSV, whose header is line 1; ``row N`` of a Parquet or JSON-lines
file), which column, and what was expected. A log that silently imports wrong (a missing frame, a
``GUARD`` stored under the id of ``LIGHT_ATTACK``, HP in points instead of a fraction) would poison
every model trained on it, and nobody would find out from the accuracy curve.

The checks are vectorized (pandas / numpy over whole columns, no Python loop over rows), so
millions of rows validate in seconds. Each kind of problem reports its *first* offending row (in
file order) and how many values in all have it; all kinds found are reported together, so one run
lists everything to fix. Checks run in stages: the columns must be right before their values are
checked, and the values must be right before rows are checked against each other (duplicates,
gaps, missing sides), because those checks mean nothing on unparsed values.

Observation values outside the encoding's documented bounds (``observation_field_table()``) are an
**error** by default: the encoding is normalised (HP as a fraction, distances in stage widths, timers
in seconds), so a value outside its range nearly always means a wrong unit, which would train a model
on numbers that mean something else. ``allow_out_of_bounds=True`` turns them into a
:class:`LogBoundsWarning` for games whose values legitimately run past the ranges.

Column types: a column whose type differs from the schema's is converted only when no value changes
(lossless casts), else it is an error naming the type found and the type expected. So an integer
observation column (a CSV flag column of 0 / 1 is read as int64) becomes float32 when every value
is exact in float32 (whole numbers up to 2**24 = 16,777,216 in magnitude), and a float column becomes
an integer column when every value is whole and in the type's range (``3.0`` is frame 3, ``3.5`` is
an error). The one rounding accepted is float64 observations to the nearest float32, the schema's
stored type (a change in the 8th significant digit, never in the value's meaning).
"""

from __future__ import annotations

import difflib
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from datasets.schema import ACTION_IDS, FRAME_COLUMNS, MATCH_COLUMNS, OBSERVATION_COLUMNS
from envs.actions import ACTION_NAMES, NUM_ACTIONS
from envs.observation import observation_field_table

FRAME_COLUMN_NAMES: tuple[str, ...] = tuple(name for name, _, _ in FRAME_COLUMNS)
MATCH_COLUMN_NAMES: tuple[str, ...] = tuple(name for name, _, _ in MATCH_COLUMNS)
WINNERS: tuple[str, ...] = ("player_0", "player_1", "draw")
BOUNDS_TOLERANCE = 1e-5  # float rounding in the user's exporter is not a unit error
MAX_PROBLEMS_SHOWN = 20

_FIELD_TABLE = {row["name"]: row for row in observation_field_table()}
_OBS_LOW = np.array([_FIELD_TABLE[c]["low"] for c in OBSERVATION_COLUMNS], dtype=np.float64)
_OBS_HIGH = np.array([_FIELD_TABLE[c]["high"] for c in OBSERVATION_COLUMNS], dtype=np.float64)
_FLOAT32_MAX = float(np.finfo(np.float32).max)
FLOAT32_EXACT_INT = 2 ** 24  # every whole number up to this magnitude is exact in float32
_ACTION_LIST = ", ".join(ACTION_NAMES)


class LogValidationError(ValueError):
    """A log file (or several) that cannot be imported; ``problems`` lists each kind of problem.

    ``str(error)`` is the message to show the user. ``source``, ``row`` and ``column`` are those of
    the first problem, for programs that want to point at it.
    """

    def __init__(self, problems: Sequence[LogProblem]) -> None:
        self.problems: list[LogProblem] = list(problems)
        if not self.problems:
            raise ValueError("LogValidationError needs at least one problem")
        first = self.problems[0]
        self.source, self.row, self.column = first.source, first.row, first.column
        super().__init__(_format_problems(self.problems))

    @classmethod
    def at(cls, source: str | Path, message: str, *, row: int | None = None, column: str | None = None
           ) -> LogValidationError:
        """One problem in ``source`` (at ``row`` as the user counts it, when known)."""
        source = str(source)
        return cls([LogProblem(source, row, row_kind_of(source), column, message)])


class LogBoundsWarning(UserWarning):
    """Observation values outside the encoding's documented range, imported anyway on request."""


@dataclass(frozen=True)
class LogProblem:
    """One kind of problem: where it first occurs and what was expected there."""

    source: str
    row: int | None  # 1-based, as the user sees it (a CSV's header is line 1); None: the whole file
    row_kind: str  # "line" (CSV) or "row" (Parquet, JSON lines, in-memory tables)
    column: str | None
    message: str
    count: int = 1  # offending values of this kind in all

    def __str__(self) -> str:
        where = [self.source]
        if self.row is not None:
            where.append(f"{self.row_kind} {self.row}")
        if self.column is not None:
            where.append(f"column {self.column!r}" if "," not in self.column
                         else f"columns {self.column}")
        more = f" ({self.count:,} in all)" if self.count > 1 else ""
        return f"{', '.join(where)}: {self.message}{more}"


def _format_problems(problems: Sequence[LogProblem]) -> str:
    if len(problems) == 1:
        return str(problems[0])
    shown = [f"  - {p}" for p in problems[:MAX_PROBLEMS_SHOWN]]
    if len(problems) > MAX_PROBLEMS_SHOWN:
        shown.append(f"  ... and {len(problems) - MAX_PROBLEMS_SHOWN} more kinds of problem")
    return (f"invalid log: {len(problems)} kinds of problem (the first offending row of each, in file "
            "order):\n"
            + "\n".join(shown))


def row_kind_of(source: str) -> str:
    """``"line"`` for CSV files (numbered as a text editor shows them), ``"row"`` for everything else."""
    return "line" if str(source).lower().endswith(".csv") else "row"


@dataclass
class _Where:
    """Maps a row position in a (possibly concatenated) table back to its file and row number."""

    sources: list[str]
    starts: np.ndarray  # position of each source's first row in the concatenated table
    kinds: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, sources: Sequence[str], lengths: Sequence[int]) -> _Where:
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
        return cls(list(sources), starts, [row_kind_of(s) for s in sources])

    def problem(self, position: int | None, column: str | None, message: str, count: int = 1,
                source_index: int = 0) -> LogProblem:
        if position is None:
            return LogProblem(self.sources[source_index], None, self.kinds[source_index], column,
                              message, count)
        k = int(np.searchsorted(self.starts, position, side="right") - 1)
        offset = int(position - self.starts[k])
        kind = self.kinds[k]
        return LogProblem(self.sources[k], offset + (2 if kind == "line" else 1), kind, column,
                          message, count)


class _Problems:
    """Collects the first offending row of each kind of problem (earliest in file order wins)."""

    def __init__(self, where: _Where) -> None:
        self.where = where
        self._first: dict[str, tuple[int, int, LogProblem]] = {}
        self._counts: dict[str, int] = {}
        self._order = 0

    def add(self, kind: str, position: int | None, column: str | None, message: str,
            count: int = 1) -> None:
        self._counts[kind] = self._counts.get(kind, 0) + count
        key = -1 if position is None else int(position)
        if kind not in self._first or key < self._first[kind][0]:
            order = self._first[kind][1] if kind in self._first else self._order
            self._first[kind] = (key, order, self.where.problem(position, column, message))
        self._order += 1

    def __bool__(self) -> bool:
        return bool(self._first)

    def raise_if_any(self) -> None:
        if not self._first:
            return
        problems = []
        # in file order, so the list reads top to bottom like the file
        for kind, (_, _, problem) in sorted(self._first.items(), key=lambda item: item[1][:2]):
            problems.append(LogProblem(problem.source, problem.row, problem.row_kind, problem.column,
                                       problem.message, self._counts[kind]))
        raise LogValidationError(problems)


def _string_dtype() -> object:
    """pandas' default text dtype (``str`` in pandas 3, object in 2.x): what Parquet reads back as."""
    return pd.Series(["x"]).astype("str").dtype


def _first(mask: np.ndarray) -> int:
    return int(np.argmax(mask))


def _show(value: object) -> str:
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, (float, np.floating)):
        return repr(float(value))
    if isinstance(value, (bool, np.bool_)):
        return f"{bool(value)!r} (a boolean; write flags as 0 / 1)"
    return repr(value.item() if isinstance(value, np.generic) else value)


# ---- columns ----------------------------------------------------------------------------------------
def _check_columns(columns: Sequence[object], expected: Sequence[str], where: _Where,
                   source_index: int, what: str) -> None:
    """Missing and unknown columns, each listed, with the expected columns and close-match hints."""
    names = [str(c) for c in columns]
    missing = [c for c in expected if c not in names]
    extra = [c for c in dict.fromkeys(names) if c not in expected]
    duplicated = [c for c in dict.fromkeys(names) if names.count(c) > 1]
    kind = where.kinds[source_index]
    header = 1 if kind == "line" else None

    def problem(message: str, column: str | None = None) -> LogProblem:
        return LogProblem(where.sources[source_index], header, kind, column, message)

    if duplicated and not missing and not extra:  # only repeats: name them, not all 50 columns
        raise LogValidationError([problem(duplicate_columns_message(names, duplicated), duplicated[0])])
    parts = []
    if missing:
        parts.append(f"missing {len(missing)} column{'s' if len(missing) > 1 else ''}: {', '.join(missing)}")
    if extra:
        hints = []
        for name in extra:
            close = difflib.get_close_matches(name, missing or expected, n=1)
            hints.append(f"{name!r} (did you mean {close[0]!r}?)" if close else repr(name))
        if len(hints) > 10:
            hints = hints[:10] + [f"and {len(hints) - 10} more"]
        parts.append(f"unknown column{'s' if len(extra) > 1 else ''}: {', '.join(hints)}")
    if duplicated:
        parts.append(duplicate_columns_message(names, duplicated, advice=False))
    if parts:
        raise LogValidationError([problem(
            f"{'; '.join(parts)}; {what} needs exactly these {len(expected)} columns (in any order): "
            f"{', '.join(expected)}")])


def duplicate_columns_message(names: Sequence[str], duplicated: Sequence[str], advice: bool = True) -> str:
    """``me_hp appears twice (columns 9 and 51)``, for each repeated name, 1-based header positions."""
    times = {2: "twice", 3: "three times"}
    parts = []
    for name in duplicated:
        positions = [str(i + 1) for i, n in enumerate(names) if n == name]
        parts.append(f"{name} appears {times.get(len(positions), f'{len(positions)} times')} (columns "
                     f"{', '.join(positions[:-1])} and {positions[-1]})")
    text = "; ".join(parts)
    if advice:
        extra = len(names) - len(set(names))
        text += ("; each column must appear exactly once: delete or rename the extra "
                 f"{'copy' if extra == 1 else 'copies'}")
    return text


def _check_not_empty(table: pd.DataFrame, where: _Where, source_index: int, what: str) -> None:
    if len(table) == 0:
        raise LogValidationError([where.problem(
            None, None, f"the file has no rows; {what} needs at least one row", source_index=source_index)])


# ---- values -----------------------------------------------------------------------------------------
def _as_numbers(series: pd.Series, column: str, expected: str, problems: _Problems, base: int
                ) -> np.ndarray | None:
    """The column as a float64 or int64 array, or None after reporting a value that is not a number."""
    dtype = series.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        series = series.astype(object)
        dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype):
        problems.add("dtype", base, column, f"expected {expected}, got {_show(series.iloc[0])}",
                     len(series))
        return None
    if pd.api.types.is_numeric_dtype(dtype):
        if pd.api.types.is_extension_array_dtype(dtype):  # nullable Int64 / Float64
            return series.to_numpy(dtype=np.float64, na_value=np.nan)
        values = series.to_numpy()
        if values.dtype.kind == "u":
            too_big = values > np.iinfo(np.int64).max
            if too_big.any():
                p = _first(too_big)
                problems.add(f"range:{column}", base + p, column,
                             f"expected {expected}, got {values[p]} (does not fit a 64-bit integer)",
                             int(too_big.sum()))
                return None
            return values.astype(np.int64)
        return values
    if pd.api.types.is_object_dtype(dtype) or pd.api.types.is_string_dtype(dtype):
        numbers = pd.to_numeric(series, errors="coerce")
        bad = (numbers.isna() & series.notna()).to_numpy()
        if bad.any():
            p = _first(bad)
            problems.add("dtype", base + p, column,
                         f"expected {expected}, got {_show(series.iloc[p])} (not a number)", int(bad.sum()))
            return None
        return numbers.to_numpy()
    problems.add("dtype", base, column,
                 f"expected {expected}, got values of type {dtype} ({_show(series.iloc[0])})", len(series))
    return None


def _as_integers(series: pd.Series, column: str, dtype: np.dtype, expected: str, problems: _Problems,
                 base: int, low: int | None = None, high: int | None = None,
                 range_message: str | None = None) -> np.ndarray | None:
    """The column cast to ``dtype``: no missing values, whole numbers, within ``[low, high]``."""
    values = _as_numbers(series, column, expected, problems, base)
    if values is None:
        return None
    if values.dtype.kind == "f":
        missing = np.isnan(values)
        if missing.any():
            p = _first(missing)
            problems.add("missing", base + p, column, f"missing value; expected {expected}",
                         int(missing.sum()))
            return None
        fractional = ~np.isfinite(values) | (values != np.round(values))
        if fractional.any():
            p = _first(fractional)
            problems.add("dtype", base + p, column, f"expected {expected}, got {_show(values[p])}",
                         int(fractional.sum()))
            return None
    info = np.iinfo(dtype)
    low = info.min if low is None else low
    high = info.max if high is None else high
    out = (values < low) | (values > high)
    if out.any():
        p = _first(out)
        value = values[p].item()
        value = int(value) if float(value).is_integer() else value
        message = (range_message.format(value=value) if range_message
                   else f"expected {expected}, got {value} (out of range {low}..{high})")
        problems.add(f"range:{column}", base + p, column, message, int(out.sum()))
        return None
    return values.astype(dtype)


def _as_text(series: pd.Series, column: str, problems: _Problems, base: int,
             allow_integers: bool = True) -> pd.Series | None:
    """Non-empty text. Integer columns (``player_id`` 7) are taken as their decimal text."""
    dtype = series.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        series = series.astype(object)
        dtype = series.dtype
    if allow_integers and pd.api.types.is_integer_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype):
        return series.astype("str")
    missing = series.isna().to_numpy()
    if pd.api.types.is_object_dtype(dtype) and \
            pd.api.types.infer_dtype(series, skipna=True) not in ("string", "empty"):
        # only now look value by value, to name the first value that is not text
        not_text = ~series.map(lambda value: isinstance(value, str)).to_numpy(dtype=bool) & ~missing
        if not_text.any():
            p = _first(not_text)
            problems.add("dtype", base + p, column, f"expected text, got {_show(series.iloc[p])}",
                         int(not_text.sum()))
            return None
    elif not pd.api.types.is_string_dtype(dtype):
        p = _first(~missing) if (~missing).any() else 0
        if (~missing).any():
            problems.add("dtype", base + p, column,
                         f"expected text, got {_show(series.iloc[p])} (values of type {dtype})",
                         int((~missing).sum()))
            return None
    text = series.astype("str")
    empty = missing | (text.str.strip() == "").to_numpy(dtype=bool, na_value=True)
    if empty.any():
        p = _first(empty)
        problems.add("missing", base + p, column, "missing or empty value; expected non-empty text",
                     int(empty.sum()))
        return None
    return text


def _check_observations(table: pd.DataFrame, problems: _Problems, base: int,
                        allow_out_of_bounds: bool) -> dict[str, np.ndarray] | None:
    """The 42 observation columns as float32 arrays: numbers, finite, within the encoding's bounds.

    Column by column (not one (N, 42) array) to keep memory flat on big files; each kind of problem
    still reports its first row across all columns, because :class:`_Problems` keeps the earliest.
    """
    columns: dict[str, np.ndarray] = {}
    bad = False
    out_of_bounds: list[tuple[int, str, float, int]] = []  # (first position, column, value, count)
    for name in OBSERVATION_COLUMNS:
        field_row = _FIELD_TABLE[name]
        low, high = float(field_row["low"]), float(field_row["high"])
        expected = f"a number in [{low:g}, {high:g}] ({field_row['unit']})"
        values = _as_numbers(table[name], name, expected, problems, base)
        if values is None:
            bad = True
            continue
        found = table[name].dtype
        if pd.api.types.is_integer_dtype(found) and not pd.api.types.is_bool_dtype(found):
            # an integer column (a 0 / 1 flag column read from a CSV) is cast only when no value changes
            inexact = np.abs(values.astype(np.float64)) > FLOAT32_EXACT_INT
            if inexact.any():
                bad = True
                p = _first(inexact)
                problems.add("float32_exact", base + p, name,
                             f"got {int(values[p])} in a column of type {found}; expected float32, which "
                             f"holds whole numbers exactly only up to {FLOAT32_EXACT_INT:,} in magnitude, so "
                             "this value would change on import (integer columns are converted to float32 "
                             "only when no value changes); write the field as a float in its documented unit",
                             int(inexact.sum()))
                continue
        values = values.astype(np.float64, copy=False)
        finite = np.isfinite(values)
        if not finite.all():
            bad = True
            nan = np.isnan(values)
            if nan.any():
                problems.add("nan", base + _first(nan), name,
                             "NaN or empty value; observation fields must be finite numbers", int(nan.sum()))
            infinite = ~finite & ~nan
            if infinite.any():
                p = _first(infinite)
                problems.add("inf", base + p, name,
                             f"got {values[p]}; observation fields must be finite numbers",
                             int(infinite.sum()))
        too_big = finite & (np.abs(values) > _FLOAT32_MAX)
        if too_big.any():
            bad = True
            p = _first(too_big)
            problems.add("float32", base + p, name, f"got {values[p]:g}, which does not fit a 32-bit float",
                         int(too_big.sum()))
        outside = finite & ((values < low - BOUNDS_TOLERANCE) | (values > high + BOUNDS_TOLERANCE))
        if outside.any():
            p = _first(outside)
            out_of_bounds.append((p, name, float(values[p]), int(outside.sum())))
        columns[name] = values.astype(np.float32)
    if out_of_bounds:
        p, name, value, _ = min(out_of_bounds, key=lambda item: item[0])  # stable: column order on ties
        count = sum(item[3] for item in out_of_bounds)
        field_row = _FIELD_TABLE[name]
        message = (f"value {value:g} is outside the encoding's range [{field_row['low']:g}, "
                   f"{field_row['high']:g}] for this field ({field_row['unit']}: "
                   f"{field_row['description']}); a wrong unit or scale?")
        if allow_out_of_bounds:
            location = problems.where.problem(base + p, name, message, count)
            warnings.warn(f"{location}; imported anyway (allow_out_of_bounds)", LogBoundsWarning,
                          stacklevel=4)
        else:
            problems.add("bounds", base + p, name,
                         message + " Pass allow_out_of_bounds=True (--allow-out-of-bounds) to import such "
                         "values with a warning", count)
            bad = True
    return None if bad else columns


def _check_frame_values(table: pd.DataFrame, problems: _Problems, base: int,
                        allow_out_of_bounds: bool) -> pd.DataFrame | None:
    """One file's frames cast to the schema dtypes, in file order; None when problems were found."""
    match_id = _as_integers(table["match_id"], "match_id", np.dtype(np.int64), "an integer match id",
                            problems, base)
    frame = _as_integers(table["frame"], "frame", np.dtype(np.int32), "an integer frame index >= 0",
                         problems, base, low=0)
    side = _as_integers(table["side"], "side", np.dtype(np.int8), "side 0 or 1", problems, base,
                        low=0, high=1, range_message="side must be 0 or 1, got {value}")
    action_id = _as_integers(
        table["action_id"], "action_id", np.dtype(np.int16), f"an integer command id 0..{NUM_ACTIONS - 1}",
        problems, base, low=0, high=NUM_ACTIONS - 1,
        range_message=f"action id {{value}} is out of range: valid ids are 0..{NUM_ACTIONS - 1} "
                      f"({_ACTION_LIST})")
    text = {name: _as_text(table[name], name, problems, base) for name in ("player_id", "style", "skill")}
    action_name = _as_text(table["action_name"], "action_name", problems, base, allow_integers=False)
    codes = None
    if action_name is not None:
        codes = pd.Index(ACTION_NAMES).get_indexer(action_name)
        unknown = codes < 0
        if unknown.any():
            p = _first(unknown)
            name = action_name.iloc[p]
            close = difflib.get_close_matches(str(name).strip().upper(), ACTION_NAMES, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            problems.add("action_name", base + p, "action_name",
                         f"unknown action name {name!r}{hint}; expected one of {_ACTION_LIST}",
                         int(unknown.sum()))
            codes = None
    obs = _check_observations(table, problems, base, allow_out_of_bounds)
    if codes is not None and action_id is not None:
        mismatch = codes != action_id
        if mismatch.any():
            p = _first(mismatch)
            got = action_name.iloc[p]
            problems.add("action_mismatch", base + p, "action_id, action_name",
                         f"action_id {action_id[p]} means {ACTION_NAMES[action_id[p]]} but action_name is "
                         f"{got!r} (id {ACTION_IDS[got]}); action_id and action_name must name the "
                         "same command", int(mismatch.sum()))
    if problems:
        return None
    # text columns stay pandas strings (Arrow-backed in pandas 3): converting them to Python objects
    # would cost more than all the checks together on a big file
    string_dtype = _string_dtype()
    columns: dict[str, object] = {"match_id": match_id, "frame": frame, "side": side}
    for name in ("player_id", "style", "skill"):
        columns[name] = text[name].astype(string_dtype).reset_index(drop=True)
    columns.update(obs)
    columns["action_id"] = action_id
    columns["action_name"] = action_name.astype(string_dtype).reset_index(drop=True)
    return pd.DataFrame(columns)


# ---- rows against each other ---------------------------------------------------------------------
def _check_frame_rows(frames: pd.DataFrame, problems: _Problems) -> None:
    """Duplicates, missing sides, gaps in frame numbers and a player changing within a match side."""
    match_id = frames["match_id"].to_numpy()
    frame = frames["frame"].to_numpy()
    side = frames["side"].to_numpy()
    keys = pd.DataFrame({"match_id": match_id, "frame": frame, "side": side})
    duplicated = keys.duplicated(keep="first").to_numpy()
    if duplicated.any():
        p = _first(duplicated)
        twin = _first((match_id == match_id[p]) & (frame == frame[p]) & (side == side[p]))
        first = problems.where.problem(twin, None, "")
        problems.add("duplicate", p, "match_id, frame, side",
                     f"(match_id {match_id[p]}, frame {frame[p]}, side {side[p]}) appears again; first at "
                     f"{first.source}, {first.row_kind} {first.row}. Each (match_id, frame, side) must "
                     "appear exactly once", int(duplicated.sum()))
        return  # gaps and side counts mean nothing with duplicated rows

    # every match needs both sides
    per_match = keys.groupby("match_id", sort=False)["side"].agg(["min", "max"])
    one_sided = per_match.index[(per_match["min"] == per_match["max"]).to_numpy()]
    if len(one_sided):
        rows = np.isin(match_id, one_sided.to_numpy())
        p = _first(rows)
        present = int(side[p])
        problems.add("one_side", p, "side",
                     f"match {match_id[p]} has rows for side {present} only; side {1 - present} is "
                     "missing (every frame of a match needs one row per side)", int(len(one_sided)))

    # frames of each (match, side) run 0..n-1
    order = np.lexsort((frame, side, match_id))
    m_sorted, s_sorted, f_sorted = match_id[order], side[order], frame[order]
    new_group = np.ones(len(order), dtype=bool)
    new_group[1:] = (m_sorted[1:] != m_sorted[:-1]) | (s_sorted[1:] != s_sorted[:-1])
    group_start = np.maximum.accumulate(np.where(new_group, np.arange(len(order)), 0))
    expected = np.arange(len(order)) - group_start
    gap = f_sorted != expected
    if gap.any():
        # the gap row (first mismatch of its group) that comes first in the file
        first_in_group = gap & (new_group | ~np.concatenate([[False], gap[:-1]]))
        candidates = order[first_in_group]
        p = int(candidates.min())
        k = int(np.flatnonzero(order == p)[0])
        missing = int(expected[k])
        context = (f"its first frame is {frame[p]}" if new_group[k]
                   else f"frame {f_sorted[k - 1]} is followed by frame {frame[p]}")
        problems.add("gap", p, "frame",
                     f"match {match_id[p]}, side {side[p]}: frame {missing} is missing ({context}); "
                     "the frames of each match and side must run 0..n-1 "
                     "with no gaps", int(first_in_group.sum()))
    elif not len(one_sided):
        # both sides contiguous: they must have the same number of frames
        counts = keys.groupby(["match_id", "side"], sort=False).size().unstack("side")
        uneven = counts.index[(counts[0] != counts[1]).to_numpy()]
        if len(uneven):
            rows = np.isin(match_id, uneven.to_numpy())
            m = int(match_id[_first(rows)])
            n0, n1 = int(counts.loc[m, 0]), int(counts.loc[m, 1])
            longer, shorter = (0, n1) if n0 > n1 else (1, n0)
            p = _first((match_id == m) & (side == longer) & (frame == shorter))
            problems.add("uneven", p, "side",
                         f"match {m}: side 0 has {n0} frames and side 1 has {n1}; frame {shorter} has a "
                         f"row for side {longer} but not for side {1 - longer} (every frame of a match "
                         "needs one row per side)", int(len(uneven)))

    # one player per match side (compared as integer codes: fast on millions of rows)
    by_side = keys.groupby(["match_id", "side"], sort=False)
    group = by_side.ngroup().to_numpy()
    first_row = by_side.cumcount().to_numpy() == 0
    for name in ("player_id", "style", "skill"):
        codes = pd.factorize(frames[name])[0]
        first_code = np.empty(int(group.max()) + 1, dtype=codes.dtype)
        first_code[group[first_row]] = codes[first_row]
        changed = first_code[group] != codes
        if changed.any():
            p = _first(changed)
            was = frames[name].iloc[_first(first_row & (group == group[p]))]
            problems.add(f"player:{name}", p, name,
                         f"match {match_id[p]}, side {side[p]}: {name} changes from {was!r} to "
                         f"{frames[name].iloc[p]!r}; one player plays a side for the whole match",
                         int(changed.sum()))


def _sorted_frames(frames: pd.DataFrame) -> pd.DataFrame:
    return frames.sort_values(["match_id", "frame", "side"], kind="stable").reset_index(drop=True)


def validate_frames(frames: pd.DataFrame | Sequence[pd.DataFrame], source: str | Sequence[str], *,
                    allow_out_of_bounds: bool = False) -> pd.DataFrame:
    """Check per-frame log rows; return them cast to the schema dtypes, sorted by match, frame, side.

    ``frames`` is one table read from the file ``source`` (its row order is the file's, so errors can
    name the row), or a list of tables read from the list of files ``source``: each file is checked
    on its own, then the rows of all files together (a match may be split across files, e.g. one
    file per side; the same match id in two files is a duplicate). Raises
    :class:`LogValidationError` naming the file, row, column and what was expected.
    """
    if isinstance(frames, pd.DataFrame):
        tables, sources = [frames], [str(source)]
    else:
        tables = list(frames)
        sources = [str(source)] * len(tables) if isinstance(source, (str, Path)) else [str(s) for s in source]
    if len(tables) != len(sources) or not tables:
        raise ValueError(f"validate_frames needs one source name per table: got {len(tables)} tables "
                         f"and {len(sources)} sources")
    where = _Where.of(sources, [len(t) for t in tables])
    checked = []
    for index, table in enumerate(tables):
        _check_not_empty(table, where, index, "a log")
        _check_columns(table.columns, FRAME_COLUMN_NAMES, where, index, "a log")
    problems = _Problems(where)
    for index, table in enumerate(tables):
        result = _check_frame_values(table.reset_index(drop=True), problems, int(where.starts[index]),
                                     allow_out_of_bounds)
        checked.append(result)
    problems.raise_if_any()
    combined = checked[0] if len(checked) == 1 else pd.concat(checked, ignore_index=True)
    _check_frame_rows(combined, problems)
    problems.raise_if_any()
    return _sorted_frames(combined)


# ---- the matches table -------------------------------------------------------------------------------
_RESULT_RULE = "more HP left wins and equal HP is a draw"


def _check_result(winner: np.ndarray, hp_0: np.ndarray, hp_1: np.ndarray, match_id: np.ndarray,
                  problems: _Problems) -> None:
    """A matches-table row whose ``winner`` disagrees with its own ``hp_0`` / ``hp_1``."""
    wrong = (((winner == "player_0") & (hp_0 < hp_1)) | ((winner == "player_1") & (hp_1 < hp_0))
             | ((winner == "draw") & (hp_0 != hp_1)))
    if wrong.any():
        p = _first(wrong)
        problems.add("result", p, "winner, hp_0, hp_1",
                     f"match {match_id[p]}: winner is {winner[p]!r} but hp_0 is {hp_0[p]} and hp_1 is "
                     f"{hp_1[p]}; the winner contradicts the HP left ({_RESULT_RULE})", int(wrong.sum()))


def _check_result_against_frames(rows: np.ndarray, ids: np.ndarray, winner: np.ndarray,
                                 hp: tuple[np.ndarray, np.ndarray], side0: pd.DataFrame,
                                 side1: pd.DataFrame, problems: _Problems) -> None:
    """``winner`` / ``hp_k`` against each side's HP on its last logged frame (rows: table positions).

    HP only goes down, so logs that stop before the final hit agree with any result; only a side
    that the frames already show at 0 HP (knocked out) pins the result down.
    """
    last_hp = [s["last_hp"].reindex(ids).to_numpy(np.float64) for s in (side0, side1)]
    last_frame = side0["last_frame"].reindex(ids).to_numpy()
    out = [h <= 0.0 for h in last_hp]
    for k in (0, 1):
        # exactly side k knocked out: player_{1-k} won
        ko = out[k] & ~out[1 - k] & (winner != f"player_{1 - k}")
        if ko.any():
            i = _first(ko)
            problems.add("result_frames", int(rows[i]), "winner",
                         f"match {ids[i]}: winner is {winner[i]!r} in the matches table, but the frames end "
                         f"with side {k} knocked out (me_hp {last_hp[k][i]:g} on side {k}'s last frame, "
                         f"frame {last_frame[i]}) and side {1 - k} at me_hp {last_hp[1 - k][i]:g}, so the "
                         f"winner is player_{1 - k}", int(ko.sum()))
        # a side at 0 HP in the frames cannot have HP left in the table
        revived = out[k] & (hp[k] > 0)
        if revived.any():
            i = _first(revived)
            problems.add(f"hp_frames:{k}", int(rows[i]), f"hp_{k}",
                         f"match {ids[i]}: hp_{k} is {hp[k][i]} in the matches table, but the frames end "
                         f"with side {k} at 0 HP (me_hp {last_hp[k][i]:g} on its last frame, frame "
                         f"{last_frame[i]}); HP left cannot be more than the last logged HP",
                         int(revived.sum()))
    both = out[0] & out[1] & (winner != "draw")
    if both.any():
        i = _first(both)
        problems.add("result_frames", int(rows[i]), "winner",
                     f"match {ids[i]}: winner is {winner[i]!r} in the matches table, but the frames end with "
                     f"both sides at 0 HP on frame {last_frame[i]} (a double KO), so the match is a draw",
                     int(both.sum()))


def validate_matches(matches: pd.DataFrame, frames: pd.DataFrame, source: str) -> pd.DataFrame:
    """Check a matches table against already validated ``frames``; return it cast and sorted by match.

    Every match in the frames needs exactly one row here and every row needs frames;
    ``duration_frames`` must equal the frames logged per side, and the players named for each side
    must be the ones in the frames' ``player_id`` / ``style`` columns. The result must agree with
    itself and with the frames: the winner has at least the loser's HP left (``hp_0`` / ``hp_1``; a
    draw has equal HP), and a side whose last logged frame shows 0 HP (``me_hp`` 0: knocked out)
    lost, unless both sides are at 0 (a draw), and has ``hp`` 0 in this table. Logs that end just
    *before* the final hit are fine: HP only goes down, so only a side already at 0 is checked.
    """
    where = _Where.of([str(source)], [len(matches)])
    _check_not_empty(matches, where, 0, "a matches table")
    _check_columns(matches.columns, MATCH_COLUMN_NAMES, where, 0, "a matches table")
    table = matches.reset_index(drop=True)
    problems = _Problems(where)
    ints: dict[str, np.ndarray | None] = {
        "match_id": _as_integers(table["match_id"], "match_id", np.dtype(np.int64), "an integer match id",
                                 problems, 0),
        "hp_0": _as_integers(table["hp_0"], "hp_0", np.dtype(np.int32), "HP left, an integer >= 0",
                             problems, 0, low=0),
        "hp_1": _as_integers(table["hp_1"], "hp_1", np.dtype(np.int32), "HP left, an integer >= 0",
                             problems, 0, low=0),
        "duration_frames": _as_integers(table["duration_frames"], "duration_frames", np.dtype(np.int32),
                                        "frames played, an integer >= 1", problems, 0, low=1),
        "seed": _as_integers(table["seed"], "seed", np.dtype(np.int64), "an integer seed (-1 if unknown)",
                             problems, 0),
    }
    text = {name: _as_text(table[name], name, problems, 0)
            for name in ("player_0_id", "player_0_style", "player_1_id", "player_1_style", "winner")}
    if text["winner"] is not None:
        bad = ~text["winner"].isin(WINNERS).to_numpy()
        if bad.any():
            p = _first(bad)
            problems.add("winner", p, "winner", f"unknown winner {text['winner'].iloc[p]!r}; expected one of "
                         f"{', '.join(WINNERS)}", int(bad.sum()))
    problems.raise_if_any()

    match_id = ints["match_id"]
    repeated = pd.Series(match_id).duplicated().to_numpy()
    if repeated.any():
        p = _first(repeated)
        first = where.problem(_first(match_id == match_id[p]), None, "")
        problems.add("duplicate", p, "match_id", f"match {match_id[p]} appears again; first at "
                     f"{first.row_kind} {first.row}. Each match needs exactly one row", int(repeated.sum()))
    _check_result(text["winner"].to_numpy(), ints["hp_0"], ints["hp_1"], match_id, problems)
    per_side = frames.groupby(["match_id", "side"], sort=True).agg(
        frames=("frame", "size"), player_id=("player_id", "first"), style=("style", "first"),
        last_frame=("frame", "max"), last_hp=("me_hp", "last"))
    side0 = per_side.xs(0, level="side")
    side1 = per_side.xs(1, level="side")
    known = np.isin(match_id, side0.index.to_numpy())
    if not known.all():
        p = _first(~known)
        problems.add("no_frames", p, "match_id", f"match {match_id[p]} has no frames in the logs",
                     int((~known).sum()))
    unlisted = np.setdiff1d(side0.index.to_numpy(), match_id)
    if len(unlisted):
        problems.add("unlisted", None, "match_id",
                     f"{len(unlisted)} matches in the logs have no row in this matches table, e.g. match "
                     f"{unlisted[0]}; every match needs one row")
    if known.any():
        rows = np.flatnonzero(known)
        ids = match_id[rows]
        logged = side0["frames"].reindex(ids).to_numpy()
        duration = ints["duration_frames"][rows]
        wrong = duration != logged
        if wrong.any():
            k = _first(wrong)
            problems.add("duration", int(rows[k]), "duration_frames",
                         f"match {ids[k]} has {logged[k]} frames per side in the logs but duration_frames "
                         f"is {duration[k]}", int(wrong.sum()))
        for side, by_side in ((0, side0), (1, side1)):
            for what in ("id", "style"):
                column = f"player_{side}_{what}"
                in_frames = by_side["player_id" if what == "id" else "style"].reindex(ids).to_numpy()
                given = text[column].to_numpy()[rows]
                wrong = given != in_frames
                if wrong.any():
                    k = _first(wrong)
                    frames_column = "player_id" if what == "id" else "style"
                    problems.add(f"player:{column}", int(rows[k]), column,
                                 f"match {ids[k]}: {column} is {given[k]!r} but the frames of side {side} "
                                 f"have {frames_column} {in_frames[k]!r}", int(wrong.sum()))
        _check_result_against_frames(rows, ids, text["winner"].to_numpy()[rows],
                                     (ints["hp_0"][rows], ints["hp_1"][rows]), side0, side1, problems)
    problems.raise_if_any()

    out = pd.DataFrame({
        "match_id": match_id,
        "player_0_id": text["player_0_id"].to_numpy(),
        "player_0_style": text["player_0_style"].to_numpy(),
        "player_1_id": text["player_1_id"].to_numpy(),
        "player_1_style": text["player_1_style"].to_numpy(),
        "winner": text["winner"].to_numpy(),
        "hp_0": ints["hp_0"],
        "hp_1": ints["hp_1"],
        "duration_frames": ints["duration_frames"],
        "seed": ints["seed"],
    })
    for name, dtype, _ in MATCH_COLUMNS:
        if pa.types.is_string(dtype):
            out[name] = out[name].astype(_string_dtype())
    return out.sort_values("match_id", kind="stable").reset_index(drop=True)


__all__ = ["BOUNDS_TOLERANCE", "FLOAT32_EXACT_INT", "FRAME_COLUMN_NAMES", "MATCH_COLUMN_NAMES", "WINNERS",
           "LogBoundsWarning", "LogProblem", "LogValidationError", "duplicate_columns_message", "row_kind_of",
           "validate_frames", "validate_matches"]
