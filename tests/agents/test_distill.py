"""Policy distillation (``agents/distill.py``, ``python train.py agent=distill``): a small student
learns a teacher checkpoint's actions on the states both visit.

The learning test has a known answer: the teacher is itself a small network, so a student of the
same shape can copy it exactly, and after a few rounds it must agree with the teacher on the states
it visits while an untrained student does not. The script tests run ``train.py`` as a user does, on
a tiny budget (a few rounds of a few matches, two evaluation matches).
"""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from gymnasium.vector import AutoresetMode

from agents.bc import BCPolicy
from agents.checkpoint import load, save_checkpoint
from agents.distill import (
    AggregatedDataset,
    DistillConfig,
    agreement_metrics,
    teacher_logits_of,
    train_distill,
)
from agents.gym_envs import make_pool_vector_env
from agents.networks import PolicyNetwork
from agents.tracker import RunTracker
from envs.actions import NUM_ACTIONS
from envs.observation import OBS_DIM

ROOT = Path(__file__).resolve().parents[2]
TINY = {"opponents": ["idle", "random"], "device": "cpu", "eval_every": 0}


class OfflineOnly:
    """The evaluator the tracker asks (no data, no matches): every evaluation is 'better' than the last,
    so ``best/`` is the newest student."""

    def evaluate(self, writer, step, policy, *, play=True):
        return {"online/win_rate": float(step)}

    def selection_key(self, logged):
        return logged["online/win_rate"], 0.0

    def is_better(self, candidate, best):
        return best is None or candidate > best


def tracker(run_dir: Path) -> RunTracker:
    return RunTracker(run_dir, name="test/distill", evaluator=OfflineOnly(), metadata={}, config_yaml="",
                      step_name="round")


@pytest.fixture
def teacher(tmp_path):
    """A teacher with decisive logits (scaled-up random weights): most states have a clear best command,
    and which one depends on the state."""
    torch.manual_seed(1)
    network = PolicyNetwork(hidden_sizes=(16,), activation="tanh")
    with torch.no_grad():
        for layer in (network.layers[0], network.layers[-1]):
            layer.weight.mul_(4.0)
    return load(save_checkpoint(tmp_path / "teacher", network, name="teacher"))


def visited_states(player, frames: int = 64, seed: int = 123) -> np.ndarray:
    """States of fresh matches (other seeds than training's) that ``player`` plays."""
    env = make_pool_vector_env(16, opponents=["idle", "random"], autoreset_mode=AutoresetMode.SAME_STEP)
    obs, _ = env.reset(seed=seed)
    states = []
    for _ in range(frames):
        states.append(obs.copy())
        obs, *_ = env.step(player.act(obs))
    return np.concatenate(states)


def test_student_learns_the_teachers_actions_on_the_states_it_visits(teacher, tmp_path):
    config = DistillConfig(hidden_sizes=[16], activation="tanh", rounds=4, num_envs=16, frames_per_round=64,
                           epochs_per_round=8, batch_size=128, lr=1e-2, **TINY)
    student, summary = train_distill(config, tracker(tmp_path / "run"), teacher, progress=False)
    # per round, on that round's states, before the student trained on them
    agreement = [logged["distill/teacher_agreement"] for logged in summary["history"]]
    share = [logged["distill/teacher_share"] for logged in summary["history"]]
    assert share[0] == 1.0 and share[-1] < 0.5  # the student takes over
    assert agreement[0] < 0.5, agreement  # the untrained student
    assert agreement[-1] >= 0.9, agreement  # states the student itself led to, not trained on yet

    # and on fresh matches the student plays, against the teacher's labels
    states = visited_states(BCPolicy(student))
    labels = teacher_logits_of(teacher, states)
    assert len(np.unique(labels.argmax(axis=1))) >= 3  # a teacher that really chooses
    assert agreement_metrics(student, states, labels)["agreement"] >= 0.9
    torch.manual_seed(0)
    untrained = PolicyNetwork(hidden_sizes=(16,), activation="tanh")
    assert agreement_metrics(untrained, states, labels)["agreement"] < 0.5
    assert (tmp_path / "run" / "last" / "manifest.json").is_file()


def test_same_seed_same_student_and_another_seed_another(teacher, tmp_path):
    def weights(seed: int, name: str) -> list[torch.Tensor]:
        config = DistillConfig(hidden_sizes=[8], rounds=2, num_envs=8, frames_per_round=16, seed=seed,
                               buffer_rows=200, batch_size=64, **TINY)  # the cap is reached: sampling too
        student, _ = train_distill(config, tracker(tmp_path / name), teacher, progress=False)
        return list(student.state_dict().values())

    first, again, other = weights(0, "a"), weights(0, "b"), weights(1, "c")
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))
    assert not all(torch.equal(a, b) for a, b in zip(first, other, strict=True))


