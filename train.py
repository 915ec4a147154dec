"""Train a bot: behaviour cloning on pro logs with class rebalancing, offline next to online metrics.

    python train.py agent=bc                                     # default dataset, naive BC
    python train.py agent=bc agent.rebalance=class_weight seed=1
    python train.py -m agent.rebalance=none,class_weight,focal,undersample seed=0,1,2
    python train.py agent.rebalance=focal train.resume=true      # continue an interrupted run
    python train.py agent=bc eval.dataset.path=data/mine         # your own logs
    python train.py agent=ppo agent.init_from=runs/bc/oversample_seed0 eval=perfect_pros   # RLlib PPO
    python train.py agent=sb3_ppo agent.init_from=runs/bc/oversample_seed0               # SB3 PPO
    python train.py agent=distill agent.teacher=<run> agent.hidden_sizes=[16]            # distillation
    tensorboard --logdir runs                                    # Custom Scalars: offline next to online

A sweep (``-m``) ends with one table over its runs (run folder, the overrides that differ, test accuracy,
balanced accuracy, win rate with its 95% interval), also written to ``sweep_summary.md`` / ``.csv`` in
the sweep folder (:class:`evaluation.run_report.SweepSummary`, ``hydra.callbacks`` in ``conf/train.yaml``).
Every run says its folder first; progress bars are live on a terminal and plain lines in a log.

Each run writes ``runs/<experiment>/<rebalance>_seed<seed>/``: TensorBoard events, ``best/`` and
``last/`` checkpoints (:mod:`agents.checkpoint`), ``results.json`` and ``results.csv``. Every
epoch logs the validation split's offline metrics (accuracy climbing...); every
``eval.every_epochs`` epochs the bot plays the protocol's opponents (...win rate flat, or not). At
the end the best checkpoint is scored on the test split and in fresh matches, and a table is printed.

The evaluation protocol (data, split, opponents, matches, seeds, observation delay, best-checkpoint
rule) is the ``eval`` group, :class:`evaluation.protocol.EvalProtocol`; every checkpoint and
``results.json`` record it with the run's fingerprint, so ``train.reuse=true`` can read a finished
run back instead of retraining it (and says what differs when it was made otherwise).

The loop below reads top to bottom (CleanRL style): data, rebalancing, model, epochs, evaluation,
checkpoints, final report; the run tracker (:class:`agents.tracker.RunTracker`, shared with the RL
trainers) keeps best/last checkpoints and writes the results. Config schemas are dataclasses in the
ConfigStore (a typo'd override fails with the closest valid key); the YAML files are
``conf/train.yaml``, ``conf/agent/`` and ``conf/eval/`` and hold only what differs from the schemas.

``agent=ppo`` and ``agent=sb3_ppo`` fine-tune a BC checkpoint with RL instead (:func:`train_rl`
prepares the run and hands over to :mod:`agents.rl.rllib_train` or :mod:`agents.rl.sb3_train`);
they share the data, the evaluation and the final report with BC (:mod:`evaluation.run_report`).

``agent=distill`` teaches a small student network a trained teacher's action distribution on the
states both visit (DAgger-style rounds, :mod:`agents.distill`; :func:`train_distill` prepares the run);
its results add the teacher, both parameter counts, ``size_ratio`` and the student's
``agreement_with_teacher`` on the test split. Distillation runs do not resume (start over instead).
"""

from __future__ import annotations

import math
import os
import random
import shlex
import shutil
import sys
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hydra
import numpy as np
import torch
import torch.nn.functional as F
from hydra.core.config_store import ConfigStore
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import MISSING, DictConfig, OmegaConf
from rich.console import Console

