"""The serving layer without a server: request decoding, batching by bot, which bots may be served,
the load generator's bounds and the requirements sheet's offline part."""

import json

import numpy as np
import pytest

from agents.loadgen import check_local, request_bodies, run_load
from agents.requirements import observation_pool, offline_timing, requirements_sheet, sheet_rows
from agents.serving import (
    ENCODING_HEADER,
    FIELDS,
    MAX_ROWS,
    RequestError,
    ServeError,
    check_settings,
    decide,
    decode_binary,
    decode_json,
    encode_json,
    load_bot,
)
from envs.actions import ACTION_NAMES
from envs.observation import ENCODING_VERSION, OBS_DIM


def body(**payload):
    return json.dumps({"encoding_version": ENCODING_VERSION, **payload}).encode()


def test_json_rows_as_lists_or_named_fields_decode_to_the_same_float32_rows():
    rows = observation_pool(3)
    one, batch = decode_json(body(observation=rows[0].tolist()))
    assert not batch and one.dtype == np.float32 and one.shape == (1, OBS_DIM)
    np.testing.assert_array_equal(one[0], rows[0])
    named, _ = decode_json(body(observation=dict(zip(FIELDS, rows[0].tolist(), strict=True))))
    np.testing.assert_array_equal(named, one)
    many, batch = decode_json(body(observations=rows.tolist()))
    assert batch and many.shape == (3, OBS_DIM)
    np.testing.assert_array_equal(many, rows)


@pytest.mark.parametrize(("payload", "status", "names"), [
    (b"not json", 400, "not JSON"),
    (b"[1, 2]", 400, "JSON object"),
    (json.dumps({"observation": [0.0] * OBS_DIM}).encode(), 400, "encoding_version is missing"),
    (json.dumps({"encoding_version": "99", "observation": [0.0] * OBS_DIM}).encode(), 400, "'99'"),
    (body(observation=[0.0] * 5), 422, "has 5 values; expected 42"),
    (body(observation=[0.0] * 41 + ["x"]), 422, f"observation[41] ({FIELDS[41]}) must be a number"),
    (body(observation=[0.0] * 41 + [True]), 422, "must be a number, got bool"),
    (body(observations=[[0.0] * OBS_DIM, [0.0] * 3]), 422, "observations[1] has 3 values"),
    (body(observations=[]), 422, "non-empty list"),
    (body(observations=[[0.0] * OBS_DIM]) [:-1] + b', "observation": []}', 422, "exactly one of"),
    (body(observation={"time_left": 1.0}), 422, "observation is missing fields"),
    (body(observation={**dict.fromkeys(FIELDS, 0.0), "hp": 1.0}), 422, "unknown fields ['hp']"),
    (body(observations=[[0.0] * OBS_DIM] * (MAX_ROWS + 1)), 413, f"at most {MAX_ROWS}"),
])
def test_malformed_json_requests_are_refused_naming_the_field(payload, status, names):
    with pytest.raises(RequestError) as caught:
        decode_json(payload)
    assert caught.value.status == status
    assert names in str(caught.value)


def test_nan_and_infinity_are_refused_with_the_field_named():
    nan = json.dumps({"encoding_version": ENCODING_VERSION, "observation": [0.0] * 3 + [float("nan")]
                      + [0.0] * (OBS_DIM - 4)}).encode()  # json.dumps writes NaN, as careless clients do
    with pytest.raises(RequestError, match=rf"observation\[3\] \({FIELDS[3]}\) must be finite"):
        decode_json(nan)
    rows = observation_pool(4)
    rows[2, 7] = np.inf
    with pytest.raises(RequestError, match=rf"row 2 field 7 \({FIELDS[7]}\) is inf") as caught:
        decode_binary(rows.astype("<f4").tobytes(), ENCODING_VERSION)
    assert caught.value.status == 422


def test_binary_rows_round_trip_and_bad_bodies_are_named():
    rows = observation_pool(5)
    np.testing.assert_array_equal(decode_binary(rows.astype("<f4").tobytes(), ENCODING_VERSION), rows)
    for data, header, status, names in [
        (rows.tobytes()[:-4], ENCODING_VERSION, 422, f"expected a positive multiple of {OBS_DIM * 4}"),
        (b"", ENCODING_VERSION, 422, "the body is 0 bytes"),
        (rows.tobytes(), None, 400, f"the {ENCODING_HEADER} header is missing"),
        (rows.tobytes(), "0", 400, "reads observation encoding version"),
        (np.zeros((MAX_ROWS + 1, OBS_DIM), "<f4").tobytes(), ENCODING_VERSION, 413, f"at most {MAX_ROWS}"),
    ]:
        with pytest.raises(RequestError, match=names) as caught:
            decode_binary(data, header)
        assert caught.value.status == status


