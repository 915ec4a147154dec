"""The Ray Serve deployment behind ``python serve.py``: routes, dynamic batching, error answers.

Kept apart from :mod:`agents.serving` (decoding, bots, start/stop) because importing it imports
Ray Serve; only a process that builds the server pays for that. The routes and the wire formats
are documented in :mod:`agents.serving`.

The four routes are dispatched here by hand on a plain Starlette request rather than through a
FastAPI app (``@serve.ingress``): on this project's 2-core machine FastAPI's routing and
validation layer added about 5 ms to every request, as much as all of Ray Serve's own path.
"""

from __future__ import annotations

import os
from dataclasses import asdict
from typing import Any

import numpy as np
from ray import serve
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from agents.serving import (
    BINARY_TYPE,
    ENCODING_HEADER,
    RequestError,
    decide,
    decode_binary,
    decode_json,
    encode_json,
    health_payload,
    load_bot,
)
from envs.actions import ACTION_NAMES
from envs.observation import ENCODING_VERSION, observation_field_table


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


@serve.deployment(name="BotServer", max_ongoing_requests=256)
class BotServer:
    """Every bot loaded once per replica; requests for all of them gathered by ``@serve.batch``."""

    def __init__(self, bots: dict[str, str], *, max_batch_size: int, batch_wait_timeout_s: float,
                 threads: int = 1) -> None:
        os.environ.setdefault("OMP_NUM_THREADS", str(threads))
        loaded = {name: load_bot(name, spec) for name, spec in bots.items()}
        self.bots = {name: policy for name, (policy, _) in loaded.items()}
        self.records = {name: record for name, (_, record) in loaded.items()}
        self.batching = {"max_batch_size": max_batch_size, "batch_wait_timeout_s": batch_wait_timeout_s,
                         "threads": threads}
        if any(record.kind == "checkpoint" for record in self.records.values()):
            import torch

            torch.set_num_threads(threads)
        self.answered = {"requests": 0, "rows": 0, "batches": 0}  # this replica's, since it started
        self.decide_batch.set_max_batch_size(max_batch_size)
        self.decide_batch.set_batch_wait_timeout_s(batch_wait_timeout_s)

    @serve.batch(max_batch_size=64, batch_wait_timeout_s=0.001)
    async def decide_batch(self, requests: list[tuple[str, np.ndarray]]) -> list[np.ndarray]:
        answers = decide(self.bots, requests)
        self.answered["batches"] += 1
        self.answered["requests"] += len(requests)
        self.answered["rows"] += sum(len(rows) for _, rows in requests)
        return answers

    async def __call__(self, request: Request) -> Response:
        path = request.scope["path"]
        root = request.scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root):]
        parts = path.strip("/").split("/")
        try:
            if parts == ["health"] and request.method == "GET":
                health = health_payload(self.records, self.batching)
                return JSONResponse({**health, "answered": self.answered})
            if len(parts) < 2 or parts[0] != "bots" or len(parts) > 3:
                raise RequestError(404, f"no route {path!r}: GET /health, GET /bots/<bot>, POST "
                                        "/bots/<bot>/act (JSON) or /bots/<bot>/act.bin (binary)")
            bot = parts[1]
            if bot not in self.bots:
                served = ", ".join(sorted(self.bots))
                raise RequestError(404, f"no bot named {bot!r} here; served bots: {served}")
            if len(parts) == 2 and request.method == "GET":
                return JSONResponse(self.interface(bot))
            if len(parts) == 3 and parts[2] in ("act", "act.bin"):
                if request.method != "POST":
                    raise RequestError(405, f"{path} takes POST requests")
                body = await request.body()
                if parts[2] == "act":
                    rows, batch = decode_json(body)
                    return JSONResponse(encode_json(await self.decide_batch((bot, rows)), batch))
                rows = decode_binary(body, request.headers.get(ENCODING_HEADER))
                ids = await self.decide_batch((bot, rows))
                return Response(np.asarray(ids, dtype=np.uint8).tobytes(), media_type=BINARY_TYPE)
            raise RequestError(404, f"no route {request.method} {path!r} for a bot: POST /bots/{bot}/act or "
                                    f"/bots/{bot}/act.bin, GET /bots/{bot}")
        except RequestError as err:
            return _error(err.status, str(err))

    def interface(self, bot: str) -> dict[str, Any]:
        """``GET /bots/<bot>``: where the bot came from, and what goes in and comes out."""
        return {"bot": bot, **asdict(self.records[bot]), "encoding_version": ENCODING_VERSION,
                "observation": observation_field_table(),
                "actions": [{"id": i, "name": n} for i, n in enumerate(ACTION_NAMES)]}
