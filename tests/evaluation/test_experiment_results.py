"""Reading an experiment folder back: runs, curves, the tournament report, and the finding.

The folder is built by hand (event files written with TensorBoard's writer, the report as the
tournament writes it), so every case is exact: a resumed run, an unfinished RL run, a missing
tournament.
"""

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from evaluation.experiment_results import (
    CURVE_COLUMNS,
    RUN_COLUMNS,
    experiment_dir,
    finding,
    list_runs,
    load_curves,
    load_tournament,
    plot_curves,
    read_scalars,
    rl_progress,
)


def write_events(folder: Path, scalars: dict[str, dict[int, float]]) -> None:
    """One event file in ``folder`` with ``{tag: {step: value}}``."""
    from torch.utils.tensorboard import SummaryWriter

    with SummaryWriter(str(folder)) as writer:
        for tag, points in scalars.items():
            for step, value in points.items():
                writer.add_scalar(tag, value, step)


def write_run(folder: Path, agent: dict, opponents: list[str] | None, scalars: dict[str, dict[int, float]],
              best_step: int | None) -> None:
    folder.mkdir(parents=True)
    (folder / "config.yaml").write_text(yaml.safe_dump({"agent": agent, "eval": {"opponents": opponents}}))
    write_events(folder, scalars)
    if best_step is not None:
        (folder / "results.json").write_text(json.dumps({"agent": agent["name"], "best_epoch": best_step}))


BOTS = pd.DataFrame({
    "label": ["exp/class_weight_seed0/best", "exp/ppo_class_weight_seed0/best", "turtle", "idle",
              "exp/none_seed0/best"],
    "kind": ["checkpoint", "checkpoint", "scripted", "scripted", "checkpoint"],
    "win_rate": [0.7, 0.8, 0.5, 0.0, 0.0], "win_rate_ci_low": [0.6, 0.7, 0.4, 0.0, 0.0],
    "win_rate_ci_high": [0.8, 0.9, 0.6, 0.05, 0.05], "rating": [1700.0, 1800.0, 1500.0, 1100.0, 1100.0],
    "rating_ci_low": [1650.0, 1750.0, 1450.0, 1050.0, 1050.0],
    "rating_ci_high": [1750.0, 1850.0, 1550.0, 1150.0, 1150.0],
    "accuracy": [0.70, 0.65, 0.90, 0.96, 0.96], "balanced_accuracy": [0.5, 0.45, 0.2, 0.09, 0.09],
    "macro_f1": [0.2, 0.18, 0.15, 0.08, 0.08], "no_action_recall": [0.7, 0.66, 0.93, 1.0, 1.0],
    "mean_skill_recall": [0.5, 0.45, 0.1, 0.0, 0.0], "action_jsd": [0.1, 0.12, 0.01, 0.02, 0.02]})
CORRELATIONS = [
    {"metric": "accuracy", "n": 5, "spearman": -0.9, "spearman_p": 0.04, "kendall": -0.8, "kendall_p": 0.05},
    {"metric": "balanced_accuracy", "n": 5, "spearman": 0.8, "spearman_p": 0.1, "kendall": 0.6,
     "kendall_p": 0.1},
    {"metric": "mean_skill_recall", "n": 5, "spearman": 0.95, "spearman_p": 0.01, "kendall": 0.9,
     "kendall_p": 0.02}]


def write_tournament(exp: Path, bots: pd.DataFrame = BOTS) -> None:
    out = exp / "tournament"
    (out / "tensorboard").mkdir(parents=True)
    write_events(out / "tensorboard", {"bots/idle/win_rate": {0: 0.0}})  # not a training run
    bots.to_csv(out / "report.csv", index=False)
    (out / "report.json").write_text(json.dumps({"correlations": CORRELATIONS, "sentence": "the report's"}))
    (out / "results.json").write_text(json.dumps({"matches_per_pairing": 8}))


