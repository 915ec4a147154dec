"""Export: checkpoint -> ONNX bundle -> Policy, parity, int8, clear errors on bad bundles (real ORT)."""

import json
import shutil

import numpy as np
import onnx
import pytest
import torch
from onnx import numpy_helper

from agents.checkpoint import CheckpointError, load, save_checkpoint
from agents.errors import BundleError
from agents.export import ExportError, ParityError, bc_policy_network, check_parity, write_onnx
from agents.networks import PolicyNetwork
from agents.onnx_policy import FORMAT, MANIFEST_NAME, OnnxPolicy, load_bundle, sha256_file
from agents.registry import make_policy
from envs.actions import ACTION_NAMES, NUM_ACTIONS
from envs.observation import ENCODING_VERSION, OBS_DIM
from evaluation.online import evaluate_online
from evaluation.participants import check_participants, resolve_participants
from export import ExportSettings, export_bundle

QUICK = dict(play=False, progress=False, serve=False)  # the served sheet: tests/test_serve_script.py


def observations(n=2000, seed=0):
    return np.random.default_rng(seed).uniform(-1, 1, (n, OBS_DIM)).astype(np.float32)


def labels(n=2000, seed=1):
    rng = np.random.default_rng(seed)
    return np.where(rng.random(n) < 0.9, 0, rng.integers(1, NUM_ACTIONS, n)).astype(np.int64)


def export(checkpoint, target, protocol=None, **settings):
    quiet = []
    return export_bundle(checkpoint, target, ExportSettings(**{**QUICK, **settings}),
                         observations=observations(), labels=labels(), report=quiet.append, protocol=protocol)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    """One exported bundle (with int8) of a small checkpoint; tests that break it work on copies."""
    root = tmp_path_factory.mktemp("bundle")
    torch.manual_seed(1)
    network = PolicyNetwork(hidden_sizes=(32, 16))
    adjustment = np.linspace(-1, 1, NUM_ACTIONS).astype(np.float32)
    checkpoint = save_checkpoint(root / "run" / "best", network, logit_adjustment=adjustment, name="tiny")
    folder, manifest = export(checkpoint, root / "run" / "export", quantize=True)
    return checkpoint, folder, manifest