class Recorder:
    """A stateless bot that answers the row index of its call and records its batch sizes."""

    name, deterministic = "recorder", True

    def __init__(self, offset):
        self.offset, self.calls = offset, []

    def reset(self, num_envs, seed=None, env_ids=None):
        pass

    def act(self, obs):
        self.calls.append(len(obs))
        return (obs[:, 0] * 0 + self.offset + np.arange(len(obs))) % 12


def test_one_batch_runs_one_forward_pass_per_bot_and_gives_each_request_its_rows_back():
    bots = {"a": Recorder(0), "b": Recorder(5)}
    rows = observation_pool(6)
    requests = [("a", rows[:2]), ("b", rows[2:3]), ("a", rows[3:6])]
    answers = decide(bots, requests)
    assert bots["a"].calls == [5] and bots["b"].calls == [1]
    np.testing.assert_array_equal(answers[0], [0, 1])
    np.testing.assert_array_equal(answers[1], [5])
    np.testing.assert_array_equal(answers[2], [2, 3, 4])
    assert encode_json(np.array([4]), batch=False) == {"command": ACTION_NAMES[4], "command_id": 4}
    assert encode_json(np.array([0, 4]), batch=True)["commands"] == [ACTION_NAMES[0], ACTION_NAMES[4]]


def test_stateful_unknown_and_badly_named_bots_are_refused_before_anything_starts(tmp_path):
    with pytest.raises(ServeError, match="keeps state between frames"):
        load_bot("pro", "footsies")
    with pytest.raises(ServeError, match="keeps state between frames"):
        load_bot("slow", "idle@reaction_delay:8")
    with pytest.raises(ServeError, match="bots.ghost=nobody: unknown bot 'nobody'"):
        load_bot("ghost", "nobody")
    with pytest.raises(ServeError, match="does not exist|no checkpoint"):
        load_bot("gone", str(tmp_path / "missing" / "best"))
    with pytest.raises(ServeError, match="URL path segment"):
        load_bot("a/b", "idle")
    with pytest.raises(ServeError, match="no bots to serve"):
        check_settings({}, replicas=1, max_batch_size=8, batch_wait_timeout_s=0.0, cpus_per_replica=1, port=1)


def test_a_checkpoint_is_served_with_its_hashes(tiny_checkpoint):
    policy, record = load_bot("bc", str(tiny_checkpoint[0]))
    assert record.kind == "checkpoint" and len(record.weights_sha256) == 64
    assert policy.act(observation_pool(3)).shape == (3,)


def test_the_load_generator_targets_this_machine_only_and_is_bounded():
    for url in ("http://127.0.0.1:8000", "http://localhost:1", "http://[::1]:8000"):
        check_local(url)
    with pytest.raises(ValueError, match="only targets this machine"):
        check_local("http://example.com:8000")
    with pytest.raises(ValueError, match="bound the load"):
        run_load("http://127.0.0.1:9", "bot", observation_pool(2), requests=None, duration_s=None)
    bodies = request_bodies(observation_pool(10), 4, "binary")
    assert len(bodies) == 2 and len(bodies[0]) == 4 * OBS_DIM * 4
    one = json.loads(request_bodies(observation_pool(2), 1, "json")[0])
    assert one["encoding_version"] == ENCODING_VERSION and len(one["observation"]) == OBS_DIM


def test_the_offline_part_of_the_requirements_sheet(tmp_path):
    from agents.export import write_onnx
    from agents.networks import PolicyNetwork

    model = write_onnx(PolicyNetwork(hidden_sizes=(16,)), tmp_path / "model.onnx")
    timing = offline_timing(model, calls=300, seconds=0.05)
    assert 0 < timing["p50_ms"] <= timing["p99_ms"]
    assert timing["decisions_per_s_per_core_batch1024"] > timing["decisions_per_s_per_core_batch1"] > 0
    sheet = requirements_sheet(model, parameters=42 * 16 + 16 + 16 * 12 + 12, accuracy=0.5,
                               balanced_accuracy=None, win_rate=None, win_rate_against=None, online=None)
    assert sheet["model_bytes"] == model.stat().st_size and sheet["qps_per_replica"] is None
    rows = dict(sheet_rows(sheet))
    assert rows["processing time, online (p50 / p99)"] == "not measured"
    assert rows["win rate (no matches played)"] == "not measured"
    assert "892 parameters" in rows["model size"]
