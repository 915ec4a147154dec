"""Bots as a service: Ray Serve with dynamic batching, a JSON and a binary endpoint, and health.

The lecture's service requirements (processing time, QPS, model size) are met by serving, not by a
model alone: many game sessions ask for decisions at once, and a server that gathers their requests
into one forward pass answers more of them per second than one that runs them one by one (Ray
Serve's ``@serve.batch``, NVIDIA Triton's dynamic batcher). ``python serve.py`` starts the
application below; :mod:`agents.loadgen` is the load generator that measures it.

HTTP interface (every error is JSON ``{"error": "..."}`` with a 4xx status naming the field;
no request can take a replica down):

``GET /health``
    ``{"status": "ok", "encoding_version": "1", "obs_dim": 42, "bots": {name: {spec, kind,
    variant, manifest_sha256, weights_sha256}}, "batching": {...}, "answered": {requests, rows,
    batches}}`` (``answered``: the replica that answered, since it started)
``GET /bots/{bot}``
    the bot's interface: observation fields in encoding order, command names by id.
``POST /bots/{bot}/act`` (JSON)
    ``{"encoding_version": "1", "observation": [42 numbers]}`` (or ``{field name: number}``)
    -> ``{"command": "heavy_attack", "command_id": 4}``; a batch ``"observations": [[...], ...]``
    -> ``{"commands": [...], "command_ids": [...]}``.
``POST /bots/{bot}/act.bin`` (binary, for engines)
    body: rows of 42 little-endian float32 (``obs.astype("<f4").tobytes()``), header
    ``X-FightLab-Encoding: 1`` -> body: one uint8 command id per row.

The observation is :mod:`envs.observation`'s egocentric encoding, version
:data:`~envs.observation.ENCODING_VERSION`; a request for another version is refused rather than
answered with a command computed from inputs that mean something else.

Which bots: anything :func:`agents.registry.make_policy` loads that is *stateless*: exported
bundles (ONNX Runtime, ``model.int8.onnx`` for the int8 variant) and checkpoints (torch). Bots
that keep state between frames (the scripted pros' reaction queues, difficulty knobs such as
``@reaction_delay:12``) would need one state per game session; the server keeps none, so it
refuses them at start with that reason. A game that wants a handicapped bot applies the knob on
its side (delay the observation it sends, drop commands above an APM cap).

Every replica loads every bot once and runs ONNX Runtime / torch on ``threads`` threads; one
``@serve.batch`` queue per replica gathers requests for all bots, and each batch runs one forward
pass per bot in it.
"""

from __future__ import annotations

import json
import math
import re
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from agents.artifacts import MANIFEST_NAME, sha256_file
from agents.policy import Policy
from agents.registry import make_policy
from envs.actions import ACTION_NAMES
from envs.observation import ENCODING_VERSION, OBS_DIM, observation_field_names

ENCODING_HEADER = "X-FightLab-Encoding"
BINARY_TYPE = "application/octet-stream"
ROW_BYTES = OBS_DIM * 4  # one little-endian float32 row
MAX_ROWS = 4096  # per request: a bigger batch is split by the client
BOT_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
FIELDS = observation_field_names()
_STARTED_RAY: list[bool] = []  # non-empty while a Ray instance started by start() runs


class ServeError(ValueError):
    """A server that cannot start: a bad bot name, an unloadable or stateful bot, bad settings."""


