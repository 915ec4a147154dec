"""Peer baselines: other libraries' imitation and offline-RL learners, trained on our logs, as bundles.

The project's claim is that per-frame accuracy on pro logs misleads. A fair test of our rebalanced
BC is against what a researcher would reach for first, trained on the same split of the same logs:

* ``d3rlpy_bc``: d3rlpy's ``DiscreteBC`` (cross-entropy behaviour cloning, no rebalancing);
* ``d3rlpy_cql``: d3rlpy's ``DiscreteCQL`` (conservative Q-learning: offline RL on the logs' rewards,
  damage dealt - taken and the match result, :mod:`datasets.episodes`); it can in principle learn
  to act where pressing pays even though the pros mostly wait;
* ``imitation_bc``: HumanCompatibleAI ``imitation``'s ``BC`` (an SB3 policy trained by
  log-likelihood), an optional extra: it pins an older Gymnasium, so it is installed with
  ``pip install --no-deps imitation==1.0.1`` and skipped with that hint when missing.

Each trained peer is saved as an exported-bot bundle (``model.onnx`` + ``manifest.json``, the layout
of :mod:`agents.export`): ``obs`` (batch, 42) -> ``logits`` (batch, 12) whose argmax is the peer's
greedy command (BC: the policy's logits; CQL: its Q-values). So every peer plays through
:class:`agents.onnx_policy.OnnxPolicy` in the tournament and anywhere a bot path goes, and loading
never unpickles: d3rlpy's own ``save_model`` / ``.d3`` files are pickles and are never written or read.
(d3rlpy's ``save_policy("x.onnx")`` exports the *greedy action id*, not scores, so the torch module
is exported here with the same exporter as our BC bots instead.)

d3rlpy imports the unmaintained ``gym`` package, which prints a banner, and logs every step through
structlog; :func:`import_d3rlpy` silences both for our users.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import logging
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from agents.artifacts import atomic_write_text, write_folder
from agents.export import interface_spec, json_safe, model_entry, timing_spec, write_onnx
from agents.onnx_policy import FORMAT, FORMAT_VERSION, MODEL_FILES
from envs.actions import NUM_ACTIONS
from envs.observation import OBS_DIM
from envs.seeding import derived_seed

D3RLPY_PEERS = ("d3rlpy_bc", "d3rlpy_cql")
IMITATION_PEER = "imitation_bc"
PEERS = (*D3RLPY_PEERS, IMITATION_PEER)
IMITATION_INSTALL = "pip install --no-deps imitation==1.0.1"


@dataclass
class PeerSettings:
    """How long and how each peer trains (``peers.training`` in ``conf/peers.yaml``)."""

    steps: int = 5_000  # gradient steps per peer (d3rlpy: ~5 min each on 2 busy CPU cores)
    batch_size: int = 256
    bc_learning_rate: float = 1e-3  # d3rlpy DiscreteBC and imitation BC
    cql_learning_rate: float = 6.25e-5  # d3rlpy DiscreteCQL's default
    cql_alpha: float = 1.0  # weight of CQL's conservative term
    gamma: float = 0.97  # per frame: a horizon of half a second, as the off-policy evaluation uses
    target_update_interval: int = 1000  # CQL: steps between target-network copies
    hidden_sizes: list[int] = field(default_factory=lambda: [256, 256])  # our BC network's size
    # torch threads while training (0: torch's default); 1: on a busy 2-core machine a 2nd thread
    # spins waiting for a core and training gets several times slower; not part of the result
    threads: int = 1


# ---- quiet imports ---------------------------------------------------------------------------------
@contextlib.contextmanager
def _quiet_import() -> Iterator[None]:
    """Swallow what importing an old-gym library prints (the "Gym has been unmaintained" banner)."""
    sink = io.StringIO()
    with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def import_d3rlpy() -> Any:
    """``d3rlpy``, imported without the gym banner and with its per-step structlog output off."""
    with _quiet_import():
        d3rlpy = importlib.import_module("d3rlpy")
    import structlog

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    return d3rlpy


def imitation_missing() -> str | None:
    """None when ``imitation.algorithms.bc`` imports, else one line saying why and how to install it."""
    try:
        with _quiet_import():
            importlib.import_module("imitation.algorithms.bc")
    except Exception as err:  # ImportError, or a dependency that fails at import
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        return f"imitation is not importable ({reason}); install it with: {IMITATION_INSTALL}"
    return None


# ---- training --------------------------------------------------------------------------------------
@dataclass
class PeerData:
    """What peers train on: the training split's rows as episodes (flat, in episode order)."""

    observations: np.ndarray  # [N, OBS_DIM] float32
    actions: np.ndarray  # [N] int64
    rewards: np.ndarray  # [N] float32
    terminals: np.ndarray  # [N] bool: each episode's last frame


