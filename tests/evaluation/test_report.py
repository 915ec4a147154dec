"""Offline-vs-online report: correlations, the sentence, JSD, files and TensorBoard."""

import json

import numpy as np
import pandas as pd
import pytest

from envs.actions import NUM_ACTIONS
from evaluation.participants import Participant
from evaluation.protocol import DatasetSpec
from evaluation.report import (
    action_jsd,
    best_predictor_sentence,
    join_report,
    offline_table,
    rank_correlations,
    run_groups,
    write_report,
)


def lecture_table():
    """Accuracy ranks the bots backwards; mean skill recall ranks them right."""
    return pd.DataFrame({
        "kind": ["scripted"] * 4,
        "win_rate": [0.9, 0.6, 0.3, 0.0], "win_rate_ci_low": [0.8, 0.5, 0.2, 0.0],
        "win_rate_ci_high": [1.0, 0.7, 0.4, 0.05], "rating": [1900, 1600, 1400, 1100],
        "rating_ci_low": [1800, 1500, 1300, 1000], "rating_ci_high": [2000, 1700, 1500, 1200],
        "accuracy": [0.5, 0.7, 0.8, 0.95], "balanced_accuracy": [0.4, 0.3, 0.35, 0.08],
        "macro_f1": [0.2, 0.15, 0.1, 0.08], "no_action_recall": [0.5, 0.7, 0.8, 1.0],
        "mean_skill_recall": [0.4, 0.3, 0.2, 0.0]}, index=["pro", "club", "random", "idle"])


def test_correlations_and_the_sentence_name_the_best_offline_metric():
    corr = rank_correlations(lecture_table())
    assert corr.loc["accuracy", "spearman"] == pytest.approx(-1.0)
    assert corr.loc["mean_skill_recall", "kendall"] == pytest.approx(1.0)
    sentence = best_predictor_sentence(corr)
    assert sentence.startswith("Across 4 bots, ") and "predicts win_rate best" in sentence
    assert "plain accuracy ranks them at Spearman -1.00" in sentence
    assert best_predictor_sentence(rank_correlations(lecture_table().iloc[:2])).startswith("Too few")


def test_jsd_is_zero_for_the_same_mix_and_one_for_disjoint_mixes():
    pros = np.zeros(NUM_ACTIONS)
    pros[:2] = [90, 10]
    bots = {"same": pros * 3, "idle": np.eye(NUM_ACTIONS)[0] * 5, "other": np.eye(NUM_ACTIONS)[5],
            "none": np.zeros(NUM_ACTIONS)}
    jsd = action_jsd(bots, pros)
    assert jsd["same"] == pytest.approx(0.0, abs=1e-12) and jsd["other"] == pytest.approx(1.0)
    assert 0 < jsd["idle"] < 0.2 and np.isnan(jsd["none"])


def test_offline_table_scores_scripted_bots_and_join_keeps_rating_order(tiny_dataset):
    from datasets.load import load_dataset, split_by_match

    offline, datasets = offline_table([Participant("idle", "idle", "scripted")],
                                      DatasetSpec(path=str(tiny_dataset)))
    _, labels = split_by_match(load_dataset(tiny_dataset), (0.8, 0.1, 0.1), seed=0)["test"].to_numpy()
    assert offline.loc["idle", "accuracy"] == pytest.approx(np.mean(labels == 0))  # idle: always NO_ACTION
    assert offline.loc["idle", "mean_skill_recall"] == 0.0
    assert offline.loc["idle", "test_frames"] == len(labels)
    sha = load_dataset(tiny_dataset).manifest["frames_sha256"]
    assert offline.loc["idle", "dataset"] == f"tiny@{sha[:8]}"
    assert list(datasets) == [offline.loc["idle", "dataset"]]
    offline.loc["idle", "accuracy"] = 0.95
    standings = lecture_table()[["kind", "win_rate", "win_rate_ci_low", "win_rate_ci_high", "rating",
                                  "rating_ci_low", "rating_ci_high"]]
    joined = join_report(standings, offline, pd.Series({"idle": 0.03}, name="action_jsd"))
    assert list(joined.index) == ["pro", "club", "random", "idle"]
    assert joined.loc["idle", "accuracy"] == pytest.approx(0.95) and np.isnan(joined.loc["pro", "accuracy"])


def test_run_groups_collect_checkpoints_of_one_run():
    participants = [Participant(f"r/{k}", f"/x/runs/r/{k}", "checkpoint")
                    for k in ("best", "last", "epoch_2")]
    participants += [Participant("s/best", "/x/runs/s/best", "checkpoint"),
                     Participant("idle", "idle", "scripted")]
    assert run_groups(participants) == {"/x/runs/r": ["r/best", "r/last", "r/epoch_2"]}


def test_write_report_files_and_tensorboard(tmp_path):
    table = lecture_table()
    table.loc["idle", "mean_skill_recall"] = np.nan  # strict JSON: NaN becomes null
    corr = rank_correlations(table)
    paths = write_report(tmp_path, table, corr, best_predictor_sentence(corr))
    names = {p.name for p in paths}
    assert {"report.json", "report.csv", "report.md", "accuracy_vs_win_rate.png", "tensorboard"} <= names
    payload = json.loads((tmp_path / "report.json").read_text())
    assert payload["bots"][3]["label"] == "idle" and payload["bots"][3]["mean_skill_recall"] is None
    assert "| pro | scripted |" in (tmp_path / "report.md").read_text()
    assert (tmp_path / "accuracy_vs_win_rate.png").read_bytes()[:4] == b"\x89PNG"
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(tmp_path / "tensorboard")).Reload()
    assert "bots/idle/accuracy" in events.Tags()["scalars"]
    assert "correlation/spearman/accuracy" in events.Tags()["scalars"]
    assert "report/accuracy_vs_win_rate" in events.Tags()["images"]
