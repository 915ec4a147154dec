"""``python -m evaluation.alignment zoo=small`` end to end (the CI variant), then the tournament's
"predicted win rate" column from the estimator it wrote."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from evaluation.alignment import ESTIMATORS, RidgeEstimator

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def small_alignment(tmp_path_factory):
    cwd = tmp_path_factory.mktemp("alignment")
    command = [sys.executable, "-m", "evaluation.alignment", "zoo=small", f"logdir={cwd / 'runs'}",
               "progress=false", "bootstrap=100", "fqe.steps=300", f"results_json={cwd / 'alignment.json'}"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stderr[-4000:]
    return cwd, cwd / "runs" / "zoo_small", done


def test_the_small_zoo_has_every_family_and_a_result_for_every_bot(small_alignment):
    _, zoo, _ = small_alignment
    record = json.loads((zoo / "zoo.json").read_text())
    families = {bot["family"] for bot in record["bots"]}
    assert families == {"bc", "rl", "scripted", "handicapped"}
    features = pd.read_csv(zoo / "alignment" / "features.csv").set_index("label")
    assert sorted(features.index) == sorted(bot["label"] for bot in record["bots"])
    for column in ("win_rate", "accuracy", "situation_recall", "fqe_value", "predicted_win_rate"):
        assert features[column].notna().all(), column
    # BC runs keep every epoch; the RL run its league snapshots and last weights
    assert (features.loc[features["family"] == "bc", "step"].sort_values().unique() == [1, 2]).all()
    assert "rl/last" in features.index and "footsies@reaction_delay:8" in features.index


def test_the_report_scores_every_estimator_on_held_out_families(small_alignment):
    cwd, zoo, done = small_alignment
    report = json.loads((zoo / "alignment" / "report.json").read_text())
    splits = {row["split"] for row in report["validation"]}
    assert "fit bc -> rl+scripted+handicapped" in splits and "leave out scripted" in splits
    assert {row["estimator"] for row in report["validation"]} == set(ESTIMATORS)
    assert report["best_estimator"] in ESTIMATORS
    markdown = (zoo / "alignment" / "report.md").read_text()
    assert "## Checkpoint selection without matches" in markdown and "regret@1" in markdown
    assert (zoo / "alignment" / "alignment.png").stat().st_size > 10_000
    headline = json.loads((cwd / "alignment.json").read_text())
    assert {"best_heldout_spearman", "best_heldout_regret_at_1", "target_spearman"} <= set(headline)
    assert report["sentence"] in done.stderr.replace("\n", " ") or "ranks bots best" in done.stderr


def test_reuse_zoo_analyses_the_zoo_on_disk_without_running_a_step(small_alignment):
    # a zoo built by an older commit would be rebuilt by a plain rerun (fingerprints record the
    # commit; that reuse is train.reuse / tournament.resume, tested with the experiment)
    cwd, zoo, done = small_alignment
    before = (zoo / "tournament" / "matches.jsonl").stat().st_mtime_ns
    first = json.loads((zoo / "alignment" / "report.json").read_text())
    reused = subprocess.run([*done.args, "reuse_zoo=true"], cwd=ROOT, capture_output=True, text=True,
                            timeout=600)
    assert reused.returncode == 0, reused.stderr[-3000:]
    assert "$ python" not in reused.stderr and "the zoo as built in" in reused.stderr
    assert (zoo / "tournament" / "matches.jsonl").stat().st_mtime_ns == before
    # same zoo, same seeds: the same figures (FQE, ridge and bootstrap are seeded)
    again = json.loads((zoo / "alignment" / "report.json").read_text())
    assert again["validation"] == first["validation"] and again["summary"] == first["summary"]


def test_the_tournament_report_predicts_win_rates_with_the_estimator(small_alignment):
    cwd, zoo, _ = small_alignment
    estimator = zoo / "alignment" / "estimator.json"
    RidgeEstimator.load(estimator)
    out = cwd / "tournament"
    command = [sys.executable, str(ROOT / "tournament.py"),
               "tournament.participants=[footsies,idle,rushdown]", "tournament.globs=[]",
               "tournament.matches_per_pairing=2", f"tournament.out_dir={out}",
               "tournament.progress=false", "report.tensorboard=false", f"report.estimator={estimator}",
               f"eval.dataset.path={zoo / 'data'}"]
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    report = pd.read_csv(out / "report.csv").set_index("label")
    assert report["predicted_win_rate"].between(0, 1).all()
    assert "predicted_win_rate" in (out / "report.md").read_text()
    command = [c.replace(str(estimator), "nothing.json").replace(str(out), str(cwd / "t2")) for c in command]
    bad = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=600)
    assert bad.returncode != 0 and "nothing.json" in bad.stderr and "Traceback" not in bad.stderr


def test_reuse_zoo_without_a_zoo_says_how_to_build_one(tmp_path):
    done = subprocess.run([sys.executable, "-m", "evaluation.alignment", "reuse_zoo=true",
                           f"logdir={tmp_path}"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert f"{tmp_path / 'zoo' / 'zoo.json'} does not exist: build the zoo first" in done.stderr
