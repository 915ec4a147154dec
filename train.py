"""Train a bot: behaviour cloning on pro logs with class rebalancing, offline next to online metrics.

    python train.py agent=bc                                     # default dataset, naive BC
    python train.py agent=bc agent.rebalance=class_weight seed=1
    python train.py -m agent.rebalance=none,class_weight,focal,undersample seed=0,1,2
    python train.py agent.rebalance=focal train.resume=true      # continue an interrupted run
    python train.py agent=ppo agent.init_from=runs/bc/oversample_seed0       # RLlib PPO from a BC bot
    python train.py agent=sb3_ppo agent.init_from=runs/bc/oversample_seed0   # stable-baselines3 PPO
    tensorboard --logdir runs

Each run writes ``runs/<experiment>/<rebalance>_seed<seed>/``: TensorBoard events, ``best/`` and
``last/`` checkpoints (:mod:`agents.checkpoint`), ``results.json`` and ``results.csv``. Every
epoch logs the validation split's offline metrics (accuracy climbing...); every
``eval.every_epochs`` epochs the bot plays the reference pool (...win rate flat, or not). At the
end the best checkpoint is scored on the test split and in fresh matches, and a table is printed.

The loop below reads top to bottom (CleanRL style): data, rebalancing, model, epochs, evaluation,
checkpoints, final report. Config schemas are dataclasses in the ConfigStore (a typo'd override
fails with the list of valid keys); the YAML files are ``conf/train.yaml`` and ``conf/agent/``.

``agent=ppo`` and ``agent=sb3_ppo`` fine-tune a BC checkpoint with RL instead (:func:`train_rl`
prepares the run and hands over to :mod:`agents.rl.rllib_train` or :mod:`agents.rl.sb3_train`);
they share the data, the evaluation and the final report with BC (:mod:`evaluation.run_report`).
"""

from __future__ import annotations

import math
import os
import random
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hydra
import numpy as np
import torch
import torch.nn.functional as F
from hydra.core.config_store import ConfigStore
from hydra.utils import to_absolute_path
from omegaconf import MISSING, DictConfig, OmegaConf
from rich.console import Console
from torch.utils.tensorboard import SummaryWriter
from tqdm.auto import tqdm

from agents.bc import BCConfig, BCPolicy, resolve_device
from agents.checkpoint import (
    CheckpointError,
    checkpoint_dir,
    load_network,
    load_optimizer_state,
    read_manifest,
    save_checkpoint,
)
from agents.networks import PolicyNetwork
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
from agents.rl.sb3_init import BCInitError
from envs.actions import ACTION_NAMES, NUM_ACTIONS
from envs.atomic_files import atomic_write_text
from envs.observation import ENCODING_VERSION, OBS_DIM
from evaluation.offline import SCALAR_METRICS
from evaluation.online import REFERENCE_POOL
from evaluation.ray_runtime import RaySettings
from evaluation.run_report import (
    TIE_BREAK,
    final_table,
    is_better,
    log_evaluation,
    score_final,
    write_results,
)


# ---- config schemas (conf/train.yaml, conf/agent/bc.yaml extend these) ----------------------------
@dataclass
class DatasetConfig:
    path: str | None = None  # a dataset folder; null: the default dataset (generated on first use)
    split_fractions: list[float] = field(default_factory=lambda: [0.8, 0.1, 0.1])  # train, val, test
    split_seed: int = 0  # splits are by match, fixed by this seed (not by the training seed)


@dataclass
class EvalConfig:
    every_epochs: int = 2  # online evaluation every k epochs and after the last; 0: only after the last
    matches_per_opponent: int = 24  # during training (selection of the best checkpoint)
    final_matches_per_opponent: int = 100  # the reported win rate, with fresh match seeds
    opponents: list[str] = field(default_factory=lambda: list(REFERENCE_POOL))
    seed: int = 1000  # matches during training
    final_seed: int = 2000  # final matches: not the ones the best checkpoint was selected on


