"""``python train.py`` as a user runs it: a tiny run, resume, TensorBoard tags, results, bad input."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
FAST = ("eval.opponents=[random,rushdown_club]", "eval.matches_per_opponent=2",
        "eval.final_matches_per_opponent=2", "agent.hidden_sizes=[32]", "train.progress=false",
        "agent.device=cpu")


def run(*overrides: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "train.py"), *overrides], cwd=cwd,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def tiny_run(tiny_dataset, tmp_path_factory):
    """One epoch, then resumed to two: the same run folder, continued."""
    cwd = tmp_path_factory.mktemp("train")
    common = (f"eval.dataset.path={tiny_dataset}", "agent.rebalance=undersample", "seed=3", *FAST)
    first = run(*common, "agent.epochs=1", cwd=cwd)
    assert first.returncode == 0, first.stderr
    second = run(*common, "agent.epochs=2", "train.resume=true", "train.keep_epoch_checkpoints=true",
                 cwd=cwd)
    assert second.returncode == 0, second.stderr
    return cwd, cwd / "runs" / "bc" / "undersample_seed3", first, second


def test_run_writes_checkpoints_results_and_prints_the_table(tiny_run):
    _, run_dir, first, second = tiny_run
    for name in ("best", "last"):
        assert (run_dir / name / "model.safetensors").is_file()
        assert (run_dir / name / "manifest.json").is_file()
    results = json.loads((run_dir / "results.json").read_text())
    assert results["rebalance"] == "undersample" and results["seed"] == 3
    assert 0.0 <= results["test"]["accuracy"] <= 1.0 and results["online"]["matches"] == 4
    header = (run_dir / "results.csv").read_text().splitlines()[0]
    assert "test/balanced_accuracy" in header and "online/win_rate" in header
    assert "win rate [95% CI]" in second.stdout and "bc/undersample_seed3" in second.stdout
    manifest = json.loads((run_dir / "last" / "manifest.json").read_text())
    assert manifest["step"] == 2 and manifest["rebalance"]["rebalance"] == "undersample"
    assert len(manifest["dataset"]["frames_sha256"]) == 64
    assert manifest["dataset"]["observation_delay"] == 0  # recorded for export (timing in the bundle)
    # kept per-epoch checkpoints (asked for in the resumed part only) load like any other
    assert not (run_dir / "epoch_001").exists() and (run_dir / "epoch_002" / "model.safetensors").is_file()
    from agents.registry import make_policy

    assert make_policy(str(run_dir / "epoch_002")).act(np.zeros((3, 42), np.float32)).shape == (3,)


def test_resume_continued_the_first_epoch(tiny_run):
    _, _, _, second = tiny_run
    assert "resuming" in second.stderr and "after epoch 1" in second.stderr


def test_tensorboard_has_offline_online_and_training_tags(tiny_run):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    _, run_dir, _, _ = tiny_run
    events = EventAccumulator(str(run_dir), size_guidance={"scalars": 0, "images": 0}).Reload()
    tags = set(events.Tags()["scalars"])
    for tag in ("offline/accuracy", "offline/balanced_accuracy", "offline/macro_f1",
                "offline/no_action_recall", "offline/mean_skill_recall", "offline/recall/GUARD",
                "online/win_rate", "online/win_rate_vs_random", "train/loss", "charts/samples_per_second"):
        assert tag in tags, tag
    assert [e.step for e in events.Scalars("offline/accuracy")] == [1, 2]  # resumed, not restarted
    assert "offline/confusion_matrix" in events.Tags()["images"]


def test_existing_run_is_not_overwritten_without_asking(tiny_run, tiny_dataset):
    cwd, run_dir, _, _ = tiny_run
    before = (run_dir / "last" / "model.safetensors").read_bytes()
    out = run(f"eval.dataset.path={tiny_dataset}", "agent.rebalance=undersample", "seed=3", *FAST, cwd=cwd)
    assert out.returncode != 0 and "already holds a finished run: pass train.overwrite=true" in out.stderr
    assert (run_dir / "last" / "model.safetensors").read_bytes() == before


def test_a_corrupt_checkpoint_fails_with_the_file_named(tiny_run, tiny_dataset, tmp_path):
    import shutil

    _, run_dir, _, _ = tiny_run
    copy = tmp_path / "runs" / "bc" / "undersample_seed3"
    shutil.copytree(run_dir, copy)
    weights = copy / "last" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    out = run(f"eval.dataset.path={tiny_dataset}", "agent.rebalance=undersample", "seed=3", *FAST,
              "agent.epochs=3", "train.resume=true", cwd=tmp_path)
    assert out.returncode != 0
    assert f"{weights} is corrupt or truncated" in out.stderr


def test_bad_overrides_fail_with_a_message(tmp_path):
    out = run("agent.rebalance=smot", cwd=tmp_path)
    assert out.returncode != 0 and "Invalid value 'smot', expected one of [none, class_weight" in out.stderr
    out = run("agent.hiden_sizes=[8]", cwd=tmp_path)
    assert out.returncode == 2 and "did you mean 'agent.hidden_sizes'?" in out.stderr
    assert not (tmp_path / "runs").exists()
