"""Standings tables, the win-rate matrix and the files they are written to."""

import json

import numpy as np
import pandas as pd
import pytest

from evaluation.participants import Participant
from evaluation.ratings import rate
from evaluation.standings import (
    markdown_table,
    pairing_table,
    standings_table,
    win_rate_matrix,
    write_standings,
)
from evaluation.tournament import TournamentResults


def make_results():
    """x beats y 3-1, x draws z twice, y beats z 2-0; y forfeits one match against z."""
    def record(a, b, results, forfeit=None):
        matches = [{"match": k, "a_side": k % 2, "result": r, "hp_a": 50, "hp_b": 40, "frames": 100,
                    "ko": False,
                    "forfeit": forfeit if k == 0 else None, "counts_a": [99, 1] + [0] * 10,
                    "counts_b": [100] + [0] * 11} for k, r in enumerate(results)]
        return {"a": a, "b": b, "key": f"{a}{b}", "matches": matches}
    participants = [Participant(n, n, "scripted") for n in ("x", "y", "z")]
    records = [record("y", "z", ["win", "win"], {"by": "z", "reason": "z: act raised"}),
               record("x", "y", ["win", "loss", "win", "win"]), record("x", "z", ["draw", "draw"])]
    return TournamentResults.from_records(participants, records, seed=0, matches_per_pairing=4)


def test_pairing_and_standings_tables():
    results = make_results()
    pairs = results.matches[["a", "b"]].drop_duplicates().values.tolist()
    assert pairs == [["x", "y"], ["x", "z"], ["y", "z"]]
    pairings = pairing_table(results)
    row = pairings.set_index(["a", "b"]).loc[("x", "y")]
    assert (row["a_wins"], row["b_wins"], row["draws"], row["a_win_rate"]) == (3, 1, 0, 0.75)
    assert row["a_win_rate_ci_low"] < 0.75 < row["a_win_rate_ci_high"]
    standings = standings_table(results, pairings, rate(results.labels, pairings, bootstrap=0))
    assert list(standings.index) == ["x", "y", "z"]
    assert standings.loc["x", ["wins", "losses", "draws"]].tolist() == [3, 1, 2]
    assert standings.loc["x", "score"] == pytest.approx(4 / 6)
    assert standings.loc["z", "forfeits"] == 1 and standings.loc["y", "forfeits"] == 0
    assert results.action_counts["x"][1] == 6


def test_group_columns_count_only_matches_against_the_group():
    results = make_results()
    pairings = pairing_table(results)
    standings = standings_table(results, pairings, rate(results.labels, pairings, bootstrap=0),
                                groups={"yz": ["y", "z"]})
    assert standings.loc["x", "vs_yz"] == pytest.approx(3 / 6)  # 3-1 vs y, 0-0-2 vs z
    assert standings.loc["y", "vs_yz"] == pytest.approx(2 / 2)  # only its matches against z
    assert standings.loc["z", "vs_yz"] == 0.0


def test_win_rate_matrix_and_files(tmp_path):
    results = make_results()
    pairings = pairing_table(results)
    ratings = rate(results.labels, pairings, bootstrap=0)
    standings = standings_table(results, pairings, ratings)
    matrix = win_rate_matrix(list(standings.index), pairings)
    assert matrix.loc["x", "y"] == 0.75 and matrix.loc["y", "x"] == 0.25 and np.isnan(matrix.loc["x", "x"])
    paths = write_standings(tmp_path, results, pairings, standings, ratings, "t", notes=["a note"])
    assert {p.name for p in paths} == {"results.json", "pairings.csv", "standings.csv", "results.md",
                                       "win_rates.png"}
    payload = json.loads((tmp_path / "results.json").read_text())
    assert payload["standings"][0]["label"] == "x" and payload["forfeits"][0]["forfeit_by"] == "z"
    assert pd.read_csv(tmp_path / "pairings.csv")["a_wins"].tolist() == [3, 0, 2]
    assert "a note" in (tmp_path / "results.md").read_text()
    assert not list(tmp_path.glob(".*tmp"))  # atomic writes leave no temp files


def test_markdown_table_escapes_pipes_and_rounds():
    text = markdown_table(pd.DataFrame({"bot": ["a|b"], "x": [0.12345], "y": [np.nan]}))
    assert text.splitlines() == ["| bot | x | y |", "|---|---|---|", "| a\\|b | 0.123 |  |"]