class _Scores(nn.Module):
    """``obs -> per-command scores`` (logits or Q-values) around a peer's torch module, for export."""

    def __init__(self, forward: Any, modules: nn.Module) -> None:
        super().__init__()
        self.inner = modules
        self._forward = forward
        self.obs_dim = OBS_DIM

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self._forward(self.inner, obs)


def _bc_logits(imitator: nn.Module, obs: torch.Tensor) -> torch.Tensor:
    return imitator(obs).logits  # log-probabilities (normalised logits): the same argmax as d3rlpy's predict


def _mean_q(q_funcs: nn.Module, obs: torch.Tensor) -> torch.Tensor:
    return torch.stack([q(obs).q_value for q in q_funcs]).mean(dim=0)


def _sb3_logits(policy: nn.Module, obs: torch.Tensor) -> torch.Tensor:
    latent = policy.mlp_extractor.forward_actor(policy.extract_features(obs, policy.pi_features_extractor))
    return policy.action_net(latent)


@contextlib.contextmanager
def _threads(threads: int) -> Iterator[None]:
    previous = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def train_d3rlpy(name: str, data: PeerData, settings: PeerSettings, seed: int) -> nn.Module:
    """Train d3rlpy's ``DiscreteBC`` (``d3rlpy_bc``) or ``DiscreteCQL`` (``d3rlpy_cql``) on ``data``;
    return the module that scores commands (logits or Q-values), on CPU, in eval mode."""
    if name not in D3RLPY_PEERS:
        raise ValueError(f"unknown d3rlpy peer {name!r}; choose one of {list(D3RLPY_PEERS)}")
    d3rlpy = import_d3rlpy()
    d3rlpy.seed(derived_seed(seed, "peers", name))
    dataset = d3rlpy.dataset.MDPDataset(
        observations=data.observations, actions=data.actions.reshape(-1, 1), rewards=data.rewards,
        terminals=data.terminals.astype(np.float32), action_space=d3rlpy.constants.ActionSpace.DISCRETE,
        action_size=NUM_ACTIONS)
    encoder = d3rlpy.models.VectorEncoderFactory(hidden_units=list(settings.hidden_sizes))
    if name == "d3rlpy_bc":
        config = d3rlpy.algos.DiscreteBCConfig(
            batch_size=settings.batch_size, learning_rate=settings.bc_learning_rate, encoder_factory=encoder)
    else:
        config = d3rlpy.algos.DiscreteCQLConfig(
            batch_size=settings.batch_size, learning_rate=settings.cql_learning_rate,
            alpha=settings.cql_alpha, gamma=settings.gamma, encoder_factory=encoder,
            target_update_interval=settings.target_update_interval)
    algo = config.create(device="cuda:0" if torch.cuda.is_available() else "cpu:0")
    with _threads(settings.threads):
        algo.fit(dataset, n_steps=settings.steps, n_steps_per_epoch=settings.steps, show_progress=False,
                 save_interval=settings.steps + 1, logger_adapter=d3rlpy.logging.NoopAdapterFactory())
    modules = algo.impl.modules
    if name == "d3rlpy_bc":
        scores = _Scores(_bc_logits, modules.imitator)
    else:
        scores = _Scores(_mean_q, modules.q_funcs)
    return scores.to("cpu").eval()