from agents import distill as distillation
from agents.artifacts import (
    FolderInUseError,
    StorageError,
    describe_kind,
    folder_kind,
    folder_lock,
    recover_folders_in,
)
from agents.bc import BCConfig, resolve_device
from agents.checkpoint import (
    CheckpointError,
    checkpoint_dir,
    load,
    load_network,
    load_optimizer_state,
    read_manifest,
)
from agents.distill import DistillConfig
from agents.networks import PolicyNetwork, parameter_count
from agents.rebalance import (
    SAMPLERS,
    Rebalance,
    class_counts,
    focal_loss,
    logit_adjustment,
    loss_class_weights,
    resample,
)
from agents.registry import UnknownBotError
from agents.rl.config import RLlibPPOConfig, SB3PPOConfig
from agents.rl.league import OpponentPool
from agents.rl.ray_runtime import RaySettings
from agents.rl.sb3_init import BCInitError
from agents.tracker import RunTracker, resume_state
from envs.actions import ACTION_NAMES, NUM_ACTIONS
from envs.config_checks import check_overrides_or_exit
from envs.observation import ENCODING_VERSION, OBS_DIM
from envs.seeding import derived_seed
from envs.terminal import progress_bar, report_console
from evaluation import protocol as eval_protocol
from evaluation.protocol import EvalProtocol, ProtocolError
from evaluation.run_report import SWEEP_RUN_POINTER, RunEvaluator, final_table, read_results


# ---- config schemas (conf/train.yaml, conf/agent/*.yaml and conf/eval/*.yaml extend these) ------------
@dataclass
class RunConfig:
    resume: bool = False  # continue runs/<experiment>/<run>/last (model, optimizer, epoch)
    overwrite: bool = False  # replace an existing run of the same name
    reuse: bool = False  # a finished run made the same way (same fingerprint) is read back, not retrained
    logdir: str = "runs"
    run_name: str | None = None  # default: <rebalance>_seed<seed> (BC), <agent>_<start>_seed<seed> (RL)
    keep_epoch_checkpoints: bool = False  # also keep epoch_NNN/ checkpoints (a tournament can then
    # correlate offline and online metrics across one run's checkpoints)
    torch_threads: int = 0  # 0: one per core, at most 8
    progress: bool = True


@dataclass
class TrainConfig:
    agent: Any = MISSING  # the agent group: conf/agent/{bc,ppo,sb3_ppo,distill}.yaml (BCConfig, ...)
    experiment: str = "bc"
    seed: int = 0
    eval: EvalProtocol = field(default_factory=EvalProtocol)  # the eval group: data, split, opponents
    train: RunConfig = field(default_factory=RunConfig)
    ray: RaySettings = field(default_factory=RaySettings)  # RL with RLlib: a local instance or a cluster


ConfigStore.instance().store(name="train_schema", node=TrainConfig)
ConfigStore.instance().store(group="agent", name="bc_schema", node=BCConfig)
ConfigStore.instance().store(group="agent", name="ppo_schema", node=RLlibPPOConfig)
ConfigStore.instance().store(group="agent", name="sb3_ppo_schema", node=SB3PPOConfig)
ConfigStore.instance().store(group="agent", name="distill_schema", node=DistillConfig)

# settings that say where and how a run is kept, not what it computes: left out of its fingerprint
NOT_IN_FINGERPRINT = ("resume", "overwrite", "reuse", "logdir", "run_name", "torch_threads", "progress")


class TrainError(RuntimeError):
    """A run that cannot start: bad config value, run folder in the way, resume without a checkpoint."""


# ---- the run folder and what it records ------------------------------------------------------------
def default_run_name(cfg: TrainConfig, init_label: str = "scratch") -> str:
    """A run's folder name unless ``train.run_name`` says otherwise: ``<rebalance>_seed<seed>`` (BC),
    ``<agent>_<start>_seed<seed>`` (RL; the start is the BC checkpoint's rebalancing, read from its
    manifest, or ``scratch``), ``distill_h<sizes>_seed<seed>`` (distillation)."""
    agent = cfg.agent
    if isinstance(agent, DistillConfig):
        return f"distill_h{'x'.join(str(h) for h in agent.hidden_sizes) or '0'}_seed{cfg.seed}"
    if isinstance(agent, BCConfig):
        return f"{Rebalance(agent.rebalance).value}_seed{cfg.seed}"
    return f"{agent.name}_{init_label}_seed{cfg.seed}"