def test_the_student_plays_the_slots_the_teacher_does_not(teacher, tmp_path):
    def first_round(beta: float) -> dict[str, float]:
        config = DistillConfig(hidden_sizes=[8], rounds=1, num_envs=8, frames_per_round=32, beta=beta, **TINY)
        return train_distill(config, tracker(tmp_path / str(beta)), teacher, progress=False)[1]["history"][0]

    by_teacher, by_student = first_round(1.0), first_round(0.0)  # the same untrained student in both
    assert by_teacher["distill/teacher_share"] == 1.0 and by_student["distill/teacher_share"] == 0.0
    # the untrained student's own matches are other states than the teacher's
    assert by_teacher["distill/visited_kl"] != pytest.approx(by_student["distill/visited_kl"], rel=1e-3)


def test_aggregated_dataset_keeps_a_uniform_sample_over_its_cap():
    data = AggregatedDataset(capacity=1000, seed=0)
    for first in range(0, 10_000, 500):  # 20 rounds of 500 rows, row i is the state filled with i
        rows = np.arange(first, first + 500, dtype=np.float32)
        data.add(np.repeat(rows[:, None], OBS_DIM, axis=1), np.repeat(rows[:, None], NUM_ACTIONS, axis=1))
    kept = data.states[:, 0]
    assert len(data) == 1000 and data.seen == 10_000 and len(np.unique(kept)) == 1000
    assert np.array_equal(data.states[:, 0], data.logits[:, 0])  # states and labels stay paired
    assert 0.35 < np.mean(kept < 5000) < 0.65  # early rows are not pushed out by late ones
    assert np.mean(kept < 1000) > 0.05


# ---- python train.py agent=distill -----------------------------------------------------------------
SCRIPT = ("agent=distill", "agent.hidden_sizes=[8]", "agent.rounds=2", "agent.num_envs=8",
          "agent.frames_per_round=16", "agent.opponents=[idle,random]", "agent.eval_every=0",
          "agent.device=cpu", "eval.opponents=[random]", "eval.matches_per_opponent=2",
          "eval.final_matches_per_opponent=2", "train.progress=false", "experiment=distill")


def run(*overrides: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "train.py"), *overrides], cwd=cwd, capture_output=True,
                          text=True, timeout=300)


def test_train_script_distills_a_checkpoint(tmp_path, tiny_dataset, tiny_checkpoint):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    folder, network, _ = tiny_checkpoint
    out = run(*SCRIPT, f"agent.teacher={folder}", f"eval.dataset.path={tiny_dataset}", cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    run_dir = tmp_path / "runs" / "distill" / "distill_h8_seed0"
    results = json.loads((run_dir / "results.json").read_text())
    teacher_parameters = sum(p.numel() for p in network.parameters())
    student_parameters = (OBS_DIM + 1) * 8 + (8 + 1) * NUM_ACTIONS
    assert results["agent"] == "distill" and results["teacher"] == str(folder.resolve())
    assert results["teacher_parameters"] == teacher_parameters
    assert results["student_parameters"] == student_parameters
    assert results["size_ratio"] == pytest.approx(teacher_parameters / student_parameters)
    assert 0 <= results["agreement_with_teacher"] <= 1 and results["online"]["matches"] == 2
    assert results["rounds"] == 2 and results["env_steps"] == 2 * 8 * 16 and results["best_epoch"] == 2
    assert results["fingerprint"]["parent"]["path"] == str(folder.resolve())
    assert "win rate [95% CI]" in out.stdout and "(round " in out.stdout
    for name in ("best", "last"):
        assert (run_dir / name / "model.safetensors").is_file()
    manifest = json.loads((run_dir / "last" / "manifest.json").read_text())
    assert manifest["step"] == 2 and manifest["teacher"]["path"] == str(folder.resolve())
    assert manifest["architecture"]["config"]["hidden_sizes"] == [8]
    tags = set(EventAccumulator(str(run_dir), size_guidance={"scalars": 0}).Reload().Tags()["scalars"])
    for tag in ("distill/kl", "distill/teacher_agreement", "distill/teacher_share", "distill/buffer_rows",
                "distill/val_agreement", "charts/frames_per_second", "offline/accuracy", "online/win_rate"):
        assert tag in tags, tag


def test_train_script_refuses_a_missing_teacher(tmp_path):
    cases = {None: "agent=distill needs a teacher: pass agent.teacher=",
             "nope": "agent.teacher=nope: no checkpoint at nope: the path does not exist"}
    started = {}
    for teacher in cases:  # both at once: most of each run is starting Python
        command = [sys.executable, str(ROOT / "train.py"), *SCRIPT,
                   *([] if teacher is None else [f"agent.teacher={teacher}"])]
        started[teacher] = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE,
                                            stderr=subprocess.PIPE, text=True)
    for teacher, expected in cases.items():
        _, err = started[teacher].communicate(timeout=300)
        assert started[teacher].returncode == 1, err[-3000:]
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("train.py: ") and expected in lines[0], err
    assert not (tmp_path / "runs").exists()