@pytest.fixture(scope="module")
def experiment(tmp_path_factory) -> Path:
    """Two BC runs (naive, class-weighted), a finished RL run from the second, a tournament."""
    exp = tmp_path_factory.mktemp("experiments") / "exp"
    pool = ["rushdown", "idle"]
    write_run(exp / "none_seed0", {"name": "bc", "rebalance": "none"}, pool,
              {"offline/accuracy": {1: 0.95, 2: 0.96}, "offline/balanced_accuracy": {1: 0.09, 2: 0.09},
               "online/win_rate": {2: 0.0}}, best_step=2)
    write_run(exp / "class_weight_seed0", {"name": "bc", "rebalance": "class_weight"}, pool,
              {"offline/accuracy": {1: 0.75, 2: 0.70}, "offline/balanced_accuracy": {1: 0.45, 2: 0.5},
               "online/win_rate": {2: 0.6}}, best_step=2)
    write_run(exp / "ppo_class_weight_seed0",
              {"name": "ppo", "init_from": str(exp / "class_weight_seed0" / "best")}, ["turtle_perfect"],
              {"offline/accuracy": {0: 0.70, 100: 0.68, 200: 0.60},
               "offline/balanced_accuracy": {0: 0.5, 100: 0.48, 200: 0.40},
               "online/win_rate": {0: 0.4, 100: 0.7, 200: 0.9},
               "online/win_rate_ci_low": {0: 0.3, 100: 0.6, 200: 0.8},
               "online/win_rate_ci_high": {0: 0.5, 100: 0.8, 200: 0.95}}, best_step=200)
    (exp / "data").mkdir()
    (exp / "data" / "manifest.json").write_text("{}")
    write_tournament(exp)
    return exp


