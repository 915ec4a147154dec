"""Serve bots over HTTP on Ray Serve: dynamic batching, a JSON and a binary endpoint, health.

    python serve.py +bots.teacher=runs/teachers/ppo_h256x256_seed0/export
    python serve.py +bots.fp32=runs/x/export +bots.int8=runs/x/export/model.int8.onnx serve.replicas=2
    python serve.py +bots.student=runs/distill/distill_h16_seed0/best serve.max_batch_size=128
    python serve.py +bots.teacher=... ray.address=auto      # join a running Ray cluster
    curl localhost:8000/health

Each ``+bots.<name>=<bot>`` is a URL name and a bot: an exported bundle (ONNX Runtime; name a bundle's
``model.int8.onnx`` for its int8 variant) or a checkpoint (torch). Stateful bots (the scripted
pros, difficulty knobs) are refused: the server keeps no per-session state (see
:mod:`agents.serving`, which also documents the endpoints and wire formats). Ctrl-C stops the
server; ``serve.duration_s`` stops it after that many seconds.

Config schema: :class:`ServeConfig` below (a typo'd override fails with the list of valid keys);
the YAML file is ``conf/serve.yaml``. Measure a running server with
``python benchmarks/bench_serve.py`` or :func:`agents.loadgen.run_load`.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field

import hydra
from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig, OmegaConf

from agents.rl.ray_runtime import RaySettings
from agents.serving import ServeError, check_settings, start, stop
from envs.config_checks import check_overrides_or_exit


@dataclass
class ServeSettings:
    host: str = "127.0.0.1"  # 0.0.0.0 to accept other machines (nothing here authenticates them)
    port: int = 8000
    replicas: int = 1  # copies of the deployment; each loads every bot
    cpus_per_replica: float = 1.0  # Ray's logical CPUs reserved per replica
    threads: int = 1  # ONNX Runtime / torch threads per replica
    max_batch_size: int = 64  # requests gathered into one forward pass (@serve.batch)
    batch_wait_timeout_s: float = 0.001  # how long the first request of a batch waits for others
    duration_s: float | None = None  # stop after this many seconds; null: serve until Ctrl-C


@dataclass
class ServeConfig:
    bots: dict[str, str] = field(default_factory=dict)  # URL name -> bundle / checkpoint path
    serve: ServeSettings = field(default_factory=ServeSettings)
    ray: RaySettings = field(default_factory=RaySettings)  # a local instance, or ray.address=auto


ConfigStore.instance().store(name="serve_schema", node=ServeConfig)


def serve(config: ServeConfig) -> None:
    settings = config.serve
    records = check_settings(config.bots, replicas=settings.replicas, max_batch_size=settings.max_batch_size,
                             batch_wait_timeout_s=settings.batch_wait_timeout_s,
                             cpus_per_replica=settings.cpus_per_replica, port=settings.port)
    url = start(config.bots, host=settings.host, port=settings.port, replicas=settings.replicas,
                max_batch_size=settings.max_batch_size, batch_wait_timeout_s=settings.batch_wait_timeout_s,
                cpus_per_replica=settings.cpus_per_replica, threads=settings.threads,
                address=config.ray.address)
    try:
        for name, record in records.items():
            pinned = f", weights sha256 {record.weights_sha256[:12]}" if record.weights_sha256 else ""
            print(f"serving {name}: {record.spec} ({record.kind}{pinned})")
            print(f"  POST {url}/bots/{name}/act (JSON)  POST {url}/bots/{name}/act.bin (float32 rows)")
        print(f"health: {url}/health  ({settings.replicas} replica(s), batches of up to "
              f"{settings.max_batch_size}, waiting {settings.batch_wait_timeout_s * 1000:g} ms)", flush=True)
        deadline = None if settings.duration_s is None else time.monotonic() + settings.duration_s
        while deadline is None or time.monotonic() < deadline:
            time.sleep(0.2)
        print("serve.duration_s reached: stopping", flush=True)
    except KeyboardInterrupt:
        print("stopping", file=sys.stderr)
    finally:
        stop()


@hydra.main(version_base=None, config_path="conf", config_name="serve")
def main(cfg: DictConfig) -> None:
    config: ServeConfig = OmegaConf.to_object(cfg)
    try:
        serve(config)
    except ServeError as err:
        print(f"serve.py: {err}", file=sys.stderr)
        raise SystemExit(1) from None


if __name__ == "__main__":
    check_overrides_or_exit("serve")  # bad overrides fail here, naming the valid keys
    main()
