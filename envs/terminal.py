"""How long work and result tables show: live bars on a terminal, plain lines in a log.

The one place that decides what progress bars and rich tables look like, used by every long loop
(the match runner here, dataset generation, training, online evaluation, the tournament). On a
terminal (or in a notebook) a bar is tqdm's live bar, and a bar *nested* in another (online
evaluation inside an epoch) is drawn below it and removed when done. When stderr is a file or a
pipe (CI, ``nohup``, ``| tee``, a Hydra sweep's log), redrawing makes no sense: tqdm's cursor-up
moves (``ESC[A``) and carriage returns turn the log into one unreadable line, so there

* a nested bar is switched off (its outer bar still reports), and
* an outer bar writes plain ASCII lines: when it starts, one per step that follows a
  ``set_postfix`` (an epoch, an iteration, with its metrics), at most one per
  ``PLAIN_INTERVAL_S`` seconds otherwise, and the final state.

Rich tables go to a console that is wider than 80 columns when the output is not a terminal, so
a table in a log keeps each row on one line (``report_console``).

Lives in ``envs/`` because the match runner, the lowest layer with a loop long enough for a bar,
uses it; it imports only tqdm and rich.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable
from typing import IO, Any

import tqdm.auto
import tqdm.std
from rich.console import Console

PLAIN_INTERVAL_S = 30.0  # a plain-line bar prints at most this often (plus on set_postfix and at the end)
LOG_CONSOLE_WIDTH = 160  # rich tables written to a file or a pipe


def _in_notebook() -> bool:
    """True when tqdm.auto chose its notebook widget (Jupyter: stderr is not a TTY, yet it is live)."""
    return any(cls.__name__ == "tqdm_notebook" for cls in tqdm.auto.tqdm.__mro__)


def is_interactive(stream: IO[str] | None = None) -> bool:
    """Whether ``stream`` (default: stderr, where tqdm writes) can redraw a line in place."""
    stream = sys.stderr if stream is None else stream
    if _in_notebook():
        return True
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:  # a closed stream
        return False


class _PlainLines:
    """A file for tqdm that turns its in-place redraws (``\\r`` + status) into one line per update."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream

    def write(self, text: str) -> int:
        line = text.replace("\r", "").replace("\x1b[A", "").rstrip()
        if line:
            self.stream.write(line + "\n")
        return len(text)

    def flush(self) -> None:
        self.stream.flush()

    def isatty(self) -> bool:
        return False


class _PlainLinesBar(tqdm.std.tqdm):
    """A tqdm bar for logs: one line when it starts, when its count moves after a ``set_postfix``
    (so an epoch's line carries that epoch's metrics), every ``PLAIN_INTERVAL_S`` seconds of
    progress, and at the end."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._printed_n: float | None = None
        self._printed_postfix: str | None = None
        self._printed_at = 0.0
        super().__init__(*args, mininterval=0, miniters=1, ascii=True, dynamic_ncols=False, **kwargs)

    def display(self, msg: str | None = None, pos: int | None = None) -> bool:
        if msg == "":  # tqdm clearing a finished bar's line: nothing to clear in a log
            return True
        now = time.monotonic()
        finished = self.total is not None and self.n >= self.total
        moved = self.n != self._printed_n
        if self._printed_n is None or (moved and (finished or self.postfix != self._printed_postfix
                                                  or now - self._printed_at >= PLAIN_INTERVAL_S)):
            self._printed_n, self._printed_postfix, self._printed_at = self.n, self.postfix, now
            self.fp.write(self.__str__() if msg is None else msg)
            self.fp.flush()
        return True


def progress_bar(iterable: Iterable[Any] | None = None, *, enabled: bool = True, nested: bool = False,
                 stream: IO[str] | None = None, **kwargs: Any) -> tqdm.std.tqdm:
    """A tqdm bar over ``iterable`` (or a manual one: ``total=...``) that suits where it is shown.

    ``enabled=False`` shows nothing (the ``progress`` settings); ``nested=True`` marks a bar inside
    another one's loop (shown only on a terminal, and removed when it ends). Other keyword
    arguments go to tqdm (``desc``, ``unit``, ``total``, ``initial``...).
    """
    stream = sys.stderr if stream is None else stream
    if not enabled:
        return tqdm.std.tqdm(iterable, disable=True, **kwargs)
    if is_interactive(stream):
        if nested:
            kwargs.setdefault("leave", False)
        return tqdm.auto.tqdm(iterable, file=None if stream is sys.stderr else stream, **kwargs)
    if nested:
        return tqdm.std.tqdm(iterable, disable=True, **kwargs)
    return _PlainLinesBar(iterable, file=_PlainLines(stream), **kwargs)


def report_console(*, stderr: bool = False) -> Console:
    """A rich console for result tables: the terminal's width, or ``LOG_CONSOLE_WIDTH`` columns
    when the output is a file or a pipe (where rich would assume 80 and wrap the table)."""
    stream = sys.stderr if stderr else sys.stdout
    if is_interactive(stream):
        return Console(stderr=stderr)
    return Console(stderr=stderr, width=LOG_CONSOLE_WIDTH)