def broken_copy(bundle, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(bundle[1], copy)
    return copy


def test_round_trip_plays_the_same_commands_as_the_checkpoint(tiny_checkpoint, tmp_path):
    checkpoint, network, adjustment = tiny_checkpoint
    folder, manifest = export(checkpoint, tmp_path / "bundle")
    obs = observations(4096, seed=7)
    expected = load(checkpoint).act(obs)
    for spec in (folder, folder / MANIFEST_NAME, folder / "model.onnx"):
        policy = make_policy(str(spec))
        assert isinstance(policy, OnnxPolicy) and policy.name == manifest["name"]
        policy.reset(len(obs), seed=0)
        np.testing.assert_array_equal(policy.act(obs), expected)
    # the logit adjustment is folded into the output bias: the ONNX logits are the bot's logits
    with torch.no_grad():
        adjusted = (network(torch.from_numpy(obs)) - torch.from_numpy(adjustment)).numpy()
    np.testing.assert_allclose(OnnxPolicy.from_bundle(folder).logits(obs), adjusted, atol=1e-5)
    assert manifest["logit_adjustment_folded"] == pytest.approx(adjustment.tolist())
    assert sorted(p.name for p in folder.iterdir()) == ["manifest.json", "model.onnx"]
    assert not list(tmp_path.glob(".*"))  # no staging folders left behind


def test_manifest_is_the_engine_contract(bundle):
    checkpoint, folder, _ = bundle
    manifest = json.loads((folder / MANIFEST_NAME).read_text())  # strict JSON: no NaN
    assert manifest["format"] == FORMAT and manifest["format_version"] == 1
    assert manifest["input"] == {"name": "obs", "dtype": "float32", "shape": ["batch", OBS_DIM],
                                 "description": manifest["input"]["description"]}
    assert manifest["output"]["name"] == "logits" and manifest["output"]["shape"] == ["batch", NUM_ACTIONS]
    assert [a["name"] for a in manifest["actions"]] == list(ACTION_NAMES)
    assert [a["id"] for a in manifest["actions"]] == list(range(NUM_ACTIONS))
    fields = manifest["observation"]["fields"]
    assert manifest["observation"]["encoding_version"] == ENCODING_VERSION and len(fields) == OBS_DIM
    assert fields[0]["name"] == "time_left" and {"unit", "low", "high", "description"} <= set(fields[0])
    timing = manifest["timing"]
    assert timing["frame_rate"] == 60 and timing["observation_delay_frames"] == 0
    assert "not recorded" in timing["observation_delay_source"]
    for variant, file in (("fp32", "model.onnx"), ("int8", "model.int8.onnx")):
        entry = manifest["models"][variant]
        assert entry["file"] == file and entry["sha256"] == sha256_file(folder / file)
        assert entry["bytes"] == (folder / file).stat().st_size
    source = json.loads((checkpoint / "manifest.json").read_text())
    assert manifest["provenance"]["checkpoint"]["weights_sha256"] == source["weights"]["sha256"]
    assert manifest["parity"]["passed"] and manifest["parity"]["rows"] == 2000
    assert manifest["parity"]["max_abs_logit_diff"] < 1e-4
    assert 0 <= manifest["metrics"]["fp32"]["offline"]["accuracy"] <= 1
    assert manifest["metrics"]["fp32"]["online"] is None  # play=False


def test_quantized_model_is_smaller_and_measured(bundle):
    _, folder, manifest = bundle
    q = manifest["quantization"]
    assert q["int8_bytes"] == (folder / "model.int8.onnx").stat().st_size < q["fp32_bytes"]
    assert q["size_ratio"] == pytest.approx(q["int8_bytes"] / q["fp32_bytes"])
    assert 0.5 <= q["vs_fp32"]["argmax_agreement"] <= 1.0
    assert set(q["delta"]) >= {"offline/accuracy", "offline/balanced_accuracy", "online/win_rate"}
    assert q["delta"]["online/win_rate"] is None  # no matches were played
    for spec, variant in ((folder / "model.int8.onnx", "int8"), (folder, "fp32")):
        policy = make_policy(str(spec))
        assert policy.variant == variant
        assert policy.act(observations(8)).dtype == np.int64
    assert load_bundle(folder, "int8").name.endswith("[int8]")


def test_exported_bot_plays_matches_and_tournaments(bundle):
    _, folder, _ = bundle
    result = evaluate_online(make_policy(str(folder)), ["idle"], matches_per_opponent=1, seed=0)
    assert result.matches == 1 and result.action_distribution.sum() == pytest.approx(1.0)
    participants, _ = resolve_participants([str(folder), str(folder / "model.int8.onnx"), "idle"],
                                           runs_dir=None)
    assert [p.kind for p in participants] == ["onnx", "onnx", "scripted"]
    check_participants(participants)


def test_online_metrics_at_export_time(tiny_checkpoint, tmp_path):
    from evaluation.protocol import EvalProtocol

    _, manifest = export(tiny_checkpoint[0], tmp_path / "b", quantize=True, play=True,
                         protocol=EvalProtocol(opponents=["idle"], final_matches_per_opponent=1))
    for variant in ("fp32", "int8"):
        online = manifest["metrics"][variant]["online"]
        assert online["matches"] == 1 and online["opponents"] == ["idle"] and 0 <= online["win_rate"] <= 1
    delta = manifest["quantization"]["delta"]["online/win_rate"]
    assert delta == pytest.approx(manifest["metrics"]["int8"]["online"]["win_rate"]
                                  - manifest["metrics"]["fp32"]["online"]["win_rate"])


def tamper(path, add=50.0, action=5):
    """Change one output bias of an ONNX file in place (the last initializer named '*bias')."""
    model = onnx.load(str(path))
    bias = [t for t in model.graph.initializer if t.name.endswith("bias")][-1]
    values = numpy_helper.to_array(bias).copy()
    values[action] += add
    bias.CopyFrom(numpy_helper.from_array(values, bias.name))
    onnx.save(model, str(path))


def test_parity_failure_stops_the_export_and_writes_nothing(tiny_checkpoint, tmp_path, monkeypatch):
    import export as export_script

    def tampered_write_onnx(network, path, opset):
        write_onnx(network, path, opset)
        tamper(path)
        return path

    monkeypatch.setattr(export_script, "write_onnx", tampered_write_onnx)
    with pytest.raises(ParityError, match=r"parity check failed for .*model\.onnx .*commands differ "
                                          r"\(first: row \d+, torch \w+, ONNX CROUCH\).*Nothing was written"):
        export(tiny_checkpoint[0], tmp_path / "bundle")
    assert not (tmp_path / "bundle").exists() and not list(tmp_path.glob(".bundle*"))


def test_parity_check_catches_small_logit_drift(tiny_checkpoint, tmp_path):
    policy = load(tiny_checkpoint[0])
    path = write_onnx(bc_policy_network(policy), tmp_path / "model.onnx")
    assert check_parity(path, policy, observations())["passed"]
    tamper(path, add=1e-2, action=0)  # far above float rounding, too small to show in most commands
    with pytest.raises(ParityError, match=r"logits differ by up to 0.01; at row \d+ the difference is "
                                          r"[\d.]+x the tolerance"):
        check_parity(path, policy, observations())


def test_existing_bundle_is_not_overwritten_without_asking(tiny_checkpoint, tmp_path):
    target = tmp_path / "bundle"
    export(tiny_checkpoint[0], target)
    before = (target / "manifest.json").read_bytes()
    with pytest.raises(ExportError, match=r"already exists: pass export.overwrite=true"):
        export(tiny_checkpoint[0], target, quantize=True)
    assert (target / "manifest.json").read_bytes() == before and not (target / "model.int8.onnx").exists()
    export(tiny_checkpoint[0], target, quantize=True, overwrite=True)
    assert (target / "model.int8.onnx").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bc", "bundle"]  # the old one is gone


def edit_manifest(folder, change):
    manifest = json.loads((folder / MANIFEST_NAME).read_text())
    change(manifest)
    (folder / MANIFEST_NAME).write_text(json.dumps(manifest))


def test_malformed_bundles_fail_with_the_file_and_what_was_expected(bundle, tmp_path):
    folder = broken_copy(bundle, tmp_path)
    manifest_path, model = folder / MANIFEST_NAME, folder / "model.onnx"
    text, weights = manifest_path.read_text(), model.read_bytes()

    def expect(pattern, variant=None, spec=folder):
        with pytest.raises(BundleError, match=pattern) as info:
            load_bundle(spec, variant)
        assert isinstance(info.value, CheckpointError)  # callers that report bad checkpoints report these
        manifest_path.write_text(text)
        model.write_bytes(weights)

    manifest_path.write_text(text[: len(text) // 2])
    expect(rf"{manifest_path} is corrupt: not valid JSON")
    edit_manifest(folder, lambda m: m.update(format_version=99))
    expect(rf"{manifest_path}: bundle format version 99, this code reads version 1")
    edit_manifest(folder, lambda m: m["observation"].update(encoding_version="0"))
    expect(rf"{manifest_path}: the bot was exported for observation encoding version '0'")
    edit_manifest(folder, lambda m: m["actions"].pop())
    expect(r"action names .* do not match this code's action set")
    edit_manifest(folder, lambda m: m.pop("models"))
    expect(r"is corrupt: missing keys \['models'\]")
    edit_manifest(folder, lambda m: m["models"].pop("int8"))
    expect(r"lists no int8 model \(export with export.quantize=true to add it\)", "int8")
    model.write_bytes(weights[:1000])
    expect(rf"{model} is corrupt, truncated or replaced: its sha256 does not match")
    model.unlink()
    expect(rf"{model} is missing: {manifest_path} lists it as the fp32 model")
    manifest_path.unlink()
    expect(rf"{manifest_path} is missing: an exported bundle holds manifest.json and model.onnx")
    expect(r"does not exist", spec=tmp_path / "nowhere")
    with pytest.raises(BundleError, match=r"is not an exported-bot manifest: expected \"format\": "
                                          r"\"fightlab-onnx-bot\", found 'fightlab-policy-checkpoint'"):
        load_bundle(bundle[0] / MANIFEST_NAME)


def test_a_model_with_the_wrong_interface_is_refused(bundle, tmp_path):
    folder = broken_copy(bundle, tmp_path)
    model = folder / "model.onnx"
    write_onnx(PolicyNetwork(obs_dim=OBS_DIM - 1), model)  # a model for another observation size
    edit_manifest(folder, lambda m: m["models"]["fp32"].update(sha256=sha256_file(model)))
    with pytest.raises(BundleError, match=rf"{model}: expected one input 'obs' tensor\(float\) "
                                          rf"\[batch, {OBS_DIM}\], the model has \[\('obs', "):
        make_policy(str(folder))
    write_onnx(PolicyNetwork(num_actions=NUM_ACTIONS + 1), model)
    edit_manifest(folder, lambda m: m["models"]["fp32"].update(sha256=sha256_file(model)))
    with pytest.raises(BundleError, match=rf"expected one output 'logits' tensor\(float\) "
                                          rf"\[batch, {NUM_ACTIONS}\]"):
        load_bundle(folder)


def test_bad_observations_are_refused_by_the_policy(bundle):
    with pytest.raises(ValueError, match=r"observations must have shape \(batch, 42\), got \(3, 41\)"):
        load_bundle(bundle[1]).act(np.zeros((3, OBS_DIM - 1), np.float32))
