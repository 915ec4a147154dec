"""The Ray Serve deployment behind ``python serve.py``: routes, dynamic batching, error answers.

Kept apart from :mod:`agents.serving` (decoding, bots, start/stop) because importing it imports
Ray Serve and FastAPI; only a process that builds the server pays for that. The routes and the
wire formats are documented in :mod:`agents.serving`.
"""

# no `from __future__ import annotations`: FastAPI reads the route parameters' types at runtime
from typing import Any

import numpy as np
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from ray import serve

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

api = FastAPI(title="FightLab bots", description="Decisions of served fighting-game bots")


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


@serve.deployment(name="BotServer", max_ongoing_requests=256)
@serve.ingress(api)
class BotServer:
    """Every bot loaded once per replica; requests for all of them gathered by ``@serve.batch``."""

    def __init__(self, bots: dict[str, str], *, max_batch_size: int, batch_wait_timeout_s: float,
                 threads: int = 1) -> None:
        import os

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

    async def _decide(self, bot: str, rows: np.ndarray) -> np.ndarray:
        if bot not in self.bots:
            raise RequestError(404, f"no bot named {bot!r} here; served bots: {', '.join(sorted(self.bots))}")
        return await self.decide_batch((bot, rows))

    @api.get("/health")
    def health(self) -> dict[str, Any]:
        return {**health_payload(self.records, self.batching), "answered": self.answered}

    @api.get("/bots/{bot}")
    def interface(self, bot: str) -> Any:
        if bot not in self.bots:
            return _error(404, f"no bot named {bot!r} here; served bots: {', '.join(sorted(self.bots))}")
        return {"bot": bot, **health_payload({bot: self.records[bot]}, self.batching)["bots"][bot],
                "encoding_version": ENCODING_VERSION, "observation": observation_field_table(),
                "actions": [{"id": i, "name": n} for i, n in enumerate(ACTION_NAMES)]}

    @api.post("/bots/{bot}/act")
    async def act_json(self, bot: str, request: Request) -> Any:
        try:
            rows, batch = decode_json(await request.body())
            return encode_json(await self._decide(bot, rows), batch)
        except RequestError as err:
            return _error(err.status, str(err))

    @api.post("/bots/{bot}/act.bin")
    async def act_binary(self, bot: str, request: Request) -> Any:
        try:
            rows = decode_binary(await request.body(), request.headers.get(ENCODING_HEADER))
            ids = await self._decide(bot, rows)
        except RequestError as err:
            return _error(err.status, str(err))
        return Response(np.asarray(ids, dtype=np.uint8).tobytes(), media_type=BINARY_TYPE)