def run_directory(cfg: TrainConfig, default_name: str) -> Path:
    return Path(cfg.train.logdir).absolute() / cfg.experiment / (cfg.train.run_name or default_name)


def run_fingerprint(cfg: TrainConfig, evaluator: RunEvaluator,
                    parent: dict[str, Any] | None) -> dict[str, Any]:
    """What this run's result depends on (:func:`evaluation.protocol.fingerprint`)."""
    config = OmegaConf.to_container(OmegaConf.structured(cfg), enum_to_str=True)
    config.pop("ray")
    config.pop("experiment")
    config["train"] = {k: v for k, v in config["train"].items() if k not in NOT_IN_FINGERPRINT}
    return eval_protocol.fingerprint(protocol=evaluator.record, config=config, parent=parent)


def _is_run_folder(path: Path) -> bool:
    return any((path / name).exists() for name in ("config.yaml", "results.json", "best", "last")) \
        or any(path.glob("events.out.tfevents.*"))


def prepare_run_directory(run_dir: Path, run: RunConfig,
                          fingerprint: dict[str, Any]) -> dict[str, Any] | None:
    """Make ``run_dir`` ready; return the results of a finished identical run to reuse, else None.

    An existing run is continued (``resume``), reused (``reuse``: only a finished run with the same
    fingerprint) or replaced (``overwrite``) on request only; a folder that holds no checkpoint (a
    run that failed before its first one) is started over.
    """
    if not run_dir.exists():
        run_dir.mkdir(parents=True)
        return None
    recover_folders_in(run_dir)  # checkpoints a killed run left half swapped in; its temp folders
    kind = folder_kind(run_dir)
    if kind is not None:
        raise TrainError(f"{run_dir} is {describe_kind(kind)} (\"format\": {kind!r}), not a training run: "
                         "it is left alone; choose another experiment= / train.run_name=")
    if not _is_run_folder(run_dir) and any(run_dir.iterdir()):
        raise TrainError(f"{run_dir} exists and is not a training run (no config.yaml, checkpoints or "
                         "TensorBoard events): it is left alone; choose another experiment= / "
                         "train.run_name=")
    results = read_results(run_dir)
    if run.reuse and results is not None:
        differs = eval_protocol.differences(results.get("fingerprint"), fingerprint)
        if not differs:
            return results
        if not run.overwrite:
            raise TrainError(f"{run_dir} holds a finished run made differently:\n  " + "\n  ".join(differs)
                             + "\npass train.overwrite=true to replace it, or choose another experiment= / "
                             "train.run_name=")
    if run.resume:
        return None
    has_checkpoint = any((run_dir / name / "manifest.json").is_file() for name in ("best", "last"))
    if has_checkpoint and results is not None and not run.overwrite:
        raise TrainError(f"{run_dir} already holds a finished run: pass train.overwrite=true to replace it, "
                         "train.reuse=true to read it back if it was made the same way, or choose another "
                         "experiment= / train.run_name=")
    if has_checkpoint and not (run.overwrite or run.reuse):
        raise TrainError(f"{run_dir} holds an unfinished run: pass train.resume=true to continue it, "
                         "train.overwrite=true to start it over, or choose another experiment= / "
                         "train.run_name=")
    shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True)
    return None


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def check_config(cfg: TrainConfig) -> None:
    agent: BCConfig = cfg.agent
    for key in ("epochs", "batch_size"):
        if getattr(agent, key) < 1:
            raise TrainError(f"agent.{key} must be >= 1, got {getattr(agent, key)}")
    if agent.lr <= 0:
        raise TrainError(f"agent.lr must be > 0, got {agent.lr}")


