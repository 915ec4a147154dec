"""``python train.py agent=ppo`` (RLlib) and ``agent=sb3_ppo`` as a user runs them: real tiny runs.

Each starts from a small BC checkpoint, trains two iterations / rollouts against a small pool with
a league, and must leave a bot that loads and plays like a BC bot, curves in TensorBoard (return,
win rate, offline accuracy) and results next to the BC runs'.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
EVAL = ("eval.opponents=[random,rushdown_club]", "eval.matches_per_opponent=2",
        "eval.final_matches_per_opponent=2", "train.progress=false", "agent.device=cpu",
        "agent.opponents=[idle,rushdown_club]", "agent.snapshot_every=1", "agent.eval_every=1",
        "agent.league_share=0.5", "agent.minibatch_size=128", "agent.num_epochs=1", "experiment=rl")
RLLIB = ("agent=ppo", "agent.iterations=2", "agent.train_batch_size=512", "agent.num_envs_per_env_runner=2",
         "agent.rllib_checkpoint_every=1", "ray.num_cpus=1")
SB3 = ("agent=sb3_ppo", "agent.total_timesteps=512", "agent.n_steps=128", "agent.num_envs=2")


def run(*overrides: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "train.py"), *overrides], cwd=cwd,
                          capture_output=True, text=True, timeout=600,
                          env=None if env is None else {**os.environ, **env})


HEAD = """
import sys, ray
ray.init(num_cpus=2, include_dashboard=False)
print(ray.get_runtime_context().gcs_address, flush=True)
sys.stdin.readline()  # until the tests are done
ray.shutdown()
"""


@pytest.fixture(scope="module")
def ray_cluster():
    """A running Ray cluster (started by another process, with Ray's default token authentication)
    for ``ray.address=host:port``; its address."""
    head = subprocess.Popen([sys.executable, "-c", HEAD], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True)
    try:
        address = head.stdout.readline().strip()
        assert address, "the Ray head did not start"
        yield address
    finally:
        head.stdin.write("\n")
        head.stdin.flush()
        head.wait(timeout=120)


@pytest.fixture(scope="module")
def bc_start(tmp_path_factory, tiny_dataset):
    """A small BC checkpoint as train.py writes them (with a rebalance record naming the run)."""
    from agents.checkpoint import save_checkpoint
    from agents.networks import PolicyNetwork

    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("bc") / "focal_seed0" / "best"
    save_checkpoint(folder, PolicyNetwork(hidden_sizes=(32,)), metadata={"rebalance": {"rebalance": "focal"}})
    return folder.parent


@pytest.fixture(scope="module")
def rllib_run(tmp_path_factory, tiny_dataset, bc_start, ray_cluster):
    """The RLlib run joins a running cluster by address (the resume test below starts a local instance);
    joining a cluster with token authentication takes ``RAY_AUTH_MODE=token`` (README, Scaling)."""
    cwd = tmp_path_factory.mktemp("rllib")
    out = run(*RLLIB, *EVAL, f"agent.init_from={bc_start}", f"eval.dataset.path={tiny_dataset}",
              f"ray.address={ray_cluster}", cwd=cwd, env={"RAY_AUTH_MODE": "token"})
    assert out.returncode == 0, out.stderr[-3000:]
    assert f"Connecting to existing Ray cluster at address: {ray_cluster}" in out.stderr
    return cwd, cwd / "runs" / "rl" / "ppo_focal_seed0", out


def check_run(run_dir: Path, agent: str) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from agents.registry import make_policy

    results = json.loads((run_dir / "results.json").read_text())
    assert results["agent"] == agent and results["init"] == "focal" and results["env_steps"] >= 512
    assert results["online"]["matches"] == 4 and 0 <= results["test"]["accuracy"] <= 1
    for name in ("best", "last"):
        bot = make_policy(str(run_dir / name))  # the BC artifact format: loads like any bot
        assert bot.act(np.zeros((5, 42), np.float32)).shape == (5,)
    assert len(list((run_dir / "league").glob("iter_*/manifest.json"))) >= 2
    events = EventAccumulator(str(run_dir), size_guidance={"scalars": 0}).Reload()
    tags = set(events.Tags()["scalars"])
    # (charts/episode_return appears once an episode ends: a 60 s round outlasts these tiny runs)
    for tag in ("online/win_rate", "offline/accuracy", "offline/balanced_accuracy",
                "charts/env_steps_per_second", "losses/policy_loss", "losses/value_loss"):
        assert tag in tags, tag
    steps = [e.step for e in events.Scalars("online/win_rate")]
    assert steps[0] == 0 and len(steps) >= 3  # the BC start, then each iteration / rollout


def test_rllib_ppo_fine_tunes_a_bc_checkpoint(rllib_run, bc_start):
    _, run_dir, out = rllib_run
    check_run(run_dir, "ppo")
    assert (run_dir / "rllib").is_dir() and "win rate [95% CI]" in out.stdout
    from agents.checkpoint import load_network

    start, _ = load_network(bc_start)
    tuned, _ = load_network(run_dir / "last")
    assert any(not torch.equal(a, b) for a, b in zip(start.state_dict().values(),
                                                       tuned.state_dict().values(), strict=True))


def test_rllib_ppo_resumes_from_its_rllib_checkpoint(rllib_run, tiny_dataset, bc_start):
    cwd, run_dir, _ = rllib_run
    out = run(*RLLIB[:1], "agent.iterations=3", *RLLIB[2:], *EVAL, f"agent.init_from={bc_start}",
              f"eval.dataset.path={tiny_dataset}", "train.resume=true", cwd=cwd)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "after iteration 2" in out.stderr
    manifest = json.loads((run_dir / "last" / "manifest.json").read_text())
    assert manifest["training_state"]["iteration"] == 3


def test_sb3_ppo_fine_tunes_a_bc_checkpoint(tmp_path, tiny_dataset, bc_start):
    out = run(*SB3, *EVAL, f"agent.init_from={bc_start}", f"eval.dataset.path={tiny_dataset}", cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    check_run(tmp_path / "runs" / "rl" / "sb3_ppo_focal_seed0", "sb3_ppo")


def test_bad_rl_inputs_fail_with_a_message(tmp_path, tiny_dataset, bc_start):
    out = run(*SB3, *EVAL, f"agent.init_from={tmp_path / 'nope'}", f"eval.dataset.path={tiny_dataset}",
              cwd=tmp_path)
    assert out.returncode == 1 and "nope" in out.stderr and "does not exist" in out.stderr
    out = run(*SB3, *EVAL, "agent.opponents=[self]", f"eval.dataset.path={tiny_dataset}", cwd=tmp_path)
    assert out.returncode == 1 and "use agent=ppo" in out.stderr
    out = run(*RLLIB, *EVAL, "agent.opponents=[rushdwn]", cwd=tmp_path)
    assert out.returncode == 1 and "unknown bot 'rushdwn'" in out.stderr
    out = run(*RLLIB, "agent.minibatch_size=1024", cwd=tmp_path)
    assert out.returncode == 1 and "agent.minibatch_size (1024) must be <=" in out.stderr
    out = run("agent=ppo", "agent.iteratons=2", cwd=tmp_path)
    assert out.returncode != 0 and "iteratons" in out.stderr