def train_imitation_bc(data: PeerData, settings: PeerSettings, seed: int) -> nn.Module:
    """Train ``imitation``'s ``BC`` on ``data`` (raises ImportError with the install hint if missing)."""
    missing = imitation_missing()
    if missing is not None:
        raise ImportError(missing)
    import gymnasium as gym

    with _quiet_import():
        from imitation.algorithms import bc
        from imitation.data.types import Transitions
        from imitation.util import logger as imitation_logger
        from stable_baselines3.common import logger as sb_logger
        from stable_baselines3.common.policies import ActorCriticPolicy

    from envs.observation import observation_space

    torch.manual_seed(derived_seed(seed, "peers", IMITATION_PEER, "init"))
    obs_space, action_space = observation_space(), gym.spaces.Discrete(NUM_ACTIONS)
    next_obs = np.concatenate([data.observations[1:], data.observations[-1:]])
    transitions = Transitions(obs=data.observations, acts=data.actions, next_obs=next_obs,
                              infos=np.array([{}] * len(data.actions)), dones=data.terminals.astype(bool))
    policy = ActorCriticPolicy(obs_space, action_space, lr_schedule=lambda _: settings.bc_learning_rate,
                               net_arch=list(settings.hidden_sizes))
    quiet_logger = imitation_logger.HierarchicalLogger(sb_logger.Logger(folder=None, output_formats=[]),
                                                       format_strs=[])
    trainer = bc.BC(observation_space=obs_space, action_space=action_space, policy=policy,
                    demonstrations=transitions, batch_size=settings.batch_size,
                    rng=np.random.default_rng(derived_seed(seed, "peers", IMITATION_PEER, "batches")),
                    optimizer_kwargs={"lr": settings.bc_learning_rate}, device="cpu",
                    custom_logger=quiet_logger)
    with _threads(settings.threads), _quiet_import():
        trainer.train(n_batches=settings.steps, log_interval=settings.steps + 1, progress_bar=False)
    return _Scores(_sb3_logits, trainer.policy).to("cpu").eval()


def train_peer(name: str, data: PeerData, settings: PeerSettings, seed: int) -> nn.Module:
    """Train peer ``name`` (:data:`PEERS`) on ``data`` with ``seed``; return its scoring module."""
    if name == IMITATION_PEER:
        return train_imitation_bc(data, settings, seed)
    return train_d3rlpy(name, data, settings, seed)


# ---- the bundle ------------------------------------------------------------------------------------
def save_peer_bundle(scores: nn.Module, out: str | Path, *, name: str, provenance: dict[str, Any],
                     overwrite: bool = False) -> Path:
    """Write ``scores`` as an exported-bot bundle at ``out`` (ONNX + manifest, published whole).

    ``provenance`` should hold ``training_dataset`` (path, content hash, split, observation delay:
    :func:`evaluation.protocol.dataset_info` of the training split), which the tournament reads to
    play the bot at the delay it learned with and to score it on its own test split.
    """
    out = Path(out)
    delay = int((provenance.get("training_dataset") or {}).get("observation_delay") or 0)
    with write_folder(out, kind=FORMAT, overwrite=overwrite,
                      overwrite_hint="pass overwrite=true to replace it, or choose another out_dir") as tmp:
        with warnings.catch_warnings():  # d3rlpy's policy builds a Categorical: a tracer note, no effect
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            model_path = write_onnx(scores, tmp / MODEL_FILES["fp32"])  # type: ignore[arg-type]
        manifest = {
            "format": FORMAT, "format_version": FORMAT_VERSION, "name": name,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            **interface_spec(NUM_ACTIONS),
            "models": {"fp32": model_entry(model_path)},
            "timing": timing_spec(delay, "training dataset"),
            "peer": name,
            "provenance": json_safe(provenance),
        }
        atomic_write_text(tmp / "manifest.json", json.dumps(manifest, indent=2) + "\n")
    return out


def train_and_save(name: str, data: PeerData, settings: PeerSettings, seed: int, out: str | Path, *,
                   provenance: dict[str, Any], overwrite: bool = False) -> tuple[Path, float]:
    """Train peer ``name`` and save its bundle at ``out``; return the path and the training seconds."""
    started = time.perf_counter()
    scores = train_peer(name, data, settings, seed)
    seconds = time.perf_counter() - started
    settings_record = {k: list(v) if isinstance(v, tuple) else v for k, v in vars(settings).items()}
    path = save_peer_bundle(scores, out, name=name, overwrite=overwrite,
                            provenance={**provenance, "peer": name, "seed": seed, "settings": settings_record,
                                        "training_seconds": round(seconds, 2), "library": _library(name)})
    return path, seconds


def _library(name: str) -> dict[str, str]:
    package = "imitation" if name == IMITATION_PEER else "d3rlpy"
    try:
        from importlib.metadata import version

        return {"package": package, "version": version(package)}
    except Exception:  # an install via --target has no metadata on sys.path in some setups
        return {"package": package, "version": "unknown"}
