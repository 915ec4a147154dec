"""The one win-rate record: empty-record answer, Wilson bounds, addition, score."""

import json
import math

import numpy as np
import pytest

from envs.win_record import WinRecord, wilson_interval


def test_an_empty_record_has_no_evidence_not_a_zero_win_rate():
    empty = WinRecord()
    assert empty.matches == 0
    assert math.isnan(empty.win_rate) and math.isnan(empty.score)
    assert empty.interval == (0.0, 1.0)
    as_dict = empty.as_dict()
    assert as_dict["matches"] == 0 and math.isnan(as_dict["win_rate"])


def test_wilson_interval_known_values_and_bounds_at_0_and_n():
    low, high = wilson_interval(0, 10)
    assert low == 0.0 and high == pytest.approx(0.2775, abs=1e-4)
    assert wilson_interval(5, 10) == pytest.approx((0.2366, 0.7634), abs=1e-4)
    low, high = wilson_interval(100, 100)
    assert high == 1.0 and low == pytest.approx(0.9630, abs=1e-4)
    assert wilson_interval(0, 0) == (0.0, 1.0)
    for n in (1, 7, 96, 10_000):
        for k in (0, n // 2, n):
            low, high = wilson_interval(k, n)
            assert 0.0 <= low <= k / n <= high <= 1.0 and high > low
    with pytest.raises(ValueError):
        wilson_interval(3, 2)


def test_record_win_rate_score_and_interval():
    record = WinRecord(wins=6, draws=2, losses=2)
    assert record.matches == 10 and record.win_rate == 0.6  # draws count as not won
    assert record.score == pytest.approx(0.7)  # draws count half
    assert record.interval == wilson_interval(6, 10)
    assert WinRecord(losses=4).win_rate == 0.0 and WinRecord(losses=4).interval[0] == 0.0
    assert WinRecord(draws=3).score == 0.5


def test_records_add_up_and_flip():
    a, b = WinRecord(1, 2, 3), WinRecord(wins=4, losses=1)
    assert a + b == WinRecord(wins=5, draws=2, losses=4)
    assert sum([a, b]) == a + b and sum([], WinRecord()) == WinRecord()
    assert a + WinRecord() == a
    assert a.flipped() == WinRecord(wins=3, draws=2, losses=1) and a.flipped().flipped() == a
    total = WinRecord()
    total += a
    assert total == a


def test_from_results_counts_result_names():
    assert WinRecord.from_results(["win", "loss", "draw", "win"]) == WinRecord(2, 1, 1)
    assert WinRecord.from_results(np.array(["loss", "loss"])) == WinRecord(losses=2)
    assert WinRecord.from_results([]) == WinRecord()
    assert WinRecord.of("draw") == WinRecord(draws=1)
    with pytest.raises(ValueError, match="unknown match results"):
        WinRecord.from_results(["won"])


def test_counts_are_validated_and_json_safe():
    record = WinRecord(np.int64(3), np.int64(0), np.int64(1))
    assert type(record.wins) is int
    assert json.loads(json.dumps(record.as_dict()))["wins"] == 3
    for bad in (-1, 1.5, True):
        with pytest.raises(ValueError):
            WinRecord(wins=bad)
    with pytest.raises(AttributeError):
        record.wins = 4  # frozen
