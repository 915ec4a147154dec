"""What every RL fine-tuning run does around its algorithm: evaluate, log, keep the best, report.

RLlib and stable-baselines3 each own their training loop; this class is what the two trainers
(:mod:`agents.rl.rllib_train`, :mod:`agents.rl.sb3_train`) share, so an RL run is scored exactly
like a BC run (:mod:`evaluation.run_report`): the same ``offline/*`` tags on the validation split
(the lecture's point: watch accuracy drift *down* while the win rate climbs), the same
``online/*`` win rate against ``eval.opponents``, the same ``best/`` and ``last/`` checkpoint
format, the same ``results.json`` and final table. Steps on the x-axis are environment steps
(the learner's frames), and step 0 is the starting policy, so a curve begins at the BC bot.

Snapshots for the league go to ``<run>/league/iter_NNNNN/`` as ordinary checkpoints, which the
env's :class:`~agents.rl.league.OpponentPool` picks up on its own.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import OmegaConf
from rich.console import Console
from torch.utils.tensorboard import SummaryWriter

from agents.bc import BCPolicy
from agents.checkpoint import load_network, read_manifest, save_checkpoint
from agents.networks import PolicyNetwork
from envs.atomic_files import atomic_write_text
from envs.observation import ENCODING_VERSION
from evaluation.run_report import (
    TIE_BREAK,
    final_table,
    is_better,
    log_evaluation,
    score_final,
    write_results,
)


class FineTuneTracker:
    """Evaluation, TensorBoard, checkpoints and the final report of one RL run in ``run_dir``."""

    def __init__(self, cfg: Any, run_dir: Path, data: dict[str, Any], *, init_label: str,
                 resume_state: dict[str, Any] | None = None) -> None:
        self.cfg, self.run_dir, self.data = cfg, run_dir, data
        self.agent = cfg.agent
        self.name = f"{cfg.experiment}/{run_dir.name}"
        self.counts = data["train_class_counts"]
        state = resume_state or {}
        self.best: tuple[float, float] | None = tuple(state["best"]) if state.get("best") else None
        self.best_step = int(state.get("best_step", -1))
        self.last_eval_step = int(state.get("step", -1))
        agent_record = OmegaConf.to_container(OmegaConf.structured(self.agent), enum_to_str=True)
        dataset = {"path": data["path"], "frames_sha256": data["manifest"]["frames_sha256"],
                   "observation_delay": data.get("observation_delay")}
        self.metadata = {"rl": agent_record, "init": init_label, "dataset": dataset,
                         "observation_encoding_version": ENCODING_VERSION}
        self.writer = SummaryWriter(str(run_dir), purge_step=state.get("step"))
        if not state:
            config_yaml = OmegaConf.to_yaml(OmegaConf.structured(cfg))
            self.writer.add_text("config", f"```yaml\n{config_yaml}\n```", global_step=0)
            atomic_write_text(run_dir / "config.yaml", config_yaml)

    # ---- during training ------------------------------------------------------------------------
    def log_scalars(self, values: dict[str, float], step: int) -> None:
        for tag, value in values.items():
            if value is not None and np.isfinite(value):
                self.writer.add_scalar(tag, float(value), step)

    def evaluate(self, network: PolicyNetwork, step: int) -> dict[str, float]:
        """Score ``network`` (validation split + matches), log at ``step``, keep it if it is the best."""
        network = network.eval()
        policy = BCPolicy(network, name=self.name)
        logged = log_evaluation(self.writer, step, policy, *self.data["val"], self.cfg.eval.opponents,
                                matches_per_opponent=self.cfg.eval.matches_per_opponent,
                                seed=self.cfg.eval.seed, reference_distribution=self.counts,
                                progress=self.cfg.train.progress)
        self.last_eval_step = step
        metric = self.cfg.train.best_metric
        if metric not in logged:
            raise ValueError(f"train.best_metric={metric!r} is not logged; logged tags: {sorted(logged)}")
        candidate = (logged[metric], logged[TIE_BREAK])
        if is_better(candidate, self.best):
            self.best, self.best_step = candidate, step
            save_checkpoint(self.run_dir / "best", network, name=self.name,
                            metadata={**self.metadata, "step": step, "metrics": logged})
        self.writer.flush()
        return logged

    def snapshot(self, network: PolicyNetwork, iteration: int) -> Path:
        """Freeze the current policy into the league (a checkpoint the opponent pool will find)."""
        return save_checkpoint(self.run_dir / "league" / f"iter_{iteration:05d}", network,
                               name=f"{self.name}@{iteration}",
                               metadata={**self.metadata, "iteration": iteration})

    def save_last(self, network: PolicyNetwork, step: int, iteration: int) -> None:
        save_checkpoint(self.run_dir / "last", network, name=self.name,
                        metadata={**self.metadata, "step": step, "training_state": {
                            "step": step, "iteration": iteration, "best": self.best,
                            "best_step": self.best_step}})

    # ---- the end --------------------------------------------------------------------------------
    def finish(self, steps: int, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        """Score ``best/`` on the test split and in fresh matches; write results; print the table."""
        network, _ = load_network(self.run_dir / "best")
        final = score_final(BCPolicy(network, name=self.name), *self.data["test"], self.cfg.eval.opponents,
                            matches_per_opponent=self.cfg.eval.final_matches_per_opponent,
                            seed=self.cfg.eval.final_seed, reference_distribution=self.counts,
                            progress=self.cfg.train.progress)
        results = {"experiment": self.cfg.experiment, "run": self.run_dir.name, "agent": self.agent.name,
                   "init": self.metadata["init"], "seed": self.cfg.seed, "best_epoch": self.best_step,
                   "best_metric": self.cfg.train.best_metric, "env_steps": steps, **(extra or {}),
                   **final, "dataset": self.data["manifest"]["frames_sha256"]}
        write_results(self.run_dir, results)
        self.writer.add_hparams({"agent": self.agent.name, "init": self.metadata["init"],
                                 "lr": self.agent.lr, "seed": self.cfg.seed},
                                {"hparams/test_accuracy": final["test"]["accuracy"],
                                 "hparams/online_win_rate": final["online"]["win_rate"]},
                                run_name=".", global_step=steps)
        self.writer.close()
        Console().print(final_table(self.name, results, step_name="env step"))
        return results


def resume_state(run_dir: Path) -> dict[str, Any]:
    """The training state saved in ``run_dir/last`` (step, iteration, best so far)."""
    return dict(read_manifest(run_dir / "last")["training_state"])
