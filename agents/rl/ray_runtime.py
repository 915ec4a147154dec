"""Starting Ray the one way this project needs it: a local instance or an existing cluster.

Used by RLlib fine-tuning (``train.py agent=ppo``) and the tournament's Ray backend
(:mod:`evaluation.tournament`, which imports it from here: imports point down). Workers get
the repository on their ``PYTHONPATH`` (``runtime_env``), so remote tasks and RLlib EnvRunners can
import ``envs``/``agents`` without the project being installed as a package.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass
class RaySettings:
    address: str | None = None  # null: start a local Ray instance; "auto" or host:port: join a cluster
    num_cpus: int | None = None  # for a local instance; null: every core


def init_ray(address: str | None = None, num_cpus: int | None = None) -> bool:
    """``ray.init`` unless Ray is already up; True if this call started it (the caller shuts it down)."""
    import ray  # imported only when used: it takes seconds

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
