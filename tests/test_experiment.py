"""``python experiment.py scale=small`` end to end, run once per session, then the notebook on its output.

The small experiment (``conf/scale/small.yaml``: a small dataset, a few BC methods, two PPO
iterations, a short tournament) takes a few minutes on 2 cores; every test here reads the folder
it wrote. The notebook ``notebooks/accuracy_vs_winrate.ipynb`` is executed with nbclient against
that folder, from the repository root and from ``notebooks/``.
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pandas as pd
import pytest
import yaml
from nbclient import NotebookClient

from evaluation.experiment_results import finding, list_runs, load_curves, load_tournament

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "accuracy_vs_winrate.ipynb"
SMALL = yaml.safe_load((ROOT / "conf" / "scale" / "small.yaml").read_text())
TOURNAMENT_FILES = ("standings.csv", "pairings.csv", "results.json", "report.csv", "report.json", "report.md",
                    "accuracy_vs_win_rate.png")


@dataclass
class Experiment:
    command: list[str]
    cwd: Path
    folder: Path
    first: subprocess.CompletedProcess


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``folder`` with its size and modification time."""
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def experiment(tmp_path_factory) -> Experiment:
    cwd = tmp_path_factory.mktemp("experiment")
    command = [sys.executable, str(ROOT / "experiment.py"), "scale=small", "name=ci",
               f"logdir={cwd / 'runs'}", "progress=false"]
    first = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=1800)
    assert first.returncode == 0, first.stderr[-4000:]
    return Experiment(command, cwd, cwd / "runs" / "ci", first)


def execute_notebook(experiment_folder: Path, cwd: Path, monkeypatch) -> nbformat.NotebookNode:
    monkeypatch.setenv("FIGHTLAB_EXPERIMENT", str(experiment_folder))
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(notebook, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(cwd)}}).execute()
    return notebook


def outputs_text(notebook: nbformat.NotebookNode) -> str:
    """Everything the notebook printed or displayed as text (streams, Markdown, plain reprs)."""
    parts = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            assert output["output_type"] != "error", output
            if output["output_type"] == "stream":
                parts.append(output["text"])
            for kind in ("text/markdown", "text/plain"):
                if kind in output.get("data", {}):
                    parts.append(output["data"][kind])
    return "\n".join(parts)


def png_count(notebook: nbformat.NotebookNode) -> int:
    return sum("image/png" in output.get("data", {}) for cell in notebook.cells
               for output in cell.get("outputs", []))


def test_every_step_wrote_its_outputs(experiment):
    folder = experiment.folder
    assert (folder / "data" / "manifest.json").is_file()
    bc_results = {}
    for rebalance in SMALL["rebalances"]:
        run = folder / f"{rebalance}_seed0"
        assert (run / "best" / "model.safetensors").is_file() and (run / "best" / "manifest.json").is_file()
        assert list(run.glob("events.out.tfevents.*")), run
        bc_results[rebalance] = json.loads((run / "results.json").read_text())
        assert {"test", "online"} <= set(bc_results[rebalance])
    rl_runs = sorted(folder.glob("ppo_*_seed0"))
    assert len(rl_runs) == 1
    rl = json.loads((rl_runs[0] / "results.json").read_text())
    assert rl["agent"] == "ppo" and (rl_runs[0] / "best" / "model.safetensors").is_file()
    # PPO starts from the BC run with the best win rate (then balanced accuracy)
    best = max(bc_results, key=lambda r: (bc_results[r]["online"]["win_rate"],
                                          bc_results[r]["test"]["balanced_accuracy"]))
    assert rl_runs[0].name == f"ppo_{best}_seed0"
    for name in TOURNAMENT_FILES:
        assert (folder / "tournament" / name).is_file(), name


def test_the_report_has_one_row_per_bot_with_finite_accuracy_and_win_rate(experiment):
    from experiment import ScaleConfig, scripted_players

    scripted = scripted_players(ScaleConfig(tournament_scripted=SMALL["tournament_scripted"]))
    report = pd.read_csv(experiment.folder / "tournament" / "report.csv")
    assert report["label"].is_unique
    trained = [f"{r}_seed0" for r in SMALL["rebalances"]] + [p.name for p in experiment.folder.glob("ppo_*")]
    bots = load_tournament(experiment.folder).bots  # labels as the tournament wrote them, with their run
    assert sorted(bots.loc[bots["kind"] == "checkpoint", "run"]) == sorted(trained)
    assert sorted(report.loc[report["kind"] == "scripted", "label"]) == sorted(scripted)
    assert len(report) == len(scripted) + len(trained)
    columns = pd.read_csv(experiment.folder / "tournament" / "standings.csv").columns
    assert "vs_reference_pool" in columns and "vs_perfect_pros" not in columns  # no perfect pro plays
    for column in ("accuracy", "win_rate"):
        assert all(math.isfinite(v) and 0 <= v <= 1 for v in report[column]), report[["label", column]]
    standings = pd.read_csv(experiment.folder / "tournament" / "standings.csv")
    assert sorted(standings["label"]) == sorted(report["label"])


