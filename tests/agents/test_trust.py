"""Trust at the edges: a manifest without its hash loads nothing, and a hostile manifest (100,000
levels deep, or bigger than any real one) is an error naming the file in every reader, never a raw
``RecursionError`` or a 200 MB read. (RLlib resume: tests/agents/rl/test_rllib_resume_trust.py.)"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import agents
from agents.artifacts import MAX_JSON_DEPTH, MAX_MANIFEST_BYTES, folder_kind, read_json_bounded
from agents.checkpoint import MANIFEST_NAME, WEIGHTS_NAME, CheckpointError, read_manifest, save_checkpoint
from agents.errors import BundleError
from agents.networks import PolicyNetwork
from agents.onnx_policy import load_bundle, read_bundle_manifest
from agents.registry import make_policy
from agents.tracker import resume_state
from datasets.manifest import DatasetError
from datasets.manifest import read_manifest as read_dataset_manifest
from envs.observation import OBS_DIM
from evaluation.participants import Participant, ParticipantError, check_participants

ROOT = Path(__file__).resolve().parents[2]
DEEP = 100_000


def edit(folder, change):
    path = folder / MANIFEST_NAME
    manifest = json.loads(path.read_text())
    change(manifest)
    path.write_text(json.dumps(manifest))


def network(seed):
    torch.manual_seed(seed)
    return PolicyNetwork(hidden_sizes=(16,))


@pytest.fixture
def checkpoint(tmp_path):
    return save_checkpoint(tmp_path / "run" / "best", network(0), name="mine")


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    from export import ExportSettings, export_bundle

    root = tmp_path_factory.mktemp("bundle")
    source = save_checkpoint(root / "run" / "best", network(1), name="tiny")
    rng = np.random.default_rng(0)
    folder, _ = export_bundle(source, root / "run" / "export",
                              ExportSettings(play=False, progress=False, quantize=True, serve=False),
                              observations=rng.uniform(-1, 1, (500, OBS_DIM)).astype(np.float32),
                              labels=rng.integers(0, 12, 500), report=lambda *_: None)
    return folder


@pytest.fixture
def bundle_copy(bundle, tmp_path):
    return Path(shutil.copytree(bundle, tmp_path / "export"))


# ---- 2. a manifest without its hash loads nothing -------------------------------------------------
def test_a_checkpoint_without_its_weights_hash_is_refused(checkpoint, tmp_path):
    """Foreign weights dropped in with the hash removed used to load silently; now nothing loads."""
    foreign = save_checkpoint(tmp_path / "foreign", network(7))
    shutil.copy(foreign / WEIGHTS_NAME, checkpoint / WEIGHTS_NAME)
    edit(checkpoint, lambda m: m["weights"].pop("sha256"))
    words = f"{checkpoint / MANIFEST_NAME}: field weights.sha256 is missing"
    for load in (agents.load, read_manifest, lambda p: make_policy(str(p))):
        with pytest.raises(CheckpointError) as info:
            load(checkpoint)
        assert words in str(info.value)
    with pytest.raises(ParticipantError, match=words):  # the tournament, before its first match
        check_participants([Participant("mine", str(checkpoint), "checkpoint")])
    last = shutil.copytree(checkpoint, checkpoint.parent / "last")
    with pytest.raises(CheckpointError, match=f"{last / MANIFEST_NAME}: field weights.sha256 is missing"):
        resume_state(checkpoint.parent)  # train.resume=true reads last/
    for bad, words in (("abc", "is not a sha256 hex digest ('abc')"), (None, "weights.sha256 is missing")):
        edit(checkpoint, lambda m, bad=bad: m["weights"].update(sha256=bad))
        with pytest.raises(CheckpointError, match=words.replace("(", r"\(").replace(")", r"\)")):
            agents.load(checkpoint)
    edit(checkpoint, lambda m: m["weights"].update(file="../foreign/model.safetensors"))
    with pytest.raises(CheckpointError, match=r"weights.file must be a file name in the checkpoint folder"):
        agents.load(checkpoint)


def test_a_checkpoint_with_its_hash_still_loads_and_a_swap_is_caught(checkpoint, tmp_path):
    assert agents.load(checkpoint).act(np.zeros((3, OBS_DIM), np.float32)).shape == (3,)
    foreign = save_checkpoint(tmp_path / "foreign", network(7))
    shutil.copy(foreign / WEIGHTS_NAME, checkpoint / WEIGHTS_NAME)
    with pytest.raises(CheckpointError, match=rf"{checkpoint / WEIGHTS_NAME} is corrupt or truncated"):
        agents.load(checkpoint)


@pytest.mark.parametrize("variant", ["fp32", "int8"])
def test_a_bundle_without_a_model_hash_is_refused(bundle_copy, variant):
    """Any model entry without its hash makes the whole bundle unreadable: the tournament records
    the bundle's hashes as the bot's identity, and a missing one would let any model stand in."""
    edit(bundle_copy, lambda m: m["models"][variant].pop("sha256"))
    manifest_path = bundle_copy / MANIFEST_NAME
    words = f"{manifest_path}: field models.{variant}.sha256 is missing"
    for read in (read_bundle_manifest, load_bundle, lambda p: make_policy(str(p))):
        with pytest.raises(BundleError) as info:
            read(bundle_copy)
        assert words in str(info.value)
    with pytest.raises(ParticipantError, match=words):
        check_participants([Participant("bundle", str(bundle_copy), "onnx")])


def test_a_bundle_model_entry_must_name_a_file_inside_and_a_real_hash(bundle_copy):
    edit(bundle_copy, lambda m: m["models"]["fp32"].update(sha256="0" * 63))
    with pytest.raises(BundleError, match=r"models.fp32.sha256 is not a sha256 hex digest"):
        load_bundle(bundle_copy)
    edit(bundle_copy, lambda m: m["models"]["fp32"].update(sha256="0" * 64, file="/etc/passwd"))
    with pytest.raises(BundleError, match=r"models.fp32.file must be a file name in the bundle folder"):
        load_bundle(bundle_copy)
    edit(bundle_copy, lambda m: m["models"].update(fp32="model.onnx"))
    with pytest.raises(BundleError, match=r"models.fp32 must be \{file, sha256\}, got str"):
        load_bundle(bundle_copy)


def test_an_intact_bundle_still_loads(bundle):
    assert load_bundle(bundle).act(np.zeros((2, OBS_DIM), np.float32)).shape == (2,)
    assert load_bundle(bundle, "int8").variant == "int8"


# ---- 3. hostile manifests: depth and size -------------------------------------------------------------
def deep_json(format_name, depth=DEEP):
    return f'{{"format": "{format_name}", "x": {"[" * depth}{"]" * depth}}}'


def test_read_json_bounded_limits_depth_and_size(tmp_path):
    path = tmp_path / "m.json"
    path.write_text("[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH)  # exactly at the limit: read
    value, depth = read_json_bounded(path), 1
    while value:
        value, depth = value[0], depth + 1
    assert value == [] and depth == MAX_JSON_DEPTH
    for depth in (MAX_JSON_DEPTH + 1, 5_000, DEEP):  # checked after parsing, and a C-level RecursionError
        path.write_text('{"a": ' + "[" * depth + "]" * depth + "}")
        with pytest.raises(CheckpointError, match=rf"{path} is corrupt: JSON nested deeper than "
                                                  rf"{MAX_JSON_DEPTH} levels"):
            read_json_bounded(path, error=CheckpointError)
    path.write_text('{"a": 1}')
    with pytest.raises(DatasetError, match=rf"{path} is 8 bytes, over the 4-byte limit"):
        read_json_bounded(path, max_bytes=4, error=DatasetError)
    path.write_bytes(b'{"a": "\xff"}')
    with pytest.raises(ValueError, match=rf"{path} is corrupt: not valid JSON"):
        read_json_bounded(path)
    path.write_text('{"a": ' + "1" * 5000 + "}")  # an int longer than Python converts
    with pytest.raises(ValueError, match=rf"{path} is corrupt: not valid JSON"):
        read_json_bounded(path)
    with pytest.raises(ValueError, match=rf"{tmp_path / 'none.json'} cannot be read"):
        read_json_bounded(tmp_path / "none.json")


def huge(path):
    """A manifest over the size limit without writing it: a sparse file (NUL bytes, no disk used)."""
    with path.open("wb") as handle:
        handle.truncate(MAX_MANIFEST_BYTES + 1)


@pytest.mark.parametrize("hostile", ["deep", "huge"])
def test_every_artifact_reader_names_a_hostile_manifest(checkpoint, bundle_copy, hostile, tmp_path):
    manifest_path = checkpoint / MANIFEST_NAME
    words = (f"nested deeper than {MAX_JSON_DEPTH} levels" if hostile == "deep"
             else f"over the {MAX_MANIFEST_BYTES:,}-byte limit")

    def plant(path, format_name):
        if hostile == "deep":
            path.write_text(deep_json(format_name))
        else:
            huge(path)

    plant(manifest_path, "fightlab-policy-checkpoint")
    for read in (agents.load, read_manifest, lambda p: make_policy(str(p))):
        with pytest.raises(CheckpointError) as info:
            read(checkpoint)
        assert str(manifest_path) in str(info.value) and words in str(info.value)
    with pytest.raises(ParticipantError) as info:  # the tournament, before its first match
        check_participants([Participant("mine", str(checkpoint), "checkpoint")])
    assert str(manifest_path) in str(info.value) and words in str(info.value)
    assert "RecursionError" not in str(info.value)
    last = checkpoint.parent / "last"
    shutil.copytree(checkpoint, last)
    with pytest.raises(CheckpointError, match=words.replace("(", r"\(")):  # train.resume=true reads last/
        resume_state(checkpoint.parent)
    assert folder_kind(checkpoint) is None  # "what is in the way" never crashes either

    bundle_manifest = bundle_copy / MANIFEST_NAME
    plant(bundle_manifest, "fightlab-onnx-bot")
    for read in (load_bundle, lambda p: make_policy(str(p)), lambda p: make_policy(str(p / "model.onnx"))):
        with pytest.raises(BundleError) as info:
            read(bundle_copy)
        assert str(bundle_manifest) in str(info.value) and words in str(info.value)

    dataset = tmp_path / "dataset"
    dataset.mkdir()
    plant(dataset / MANIFEST_NAME, "fightlab-logs")
    with pytest.raises(DatasetError) as info:
        read_dataset_manifest(dataset)
    assert str(dataset / MANIFEST_NAME) in str(info.value) and words in str(info.value)


def test_play_py_names_a_deep_manifest_instead_of_a_traceback(checkpoint, tmp_path):
    (checkpoint / MANIFEST_NAME).write_text(deep_json("fightlab-policy-checkpoint"))
    out = subprocess.run([sys.executable, str(ROOT / "play.py"), "headless=true", f"bot={checkpoint}"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=120,
                         env={**os.environ, "SDL_VIDEODRIVER": "dummy", "SDL_AUDIODRIVER": "dummy"})
    assert out.returncode == 1, out.stderr[-2000:]
    assert f"{checkpoint / MANIFEST_NAME} is corrupt: JSON nested deeper than" in out.stderr
    assert "RecursionError" not in out.stderr and "Traceback" not in out.stderr