def make_evaluator(cfg: TrainConfig) -> RunEvaluator:
    """The data split by match (:func:`evaluation.protocol.load_splits`) and the protocol applied to it."""
    eval_protocol.check(cfg.eval)
    splits, _ = eval_protocol.load_splits(cfg.eval.dataset)
    return RunEvaluator(cfg.eval, splits, reference_distribution=class_counts(splits["train"].labels),
                        progress=cfg.train.progress)


def metadata(evaluator: RunEvaluator, fingerprint: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """What every checkpoint of a run records: the protocol, the fingerprint, the dataset."""
    dataset = evaluator.record["dataset"]
    return {**extra, "dataset": dataset, "protocol": evaluator.record, "fingerprint": fingerprint,
            "observation_delay": evaluator.observation_delay,
            "observation_encoding_version": ENCODING_VERSION}


def open_run(cfg: TrainConfig, held: ExitStack, run_dir: Path, parent: dict[str, Any] | None
             ) -> tuple[RunEvaluator, dict[str, Any], dict[str, Any] | None]:
    """Lock ``run_dir`` for this process (released with ``held``), build the evaluator and the run's
    fingerprint, and make the folder ready; the third item is a finished identical run to reuse.

    Says where the run goes first, before anything slow (loading the data, the first epoch), and, in
    a Hydra sweep, notes it in the job's folder for the sweep's summary
    (:class:`evaluation.run_report.SweepSummary`)."""
    Console(stderr=True).print(f"run folder: {run_dir}", soft_wrap=True, highlight=False)
    note_sweep_run(run_dir)
    held.enter_context(folder_lock(run_dir, "training run"))  # one process per run folder
    evaluator = make_evaluator(cfg)
    fingerprint = run_fingerprint(cfg, evaluator, parent)
    previous = prepare_run_directory(run_dir, cfg.train, fingerprint)
    if previous is None:
        torch.set_num_threads(cfg.train.torch_threads or min(os.cpu_count() or 1, 8))
    return evaluator, fingerprint, previous


def note_sweep_run(run_dir: Path) -> None:
    """In a multirun, write ``run_dir`` into the Hydra job's folder, where
    :class:`evaluation.run_report.SweepSummary` (``hydra.callbacks`` in ``conf/train.yaml``) finds
    each job's run and its ``results.json``."""
    if HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN:
        job_dir = Path(HydraConfig.get().runtime.output_dir)
        job_dir.mkdir(parents=True, exist_ok=True)
        (job_dir / SWEEP_RUN_POINTER).write_text(f"{run_dir}\n", encoding="utf-8")


def reused(run_dir: Path, results: dict[str, Any], step_name: str) -> dict[str, Any]:
    Console(stderr=True).print(f"{run_dir} is up to date (a finished run made the same way): reusing its "
                               "results", soft_wrap=True)
    report_console().print(final_table(f"{results['experiment']}/{results['run']}", results,
                                       step_name=step_name))
    return results


# ---- the training run -----------------------------------------------------------------------------
def train(cfg: TrainConfig) -> dict[str, Any]:
    """One BC run, top to bottom; returns the final results (also in ``results.json``)."""
    with ExitStack() as held:  # the run folder's lock, taken below, is released however the run ends
        return _train_bc(cfg, held)


def _train_bc(cfg: TrainConfig, held: ExitStack) -> dict[str, Any]:
    check_config(cfg)
    agent: BCConfig = cfg.agent
    rebalance = Rebalance(agent.rebalance)
    run_dir = run_directory(cfg, default_run_name(cfg))
    evaluator, fingerprint, previous = open_run(cfg, held, run_dir, None)
    if previous is not None:
        return reused(run_dir, previous, "epoch")
    device = resolve_device(agent.device)
    seed_everything(agent.seed)

    # data: split by match; rebalancing statistics come from the training split only
    x_train, y_train = evaluator.splits["train"].observations, evaluator.splits["train"].labels
    counts = class_counts(y_train)
    weights = loss_class_weights(rebalance, counts, beta=agent.effective_number_beta,
                                 focal_weights=agent.focal_weights)
    weight_tensor = None if weights is None else torch.as_tensor(weights, dtype=torch.float32, device=device)
    adjustment = logit_adjustment(counts, agent.logit_adjust_tau) \
        if rebalance is Rebalance.logit_adjust else None

    # model, optimiser, and the tracker (evaluation, best/last checkpoints, final report)
    network = PolicyNetwork(OBS_DIM, NUM_ACTIONS, agent.hidden_sizes, agent.activation).to(device)
    optimizer = torch.optim.AdamW(network.parameters(), lr=agent.lr, weight_decay=agent.weight_decay)
    agent_record = OmegaConf.to_container(OmegaConf.structured(agent), enum_to_str=True)
    state = resume(run_dir, network, optimizer, agent_record, fingerprint) if cfg.train.resume else None
    start_epoch = state["epoch"] if state else 0
    if state:
        Console(stderr=True).print(f"resuming {run_dir} after epoch {start_epoch}", soft_wrap=True)
    train_counts = dict(zip(ACTION_NAMES, counts.tolist(), strict=True))
    tracker = RunTracker(run_dir, name=f"{cfg.experiment}/{run_dir.name}", evaluator=evaluator,
                         metadata=metadata(evaluator, fingerprint, rebalance=agent_record,
                                           train_class_counts=train_counts),
                         config_yaml=OmegaConf.to_yaml(OmegaConf.structured(cfg)), resume_state=state,
                         logit_adjustment=adjustment, device=device)
    global_step = state["global_step"] if state else 0

    smote_rows = None  # SMOTE-NC is computed once (k-NN per class); random samplers every epoch
    epochs = progress_bar(range(start_epoch, agent.epochs), desc=run_dir.name, unit="epoch",
                          enabled=cfg.train.progress, initial=start_epoch, total=agent.epochs)
    for epoch in epochs:
        # 1. the epoch's training rows (a fresh resample for the random samplers)
        if rebalance is Rebalance.smote:
            if smote_rows is None:
                smote_rows = resample(rebalance, x_train, y_train, seed=agent.seed,
                                      minority_ratio=agent.oversample_ratio,
                                      k_neighbors=agent.smote_k_neighbors)
            x_epoch, y_epoch = smote_rows
        elif rebalance in SAMPLERS:
            x_epoch, y_epoch = resample(rebalance, x_train, y_train,
                                        seed=derived_seed(agent.seed, "resample", epoch),
                                        no_action_share=agent.undersample_no_action_share,
                                        minority_ratio=agent.oversample_ratio)
        else:
            x_epoch, y_epoch = x_train, y_train
        if rebalance in SAMPLERS or epoch == start_epoch:  # np.array copies: the arrays may be read-only
            x = torch.from_numpy(np.array(x_epoch, dtype=np.float32)).to(device)
            y = torch.from_numpy(np.array(y_epoch, dtype=np.int64)).to(device)

        # 2. one pass of minibatch gradient descent
        network.train()
        shuffle = torch.Generator().manual_seed(derived_seed(agent.seed, "shuffle", epoch))
        order = torch.randperm(len(y), generator=shuffle).to(device)
        start, loss_sum = time.perf_counter(), torch.zeros((), device=device)
        for first in range(0, len(y), agent.batch_size):
            batch = order[first:first + agent.batch_size]
            logits = network(x[batch])
            if rebalance is Rebalance.focal:
                loss = focal_loss(logits, y[batch], agent.focal_gamma, weight_tensor)
            else:
                loss = F.cross_entropy(logits, y[batch], weight=weight_tensor)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            loss_sum += loss.detach()
            global_step += 1
        seconds = time.perf_counter() - start
        steps = math.ceil(len(y) / agent.batch_size)
        tracker.log_scalars({"train/loss": float(loss_sum) / steps,
                             "charts/samples_per_second": len(y) / seconds,
                             "charts/epoch_seconds": seconds, "charts/epoch_rows": len(y)}, epoch + 1)

        # 3. offline metrics on the validation split (every epoch) and 4. online metrics against the
        # protocol's opponents (every k epochs and after the last); the tracker keeps best/ and last/
        every = cfg.eval.every_epochs
        play = epoch + 1 == agent.epochs or bool(every and (epoch + 1) % every == 0)
        keep_as = f"epoch_{epoch + 1:03d}" if cfg.train.keep_epoch_checkpoints else None
        logged = tracker.evaluate(network, epoch + 1, play=play, keep_as=keep_as)
        epochs.set_postfix(loss=f"{float(loss_sum) / steps:.3f}", acc=f"{logged['offline/accuracy']:.3f}",
                           bal=f"{logged['offline/balanced_accuracy']:.3f}",
                           win=f"{logged['online/win_rate']:.2f}" if "online/win_rate" in logged else "-")
        tracker.save_last(network, epoch + 1, {"epoch": epoch + 1, "global_step": global_step},
                          optimizer=optimizer)

    # 5. final report: the best checkpoint on the test split and in fresh matches
    head = {"experiment": cfg.experiment, "run": run_dir.name, "agent": "bc", "rebalance": rebalance.value,
            "seed": cfg.seed, "best_metric": cfg.eval.best_metric,
            "dataset": evaluator.record["dataset"]["frames_sha256"], "fingerprint": fingerprint}
    return tracker.finish(head, {**agent_record, "seed": cfg.seed}, agent.epochs)


def train_rl(cfg: TrainConfig) -> dict[str, Any]:
    """``agent=ppo`` (RLlib) or ``agent=sb3_ppo``: fine-tune a BC checkpoint (or start from scratch)."""
    with ExitStack() as held:  # the run folder's lock, taken below, is released however the run ends
        return _train_rl(cfg, held)


def _train_rl(cfg: TrainConfig, held: ExitStack) -> dict[str, Any]:
    agent = cfg.agent
    for key in ("lr", "minibatch_size", "num_epochs"):
        if getattr(agent, key) <= 0:
            raise TrainError(f"agent.{key} must be > 0, got {getattr(agent, key)}")
    if agent.name == "ppo" and agent.minibatch_size > agent.train_batch_size:
        raise TrainError(f"agent.minibatch_size ({agent.minibatch_size}) must be <= agent.train_batch_size "
                         f"({agent.train_batch_size})")
    OpponentPool(agent.opponents)  # an unknown bot name fails now, not inside an RLlib worker
    init_label, parent = "scratch", None
    if agent.init_from is not None:
        folder = checkpoint_dir(agent.init_from)
        manifest = read_manifest(folder)  # a missing or corrupt checkpoint fails here, naming the file
        agent.init_from = str(folder.resolve())
        init_label = str(manifest.get("rebalance", {}).get("rebalance") or manifest.get("rl", {}).get("name")
                         or manifest.get("distill", {}).get("name") or "bc")
        parent = {"path": agent.init_from, "weights_sha256": manifest["weights"]["sha256"]}
    run_dir = run_directory(cfg, default_run_name(cfg, init_label))
    evaluator, fingerprint, previous = open_run(cfg, held, run_dir, parent)
    if previous is not None:
        return reused(run_dir, previous, "env step")
    seed_everything(agent.seed)
    state = None
    if cfg.train.resume:
        if not (run_dir / "last" / "manifest.json").is_file():
            raise TrainError(f"train.resume=true but {run_dir / 'last'} holds no checkpoint; start the run "
                             "without train.resume")
        state = resume_state(run_dir)
    agent_record = OmegaConf.to_container(OmegaConf.structured(agent), enum_to_str=True)
    tracker = RunTracker(run_dir, name=f"{cfg.experiment}/{run_dir.name}", evaluator=evaluator,
                         metadata=metadata(evaluator, fingerprint, rl=agent_record, init=init_label,
                                           parent=parent),
                         config_yaml=OmegaConf.to_yaml(OmegaConf.structured(cfg)), resume_state=state,
                         step_name="env step")
    if agent.name == "ppo":
        from agents.rl.rllib_train import train_rllib

        steps, extra = train_rllib(cfg, run_dir, tracker, state)
    else:
        from agents.rl.sb3_train import train_sb3

        if state is not None:
            raise TrainError("train.resume is supported by agent=ppo (RLlib checkpoints), not agent=sb3_ppo")
        steps, extra = train_sb3(cfg, run_dir, tracker)
    head = {"experiment": cfg.experiment, "run": run_dir.name, "agent": agent.name, "init": init_label,
            "seed": cfg.seed, "best_metric": cfg.eval.best_metric, "env_steps": steps, **extra,
            "dataset": evaluator.record["dataset"]["frames_sha256"], "fingerprint": fingerprint}
    return tracker.finish(head, {"agent": agent.name, "init": init_label, "lr": agent.lr, "seed": cfg.seed},
                          steps)


def train_distill(cfg: TrainConfig) -> dict[str, Any]:
    """``agent=distill``: teach a small student a trained teacher's actions (:mod:`agents.distill`)."""
    with ExitStack() as held:  # the run folder's lock, taken below, is released however the run ends
        return _train_distill(cfg, held)


def _train_distill(cfg: TrainConfig, held: ExitStack) -> dict[str, Any]:
    agent: DistillConfig = cfg.agent
    if cfg.train.resume:
        raise TrainError("agent=distill cannot resume (its aggregated dataset is not saved): start the run "
                         "over with train.overwrite=true")
    if agent.teacher is None:
        raise TrainError("agent=distill needs a teacher: pass agent.teacher=<a trained bot's run folder, "
                         "best/ or manifest.json>, e.g. agent.teacher=runs/teachers/ppo_h256x256_seed0")
    distillation.check_config(agent)
    try:
        folder = checkpoint_dir(agent.teacher)
        manifest = read_manifest(folder)  # a missing or corrupt checkpoint fails here, naming the file
    except CheckpointError as err:
        raise TrainError(f"agent.teacher={agent.teacher}: {err}") from None
    agent.teacher = str(folder.resolve())
    parent = {"path": agent.teacher, "weights_sha256": manifest["weights"]["sha256"]}
    run_dir = run_directory(cfg, default_run_name(cfg))
    evaluator, fingerprint, previous = open_run(cfg, held, run_dir, parent)
    if previous is not None:
        return reused(run_dir, previous, "round")
    device = resolve_device(agent.device)
    seed_everything(agent.seed)
    teacher = load(folder, device)
    teacher_record = {**parent, "name": teacher.name, "architecture": manifest["architecture"],
                      "parameters": parameter_count(teacher.network)}
    agent_record = OmegaConf.to_container(OmegaConf.structured(agent), enum_to_str=True)
    tracker = RunTracker(run_dir, name=f"{cfg.experiment}/{run_dir.name}", evaluator=evaluator,
                         metadata=metadata(evaluator, fingerprint, distill=agent_record,
                                           teacher=teacher_record, parent=parent),
                         config_yaml=OmegaConf.to_yaml(OmegaConf.structured(cfg)), device=device,
                         step_name="round")
    _, summary = distillation.train_distill(agent, tracker, teacher,
                                            observation_delay=evaluator.observation_delay,
                                            validation_observations=evaluator.splits["val"].observations,
                                            progress=cfg.train.progress, desc=run_dir.name)

    # the final report: the best student's agreement with the teacher on the test split, and its size
    best, _ = load_network(run_dir / "best", device)
    student_parameters = parameter_count(best)
    head = {"experiment": cfg.experiment, "run": run_dir.name, "agent": "distill", "seed": cfg.seed,
            "best_metric": cfg.eval.best_metric, "rounds": agent.rounds, "env_steps": summary["frames"],
            "teacher": agent.teacher, "teacher_parameters": teacher_record["parameters"],
            "student_parameters": student_parameters,
            "size_ratio": teacher_record["parameters"] / student_parameters,
            "agreement_with_teacher": distillation.teacher_agreement(best, teacher,
                                                                     evaluator.splits["test"].observations),
            "dataset": evaluator.record["dataset"]["frames_sha256"], "fingerprint": fingerprint}
    hparams = {"agent": "distill", "hidden_sizes": agent.hidden_sizes, "lr": agent.lr, "rounds": agent.rounds,
               "temperature": agent.temperature, "beta_decay": agent.beta_decay, "seed": cfg.seed}
    return tracker.finish(head, hparams, agent.rounds)


def resume(run_dir: Path, network: PolicyNetwork, optimizer: torch.optim.Optimizer,
           agent_record: dict[str, Any], fingerprint: dict[str, Any]) -> dict[str, Any]:
    """Load ``run_dir/last`` into the model and optimiser; return its training state."""
    last = run_dir / "last"
    if not (last / "manifest.json").is_file():
        raise TrainError(f"train.resume=true but {last} holds no checkpoint; start the run without "
                         "train.resume")
    manifest = read_manifest(last)
    saved = manifest.get("rebalance", {})
    changed = {k: (saved.get(k), v) for k, v in agent_record.items()
               if k not in ("epochs", "device") and saved.get(k) != v}
    if changed:
        raise TrainError(f"{last} was trained with other agent settings {changed} (saved, now); resume "
                         "with the same settings or start a new run")
    if (manifest.get("protocol") or {}) != fingerprint["protocol"]:
        differs = eval_protocol.differences({"protocol": manifest.get("protocol")},
                                            {"protocol": fingerprint["protocol"]}, check_code=False)
        raise TrainError(f"{last} was trained under another evaluation protocol ({'; '.join(differs)}); "
                         "resume with the same eval settings or start a new run")
    loaded, _ = load_network(last, next(network.parameters()).device)
    network.load_state_dict(loaded.state_dict())
    optimizer.load_state_dict(load_optimizer_state(last))
    return dict(manifest["training_state"])


@hydra.main(version_base=None, config_path="conf", config_name="train")
def main(cfg: DictConfig) -> None:
    config: TrainConfig = OmegaConf.to_object(cfg)
    try:
        if config.agent.name == "bc":
            train(config)
        elif config.agent.name == "distill":
            train_distill(config)
        else:
            train_rl(config)
    except (TrainError, CheckpointError, ProtocolError, FileNotFoundError, ValueError, BCInitError,
            UnknownBotError, StorageError, FolderInUseError) as err:
        print(f"train.py: {err}", file=sys.stderr)
        raise SystemExit(1) from None
    except KeyboardInterrupt as err:  # Ctrl-C: one line saying what is saved and how to go on
        print(interrupted_message(config, getattr(err, "folder", None)), file=sys.stderr)
        raise SystemExit(130) from None


def interrupted_message(config: TrainConfig, run_dir: Path | None) -> str:
    """What a Ctrl-C'd run left in ``run_dir`` (its ``last/`` checkpoint) and the command that goes on."""
    overrides = [a for a in sys.argv[1:] if not a.startswith(("train.resume=", "+train.resume="))]
    rerun = shlex.join(["python", "train.py", *overrides])
    if run_dir is None:
        return f"interrupted before the run started; nothing was saved: rerun {rerun}"
    try:
        step = read_manifest(run_dir / "last").get("step")
    except CheckpointError:
        return f"interrupted: {run_dir} has no checkpoint yet; rerun {rerun} to start it over"
    unit = {"bc": "epoch", "distill": "round"}.get(config.agent.name, "env step")
    if config.agent.name in ("sb3_ppo", "distill"):  # these do not resume (train_rl, train_distill say so)
        return (f"interrupted: {run_dir} has last/ at {unit} {step}; agent={config.agent.name} cannot "
                f"resume: start it over with {rerun} train.overwrite=true")
    return f"interrupted: {run_dir} has last/ at {unit} {step}; resume with {rerun} train.resume=true"


if __name__ == "__main__":
    check_overrides_or_exit("train")  # bad overrides fail here, naming the valid keys
    main()

