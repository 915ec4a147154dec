"""Checkpoints: safetensors + manifest round trip, resumable optimizer state, clear errors."""

import json
import pickle

import numpy as np
import pytest
import torch

import agents
from agents.checkpoint import (
    MANIFEST_NAME,
    OPTIMIZER_NAME,
    WEIGHTS_NAME,
    CheckpointError,
    load,
    load_optimizer_state,
    save_checkpoint,
)
from agents.networks import PolicyNetwork
from agents.registry import make_policy
from envs.actions import NUM_ACTIONS
from envs.match_runner import play_matches
from envs.observation import OBS_DIM


@pytest.fixture
def saved(tmp_path):
    torch.manual_seed(0)
    net = PolicyNetwork(OBS_DIM, NUM_ACTIONS, (16,))
    adjustment = np.linspace(-3, 0, NUM_ACTIONS).astype(np.float32)
    optimizer = torch.optim.AdamW(net.parameters(), lr=1e-3)
    net(torch.randn(4, OBS_DIM)).sum().backward()
    optimizer.step()
    path = save_checkpoint(tmp_path / "ckpt", net, logit_adjustment=adjustment, name="tiny",
                           optimizer=optimizer, metadata={"metrics": {"offline/accuracy": 0.5}})
    return path, net, adjustment, optimizer


def obs_batch(n=64, seed=0):
    return np.random.default_rng(seed).uniform(-1, 1, (n, OBS_DIM)).astype(np.float32)


def test_round_trip_gives_the_same_actions_and_manifest(saved):
    path, net, adjustment, _ = saved
    policy = load(path)
    obs = obs_batch()
    with torch.no_grad():
        expected = (net(torch.from_numpy(obs)) - torch.from_numpy(adjustment)).argmax(1).numpy()
    np.testing.assert_array_equal(policy.act(obs), expected)
    manifest = json.loads((path / MANIFEST_NAME).read_text())
    assert manifest["architecture"] == {"class": "PolicyNetwork", "config": net.config()}
    assert manifest["observation_encoding_version"] == "1" and len(manifest["action_names"]) == NUM_ACTIONS
    assert manifest["metrics"] == {"offline/accuracy": 0.5} and policy.name == "tiny"
    assert not list(path.glob("*.tmp"))  # atomic writes leave no temp files


def test_every_entry_point_loads_it(saved):
    path = saved[0]
    for spec in (path, path / MANIFEST_NAME, path / WEIGHTS_NAME):
        assert agents.load(spec).name == "tiny"
    assert make_policy(str(path)).name == "tiny"
    results = play_matches(make_policy(str(path)), make_policy("idle"), 2, seed=0)
    assert results.num_matches == 2


def test_run_folder_resolves_to_best(tmp_path):
    net = PolicyNetwork(OBS_DIM, NUM_ACTIONS, (8,))
    save_checkpoint(tmp_path / "run" / "best", net, name="best-one")
    save_checkpoint(tmp_path / "run" / "last", net, name="last-one")
    assert load(tmp_path / "run").name == "best-one"


def test_optimizer_state_round_trips_without_pickle(saved):
    path, net, _, optimizer = saved
    state = load_optimizer_state(path)
    fresh = torch.optim.AdamW(net.parameters(), lr=1e-3)
    fresh.load_state_dict(state)
    for a, b in zip(fresh.state.values(), optimizer.state.values(), strict=True):
        torch.testing.assert_close(a["exp_avg"], b["exp_avg"])


class Boom:
    def __reduce__(self):
        return (print, ("unpickled!",))


def test_an_optimizer_file_with_arbitrary_objects_is_refused(saved):
    path = saved[0]
    (path / OPTIMIZER_NAME).write_bytes(pickle.dumps({"optimizer": Boom()}, protocol=2))
    with pytest.raises(CheckpointError, match=OPTIMIZER_NAME):
        load_optimizer_state(path)


def test_truncated_weights_are_named(saved):
    path = saved[0]
    data = (path / WEIGHTS_NAME).read_bytes()
    (path / WEIGHTS_NAME).write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=rf"{WEIGHTS_NAME} is corrupt or truncated"):
        load(path)
    manifest = json.loads((path / MANIFEST_NAME).read_text())
    manifest["weights"]["sha256"] = None  # without the hash nothing is loaded (tests/agents/test_trust.py)
    (path / MANIFEST_NAME).write_text(json.dumps(manifest))
    with pytest.raises(CheckpointError, match="weights.sha256 is missing"):
        load(path)


def test_missing_manifest_is_named(saved):
    path = saved[0]
    (path / MANIFEST_NAME).unlink()
    with pytest.raises(CheckpointError, match=rf"{MANIFEST_NAME} is missing"):
        load(path)
    with pytest.raises(CheckpointError, match="does not exist"):
        load(path / "nope")


def edit_manifest(path, **changes):
    manifest = json.loads((path / MANIFEST_NAME).read_text())
    manifest.update(changes)
    (path / MANIFEST_NAME).write_text(json.dumps(manifest))


def test_wrong_encoding_version_is_refused_with_both_versions(saved):
    path = saved[0]
    edit_manifest(path, observation_encoding_version="0")
    with pytest.raises(CheckpointError, match=r"encoding version '0'.*encodes version '1'"):
        load(path)


def test_wrong_shapes_are_listed(saved):
    path = saved[0]
    edit_manifest(path, architecture={"class": "PolicyNetwork",
                                      "config": {"obs_dim": OBS_DIM, "num_actions": NUM_ACTIONS,
                                                 "hidden_sizes": [32], "activation": "relu"}})
    with pytest.raises(CheckpointError, match=r"layers.0.weight: expected \(32, 42\), got \(16, 42\)"):
        load(path)


def test_unknown_architecture_and_action_set_are_refused(saved):
    path = saved[0]
    edit_manifest(path, architecture={"class": "os.system", "config": {}})
    with pytest.raises(CheckpointError, match="unknown architecture"):
        load(path)
    edit_manifest(path, action_names=["NO_ACTION", "PUNCH"])
    with pytest.raises(CheckpointError, match="action names"):
        load(path)


def test_corrupt_manifest_json_is_named(saved):
    path = saved[0]
    (path / MANIFEST_NAME).write_text("{not json")
    with pytest.raises(CheckpointError, match="not valid JSON"):
        load(path)


def test_a_missing_run_says_which_command_makes_it(tmp_path, monkeypatch):
    from agents.checkpoint import checkpoint_dir
    from agents.errors import REBALANCE_NAMES, missing_bot_hint
    from agents.rebalance import Rebalance

    assert REBALANCE_NAMES == tuple(r.value for r in Rebalance)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(CheckpointError, match="make it first with python train.py agent=bc "
                       "agent.rebalance=oversample experiment=lecture$"):
        checkpoint_dir("runs/lecture/oversample_seed0/best")
    assert missing_bot_hint("runs/lecture/focal_seed2/export") == (
        "make it first with python train.py agent=bc agent.rebalance=focal experiment=lecture seed=2 "
        "&& python export.py bot=runs/lecture/focal_seed2")
    assert missing_bot_hint("elsewhere/runs/x/none_seed0").endswith(
        "experiment=x train.logdir=elsewhere/runs")
    assert "python train.py" in missing_bot_hint("runs/teachers/ppo_h256_seed0")  # no exact command known
