"""``python train.py agent=ppo agent.init_from=<BC checkpoint>``: RLlib PPO fine-tuning, top to bottom.

1. Ray: a local instance (``ray.num_cpus``) or an existing cluster (``ray.address``).
2. The algorithm: :func:`agents.rl.rllib_module.ppo_config` (the BC network inside an RLModule,
   weights verified after loading; a zero value head; a low learning rate) against an opponent
   pool (:mod:`agents.rl.league`): the reference pros and scripted bots, the perfect-skill pros and
   frozen snapshots of the learner as it improves, sampled through the batched pool vector env
   (``agent.num_envs_per_env_runner`` matches in one engine per env runner); with ``"self"`` in
   the pool (live self-play), through the multi-agent env instead (several times slower).
3. Iterations of ``algo.train()``; every ``agent.eval_every`` the learner's policy is scored like a
   BC epoch (:class:`agents.tracker.RunTracker`), every ``agent.snapshot_every`` it joins
   the league, every ``agent.rllib_checkpoint_every`` an RLlib checkpoint is written for resuming.
4. The best policy (by ``eval.best_metric``) on the test split and in fresh matches.

Runs land in ``runs/<experiment>/ppo_<start>_seed<seed>/`` next to the BC runs: ``best/`` and
``last/`` in the BC checkpoint format (so the tournament, export and play.py load them like any
bot), ``league/``, ``rllib/`` (RLlib's own checkpoint), TensorBoard events, ``results.json``.

RLlib checkpoints are pickles, and unpickling runs code. So :func:`save_rllib_checkpoint` records the
sha256 of every file it wrote in ``rllib/manifest.json`` (RLlib reads only the files it knows), and
resuming (:func:`verified_rllib_checkpoint`) copies the folder into a private temp folder, checks
every copied file against that manifest and refuses, naming the file, if one differs, is missing or
was added (or the manifest is); only the verified copy is given to ``algo.restore_from_path``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path, PurePosixPath
from typing import Any

from rich.console import Console

from agents.artifacts import (
    MANIFEST_NAME,
    RLLIB_CHECKPOINT,
    atomic_write_text,
    is_sha256,
    read_json_manifest,
    sha256_file,
    write_folder,
)
from agents.errors import CheckpointError
from agents.networks import PolicyNetwork
from agents.rl.ray_runtime import init_ray
from agents.rl.rllib_module import DEFAULT_MODULE_ID, learning_module_id, policy_network_from_algo, ppo_config
from agents.tracker import RunTracker
from envs.terminal import progress_bar


def build_algo(cfg: Any, run_dir: Path) -> Any:
    """PPO on the batched pool vector env, or on the multi-agent env when ``"self"`` is in
    ``agent.opponents`` (:func:`agents.rl.rllib_module.ppo_config`, ``env_mode="auto"``)."""
    agent = cfg.agent
    league_dir = run_dir / "league" if agent.snapshot_every > 0 else None
    env_config = {"opponents": list(agent.opponents), "league_share": agent.league_share,
                  "league_size": agent.league_size, "pfsp_power": agent.pfsp_power,
                  "league_dir": None if league_dir is None else str(league_dir)}
    config = ppo_config(agent.init_from, env_config=env_config, num_env_runners=agent.num_env_runners,
                        num_envs_per_env_runner=agent.num_envs_per_env_runner,
                        num_learners=agent.num_learners, device=agent.device,
                        hidden_sizes=agent.hidden_sizes, activation=agent.activation, seed=agent.seed,
                        lr=agent.lr, gamma=agent.gamma, lambda_=agent.gae_lambda,
                        clip_param=agent.clip_param, entropy_coeff=agent.entropy_coeff,
                        vf_loss_coeff=agent.vf_loss_coeff, num_epochs=agent.num_epochs,
                        minibatch_size=agent.minibatch_size,
                        train_batch_size_per_learner=agent.train_batch_size)
    return config.build_algo()


def env_steps(result: dict[str, Any]) -> int:
    """Lifetime env steps sampled (RLlib's counter), the x-axis of every RL curve."""
    return int(result.get("num_env_steps_sampled_lifetime")
               or result["env_runners"].get("num_env_steps_sampled_lifetime", 0))


def training_scalars(result: dict[str, Any], seconds: float, steps_this_iter: int,
                     module_id: str = DEFAULT_MODULE_ID) -> dict[str, float]:
    """RLlib's result dict -> CleanRL-style tags: ``charts/`` (returns, speed) and ``losses/``.

    ``module_id`` is the learning module (:func:`agents.rl.rllib_module.learning_module_id`); the
    return is that module's (the multi-agent env's per-module mean) or, on the single-agent vector
    env, the episode return, which is the learner's own."""
    runners = result.get("env_runners", {})
    returns = runners.get("module_episode_returns_mean", {}).get(module_id,
                                                                 runners.get("episode_return_mean"))
    learner = result.get("learners", {}).get(module_id, {})
    return {"charts/episode_return": returns, "charts/episode_length": runners.get("episode_len_mean"),
            "charts/env_steps_per_second": steps_this_iter / max(seconds, 1e-9),
            "losses/policy_loss": learner.get("policy_loss"), "losses/value_loss": learner.get("vf_loss"),
            "losses/entropy": learner.get("entropy"), "losses/kl": learner.get("mean_kl_loss"),
            "losses/explained_variance": learner.get("vf_explained_var")}


RLLIB_MANIFEST_VERSION = 1
_RESUME_REFUSED = ("refusing to resume: RLlib checkpoints are pickles, which run code when loaded, so "
                   "FightLab restores only the exact files it recorded when it wrote the checkpoint. "
                   "Start the run over (train.overwrite=true) or restore a copy of the run you wrote")


def save_rllib_checkpoint(algo: Any, run_dir: Path) -> None:
    """``algo.save_to_path`` into a fresh temp folder, then swap it in whole
    (:func:`agents.artifacts.publish_folder`): a crash never leaves half a checkpoint, and only an
    RLlib checkpoint is ever replaced. Before the swap, :func:`write_rllib_manifest` records the
    sha256 of every file in it, which resuming verifies."""
    with write_folder(run_dir / "rllib", kind=RLLIB_CHECKPOINT, overwrite=True) as tmp:
        algo.save_to_path(str(tmp.absolute()))  # pyarrow's filesystem wants an absolute path
        write_rllib_manifest(tmp)


def _entries(folder: Path) -> tuple[dict[str, Path], list[str], list[str]]:
    """Regular files (relative POSIX path -> path), folders, and anything else (links, devices)
    under ``folder``, without following links; the manifest itself is not listed."""
    files: dict[str, Path] = {}
    dirs: list[str] = []
    odd: list[str] = []
    for root, dir_names, file_names in os.walk(folder):
        for name in sorted(dir_names + file_names):
            path = Path(root) / name
            rel = path.relative_to(folder).as_posix()
            mode = path.lstat().st_mode
            if stat.S_ISDIR(mode):
                dirs.append(rel)
            elif stat.S_ISREG(mode):
                if rel != MANIFEST_NAME:
                    files[rel] = path
            else:
                odd.append(rel)
    return files, sorted(dirs), odd


def write_rllib_manifest(folder: Path) -> Path:
    """Record the sha256 and size of every file RLlib wrote in ``folder``, as ``manifest.json``
    (``"format": "rllib-checkpoint"``, so it still reads as an RLlib checkpoint), written atomically
    after the folder is complete. Returns the manifest's path."""
    folder = Path(folder)
    files, dirs, odd = _entries(folder)
    if odd:
        raise CheckpointError(f"{folder}: RLlib wrote something that is not a file or folder: {odd}")
    import ray

    manifest = {"format": RLLIB_CHECKPOINT, "format_version": RLLIB_MANIFEST_VERSION,
                "written_by": "fightlab", "ray": ray.__version__, "dirs": dirs,
                "files": {rel: {"sha256": sha256_file(path), "bytes": path.stat().st_size}
                          for rel, path in sorted(files.items())}}
    return atomic_write_text(folder / MANIFEST_NAME, json.dumps(manifest, indent=1) + "\n")


def _safe_relative(rel: Any) -> bool:
    """A manifest path that stays inside the checkpoint folder: relative, no ``..``, no empty parts."""
    if not isinstance(rel, str) or not rel or "\\" in rel or "\x00" in rel:
        return False
    parts = PurePosixPath(rel).parts
    return not PurePosixPath(rel).is_absolute() and all(p not in ("", ".", "..") for p in parts) \
        and "/".join(parts) == rel


def _read_rllib_manifest(folder: Path) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """The recorded files (relative path -> {sha256, bytes}) and folders; every flaw is a
    :class:`CheckpointError` naming the manifest."""
    manifest_path = folder / MANIFEST_NAME
    manifest = read_json_manifest(
        manifest_path, RLLIB_CHECKPOINT, CheckpointError, kind="a FightLab-written RLlib checkpoint manifest",
        missing_hint=f"the sha256 manifest FightLab writes next to every RLlib checkpoint is not there (a "
                     f"checkpoint from another tool or an older FightLab, or the file was removed); "
                     f"{_RESUME_REFUSED}")
    files, dirs = manifest.get("files"), manifest.get("dirs", [])
    if manifest.get("format_version") != RLLIB_MANIFEST_VERSION or not isinstance(files, dict) or not files \
            or not isinstance(dirs, list):
        raise CheckpointError(f"{manifest_path} is corrupt: expected format_version "
                              f"{RLLIB_MANIFEST_VERSION}, a non-empty \"files\" object and a \"dirs\" list; "
                              f"{_RESUME_REFUSED}")
    for rel, entry in files.items():
        digest = entry.get("sha256") if isinstance(entry, dict) else None
        if not _safe_relative(rel) or rel == MANIFEST_NAME or not is_sha256(digest):
            raise CheckpointError(f"{manifest_path} is corrupt: files[{rel!r}] must be a path inside the "
                                  f"checkpoint with a sha256; {_RESUME_REFUSED}")
    for rel in dirs:
        if not _safe_relative(rel):
            raise CheckpointError(f"{manifest_path} is corrupt: dirs holds {rel!r}, not a path inside the "
                                  f"checkpoint; {_RESUME_REFUSED}")
    return files, dirs


def _copy_hashed(source: Path, target: Path) -> str:
    """Copy ``source`` (not following a link) to ``target``; the sha256 of the bytes copied."""
    digest = hashlib.sha256()
    fd = os.open(source, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    with os.fdopen(fd, "rb") as src, target.open("wb") as dst:
        for block in iter(lambda: src.read(1 << 20), b""):
            digest.update(block)
            dst.write(block)
    return digest.hexdigest()


def check_rllib_checkpoint(folder: Path, copy_to: Path | None = None) -> None:
    """Verify the RLlib checkpoint ``folder`` against its ``manifest.json`` (and, with ``copy_to``,
    copy it there, hashing the bytes copied, so what is verified is exactly what is restored).

    Raises :class:`CheckpointError` naming the files that differ, are missing or were added (or a
    missing or corrupt manifest); nothing in the folder is unpickled.
    """
    folder = Path(folder)
    manifest_path = folder / MANIFEST_NAME
    recorded, recorded_dirs = _read_rllib_manifest(folder)
    files, dirs, odd = _entries(folder)
    problems = [f"{folder / rel} is not a regular file (a link or device)" for rel in odd]
    problems += [f"{folder / rel} is missing" for rel in sorted(set(recorded) - set(files))]
    problems += [f"{folder / rel} was added after the checkpoint was written"
                 for rel in sorted(set(files) - set(recorded))]
    problems += [f"{folder / rel}/ (a folder) was added after the checkpoint was written"
                 for rel in sorted(set(dirs) - set(recorded_dirs))]
    if not problems:
        for rel in recorded_dirs:
            if copy_to is not None:
                (copy_to / rel).mkdir(parents=True, exist_ok=True)
        for rel, entry in sorted(recorded.items()):
            if copy_to is not None:
                (copy_to / rel).parent.mkdir(parents=True, exist_ok=True)
                digest = _copy_hashed(files[rel], copy_to / rel)
            else:
                digest = sha256_file(files[rel])
            if digest != entry["sha256"]:
                problems.append(f"{folder / rel} differs from the sha256 recorded in {manifest_path}")
    if problems:
        shown = problems[:5] + ([f"... and {len(problems) - 5} more"] if len(problems) > 5 else [])
        raise CheckpointError(f"{folder} does not match its manifest: " + "; ".join(shown) + f". "
                              f"{_RESUME_REFUSED}")


@contextmanager
def verified_rllib_checkpoint(folder: Path) -> Iterator[Path]:
    """Yield a private copy of the RLlib checkpoint ``folder`` whose every file matched the sha256
    manifest written with it (:func:`check_rllib_checkpoint`); the copy is removed afterwards.

    Restoring from the copy, not from ``folder``, means a file swapped in after the check is never
    read: only bytes that were hashed reach RLlib's unpickler.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"train.resume=true but {folder} holds no RLlib checkpoint")
    copy = Path(tempfile.mkdtemp(prefix="fightlab-rllib-resume-"))  # mode 0700: private to this user
    try:
        check_rllib_checkpoint(folder, copy_to=copy)
        yield copy
    finally:
        shutil.rmtree(copy, ignore_errors=True)


def train_rllib(cfg: Any, run_dir: Path, tracker: RunTracker,
                state: dict[str, Any] | None = None) -> tuple[int, dict[str, Any]]:
    """RLlib PPO for ``cfg.agent.iterations``, reporting to ``tracker``; ``state`` resumes from ``last/``.

    Returns the env steps sampled and extra result fields; ``tracker.finish`` scores the best checkpoint.
    """
    agent = cfg.agent
    console = Console(stderr=True)
    # a resumed run checks its RLlib checkpoint against the recorded hashes before Ray even starts
    with nullcontext() if state is None else verified_rllib_checkpoint(run_dir / "rllib") as verified:
        init_ray(cfg.ray.address, cfg.ray.num_cpus)
        algo = build_algo(cfg, run_dir)
        if verified is not None:
            try:
                algo.restore_from_path(str(verified))  # the verified private copy, never run_dir/rllib
            except BaseException:
                algo.stop()
                raise
    try:
        if state is not None:
            console.print(f"resuming {run_dir} after iteration {state['iteration']}", soft_wrap=True)
        start_iteration, steps = (state["iteration"], state["step"]) if state else (0, 0)
        network: PolicyNetwork = policy_network_from_algo(algo)
        if state is None:
            tracker.evaluate(network, 0)  # the starting point of every curve: the BC bot (or random init)
        iterations = progress_bar(range(start_iteration, agent.iterations), desc=run_dir.name, unit="iter",
                                  enabled=cfg.train.progress, initial=start_iteration, total=agent.iterations)
        for iteration in iterations:
            start = time.perf_counter()
            result = algo.train()
            seconds = time.perf_counter() - start
            previous, steps = steps, env_steps(result)
            tracker.log_scalars(training_scalars(result, seconds, steps - previous,
                                                 learning_module_id(algo)), steps)
            number = iteration + 1
            last = number == agent.iterations
            network = policy_network_from_algo(algo)
            if agent.snapshot_every and number % agent.snapshot_every == 0:
                tracker.snapshot(network, number)
            if last or (agent.eval_every and number % agent.eval_every == 0):
                logged = tracker.evaluate(network, steps)
                iterations.set_postfix(win=f"{logged['online/win_rate']:.2f}",
                                       acc=f"{logged['offline/accuracy']:.3f}")
            if last or (agent.rllib_checkpoint_every and number % agent.rllib_checkpoint_every == 0):
                save_rllib_checkpoint(algo, run_dir)
                tracker.save_last(network, steps, {"iteration": number})
        return steps, {}
    finally:
        algo.stop()