@dataclass
class RunConfig:
    resume: bool = False  # continue runs/<experiment>/<run>/last (model, optimizer, epoch)
    overwrite: bool = False  # delete an existing run folder of the same name and start over
    logdir: str = "runs"
    run_name: str | None = None  # default: <rebalance>_seed<seed>
    best_metric: str = "online/win_rate"  # any logged tag, e.g. offline/balanced_accuracy
    keep_epoch_checkpoints: bool = False  # also keep epoch_NNN/ checkpoints (a tournament can then
    # correlate offline and online metrics across one run's checkpoints)
    torch_threads: int = 0  # 0: one per core, at most 8
    progress: bool = True


@dataclass
class TrainConfig:
    agent: Any = MISSING  # the agent group: conf/agent/{bc,ppo,sb3_ppo}.yaml (BCConfig, RLlibPPOConfig...)
    experiment: str = "bc"
    seed: int = 0
    dataset: DatasetConfig = field(default_factory=DatasetConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    train: RunConfig = field(default_factory=RunConfig)
    ray: RaySettings = field(default_factory=RaySettings)  # RL with RLlib: a local instance or a cluster


ConfigStore.instance().store(name="train_schema", node=TrainConfig)
ConfigStore.instance().store(group="agent", name="bc_schema", node=BCConfig)
ConfigStore.instance().store(group="agent", name="ppo_schema", node=RLlibPPOConfig)
ConfigStore.instance().store(group="agent", name="sb3_ppo_schema", node=SB3PPOConfig)


class TrainError(RuntimeError):
    """A run that cannot start: bad config value, run folder in the way, resume without a checkpoint."""


# ---- small helpers --------------------------------------------------------------------------------
def run_directory(cfg: TrainConfig, default_name: str | None = None) -> Path:
    name = cfg.train.run_name or default_name or f"{Rebalance(cfg.agent.rebalance).value}_seed{cfg.seed}"
    return Path(to_absolute_path(cfg.train.logdir)) / cfg.experiment / name


def prepare_run_directory(run_dir: Path, run: RunConfig) -> None:
    """Create ``run_dir``; an existing run is only continued (resume) or deleted (overwrite) on request."""
    if run_dir.exists() and not run.resume:
        if not run.overwrite:
            raise TrainError(f"{run_dir} already exists: pass train.resume=true to continue it, "
                             "train.overwrite=true to delete it and start over, or choose another "
                             "experiment= / train.run_name=")
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)


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
    if cfg.eval.every_epochs < 0 or cfg.eval.matches_per_opponent < 1 \
            or cfg.eval.final_matches_per_opponent < 1:
        raise TrainError("eval.every_epochs must be >= 0 and eval.*matches_per_opponent >= 1")
    if not cfg.eval.opponents:
        raise TrainError("eval.opponents is empty: name at least one bot")
    if cfg.train.best_metric.split("/")[0] not in ("offline", "online"):
        raise TrainError(f"train.best_metric must be an offline/... or online/... tag, got "
                         f"{cfg.train.best_metric!r}")


def load_data(cfg: TrainConfig) -> dict[str, Any]:
    """The dataset split by match: numpy arrays per split plus the manifest."""
    from datasets.generate import ensure_default_dataset
    from datasets.load import load_dataset, split_by_match

    dataset = ensure_default_dataset() if cfg.dataset.path is None \
        else load_dataset(to_absolute_path(cfg.dataset.path))
    splits = split_by_match(dataset, cfg.dataset.split_fractions, seed=cfg.dataset.split_seed)
    data: dict[str, Any] = {"manifest": dataset.manifest, "path": str(dataset.path),
                            # the reaction delay the logs were recorded with (None for imported logs):
                            # checkpoints record it so an exported bot tells the engine what to feed it
                            "observation_delay": (dataset.manifest.get("generator") or {}).get(
                                "observation_delay")}
    for name, split in splits.items():
        if split.num_frames == 0:
            raise TrainError(f"the {name} split of {dataset.path} is empty ({split.num_matches} matches); "
                             "use a larger dataset or other dataset.split_fractions")
        data[name] = split.to_numpy()
    return data


