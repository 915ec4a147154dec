"""Starting Ray the one way this project needs it: a local instance or an existing cluster.

Used by RLlib fine-tuning (``train.py agent=ppo``) and the tournament's Ray backend
(:mod:`evaluation.tournament`, which imports it from here: imports point down). Workers get
the repository on their ``PYTHONPATH`` (``runtime_env``), so remote tasks and RLlib EnvRunners can
import ``envs``/``agents`` without the project being installed as a package.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]

# Notices Ray and RLlib print on every run that ask nothing of a FightLab user, silenced here once
# (logger -> the start of the message), so the notices that do matter stand out:
# - token authentication: on by default for a local instance, which is what we want;
# - "running PPO on the new API stack": we use the new stack on purpose (agents/rl/rllib_module.py);
# - RLModule(config=...) deprecated: RLlib 2.60 builds that config itself, inside RLModule.__init__;
# - "Install gputil": only with log_sys_usage, which ppo_config turns off (this is a fallback).
QUIET_RAY_NOTICES = {
    "ray._private.authentication.authentication_token_setup": ("Token authentication is enabled",),
    "ray.rllib.algorithms.algorithm_config": ("You are running PPO on the new API stack",),
    "ray._common.deprecation": ("DeprecationWarning: `RLModule(config=[RLModuleConfig object])`",),
    "ray.tune.utils.util": ("Install gputil for GPU system monitoring",),
}


class _DropNotices(logging.Filter):
    def __init__(self, starts: tuple[str, ...]) -> None:
        super().__init__()
        self.starts = starts

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith(self.starts)


def quiet_ray_notices() -> None:
    """Drop :data:`QUIET_RAY_NOTICES` from Ray's loggers in this process (idempotent); every other
    warning still shows. Workers' output is not forwarded at all (``log_to_driver=False``)."""
    for name, starts in QUIET_RAY_NOTICES.items():
        logger = logging.getLogger(name)
        if not any(isinstance(f, _DropNotices) for f in logger.filters):
            logger.addFilter(_DropNotices(starts))


@dataclass
class RaySettings:
    address: str | None = None  # null: start a local Ray instance; "auto" or host:port: join a cluster
    num_cpus: int | None = None  # for a local instance; null: every core


def init_ray(address: str | None = None, num_cpus: int | None = None) -> bool:
    """``ray.init`` unless Ray is already up; True if this call started it (the caller shuts it down)."""
    import ray  # imported only when used: it takes seconds

    quiet_ray_notices()
    if ray.is_initialized():
        return False
    options = {"include_dashboard": False, "log_to_driver": False,
               "runtime_env": {"env_vars": {"PYTHONPATH": str(REPO_ROOT)}}}
    if address:
        options["address"] = address
    else:
        options["num_cpus"] = num_cpus
    ray.init(**options)
    return True