def test_experiment_dir_resolves_relative_paths_against_the_root_not_the_working_directory(
        tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("FIGHTLAB_EXPERIMENT", raising=False)
    assert experiment_dir(root="/repo") == Path("/repo/runs/lecture")
    monkeypatch.setenv("FIGHTLAB_EXPERIMENT", "runs/other")
    assert experiment_dir(root="/repo") == Path("/repo/runs/other")
    monkeypatch.setenv("FIGHTLAB_EXPERIMENT", str(tmp_path / "abs"))
    assert experiment_dir(root="/repo") == tmp_path / "abs"
    assert experiment_dir("given", root="/repo") == Path("/repo/given")  # an argument beats the variable


def test_list_runs_finds_bc_and_rl_runs_and_nothing_else(experiment):
    runs = list_runs(experiment)
    assert list(runs.columns) == RUN_COLUMNS
    assert sorted(runs.index) == ["class_weight_seed0", "none_seed0", "ppo_class_weight_seed0"]
    assert runs.loc["none_seed0", "kind"] == "bc" and runs.loc["none_seed0", "rebalance"] == "none"
    rl = runs.loc["ppo_class_weight_seed0"]
    assert (rl["kind"], rl["agent"], rl["init"]) == ("rl", "ppo", "class_weight_seed0")
    assert rl["eval_opponents"] == "turtle_perfect" and rl["finished"] and rl["best_step"] == 200


def test_missing_folder_gives_empty_tables_and_no_tournament(tmp_path):
    assert list_runs(tmp_path / "nope").empty
    curves = load_curves(tmp_path / "nope")
    assert curves.empty and list(curves.columns) == CURVE_COLUMNS
    assert load_tournament(tmp_path / "nope") is None


def test_curves_are_long_with_kind_and_step(experiment):
    curves = load_curves(experiment)
    assert list(curves.columns) == CURVE_COLUMNS
    rl = curves[(curves["run"] == "ppo_class_weight_seed0") & (curves["tag"] == "online/win_rate")]
    assert rl["step"].tolist() == [0, 100, 200] and rl["value"].tolist() == pytest.approx([0.4, 0.7, 0.9])
    assert set(curves.loc[curves["run"] == "none_seed0", "kind"]) == {"bc"}
    assert set(curves["run"]) == {"none_seed0", "class_weight_seed0", "ppo_class_weight_seed0"}


def test_a_step_logged_again_after_a_resume_keeps_the_latest_value(tmp_path):
    write_events(tmp_path, {"offline/accuracy": {1: 0.5, 2: 0.6}})
    write_events(tmp_path, {"offline/accuracy": {2: 0.7, 3: 0.8}})  # the resumed run's file, written later
    scalars = read_scalars(tmp_path, ["offline/accuracy"])
    assert scalars["step"].tolist() == [1, 2, 3]
    assert scalars["value"].tolist() == pytest.approx([0.5, 0.7, 0.8])


def test_tournament_report_has_runs_short_names_and_correlations(experiment):
    report = load_tournament(experiment)
    assert report is not None and report.matches_per_pairing == 8 and report.sentence == "the report's"
    assert report.bots.loc["exp/none_seed0/best", "run"] == "none_seed0"
    assert report.bots.loc["exp/none_seed0/best", "bot"] == "none_seed0"
    assert pd.isna(report.bots.loc["turtle", "run"]) and report.bots.loc["turtle", "bot"] == "turtle"
    assert report.correlations.loc["accuracy", "spearman"] == pytest.approx(-0.9)


def test_a_report_without_offline_metrics_still_loads(tmp_path):
    write_tournament(tmp_path, BOTS.drop(columns=["accuracy", "balanced_accuracy", "macro_f1"]))
    report = load_tournament(tmp_path)
    assert report.bots["accuracy"].isna().all()
    assert "no offline metrics" in finding(report, load_curves(tmp_path), list_runs(tmp_path))


def test_rl_progress_compares_the_start_with_the_best_checkpoint(experiment):
    progress = rl_progress(load_curves(experiment), list_runs(experiment))
    row = progress.loc["ppo_class_weight_seed0"]
    assert (row["start_step"], row["best_step"]) == (0, 200)
    assert (row["accuracy_start"], row["accuracy_best"]) == pytest.approx((0.70, 0.60))
    assert (row["win_rate_start"], row["win_rate_best"]) == pytest.approx((0.4, 0.9))


def test_an_unfinished_rl_run_is_judged_at_its_best_evaluation_so_far(tmp_path):
    write_run(tmp_path / "ppo_scratch_seed0", {"name": "ppo", "init_from": None}, None,
              {"offline/accuracy": {0: 0.1, 10: 0.2, 20: 0.3, 30: 0.4},
               "offline/balanced_accuracy": {0: 0.1, 10: 0.3, 20: 0.2, 30: 0.3},
               "online/win_rate": {0: 0.0, 10: 0.5, 20: 0.5, 30: 0.5}}, best_step=None)
    runs = list_runs(tmp_path)
    assert runs.loc["ppo_scratch_seed0", "init"] == "scratch"
    assert not runs.loc["ppo_scratch_seed0", "finished"]
    progress = rl_progress(load_curves(tmp_path), runs)
    # the highest win rate, then the highest balanced accuracy, then the earliest
    assert progress.loc["ppo_scratch_seed0", "best_step"] == 10
    assert rl_progress(load_curves(tmp_path), runs.iloc[:0]).empty
    # once the run has saved its last checkpoint, its own record of the best step wins
    (tmp_path / "ppo_scratch_seed0" / "last").mkdir()
    (tmp_path / "ppo_scratch_seed0" / "last" / "manifest.json").write_text(
        json.dumps({"training_state": {"step": 30, "best_step": 20}}))
    runs = list_runs(tmp_path)
    assert runs.loc["ppo_scratch_seed0", "best_step"] == 20
    assert rl_progress(load_curves(tmp_path), runs).loc["ppo_scratch_seed0", "best_step"] == 20


def test_finding_states_the_lesson_from_the_numbers(experiment):
    text = finding(load_tournament(experiment), load_curves(experiment), list_runs(experiment))
    assert "best predicts the tournament win rate is `mean_skill_recall` (Spearman +0.95" in text
    assert "Plain accuracy's rank correlation with win rate is -0.90: it ranks the bots backwards" in text
    assert ("The naive BC bot (`none_seed0`) has accuracy 0.960, #1 of 5 bots, and wins 0.0% of its "
            "tournament matches: the lecture's bot") in text
    assert "validation accuracy 0.700 -> 0.600 (-0.100)" in text
    assert ("win rate against turtle_perfect 0.400 -> 0.900 (+0.500): accuracy fell while the win rate "
            "rose") in text
    assert ("`ppo_class_weight_seed0` wins 80.0% (accuracy 0.650) and its start `class_weight_seed0` "
            "70.0%") in text
    assert all(line.startswith("- ") for line in text.splitlines())


def test_finding_names_what_is_missing(tmp_path, experiment):
    assert "No training runs" in finding(None, load_curves(tmp_path), list_runs(tmp_path))
    runs = list_runs(experiment)
    bc_only = runs[runs["kind"] == "bc"]
    curves = load_curves(experiment)
    text = finding(None, curves[curves["kind"] == "bc"], bc_only)
    assert "No tournament report yet" in text and "No RL run in this experiment" in text


def test_plot_curves_draws_one_panel_per_tag_and_nothing_for_a_missing_kind(experiment):
    curves = load_curves(experiment)
    figure = plot_curves(curves, "rl")
    assert figure is not None and len(figure.axes) == 3
    assert [line.get_label() for line in figure.axes[2].get_lines()] == ["ppo_class_weight_seed0"]
    assert plot_curves(curves[curves["kind"] == "bc"], "rl") is None