# ---- the training run -----------------------------------------------------------------------------
def train(cfg: TrainConfig) -> dict[str, Any]:
    """One BC run, top to bottom; returns the final results (also in ``results.json``)."""
    check_config(cfg)
    agent: BCConfig = cfg.agent
    rebalance = Rebalance(agent.rebalance)
    run_dir = run_directory(cfg)
    console = Console(stderr=True)
    prepare_run_directory(run_dir, cfg.train)
    threads = cfg.train.torch_threads or min(os.cpu_count() or 1, 8)
    torch.set_num_threads(threads)
    device = resolve_device(agent.device)
    seed_everything(agent.seed)

    # data: split by match; rebalancing statistics come from the training split only
    data = load_data(cfg)
    x_train, y_train = data["train"]
    x_val, y_val = data["val"]
    x_test, y_test = data["test"]
    counts = class_counts(y_train)
    weights = loss_class_weights(rebalance, counts, beta=agent.effective_number_beta,
                                 focal_weights=agent.focal_weights)
    weight_tensor = None if weights is None else torch.as_tensor(weights, dtype=torch.float32, device=device)
    adjustment = logit_adjustment(counts, agent.logit_adjust_tau) \
        if rebalance is Rebalance.logit_adjust else None
    provenance = {"path": data["path"], "frames_sha256": data["manifest"]["frames_sha256"],
                  "observation_delay": data["observation_delay"],
                  "split_fractions": list(cfg.dataset.split_fractions), "split_seed": cfg.dataset.split_seed,
                  "train_frames": len(y_train), "train_class_counts": dict(zip(ACTION_NAMES, counts.tolist(),
                                                                               strict=True))}

    # model and optimiser
    network = PolicyNetwork(OBS_DIM, NUM_ACTIONS, agent.hidden_sizes, agent.activation).to(device)
    optimizer = torch.optim.AdamW(network.parameters(), lr=agent.lr, weight_decay=agent.weight_decay)
    policy = BCPolicy(network, name=f"{cfg.experiment}/{run_dir.name}", logit_adjustment=adjustment,
                      device=device)
    agent_record = OmegaConf.to_container(OmegaConf.structured(agent), enum_to_str=True)
    start_epoch, best, best_epoch, global_step = 0, None, -1, 0
    if cfg.train.resume:
        start_epoch, best, best_epoch, global_step = resume(run_dir, network, optimizer, agent_record)
        console.print(f"resuming {run_dir} after epoch {start_epoch}", soft_wrap=True)

    writer = SummaryWriter(str(run_dir), purge_step=global_step if cfg.train.resume else None)
    config_yaml = OmegaConf.to_yaml(OmegaConf.structured(cfg))
    writer.add_text("config", f"```yaml\n{config_yaml}\n```", global_step=0)
    atomic_write_text(run_dir / "config.yaml", config_yaml)
    metadata = {"rebalance": agent_record, "dataset": provenance,
                "observation_encoding_version": ENCODING_VERSION}

    smote_rows = None  # SMOTE-NC is computed once (k-NN per class); random samplers every epoch
    epochs = tqdm(range(start_epoch, agent.epochs), desc=run_dir.name, unit="epoch",
                  disable=not cfg.train.progress, initial=start_epoch, total=agent.epochs)
    for epoch in epochs:
        # 1. the epoch's training rows (a fresh resample for the random samplers)
        if rebalance is Rebalance.smote:
            if smote_rows is None:
                smote_rows = resample(rebalance, x_train, y_train, seed=agent.seed,
                                      minority_ratio=agent.oversample_ratio,
                                      k_neighbors=agent.smote_k_neighbors)
            x_epoch, y_epoch = smote_rows
        elif rebalance in SAMPLERS:
            x_epoch, y_epoch = resample(rebalance, x_train, y_train, seed=agent.seed * 10_007 + epoch,
                                        no_action_share=agent.undersample_no_action_share,
                                        minority_ratio=agent.oversample_ratio)
        else:
            x_epoch, y_epoch = x_train, y_train
        if rebalance in SAMPLERS or epoch == start_epoch:  # np.array copies: the arrays may be read-only
            x = torch.from_numpy(np.array(x_epoch, dtype=np.float32)).to(device)
            y = torch.from_numpy(np.array(y_epoch, dtype=np.int64)).to(device)

        # 2. one pass of minibatch gradient descent
        network.train()
        order = torch.randperm(len(y), generator=torch.Generator().manual_seed(agent.seed * 7919 + epoch))
        order = order.to(device)
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
        writer.add_scalar("train/loss", float(loss_sum) / steps, epoch + 1)
        writer.add_scalar("charts/samples_per_second", len(y) / seconds, epoch + 1)
        writer.add_scalar("charts/epoch_seconds", seconds, epoch + 1)
        writer.add_scalar("charts/epoch_rows", len(y), epoch + 1)

        # 3. offline metrics on the validation split (every epoch), and 4. online metrics against
        # the reference pool (every k epochs and after the last)
        network.eval()
        every = cfg.eval.every_epochs
        play = epoch + 1 == agent.epochs or bool(every and (epoch + 1) % every == 0)
        logged = log_evaluation(writer, epoch + 1, policy, x_val, y_val,
                                cfg.eval.opponents if play else None,
                                matches_per_opponent=cfg.eval.matches_per_opponent, seed=cfg.eval.seed,
                                reference_distribution=counts, progress=cfg.train.progress)
        epochs.set_postfix(loss=f"{float(loss_sum) / steps:.3f}", acc=f"{logged['offline/accuracy']:.3f}",
                           bal=f"{logged['offline/balanced_accuracy']:.3f}",
                           win=f"{logged['online/win_rate']:.2f}" if "online/win_rate" in logged else "-")

        # 5. checkpoints: best by the configured metric (ties broken by balanced accuracy), and last
        if cfg.train.best_metric in logged:
            candidate = (logged[cfg.train.best_metric], logged[TIE_BREAK])
            if is_better(candidate, best):
                best, best_epoch = candidate, epoch + 1
                save_checkpoint(run_dir / "best", network, logit_adjustment=adjustment, name=policy.name,
                                metadata={**metadata, "epoch": epoch + 1, "metrics": logged})
        if cfg.train.keep_epoch_checkpoints:
            save_checkpoint(run_dir / f"epoch_{epoch + 1:03d}", network, logit_adjustment=adjustment,
                            name=policy.name, metadata={**metadata, "epoch": epoch + 1, "metrics": logged})
        state = {"epoch": epoch + 1, "global_step": global_step, "best": best, "best_epoch": best_epoch}
        save_checkpoint(run_dir / "last", network, logit_adjustment=adjustment, name=policy.name,
                        optimizer=optimizer,
                        metadata={**metadata, "epoch": epoch + 1, "metrics": logged,
                                  "training_state": state})
        writer.flush()

    # 6. final report: the best checkpoint on the test split and in fresh matches
    if best_epoch < 0:
        raise TrainError(f"train.best_metric={cfg.train.best_metric!r} was never logged; logged tags "
                         f"look like offline/balanced_accuracy, online/win_rate")
    best_network, _ = load_network(run_dir / "best", device)
    best_policy = BCPolicy(best_network, name=policy.name, logit_adjustment=adjustment, device=device)
    final = score_final(best_policy, x_test, y_test, cfg.eval.opponents,
                        matches_per_opponent=cfg.eval.final_matches_per_opponent, seed=cfg.eval.final_seed,
                        reference_distribution=counts, progress=cfg.train.progress)
    results = {"experiment": cfg.experiment, "run": run_dir.name, "rebalance": rebalance.value,
               "seed": cfg.seed, "best_epoch": best_epoch, "best_metric": cfg.train.best_metric,
               **final, "dataset": provenance["frames_sha256"]}
    test, online_metrics = final["test"], final["online"]
    write_results(run_dir, results)
    hparams = {k: (str(v) if isinstance(v, list) else v) for k, v in agent_record.items()}
    hparams["seed"] = cfg.seed
    writer.add_hparams(hparams, {f"hparams/test_{k}": test[k] for k in SCALAR_METRICS}
                       | {"hparams/online_win_rate": online_metrics["win_rate"]}, run_name=".",
                       global_step=agent.epochs)
    writer.close()
    Console().print(final_table(f"{cfg.experiment}/{run_dir.name}", results))
    return results


