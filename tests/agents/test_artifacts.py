"""agents.artifacts: atomic files, whole-folder publishing, and "is this folder of my kind"."""

from __future__ import annotations

import json

import pytest

from agents.artifacts import (
    RLLIB_CHECKPOINT,
    atomic_write_text,
    folder_kind,
    publish_folder,
    temp_sibling,
    write_folder,
)
from agents.checkpoint import FORMAT, OPTIMIZER_NAME, load_network, save_checkpoint
from agents.networks import PolicyNetwork


def manifest_folder(path, kind, extra=None):
    path.mkdir(parents=True)
    (path / "manifest.json").write_text(json.dumps({"format": kind, **(extra or {})}))
    return path


def test_folder_kind_reads_the_manifest_or_a_library_marker(tmp_path):
    assert folder_kind(manifest_folder(tmp_path / "d", "fightlab-logs")) == "fightlab-logs"
    assert folder_kind(tmp_path / "missing") is None
    (tmp_path / "plain").mkdir()
    assert folder_kind(tmp_path / "plain") is None
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "manifest.json").write_text("{not json")
    assert folder_kind(tmp_path / "bad") is None
    (tmp_path / "rllib").mkdir()
    (tmp_path / "rllib" / "class_and_ctor_args.pkl").write_bytes(b"")
    assert folder_kind(tmp_path / "rllib") == RLLIB_CHECKPOINT


def test_publish_replaces_a_folder_of_its_kind_whole_and_leaves_nothing_behind(tmp_path):
    target = manifest_folder(tmp_path / "out", "demo-kind", {"v": 1})
    (target / "stale.txt").write_text("from the old version")
    tmp = temp_sibling(target)
    atomic_write_text(tmp / "manifest.json", json.dumps({"format": "demo-kind", "v": 2}))
    with pytest.raises(FileExistsError, match="already exists; pass overwrite=True"):
        publish_folder(tmp, target, overwrite=False, kind="demo-kind")
    publish_folder(tmp, target, overwrite=True, kind="demo-kind")
    assert json.loads((target / "manifest.json").read_text())["v"] == 2
    assert not (target / "stale.txt").exists()  # swapped whole, not merged
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no temp or old folder left


def test_a_writer_never_replaces_a_folder_of_another_kind(tmp_path):
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "thesis.tex").write_text("years of work")
    other = manifest_folder(tmp_path / "logs", "fightlab-logs")
    for target, says in ((notes, "no manifest.json"), (other, "it is a FightLab dataset")):
        with pytest.raises(FileExistsError, match=f"is not a FightLab checkpoint \\({says}"):
            with write_folder(target, kind=FORMAT, overwrite=True) as tmp:
                (tmp / "x").write_text("x")
    assert (notes / "thesis.tex").read_text() == "years of work"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["logs", "notes"]


def test_write_folder_discards_everything_on_error(tmp_path):
    target = manifest_folder(tmp_path / "out", "demo-kind", {"v": 1})
    with pytest.raises(RuntimeError, match="boom"):
        with write_folder(target, kind="demo-kind", overwrite=True) as tmp:
            (tmp / "manifest.json").write_text(json.dumps({"format": "demo-kind", "v": 2}))
            raise RuntimeError("boom")
    assert json.loads((target / "manifest.json").read_text())["v"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    empty = tmp_path / "empty"
    empty.mkdir()
    with write_folder(empty, kind="demo-kind", overwrite=True) as tmp:  # an empty folder is fair game
        (tmp / "manifest.json").write_text(json.dumps({"format": "demo-kind"}))
    assert folder_kind(empty) == "demo-kind"


def test_save_checkpoint_swaps_the_whole_folder_and_refuses_other_folders(tmp_path):
    import torch

    net = PolicyNetwork(hidden_sizes=(4,))
    optimizer = torch.optim.SGD(net.parameters(), lr=0.1)
    path = save_checkpoint(tmp_path / "last", net, optimizer=optimizer)
    assert (path / OPTIMIZER_NAME).is_file()
    save_checkpoint(path, net)  # a new checkpoint without optimizer state: no stale optimizer.pt
    assert not (path / OPTIMIZER_NAME).exists() and load_network(path)[1]["has_optimizer_state"] is False
    with pytest.raises(FileExistsError, match="already exists"):
        save_checkpoint(path, net, overwrite=False)
    precious = manifest_folder(tmp_path / "data", "fightlab-logs")
    with pytest.raises(FileExistsError, match="is not a FightLab checkpoint"):
        save_checkpoint(precious, net)
    assert folder_kind(precious) == "fightlab-logs"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "last"]
