"""``python serve.py`` as a user runs it: a real local Ray Serve application answering batched,
concurrent and malformed requests, with answers equal to the in-process bots'; and the requirements
sheet ``export.py`` writes by serving the bundle it exports."""

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import torch

from agents.loadgen import decisions, run_load
from agents.requirements import free_port, observation_pool
from agents.serving import ENCODING_HEADER, FIELDS
from envs.actions import ACTION_NAMES
from envs.observation import ENCODING_VERSION, OBS_DIM

ROOT = Path(__file__).resolve().parents[1]
STARTUP_S = 240


@pytest.fixture(scope="module")
def bundle(tiny_dataset, tmp_path_factory):
    """A checkpoint and its bundle (fp32 + int8), exported with the full requirements sheet."""
    from agents.checkpoint import save_checkpoint
    from agents.networks import PolicyNetwork
    from datasets.load import load_dataset

    root = tmp_path_factory.mktemp("serve")
    torch.manual_seed(0)
    sha = load_dataset(tiny_dataset, columns=["match_id"]).manifest["frames_sha256"]
    checkpoint = save_checkpoint(root / "run" / "best", PolicyNetwork(hidden_sizes=(32,)), name="tiny",
                                 metadata={"dataset": {"path": str(tiny_dataset), "frames_sha256": sha,
                                                       "split_fractions": [0.8, 0.1, 0.1], "split_seed": 0}})
    done = subprocess.run([sys.executable, str(ROOT / "export.py"), f"bot={checkpoint}",
                           f"export.out={root / 'bundle'}", "export.quantize=true", "export.play=false",
                           "export.parity_rows=2000", "export.serve_requests=50", "export.progress=false"],
                          cwd=root, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return checkpoint, root / "bundle", done.stdout


def test_export_writes_the_requirements_sheet_into_the_manifest(bundle):
    _, folder, stdout = bundle
    sheet = json.loads((folder / "manifest.json").read_text())["requirements"]
    assert set(sheet) == {"fp32", "int8"}
    for variant, entry in sheet.items():
        assert 0 < entry["processing_time_offline_ms"]["p50"] <= entry["processing_time_offline_ms"]["p99"]
        online = entry["processing_time_online_ms"]
        assert 0 < online["p50"] <= online["p99"], variant
        assert entry["qps_per_replica"] > 0 and entry["online"]["requests"] > 0
        assert entry["parameters"] == 42 * 32 + 32 + 32 * 12 + 12
        assert entry["model_bytes"] == (folder / ("model.onnx" if variant == "fp32" else "model.int8.onnx")
                                        ).stat().st_size
        assert entry["accuracy"] is not None and entry["win_rate"] is None  # export.play=false
    assert "requirements sheet (fp32):" in stdout and "QPS per replica" in stdout


@pytest.fixture(scope="module")
def server(bundle, tmp_path_factory):
    """serve.py with the bundle (fp32 and int8) and the checkpoint (torch), until the module ends."""
    checkpoint, folder, _ = bundle
    port = free_port()
    log = tmp_path_factory.mktemp("serve_log") / "serve.log"
    with open(log, "w") as out:
        process = subprocess.Popen(
            [sys.executable, str(ROOT / "serve.py"), f"+bots.fp32={folder}",
             f"+bots.int8={folder / 'model.int8.onnx'}", f"+bots.torch={checkpoint}", f"serve.port={port}",
             "serve.max_batch_size=32", "serve.batch_wait_timeout_s=0.005", "serve.duration_s=900"],
            cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + STARTUP_S
    while True:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=5) as response:
                if response.status == 200:
                    break
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"serve.py did not come up:\n{log.read_text()[-3000:]}")
        time.sleep(1)
    yield url, process, log
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=120)
        except subprocess.TimeoutExpired:
            process.kill()


def get(url):
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.loads(response.read())


