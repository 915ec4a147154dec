"""Result tables keep each win rate's interval on one line, even on an 80-column console
(a log, CI, a narrow terminal): evaluation/run_report.py and evaluation/standings.py."""

import io
import re
from pathlib import Path

import pandas as pd
from rich.console import Console

from evaluation.participants import Participant
from evaluation.ratings import rate
from evaluation.run_report import final_table, sweep_table
from evaluation.standings import pairing_table, print_standings, standings_table
from evaluation.tournament import TournamentResults

INTERVAL = re.compile(r"\d\.\d{3} \[\d\.\d{3}, \d\.\d{3}\]")


def render(*tables, width: int = 80) -> str:
    console = Console(file=io.StringIO(), width=width, color_system=None)
    for table in tables:
        console.print(table)
    return console.file.getvalue()


def long_run_results() -> dict:
    test = {"accuracy": 0.9451, "balanced_accuracy": 0.0912, "macro_f1": 0.0883, "no_action_recall": 1.0,
            "mean_skill_recall": 0.0}
    online = {"win_rate": 0.0, "win_rate_ci_low": 0.0, "win_rate_ci_high": 0.4899, "matches": 4}
    return {"test": test, "online": online, "best_epoch": 2}


def test_the_final_table_keeps_the_interval_on_one_line_at_80_columns():
    text = render(final_table("a_rather_long_experiment_name/oversample_h256x256_seed0", long_run_results()))
    assert INTERVAL.findall(text) == ["0.000 [0.000, 0.490]"]


def test_the_sweep_table_keeps_folders_and_intervals_whole_at_80_columns():
    rows = [{"job": str(k), "run_folder": f"/somewhere/runs/sweep/{name}_seed0", "best_step": 2,
             "overrides": f"agent.rebalance={name} agent.hidden_sizes=[256,256]", "accuracy": 0.9,
             "balanced_accuracy": 0.5, "win_rate": 0.25, "win_rate_ci_low": 0.1, "win_rate_ci_high": 0.49,
             "matches": 8} for k, name in enumerate(("none", "oversample"))]
    text = render(sweep_table(Path("multirun/sweep/2026-01-01"), rows))
    assert INTERVAL.findall(text) == ["0.250 [0.100, 0.490]"] * 2
    assert "/somewhere/runs/sweep/oversample_seed0" in text


def test_the_tournament_standings_keep_intervals_on_one_line_at_80_columns():
    def record(a, b, results):
        return {"a": a, "b": b, "key": f"{a}{b}", "matches": [
            {"match": k, "a_side": k % 2, "result": r, "hp_a": 50, "hp_b": 40, "frames": 100, "ko": False,
             "forfeit": None, "counts_a": [99, 1] + [0] * 10, "counts_b": [100] + [0] * 11}
            for k, r in enumerate(results)]}
    names = ("rushdown_perfect_with_a_long_name", "effective_number_h256x256_seed0", "zoner_club")
    participants = [Participant(n, n, "scripted") for n in names]
    results = TournamentResults.from_records(participants, [
        record(names[0], names[1], ["win", "loss", "win", "win"]), record(names[0], names[2], ["win"] * 4),
        record(names[1], names[2], ["draw", "loss", "win", "win"])], seed=0, matches_per_pairing=4)
    pairings = pairing_table(results)
    standings = standings_table(results, pairings, rate(results.labels, pairings, bootstrap=0, seed=0),
                                groups={"reference pool": list(names)})
    console = Console(file=io.StringIO(), width=80, color_system=None)
    print_standings(console, standings, pairings, "tournament")
    text = console.file.getvalue()
    assert isinstance(standings, pd.DataFrame)
    assert len(INTERVAL.findall(text)) == len(names) + len(pairings)
