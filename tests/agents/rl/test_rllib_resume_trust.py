"""Resuming an RLlib run never unpickles a file FightLab did not write: a real (tiny) RLlib
checkpoint, a planted pickle that would create a marker file, and a resume that refuses before
anything is loaded."""

from __future__ import annotations

import json
import pickle
import re
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from agents.checkpoint import save_checkpoint
from agents.errors import CheckpointError
from agents.networks import PolicyNetwork
from agents.rl.rllib_module import policy_network_from_algo, ppo_config
from agents.rl.rllib_train import (
    check_rllib_checkpoint,
    save_rllib_checkpoint,
    train_rllib,
    verified_rllib_checkpoint,
)

STATE = {"iteration": 1, "step": 64}  # what train.py reads from last/ before resuming


class Payload:
    """Unpickling this creates ``marker``: what a crafted ``algorithm_state.pkl`` could do instead."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return open, (self.marker, "w")


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """One tiny PPO algorithm (no training: building it is enough for a real checkpoint), saved the
    way train.py saves it, into ``<run>/rllib``."""
    import ray

    root = tmp_path_factory.mktemp("rllib")
    torch.manual_seed(0)
    bc = save_checkpoint(root / "bc", PolicyNetwork(hidden_sizes=(8,)))
    ray.init(num_cpus=1, include_dashboard=False, ignore_reinit_error=True, log_to_driver=False)
    algo = ppo_config(bc, env_config={"round_seconds": 2}, seed=0, device="cpu",
                      train_batch_size_per_learner=64, minibatch_size=64, num_epochs=1).build_algo()
    try:
        save_rllib_checkpoint(algo, root / "run")
        yield algo, root / "run"
    finally:
        algo.stop()
        ray.shutdown()


@pytest.fixture
def run(saved, tmp_path):
    """A copy of the saved run to tamper with."""
    return Path(shutil.copytree(saved[1], tmp_path / "run"))


def test_the_checkpoint_records_every_file_and_restores_from_a_verified_copy(saved):
    algo, run_dir = saved
    manifest = json.loads((run_dir / "rllib" / "manifest.json").read_text())
    on_disk = sorted(p.relative_to(run_dir / "rllib").as_posix() for p in (run_dir / "rllib").rglob("*")
                     if p.is_file() and p.name != "manifest.json")
    assert manifest["format"] == "rllib-checkpoint" and sorted(manifest["files"]) == on_disk
    assert "algorithm_state.pkl" in manifest["files"] and "class_and_ctor_args.pkl" in manifest["files"]
    check_rllib_checkpoint(run_dir / "rllib")
    before = policy_network_from_algo(algo).state_dict()
    with verified_rllib_checkpoint(run_dir / "rllib") as copy:
        assert copy != run_dir / "rllib" and (copy / "algorithm_state.pkl").is_file()
        algo.restore_from_path(str(copy))  # RLlib ignores the extra manifest.json
    assert not copy.exists()  # the private copy is gone
    after = policy_network_from_algo(algo).state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_resume_refuses_a_planted_pickle_and_never_runs_it(saved, run, tmp_path):
    algo, _ = saved
    marker = tmp_path / "pwned"
    payload = pickle.dumps(Payload(marker))
    pickle.loads(pickle.dumps(Payload(tmp_path / "sanity")))  # the payload does what it says...
    assert (tmp_path / "sanity").exists()
    (run / "rllib" / "algorithm_state.pkl").write_bytes(payload)  # ...and is planted in the run

    message = rf"{run / 'rllib' / 'algorithm_state.pkl'} differs from the sha256 recorded in " \
              rf"{run / 'rllib' / 'manifest.json'}.*refusing to resume: RLlib checkpoints are pickles"
    cfg = SimpleNamespace(agent=SimpleNamespace(), ray=SimpleNamespace(address=None, num_cpus=1))
    with pytest.raises(CheckpointError, match=message):  # train.py agent=ppo train.resume=true
        train_rllib(cfg, run, tracker=None, state=STATE)
    with pytest.raises(CheckpointError, match=message):
        with verified_rllib_checkpoint(run / "rllib") as copy:
            algo.restore_from_path(str(copy))
    assert not marker.exists()


def test_a_pickle_planted_with_its_manifest_deleted_is_refused(saved, run, tmp_path):
    marker = tmp_path / "pwned"
    (run / "rllib" / "algorithm_state.pkl").write_bytes(pickle.dumps(Payload(marker)))
    (run / "rllib" / "manifest.json").unlink()
    with pytest.raises(CheckpointError, match=rf"{run / 'rllib' / 'manifest.json'} is missing: the sha256 "
                                              r"manifest FightLab writes .* refusing to resume"):
        with verified_rllib_checkpoint(run / "rllib") as copy:
            saved[0].restore_from_path(str(copy))
    assert not marker.exists()


@pytest.mark.parametrize("tamper, words", [
    (lambda d: (d / "learner_group" / "extra.pkl").write_bytes(b"x"),
     "learner_group/extra.pkl was added after the checkpoint was written"),
    (lambda d: (d / "env_runner" / "state.pkl").unlink(), "env_runner/state.pkl is missing"),
    (lambda d: (d / "rllib_checkpoint.json").write_text("{}"),
     "rllib_checkpoint.json differs from the sha256 recorded"),
    (lambda d: (d / "extra").mkdir(), "extra/ (a folder) was added"),
    (lambda d: ((d / "algorithm_state.pkl").unlink(), (d / "algorithm_state.pkl").symlink_to(d / "x.pkl")),
     "algorithm_state.pkl is not a regular file"),
    (lambda d: (d / "manifest.json").write_text(json.dumps({"format": "rllib-checkpoint", "format_version": 1,
                                                            "dirs": [], "files": {"../../x.pkl": {}}})),
     "manifest.json is corrupt: files['../../x.pkl'] must be a path inside the checkpoint"),
    (lambda d: (d / "manifest.json").write_text('{"format": "rllib-checkpoint", "x": ' + "[" * 100_000
                                                + "]" * 100_000 + "}"),
     "manifest.json is corrupt: JSON nested deeper than 100 levels"),
])
def test_every_change_to_the_checkpoint_is_named(run, tamper, words):
    folder = run / "rllib"
    tamper(folder)
    with pytest.raises(CheckpointError, match=re.escape(words)) as info:
        check_rllib_checkpoint(folder)
    assert str(folder) in str(info.value)


def test_resume_without_an_rllib_checkpoint_says_so(tmp_path):
    cfg = SimpleNamespace(agent=SimpleNamespace(), ray=SimpleNamespace(address=None, num_cpus=1))
    with pytest.raises(FileNotFoundError, match=rf"{tmp_path / 'rllib'} holds no RLlib checkpoint"):
        train_rllib(cfg, tmp_path, tracker=None, state=STATE)
