"""`python tournament.py` as a user runs it: a tiny tournament, resume, and clear failures."""

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from datasets.generate import GenerateConfig, generate

ROOT = Path(__file__).resolve().parents[1]


def run(*overrides, cwd):
    return subprocess.run([sys.executable, str(ROOT / "tournament.py"), *overrides], cwd=cwd,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def tiny_dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("data") / "tiny"
    generate(GenerateConfig(players=["rushdown"], matches_per_pairing=10, out=str(out), progress=False))
    return out


def test_tiny_tournament_writes_every_file_and_resumes(tmp_path, tiny_dataset):
    args = ["tournament.participants=[footsies,idle,random]", "tournament.matches_per_pairing=4",
            "tournament.out_dir=out", "ratings.bootstrap=20", f"eval.dataset.path={tiny_dataset}",
            "+tournament.groups.scripted=[idle,random]"]
    first = run(*args, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "no trained bots matched 'runs/**/best'" in first.stdout
    assert "played 12 matches" in first.stdout and "footsies" in first.stdout
    assert "predicts win_rate best" in first.stdout or "Too few" in first.stdout
    out = tmp_path / "out"
    for name in ("matches.jsonl", "results.json", "pairings.csv", "standings.csv", "results.md",
                 "win_rates.png", "report.json", "report.csv", "report.md", "accuracy_vs_win_rate.png",
                 "tensorboard"):
        assert (out / name).exists(), name
    standings = json.loads((out / "results.json").read_text())["standings"]
    assert standings[0]["label"] == "footsies" and standings[-1]["label"] == "idle"
    assert standings[0]["vs_scripted"] == 1.0 and standings[-1]["vs_scripted"] == 0.0
    assert "vs_scripted" in (out / "results.md").read_text()
    report = json.loads((out / "report.json").read_text())["bots"]
    assert {bot["label"]: bot["accuracy"] > 0.5 for bot in report}["idle"]

    again = run(*args, cwd=tmp_path)
    assert again.returncode != 0 and "tournament.resume=true" in again.stderr
    resumed = run(*args, "tournament.resume=true", "report.enabled=false", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert "played 0 matches" in resumed.stdout and "12 read back from the log" in resumed.stdout
    assert json.loads((out / "results.json").read_text())["standings"] == standings


def test_each_trained_bot_is_scored_on_its_own_datasets_test_split(tmp_path, tiny_dataset):
    """Bots trained on two datasets: the report shows each bot's dataset and scores it on its own split."""
    from agents.bc import BCConfig
    from agents.registry import make_policy
    from datasets.load import load_dataset
    from evaluation.offline import evaluate_policy
    from evaluation.protocol import DatasetSpec, EvalProtocol, recorded_dataset, test_split
    from train import RunConfig, TrainConfig, train

    other = generate(GenerateConfig(players=["zoner"], matches_per_pairing=10, seed=5,
                                    out=str(tmp_path / "zoner"), progress=False))
    for name, data in (("a", tiny_dataset), ("b", other)):
        protocol = EvalProtocol(dataset=DatasetSpec(path=str(data)), opponents=["idle"],
                                matches_per_opponent=2, final_matches_per_opponent=2)
        train(TrainConfig(agent=BCConfig(epochs=1, hidden_sizes=[16], device="cpu", rebalance="class_weight"),
                          experiment="two", eval=protocol,
                          train=RunConfig(logdir=str(tmp_path / "runs"), run_name=name, progress=False)))
    bots = ["tournament.participants=['a=runs/two/a/best','b=runs/two/b/best']", "tournament.globs=[]",
            "tournament.matches_per_pairing=2", "ratings.bootstrap=5"]
    out = run(*bots, "tournament.out_dir=own", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    report = pd.read_csv(tmp_path / "own" / "report.csv").set_index("label")
    sha = {name: load_dataset(path).manifest["frames_sha256"]
           for name, path in (("a", tiny_dataset), ("b", other))}
    assert report.loc["a", "dataset"] == f"tiny@{sha['a'][:8]}"
    assert report.loc["b", "dataset"] == f"zoner@{sha['b'][:8]}"
    assert report["own_dataset"].all() and "dataset" in (tmp_path / "own" / "report.md").read_text()
    for name in ("a", "b"):
        manifest = json.loads((tmp_path / "runs" / "two" / name / "best" / "manifest.json").read_text())
        split = test_split(None, recorded_dataset(manifest))
        assert split.dataset["frames_sha256"] == sha[name]
        expected, _ = evaluate_policy(make_policy(str(tmp_path / "runs" / "two" / name)), split.observations,
                                      split.labels)
        assert report.loc[name, "accuracy"] == pytest.approx(expected["accuracy"])
        assert report.loc[name, "test_frames"] == len(split.labels)
    # one dataset named for all: both bots on it, and the report says which one is not its own
    out = run(*bots, "tournament.out_dir=named", f"eval.dataset.path={other}", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    named = pd.read_csv(tmp_path / "named" / "report.csv").set_index("label")
    assert set(named["dataset"]) == {f"zoner@{sha['b'][:8]}"}
    assert not named.loc["a", "own_dataset"] and named.loc["b", "own_dataset"]


def test_bad_participant_and_bad_key_fail_before_any_match(tmp_path):
    out = run("tournament.participants=[footsies,footsie]", "tournament.out_dir=out", cwd=tmp_path)
    assert out.returncode != 0
    assert "'footsie': unknown bot name" in out.stderr and "registered bots: footsies, idle" in out.stderr
    assert not (tmp_path / "out").exists()
    out = run("tournament.participants=[idle,random]", "+tournament.groups.pros=[rushdown]",
              "tournament.out_dir=out", cwd=tmp_path)
    assert out.returncode != 0 and "tournament.groups.pros names ['rushdown']" in out.stderr
    assert not (tmp_path / "out").exists()
    out = run("tournament.matchez=3", cwd=tmp_path)
    assert out.returncode != 0 and "unknown key 'tournament.matchez'" in out.stderr
    assert "matches_per_pairing" in out.stderr and "Traceback" not in out.stderr
    out = run("tournament.matches_per_pairing=5", "tournament.participants=[idle,random]", cwd=tmp_path)
    assert out.returncode != 0 and "even number" in out.stderr