def train_rl(cfg: TrainConfig) -> dict[str, Any]:
    """``agent=ppo`` (RLlib) or ``agent=sb3_ppo``: fine-tune a BC checkpoint (or start from scratch)."""
    agent = cfg.agent
    for key in ("lr", "minibatch_size", "num_epochs"):
        if getattr(agent, key) <= 0:
            raise TrainError(f"agent.{key} must be > 0, got {getattr(agent, key)}")
    if agent.name == "ppo" and agent.minibatch_size > agent.train_batch_size:
        raise TrainError(f"agent.minibatch_size ({agent.minibatch_size}) must be <= agent.train_batch_size "
                         f"({agent.train_batch_size})")
    OpponentPool(agent.opponents)  # an unknown bot name fails now, not inside an RLlib worker
    init_label = "scratch"
    if agent.init_from is not None:
        folder = checkpoint_dir(to_absolute_path(agent.init_from))
        manifest = read_manifest(folder)  # a missing or corrupt checkpoint fails here, naming the file
        agent.init_from = str(folder.resolve())
        init_label = str(manifest.get("rebalance", {}).get("rebalance") or manifest.get("rl", {}).get("name")
                         or "bc")
    run_dir = run_directory(cfg, default_name=f"{agent.name}_{init_label}_seed{cfg.seed}")
    prepare_run_directory(run_dir, cfg.train)
    torch.set_num_threads(cfg.train.torch_threads or min(os.cpu_count() or 1, 8))
    seed_everything(agent.seed)
    data = load_data(cfg)
    data["train_class_counts"] = class_counts(data["train"][1])
    if agent.name == "ppo":
        from agents.rl.rllib_train import train_rllib

        return train_rllib(cfg, run_dir, data, init_label=init_label, resume=cfg.train.resume)
    from agents.rl.sb3_train import train_sb3

    return train_sb3(cfg, run_dir, data, init_label=init_label, resume=cfg.train.resume)


def resume(run_dir: Path, network: PolicyNetwork, optimizer: torch.optim.Optimizer,
           agent_record: dict[str, Any]) -> tuple[int, tuple[float, float] | None, int, int]:
    """Load ``run_dir/last`` into the model and optimiser; return (epoch, best, best epoch, step)."""
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
    loaded, _ = load_network(last, next(network.parameters()).device)
    network.load_state_dict(loaded.state_dict())
    optimizer.load_state_dict(load_optimizer_state(last))
    state = manifest["training_state"]
    best = tuple(state["best"]) if state.get("best") is not None else None
    return int(state["epoch"]), best, int(state["best_epoch"]), int(state["global_step"])


@hydra.main(version_base=None, config_path="conf", config_name="train")
def main(cfg: DictConfig) -> None:
    config: TrainConfig = OmegaConf.to_object(cfg)
    try:
        if config.agent.name == "bc":
            train(config)
        else:
            train_rl(config)
    except (TrainError, CheckpointError, FileNotFoundError, ValueError, BCInitError, UnknownBotError) as err:
        print(f"train.py: {err}", file=sys.stderr)
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()

