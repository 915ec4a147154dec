"""Peer baselines: real (tiny) d3rlpy and imitation training, bundles that load without pickle, and
the peers playing a tournament through the Policy protocol."""

from __future__ import annotations

import importlib
import pickle
import subprocess
import sys

import numpy as np
import pytest

from agents.onnx_policy import load_bundle
from agents.peers import (
    IMITATION_INSTALL,
    IMITATION_PEER,
    PeerData,
    PeerSettings,
    imitation_missing,
    train_and_save,
)
from datasets.episodes import build_episodes
from datasets.load import load_dataset, split_by_match
from envs.actions import NUM_ACTIONS

SETTINGS = PeerSettings(steps=30, batch_size=64, hidden_sizes=[32, 32], threads=1)
FRACTIONS = (0.5, 0.25, 0.25)


@pytest.fixture(scope="module")
def train_data(tmp_path_factory):
    """The training split of a very small dataset (6 matches) as peer data, and the dataset info."""
    from datasets.generate import GenerateConfig, generate

    path = generate(GenerateConfig(matches_per_pairing=1, seed=0, progress=False,
                                   out=str(tmp_path_factory.mktemp("logs") / "tiny")))
    dataset = load_dataset(path)
    episodes = build_episodes(split_by_match(dataset, FRACTIONS, seed=0)["train"])
    info = {"path": str(path), "frames_sha256": dataset.manifest["frames_sha256"],
            "split_fractions": list(FRACTIONS), "split_seed": 0, "observation_delay": 0}
    return PeerData(episodes.observations, episodes.actions, episodes.rewards, episodes.terminals), info


@pytest.fixture(scope="module")
def d3rlpy_bundles(train_data, tmp_path_factory):
    data, info = train_data
    out = tmp_path_factory.mktemp("peers")
    return {name: train_and_save(name, data, SETTINGS, 0, out / name,
                                 provenance={"training_dataset": info})[0]
            for name in ("d3rlpy_bc", "d3rlpy_cql")}


def _no_unpickling(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a peer bundle must load without unpickling")

    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(pickle, "Unpickler", refuse)
    import torch

    monkeypatch.setattr(torch, "load", refuse)


@pytest.mark.parametrize("name", ["d3rlpy_bc", "d3rlpy_cql"])
def test_a_d3rlpy_peer_is_an_onnx_bundle_that_loads_without_pickle(name, d3rlpy_bundles, train_data,
                                                                    monkeypatch):
    bundle = d3rlpy_bundles[name]
    assert sorted(p.name for p in bundle.iterdir()) == ["manifest.json", "model.onnx"]  # no .d3, no .pt
    _no_unpickling(monkeypatch)
    policy = load_bundle(bundle)
    actions = policy.act(train_data[0].observations[:256])
    assert actions.shape == (256,) and ((actions >= 0) & (actions < NUM_ACTIONS)).all()
    assert policy.logits(train_data[0].observations[:4]).shape == (4, NUM_ACTIONS)
    manifest = policy.manifest
    assert manifest["peer"] == name and manifest["provenance"]["seed"] == 0
    assert manifest["provenance"]["training_dataset"]["frames_sha256"] == train_data[1]["frames_sha256"]
    assert manifest["provenance"]["library"]["package"] == "d3rlpy"


def test_same_seed_same_peer_and_another_seed_another(train_data, d3rlpy_bundles, tmp_path):
    data, info = train_data
    again = load_bundle(train_and_save("d3rlpy_bc", data, SETTINGS, 0, tmp_path / "again",
                                     provenance={"training_dataset": info})[0])
    other = load_bundle(train_and_save("d3rlpy_bc", data, SETTINGS, 1, tmp_path / "other",
                                     provenance={"training_dataset": info})[0])
    first = load_bundle(d3rlpy_bundles["d3rlpy_bc"])
    sample = data.observations[:512]
    np.testing.assert_allclose(again.logits(sample), first.logits(sample), rtol=1e-5, atol=1e-6)
    assert not np.allclose(other.logits(sample), first.logits(sample))


def test_d3rlpy_peers_play_a_tournament_through_the_policy_protocol(d3rlpy_bundles, tmp_path):
    from evaluation.participants import check_participants, resolve_participants
    from evaluation.standings import participant_record
    from evaluation.tournament import run_tournament

    entries = ["idle", "random", *(f"{name}={path}" for name, path in d3rlpy_bundles.items())]
    participants, _ = resolve_participants(entries, runs_dir=None)
    assert {p.kind for p in participants if p.label.startswith("d3rlpy")} == {"onnx"}
    check_participants(participants)
    results = run_tournament(participants, out_dir=tmp_path / "tournament", matches_per_pairing=2, seed=0,
                             progress=False, wave_matches=16)
    played = results.matches
    assert len(played) == 6 * 2  # 4 bots: 6 pairings
    for name in d3rlpy_bundles:
        assert not played["forfeit_by"].isin([name, "both"]).any()  # valid commands, in time
        assert results.action_counts[name].sum() > 0
    from evaluation.standings import pairing_table

    record = participant_record(pairing_table(results), "d3rlpy_cql", ["idle", "random"])
    assert record.matches == 4


def _ensure_imitation(tmp_path_factory) -> None:
    """imitation pins an older Gymnasium: install it without dependencies into a temp folder."""
    if imitation_missing() is None:
        return
    target = tmp_path_factory.mktemp("imitation")
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target),
               IMITATION_INSTALL.split()[-1]]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        pytest.fail(f"could not install imitation for the test ({' '.join(command)}): {done.stderr[-500:]}")
    sys.path.insert(0, str(target))
    importlib.invalidate_caches()
    for name in [m for m in sys.modules if m == "imitation" or m.startswith("imitation.")]:
        del sys.modules[name]
    assert imitation_missing() is None, imitation_missing()


