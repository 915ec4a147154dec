"""Progress bars and result tables: live on a terminal, plain lines in a log (envs/terminal.py)."""

import io

from envs.terminal import LOG_CONSOLE_WIDTH, is_interactive, progress_bar, report_console


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_bar_in_a_log_writes_one_plain_line_per_step_with_its_metrics():
    log = io.StringIO()
    bar = progress_bar(range(3), desc="run", unit="epoch", stream=log)
    for epoch in bar:
        bar.set_postfix(acc=f"{epoch / 10:.3f}")
    lines = log.getvalue().splitlines()
    assert "\r" not in log.getvalue() and "\x1b[" not in log.getvalue()
    assert len(lines) == 4 and lines[0].startswith("run:   0%")
    # each epoch's line carries that epoch's metrics, at that epoch's count
    assert "1/3" in lines[1] and "acc=0.000" in lines[1]
    assert "3/3" in lines[3] and "acc=0.200" in lines[3]


def test_a_manual_bar_in_a_log_prints_its_start_and_end_not_every_update():
    log = io.StringIO()
    bar = progress_bar(total=1000, desc="tournament", unit="match", stream=log)
    for _ in range(100):
        bar.update(10)
    bar.close()
    lines = log.getvalue().splitlines()
    assert len(lines) == 2 and "1000/1000" in lines[-1]


def test_a_nested_bar_is_silent_in_a_log_and_a_disabled_bar_everywhere():
    log = io.StringIO()
    assert list(progress_bar(range(3), desc="online eval", nested=True, stream=log)) == [0, 1, 2]
    assert list(progress_bar(range(3), enabled=False, stream=FakeTerminal())) == [0, 1, 2]
    assert log.getvalue() == ""


def test_on_a_terminal_bars_redraw_in_place_and_nested_ones_go_away():
    terminal = FakeTerminal()
    assert is_interactive(terminal) and not is_interactive(io.StringIO())
    outer = progress_bar(range(2), desc="epochs", stream=terminal)
    for _ in outer:
        for _ in progress_bar(range(2), desc="online eval", nested=True, stream=terminal):
            pass
    assert "\r" in terminal.getvalue() and "online eval" in terminal.getvalue()


def test_tables_written_to_a_log_are_wider_than_80_columns(monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.setattr("sys.stdout", io.StringIO())
    assert report_console().width == LOG_CONSOLE_WIDTH