def test_running_again_changes_nothing(experiment):
    before = snapshot(experiment.folder)
    report = (experiment.folder / "tournament" / "report.md").read_bytes()
    again = subprocess.run(experiment.command, cwd=experiment.cwd, capture_output=True, text=True,
                           timeout=600)
    assert again.returncode == 0, again.stderr[-4000:]
    assert (experiment.folder / "tournament" / "report.md").read_bytes() == report
    assert snapshot(experiment.folder) == before


@pytest.mark.parametrize("where", [".", "notebooks"])
def test_the_notebook_runs_on_the_experiment_and_states_the_finding(experiment, where, monkeypatch):
    notebook = execute_notebook(experiment.folder, ROOT / where, monkeypatch)
    text = outputs_text(notebook)
    folder = experiment.folder
    expected = finding(load_tournament(folder), load_curves(folder), list_runs(folder))
    assert expected in text
    assert "The naive BC bot (`none_seed0`)" in expected and "RL fine-tuning `ppo_" in expected
    assert f"experiment folder: {folder}" in text and "MISSING" not in text
    assert png_count(notebook) == 3  # BC curves, RL curves, accuracy vs win rate


def test_the_notebook_says_what_is_missing(experiment, tmp_path, monkeypatch):
    partial = tmp_path / "partial"
    shutil.copytree(experiment.folder / "none_seed0", partial / "none_seed0")  # one BC run, nothing else
    text = outputs_text(execute_notebook(partial, ROOT, monkeypatch))
    assert "No RL fine-tuning run with curves" in text and "No tournament report" in text
    assert "No RL run in this experiment" in text
    text = outputs_text(execute_notebook(tmp_path / "nothing_here", ROOT, monkeypatch))
    assert "MISSING" in text and "No training runs" in text


# The two tests below change the experiment folder: they run last (pytest keeps file order).
def test_an_interrupted_tournament_resumes_where_it_stopped(experiment):
    out = experiment.folder / "tournament"
    log = (out / "matches.jsonl").read_text().splitlines()
    total = sum(len(json.loads(line)["matches"]) for line in log[1:])
    kept = log[: 1 + (len(log) - 1) // 2]  # the header and half of the finished blocks: a killed run
    (out / "matches.jsonl").write_text("\n".join(kept) + "\n")
    (out / "report.json").unlink()
    read_back = sum(len(json.loads(line)["matches"]) for line in kept[1:])
    again = subprocess.run(experiment.command, cwd=experiment.cwd, capture_output=True, text=True,
                           timeout=900)
    assert again.returncode == 0, again.stderr[-4000:]
    assert f"played {total - read_back} matches" in again.stdout
    assert f"({read_back} read back from the log)" in again.stdout
    assert "up to date" in again.stderr  # no training step ran again


def test_a_changed_bc_config_recomputes_the_steps_that_depend_on_it(experiment):
    folder = experiment.folder
    ppo_run = next(folder.glob("ppo_*_seed0"))
    before = {run.name: json.loads((run / "results.json").read_text())["fingerprint"]
              for run in (*(folder / f"{r}_seed0" for r in SMALL["rebalances"]), ppo_run)}
    changed = [*experiment.command, "scale.hidden_sizes=[32]"]  # another network: every BC bot changes
    refused = subprocess.run(changed, cwd=experiment.cwd, capture_output=True, text=True, timeout=900)
    assert refused.returncode != 0
    assert f"config.agent.hidden_sizes: {SMALL['hidden_sizes']} -> [32]" in refused.stderr
    assert "train.overwrite=true" in refused.stderr and "Traceback" not in refused.stderr

    redone = subprocess.run([*changed, "overwrite=true"], cwd=experiment.cwd, capture_output=True, text=True,
                            timeout=1800)
    assert redone.returncode == 0, redone.stderr[-4000:]
    for rebalance in SMALL["rebalances"]:
        results = json.loads((folder / f"{rebalance}_seed0" / "results.json").read_text())
        assert results["fingerprint"]["config"]["agent"]["hidden_sizes"] == [32]
        assert results["fingerprint"] != before[f"{rebalance}_seed0"]
    ppo_run = next(folder.glob("ppo_*_seed0"))  # the best BC run may have changed
    ppo = json.loads((ppo_run / "results.json").read_text())
    start = json.loads((Path(ppo["fingerprint"]["parent"]["path"]) / "manifest.json").read_text())
    assert ppo["fingerprint"]["parent"]["weights_sha256"] == start["weights"]["sha256"]
    assert ppo["fingerprint"] != before.get(ppo_run.name)
    log = (folder / "tournament" / "matches.jsonl").read_text().splitlines()
    total = sum(len(json.loads(line)["matches"]) for line in log[1:])
    assert f"played {total} matches" in redone.stdout and "(0 read back from the log)" in redone.stdout
    header = json.loads(log[0])["fingerprint"]
    first = f"{SMALL['rebalances'][0]}_seed0"
    weights = json.loads((folder / first / "best" / "manifest.json").read_text())["weights"]["sha256"]
    assert header["participant_sha256"][first] == weights
    # and an unchanged re-run after that recomputes nothing
    again = subprocess.run([*changed, "overwrite=true"], cwd=experiment.cwd, capture_output=True, text=True,
                           timeout=900)
    assert again.returncode == 0, again.stderr[-4000:]
    assert again.stderr.count("up to date") == len(SMALL["rebalances"]) + 1
    assert "nothing played, nothing rewritten" in again.stdout