def test_imitation_bc_trains_and_plays_as_a_bundle(train_data, tmp_path, tmp_path_factory, monkeypatch):
    _ensure_imitation(tmp_path_factory)
    data, info = train_data
    path, _ = train_and_save(IMITATION_PEER, data, SETTINGS, 0, tmp_path / IMITATION_PEER,
                             provenance={"training_dataset": info})
    _no_unpickling(monkeypatch)
    policy = load_bundle(path)
    actions = policy.act(data.observations[:128])
    assert actions.shape == (128,) and policy.manifest["provenance"]["library"]["package"] == "imitation"


def test_a_missing_imitation_is_one_line_with_the_install_command(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_imitation(name, *args, **kwargs):
        if name == "imitation" or name.startswith("imitation."):
            raise ModuleNotFoundError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_imitation)
    monkeypatch.setattr(importlib, "import_module", lambda name: no_imitation(name))
    reason = imitation_missing()
    assert reason is not None and IMITATION_INSTALL in reason and "\n" not in reason


def test_an_unknown_peer_is_refused_before_any_training(tmp_path):
    from evaluation.peers import PeersConfig, run_peers

    with pytest.raises(ValueError, match=r"unknown peer\(s\) \['d3rlpy_sac'\]; choose from"):
        run_peers(PeersConfig(peers=["d3rlpy_sac"], out_dir=str(tmp_path)))


def test_a_peer_saved_otherwise_is_refused_before_training_not_after(d3rlpy_bundles, train_data, tmp_path):
    import shutil

    from rich.console import Console

    from evaluation.peers import PeersConfig, train_peers
    from evaluation.protocol import DatasetSpec, EvalProtocol

    root = tmp_path / "seed0"
    shutil.copytree(d3rlpy_bundles["d3rlpy_bc"], root / "peers" / "d3rlpy_bc")  # no fingerprint recorded
    config = PeersConfig(peers=["d3rlpy_bc"], training=SETTINGS, eval=EvalProtocol(
        dataset=DatasetSpec(train_data[1]["path"], list(FRACTIONS), 0)))
    with pytest.raises(FileExistsError, match="another seed, settings or data.*overwrite=true"):
        train_peers(config, root, Console(quiet=True))