def post(url, data, headers=None):
    request = urllib.request.Request(url, data=data, headers=headers or {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def test_health_lists_every_bot_with_the_hashes_of_its_files(server, bundle):
    url, _, _ = server
    checkpoint, folder, _ = bundle
    health = get(f"{url}/health")
    assert health["status"] == "ok" and health["encoding_version"] == ENCODING_VERSION
    bots = health["bots"]
    assert set(bots) == {"fp32", "int8", "torch"}
    manifest = json.loads((folder / "manifest.json").read_text())
    digest = hashlib.sha256((folder / "manifest.json").read_bytes()).hexdigest()
    assert bots["fp32"]["manifest_sha256"] == digest == bots["int8"]["manifest_sha256"]
    assert bots["fp32"]["weights_sha256"] == manifest["models"]["fp32"]["sha256"]
    assert bots["int8"]["weights_sha256"] == manifest["models"]["int8"]["sha256"]
    assert bots["int8"]["variant"] == "int8" and bots["torch"]["kind"] == "checkpoint"
    assert health["batching"]["max_batch_size"] == 32
    assert get(f"{url}/bots/fp32")["observation"][0]["name"] == FIELDS[0]


def test_served_answers_equal_the_in_process_bots(server, bundle):
    from agents.checkpoint import load
    from agents.onnx_policy import load_bundle

    url, _, _ = server
    checkpoint, folder, _ = bundle
    rows = observation_pool(600, seed=3)
    expected = {"fp32": load_bundle(folder).act(rows), "int8": load_bundle(folder, "int8").act(rows),
                "torch": load(checkpoint).act(rows)}
    for bot, commands in expected.items():
        np.testing.assert_array_equal(decisions(url, bot, rows), commands, err_msg=bot)
    status, answer = post(f"{url}/bots/fp32/act", json.dumps(
        {"encoding_version": ENCODING_VERSION, "observations": rows[:50].tolist()}).encode())
    assert status == 200
    assert json.loads(answer)["command_ids"] == expected["fp32"][:50].tolist()
    # int8 (dynamic quantization) scales activations per call: one row alone may get another answer
    # than the same row inside a batch, so a single row is compared with a single row
    alone = int(load_bundle(folder, "int8").act(rows[7:8])[0])
    named = dict(zip(FIELDS, rows[7].tolist(), strict=True))
    status, answer = post(f"{url}/bots/int8/act", json.dumps(
        {"encoding_version": ENCODING_VERSION, "observation": named}).encode())
    assert status == 200 and json.loads(answer) == {"command": ACTION_NAMES[alone], "command_id": alone}


def test_concurrent_requests_are_batched_and_all_answered(server):
    url, _, _ = server
    before = get(f"{url}/health")["answered"]
    result = run_load(url, "fp32", observation_pool(256), requests=600, concurrency=16, warmup=0)
    after = get(f"{url}/health")["answered"]
    assert result.errors == 0 and result.requests == 600 and result.qps > 0
    batches = after["batches"] - before["batches"]
    assert after["requests"] - before["requests"] == 600
    assert 600 / batches > 1.5, f"{batches} batches for 600 concurrent requests: nothing was batched"


@pytest.mark.parametrize(("path", "data", "headers", "status", "names"), [
    ("/bots/fp32/act", json.dumps({"encoding_version": ENCODING_VERSION, "observation": [0.0] * 41}).encode(),
     None, 422, "has 41 values; expected 42"),
    ("/bots/fp32/act", b'{"encoding_version": "1", "observation": [NaN' + b", 0" * 41 + b"]}", None, 422,
     f"observation[0] ({FIELDS[0]}) must be finite"),
    ("/bots/fp32/act", json.dumps({"encoding_version": "7", "observation": [0.0] * 42}).encode(), None, 400,
     "reads observation encoding version"),
    ("/bots/nobody/act", json.dumps({"encoding_version": "1", "observation": [0.0] * 42}).encode(), None,
     404, "no bot named 'nobody' here; served bots: fp32, int8, torch"),
    ("/bots/int8/act.bin", b"\x00" * (OBS_DIM * 4 + 3), {ENCODING_HEADER: ENCODING_VERSION}, 422,
     f"expected a positive multiple of {OBS_DIM * 4}"),
    ("/bots/int8/act.bin", b"\x00" * OBS_DIM * 4, {}, 400, f"the {ENCODING_HEADER} header is missing"),
    ("/bots/torch/act", b"{oops", None, 400, "the body is not JSON"),
])
def test_malformed_requests_get_a_4xx_naming_the_field_and_the_replica_keeps_serving(
        server, path, data, headers, status, names):
    url, process, _ = server
    got, answer = post(url + path, data, headers)
    assert got == status, answer
    assert names in json.loads(answer)["error"]
    ok, _ = post(f"{url}/bots/fp32/act", json.dumps(
        {"encoding_version": ENCODING_VERSION, "observation": [0.0] * OBS_DIM}).encode())
    assert ok == 200 and process.poll() is None


def test_ctrl_c_stops_the_server_cleanly(server):
    url, process, log = server
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=120) == 0, log.read_text()[-2000:]
    text = log.read_text()
    assert "serving fp32:" in text and "Traceback" not in text


@pytest.mark.parametrize(("overrides", "code", "message"), [
    (["+bots.pro=footsies"], 1, "keeps state between frames"),
    ([], 1, "no bots to serve"),
    (["+bots.x=nobody"], 1, "unknown bot 'nobody'"),
    (["+bots.x=idle", "serve.replica=2"], 2, "serve.replicas"),
])
def test_bad_settings_fail_before_ray_starts_with_one_line(overrides, code, message, tmp_path):
    done = subprocess.run([sys.executable, str(ROOT / "serve.py"), *overrides], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "RAY_ADDRESS": ""})
    assert done.returncode == code, done.stderr
    assert message in done.stderr and "Traceback" not in done.stderr
