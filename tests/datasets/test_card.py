"""The dataset card: files exist, the class table leads with NO_ACTION, numbers match the data."""

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from datasets.card import class_distribution, win_rates, write_card
from datasets.generate import GenerateConfig, generate
from datasets.load import load_dataset
from datasets.manifest import CARD_NAME, CLASS_PLOT_NAME
from envs.actions import ACTION_NAMES

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def dataset_path(tmp_path_factory):
    out = tmp_path_factory.mktemp("card") / "pros"
    generate(GenerateConfig(players=["rushdown", "zoner_club"], matches_per_pairing=4, out=str(out),
                            progress=False))
    return out


def class_rows(card: str) -> list[list[str]]:
    """The rows of the card's class table (the one with an `id | command | count | share` header)."""
    lines = card.splitlines()
    start = lines.index("| id | command | count | share |") + 2
    rows = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows


def test_card_files_exist_and_the_class_table_starts_with_no_action(dataset_path):
    card = (dataset_path / CARD_NAME).read_text()
    ds = load_dataset(dataset_path)
    rows = class_rows(card)
    assert rows[0][:2] == ["0", "NO_ACTION"]
    assert [r[1] for r in rows] == list(ACTION_NAMES)
    counts = ds.frames["action_name"].value_counts()
    assert [int(r[2].replace(",", "")) for r in rows] == [int(counts.get(n, 0)) for n in ACTION_NAMES]
    share = counts["NO_ACTION"] / ds.num_frames
    assert f"`NO_ACTION` is {share:.1%} of all frames" in card
    assert f"| matches | {ds.num_matches:,} |" in card
    assert "| rushdown |" in card and "| club |" in card and "| pro |" in card
    png = (dataset_path / CLASS_PLOT_NAME).read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000


def test_win_rate_matrix_counts_each_match_from_both_sides():
    matches = pd.DataFrame({
        "player_0_style": ["a", "b", "a", "a", "a"], "player_1_style": ["b", "a", "b", "a", "a"],
        "player_0_id": ["a", "b", "a", "a", "a"], "player_1_id": ["b", "a", "b", "a", "a"],
        "winner": ["player_0", "player_0", "draw", "player_1", "draw"],
    })
    rates, counts = win_rates(matches)
    assert rates.at["a", "b"] == pytest.approx(1 / 3) and rates.at["b", "a"] == pytest.approx(1 / 3)
    assert counts.at["a", "b"] == 3 and counts.at["a", "a"] == 2
    assert rates.at["a", "a"] == pytest.approx(0.25)  # one decisive mirror out of two, seen twice


def test_class_distribution_is_in_id_order_with_shares():
    table = class_distribution({"action_counts": {"NO_ACTION": 98, "THROW": 2}})
    assert list(table["command"]) == list(ACTION_NAMES)
    assert table.loc[0, "share"] == pytest.approx(0.98) and table.loc[10, "share"] == pytest.approx(0.02)
    assert table["count"].sum() == 100


def test_card_command_rewrites_and_prints_the_card(dataset_path, tmp_path):
    (dataset_path / CARD_NAME).unlink()
    out = subprocess.run([sys.executable, "-m", "datasets.card", str(dataset_path)], cwd=ROOT,
                         env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(f"# Dataset card: {dataset_path.name}")
    assert (dataset_path / CARD_NAME).read_text() == write_card(dataset_path)
    assert not [p for p in dataset_path.iterdir() if p.name.endswith(".tmp")]
    bad = subprocess.run([sys.executable, "-m", "datasets.card", str(tmp_path)], cwd=ROOT,
                         env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True,
                         timeout=120)
    assert bad.returncode == 1 and f"{tmp_path / 'manifest.json'} is missing" in bad.stderr
