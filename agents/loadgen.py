"""A bounded load generator for a served bot: QPS and latency percentiles, localhost only.

``concurrency`` clients (asyncio tasks over one aiohttp session, each with its own connection)
send requests back to back, each carrying ``rows_per_request`` observations, until ``requests``
have been answered or ``duration_s`` has passed, whichever comes first. Latency is measured per
request on the client, from send to the last byte of the answer (what a game client waits for),
so it includes HTTP, Ray Serve's proxy, the batch wait and the forward pass.

    from agents.loadgen import run_load
    result = run_load("http://127.0.0.1:8000", "teacher", observations, requests=2000, concurrency=16)
    result.qps, result.p99_ms

Only loopback addresses are accepted: this is a measuring tool for your own server, not a way to
load someone else's.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import asdict, dataclass
from urllib.parse import urlparse

import numpy as np

from agents.serving import ENCODING_HEADER
from envs.observation import ENCODING_VERSION, OBS_DIM

LOOPBACK = ("127.0.0.1", "localhost", "::1")
ENCODINGS = ("binary", "json")


@dataclass
class LoadResult:
    """What one load run measured (latencies in ms, on the client)."""

    bot: str
    encoding: str
    concurrency: int
    rows_per_request: int
    requests: int  # answered with 200
    errors: int  # other answers (status, first message in ``first_error``)
    seconds: float
    qps: float  # answered requests per second
    rows_per_s: float  # decisions per second
    p50_ms: float
    p90_ms: float
    p99_ms: float
    mean_ms: float
    first_error: str | None = None

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def check_local(url: str) -> None:
    host = urlparse(url).hostname
    if host not in LOOPBACK:
        raise ValueError(f"the load generator only targets this machine ({', '.join(LOOPBACK)}); got {url}")


def request_bodies(observations: np.ndarray, rows_per_request: int, encoding: str) -> list[bytes]:
    """Request bodies cycling through ``observations`` (``rows_per_request`` rows each)."""
    if encoding not in ENCODINGS:
        raise ValueError(f"encoding must be one of {ENCODINGS}, got {encoding!r}")
    obs = np.ascontiguousarray(observations, dtype="<f4").reshape(-1, OBS_DIM)
    if rows_per_request < 1 or len(obs) < rows_per_request:
        raise ValueError(f"rows_per_request must be in [1, {len(obs)}] for {len(obs)} observations")
    bodies = []
    for start in range(0, len(obs) - rows_per_request + 1, rows_per_request):
        rows = obs[start:start + rows_per_request]
        if encoding == "binary":
            bodies.append(rows.tobytes())
        else:
            key, value = ("observation", rows[0].tolist()) if rows_per_request == 1 \
                else ("observations", rows.tolist())
            bodies.append(json.dumps({"encoding_version": ENCODING_VERSION, key: value}).encode())
    return bodies


async def _load(url: str, bot: str, bodies: list[bytes], *, encoding: str, requests: int | None,
                duration_s: float | None, concurrency: int,
                warmup: int) -> tuple[list[float], int, str | None, float]:
    import aiohttp

    path = f"{url.rstrip('/')}/bots/{bot}/act{'.bin' if encoding == 'binary' else ''}"
    headers = {ENCODING_HEADER: ENCODING_VERSION, "Content-Type": "application/octet-stream"} \
        if encoding == "binary" else {"Content-Type": "application/json"}
    latencies: list[float] = []
    errors, first_error = 0, None
    sent = 0
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        async def send(body: bytes) -> tuple[int, bytes]:
            async with session.post(path, data=body, headers=headers) as response:
                return response.status, await response.read()

        for i in range(warmup):  # connections opened, the replica's first batches run
            await send(bodies[i % len(bodies)])
        start = time.perf_counter()
        deadline = None if duration_s is None else start + duration_s

        async def client() -> None:
            nonlocal sent, errors, first_error
            while (requests is None or sent < requests) and \
                    (deadline is None or time.perf_counter() < deadline):
                body = bodies[sent % len(bodies)]
                sent += 1
                began = time.perf_counter()
                status, answer = await send(body)
                if status == 200:
                    latencies.append(time.perf_counter() - began)
                else:
                    errors += 1
                    first_error = first_error or f"{status}: {answer[:200].decode(errors='replace')}"

        await asyncio.gather(*(client() for _ in range(concurrency)))
        seconds = time.perf_counter() - start
    return latencies, errors, first_error, seconds


def run_load(url: str, bot: str, observations: np.ndarray, *, requests: int | None = 1000,
             duration_s: float | None = None, concurrency: int = 1, rows_per_request: int = 1,
             encoding: str = "binary", warmup: int = 20) -> LoadResult:
    """Load ``url``'s bot ``bot`` and measure it; bounded by ``requests`` and/or ``duration_s``."""
    check_local(url)
    if requests is None and duration_s is None:
        raise ValueError("bound the load: give requests=, duration_s= or both")
    if concurrency < 1:
        raise ValueError(f"concurrency must be >= 1, got {concurrency}")
    bodies = request_bodies(observations, rows_per_request, encoding)
    latencies, errors, first_error, seconds = asyncio.run(
        _load(url, bot, bodies, encoding=encoding, requests=requests, duration_s=duration_s,
              concurrency=concurrency, warmup=warmup))
    ms = np.asarray(latencies) * 1000.0 if latencies else np.full(1, np.nan)
    return LoadResult(bot=bot, encoding=encoding, concurrency=concurrency, rows_per_request=rows_per_request,
                      requests=len(latencies), errors=errors, seconds=seconds,
                      qps=len(latencies) / seconds, rows_per_s=len(latencies) * rows_per_request / seconds,
                      p50_ms=float(np.percentile(ms, 50)), p90_ms=float(np.percentile(ms, 90)),
                      p99_ms=float(np.percentile(ms, 99)), mean_ms=float(ms.mean()), first_error=first_error)


def decisions(url: str, bot: str, observations: np.ndarray) -> np.ndarray:
    """The served bot's command ids for ``observations`` (one binary request per 4096 rows)."""
    import urllib.request

    check_local(url)
    obs = np.ascontiguousarray(observations, dtype="<f4").reshape(-1, OBS_DIM)
    out = []
    for start in range(0, len(obs), 4096):
        request = urllib.request.Request(f"{url.rstrip('/')}/bots/{bot}/act.bin",
                                         data=obs[start:start + 4096].tobytes(),
                                         headers={ENCODING_HEADER: ENCODING_VERSION})
        with urllib.request.urlopen(request, timeout=60) as response:
            out.append(np.frombuffer(response.read(), dtype=np.uint8).astype(np.int64))
    return np.concatenate(out)