class RequestError(ValueError):
    """A request the server refuses: ``status`` is the HTTP status, the message names the field."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


# ---- the bots ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class BotRecord:
    """What ``/health`` says about a served bot: where it came from and the hashes that pin it."""

    spec: str
    kind: str  # "onnx bundle", "checkpoint" or "registered bot"
    variant: str | None  # the bundle's model variant (fp32 / int8)
    manifest_sha256: str | None
    weights_sha256: str | None


def bot_record(spec: str) -> BotRecord:
    """The record of the bot at ``spec`` (hashes of its manifest and of the weights it names)."""
    from agents.onnx_policy import bundle_paths, is_bundle_path, read_bundle_manifest

    if is_bundle_path(spec):
        folder, variant = bundle_paths(spec)
        manifest = read_bundle_manifest(folder)
        return BotRecord(spec, "onnx bundle", variant, sha256_file(folder / MANIFEST_NAME),
                         manifest["models"][variant]["sha256"])
    if Path(spec).exists():
        from agents.checkpoint import checkpoint_dir, read_manifest

        folder = checkpoint_dir(spec)
        return BotRecord(spec, "checkpoint", None, sha256_file(folder / MANIFEST_NAME),
                         read_manifest(folder)["weights"]["sha256"])
    return BotRecord(spec, "registered bot", None, None, None)


def load_bot(name: str, spec: str) -> tuple[Policy, BotRecord]:
    """Load the bot ``spec`` to be served as ``name``; :class:`ServeError` if it cannot be served."""
    if not BOT_NAME.match(name):
        raise ServeError(f"bot name {name!r} cannot be a URL path segment: use 1-64 letters, digits, "
                         "'_', '.' or '-'")
    try:
        policy = make_policy(spec)
    except Exception as err:  # noqa: BLE001 - the loaders' errors name the file; say which bot it was
        raise ServeError(f"bots.{name}={spec}: {err}") from None
    if getattr(policy, "deterministic", False) is not True:
        raise ServeError(f"bots.{name}={spec} keeps state between frames (a scripted pro's reaction queue "
                         "or a difficulty knob): the server keeps no per-session state, so it serves "
                         "stateless bots only: exported bundles and checkpoints")
    policy.reset(1, seed=0)
    return policy, bot_record(spec)


# ---- requests -----------------------------------------------------------------------------------------
def _check_encoding(version: object, where: str) -> None:
    if version is None:
        raise RequestError(400, f"{where} is missing: say which observation encoding the rows use "
                                f"(this server reads version {ENCODING_VERSION!r})")
    if str(version) != ENCODING_VERSION:
        raise RequestError(400, f"{where} is {str(version)!r}, but this server reads observation encoding "
                                f"version {ENCODING_VERSION!r}; the rows would mean something else")


def _number(value: object, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RequestError(422, f"{where} must be a number, got {type(value).__name__} {value!r:.40}")
    if not math.isfinite(value):
        raise RequestError(422, f"{where} must be finite, got {value}")
    return float(value)


def _row(value: object, where: str) -> list[float]:
    """One observation: a list of OBS_DIM numbers in field order, or an object keyed by field name."""
    if isinstance(value, dict):
        unknown = sorted(set(value) - set(FIELDS))
        if unknown:
            raise RequestError(422, f"{where} has unknown fields {unknown[:5]}; the fields are "
                                    f"{', '.join(FIELDS)}")
        missing = [f for f in FIELDS if f not in value]
        if missing:
            more = " and more" if len(missing) > 5 else ""
            raise RequestError(422, f"{where} is missing fields {missing[:5]}{more} "
                                    f"({len(missing)} of {OBS_DIM})")
        return [_number(value[f], f"{where}.{f}") for f in FIELDS]
    if not isinstance(value, list):
        raise RequestError(422, f"{where} must be a list of {OBS_DIM} numbers (fields in encoding order) "
                                f"or an object keyed by field name, got {type(value).__name__}")
    if len(value) != OBS_DIM:
        raise RequestError(422, f"{where} has {len(value)} values; expected {OBS_DIM} (fields in encoding "
                                f"order: {FIELDS[0]}, {FIELDS[1]}, ..., {FIELDS[-1]})")
    return [_number(v, f"{where}[{i}] ({FIELDS[i]})") for i, v in enumerate(value)]


def decode_json(body: bytes) -> tuple[np.ndarray, bool]:
    """The rows of a JSON request, and whether it was a batch (``observations``) or one row."""
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise RequestError(400, f"the body is not JSON ({err}); send "
                                '{"encoding_version": "1", "observation": [...]}') from None
    if not isinstance(payload, dict):
        raise RequestError(400, f"the body must be a JSON object, got {type(payload).__name__}")
    _check_encoding(payload.get("encoding_version"), "encoding_version")
    keys = [k for k in ("observation", "observations") if k in payload]
    if len(keys) != 1:
        raise RequestError(422, "send exactly one of 'observation' (one row) or 'observations' (a list of "
                                f"rows); got {sorted(payload)}")
    if keys[0] == "observation":
        return np.array([_row(payload["observation"], "observation")], dtype=np.float32), False
    rows = payload["observations"]
    if not isinstance(rows, list) or not rows:
        raise RequestError(422, "observations must be a non-empty list of rows")
    if len(rows) > MAX_ROWS:
        raise RequestError(413, f"observations has {len(rows)} rows; at most {MAX_ROWS} per request")
    return np.array([_row(r, f"observations[{i}]") for i, r in enumerate(rows)], dtype=np.float32), True


def decode_binary(body: bytes, encoding: str | None) -> np.ndarray:
    """The rows of a binary request: ``n * 42`` little-endian float32."""
    _check_encoding(encoding, f"the {ENCODING_HEADER} header")
    if not body or len(body) % ROW_BYTES:
        raise RequestError(422, f"the body is {len(body)} bytes; expected a positive multiple of {ROW_BYTES} "
                                f"(rows of {OBS_DIM} little-endian float32)")
    rows = len(body) // ROW_BYTES
    if rows > MAX_ROWS:
        raise RequestError(413, f"the body holds {rows} rows; at most {MAX_ROWS} per request")
    obs = np.frombuffer(body, dtype="<f4").reshape(rows, OBS_DIM)
    bad = ~np.isfinite(obs)
    if bad.any():
        row, col = (int(i) for i in np.argwhere(bad)[0])
        raise RequestError(422, f"row {row} field {col} ({FIELDS[col]}) is {obs[row, col]}; every value "
                                "must be finite")
    return obs.astype(np.float32)


def encode_json(ids: np.ndarray, batch: bool) -> dict[str, Any]:
    if batch:
        return {"commands": [ACTION_NAMES[i] for i in ids], "command_ids": [int(i) for i in ids]}
    return {"command": ACTION_NAMES[int(ids[0])], "command_id": int(ids[0])}


def decide(bots: dict[str, Policy], requests: list[tuple[str, np.ndarray]]) -> list[np.ndarray]:
    """One batch of requests (bot name, rows), answered with one ``act`` call per bot in it."""
    answers: list[np.ndarray | None] = [None] * len(requests)
    for name in dict.fromkeys(bot for bot, _ in requests):
        members = [i for i, (bot, _) in enumerate(requests) if bot == name]
        rows = np.concatenate([requests[i][1] for i in members])
        ids = np.asarray(bots[name].act(rows), dtype=np.int64)
        bounds = np.cumsum([0] + [len(requests[i][1]) for i in members])
        for i, start, stop in zip(members, bounds[:-1], bounds[1:], strict=True):
            answers[i] = ids[start:stop]
    return answers  # type: ignore[return-value]


# ---- the Ray Serve application ----------------------------------------------------------------------
def build_app(bots: dict[str, str], *, max_batch_size: int = 64, batch_wait_timeout_s: float = 0.001,
              replicas: int = 1, cpus_per_replica: float = 1.0, threads: int = 1) -> Any:
    """The Serve application (``serve.run`` it): one deployment, ``replicas`` copies, every bot in each."""
    from agents.serve_app import BotServer  # imports Ray Serve: only where a server is built

    return BotServer.options(num_replicas=replicas, ray_actor_options={"num_cpus": cpus_per_replica}).bind(
        bots, max_batch_size=max_batch_size, batch_wait_timeout_s=batch_wait_timeout_s, threads=threads)


def check_settings(bots: dict[str, str], *, replicas: int, max_batch_size: int,
                   batch_wait_timeout_s: float, cpus_per_replica: float, port: int) -> dict[str, BotRecord]:
    """Check the settings and load every bot once here, so that a bad one fails before Ray starts."""
    if not bots:
        raise ServeError("no bots to serve: name them, e.g. python serve.py "
                         "+bots.teacher=runs/<experiment>/<run>/export (one +bots.<name>=<bot> per bot)")
    for key, value, low in (("replicas", replicas, 1), ("max_batch_size", max_batch_size, 1),
                            ("port", port, 1)):
        if value < low:
            raise ServeError(f"serve.{key} must be >= {low}, got {value}")
    if batch_wait_timeout_s < 0 or cpus_per_replica < 0:
        raise ServeError("serve.batch_wait_timeout_s and serve.cpus_per_replica must be >= 0")
    return {name: load_bot(name, str(spec))[1] for name, spec in bots.items()}


def start(bots: dict[str, str], *, host: str = "127.0.0.1", port: int = 8000, replicas: int = 1,
          max_batch_size: int = 64, batch_wait_timeout_s: float = 0.001, cpus_per_replica: float = 1.0,
          threads: int = 1, address: str | None = None, name: str = "fightlab",
          route_prefix: str = "/") -> str:
    """Serve ``bots`` (name -> spec) as the application ``name`` at ``http://host:port/<route_prefix>``;
    returns that URL.

    Starts a local Ray instance unless one is running (or joins ``address``); :func:`stop` takes the
    application down. Blocks until every replica is up. Several applications (other settings, other
    bots) can share one Ray instance and port under different ``name`` and ``route_prefix``.
    """
    check_settings(bots, replicas=replicas, max_batch_size=max_batch_size,
                   batch_wait_timeout_s=batch_wait_timeout_s, cpus_per_replica=cpus_per_replica, port=port)
    import os

    from ray import serve

    from agents.rl.ray_runtime import init_ray

    cores = max(os.cpu_count() or 1, math.ceil(replicas * cpus_per_replica))  # logical CPUs for replicas
    if init_ray(address, None if address else cores):
        _STARTED_RAY.append(True)
    quiet = {"enable_access_log": False, "log_level": "WARNING"}  # no log line per request
    serve.start(http_options={"host": host, "port": port}, logging_config=quiet)
    serve.run(build_app(bots, max_batch_size=max_batch_size, batch_wait_timeout_s=batch_wait_timeout_s,
                        replicas=replicas, cpus_per_replica=cpus_per_replica, threads=threads),
              name=name, route_prefix=route_prefix, logging_config=quiet)
    return f"http://{host}:{port}{route_prefix.rstrip('/')}"


def stop(name: str = "fightlab") -> None:
    """Take the application ``name`` down; shut Ray down too when :func:`start` started it here."""
    import ray
    from ray import serve

    if not ray.is_initialized():
        return
    if _STARTED_RAY:
        ray.shutdown()  # Serve's actors go with it
        _STARTED_RAY.clear()
    else:
        serve.delete(name)


def health_payload(records: dict[str, BotRecord], batching: dict[str, Any]) -> dict[str, Any]:
    return {"status": "ok", "encoding_version": ENCODING_VERSION, "obs_dim": OBS_DIM,
            "actions": list(ACTION_NAMES), "bots": {n: asdict(r) for n, r in records.items()},
            "batching": batching, "python": sys.version.split()[0]}
