"""The run tracker: what every training run (BC, RLlib PPO, SB3 PPO) does around its own loop.

Each trainer owns its loop (BC's epochs in ``train.py``, RLlib's ``algo.train()``, SB3's
``learn()``) and calls this tracker at the same points, the way SB3 calls a callback:

* :meth:`RunTracker.evaluate` after an epoch / evaluation interval: the run's evaluator scores the
  policy (offline metrics on the validation split, and matches when ``play``), the tracker logs it
  and keeps ``best/`` by the evaluator's selection rule;
* :meth:`RunTracker.save_last` with the trainer's state (``last/``, what ``train.resume`` reads);
* :meth:`RunTracker.snapshot` for a league of frozen opponents (``league/iter_NNNNN/``);
* :meth:`RunTracker.finish` at the end: ``best/`` scored by the evaluator's final protocol (test
  split, fresh matches), ``results.json`` / ``results.csv``, the HParams entry and the table.

TensorBoard gets a Custom Scalars layout (:data:`TENSORBOARD_LAYOUT`) so that accuracy, balanced
accuracy and win rate share one chart per run, next to the win rate's interval, the win rate
against each opponent and the losses.

The evaluator comes from the layer above (:class:`evaluation.run_report.RunEvaluator`) and is
passed in, so this module imports nothing from ``evaluation/`` or ``datasets/``. Checkpoints record
``metadata`` (the protocol, the fingerprint, the dataset), so every ``best/`` says how it was made.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from torch.utils.tensorboard import SummaryWriter

from agents.artifacts import atomic_write_text
from agents.bc import BCPolicy
from agents.checkpoint import load_network, read_manifest, save_checkpoint
from agents.networks import PolicyNetwork
from agents.policy import Policy

# TensorBoard's Custom Scalars tab: the offline and online curves of a run in ONE chart (the lecture's
# point: accuracy climbs, win rate does not), then the other charts worth seeing together. Multiline
# entries are regular expressions over the scalar tags; a Margin chart is [value, lower, upper]. Tags:
# offline/* and online/* from the evaluator (evaluation/run_report.py), train/loss (BC), losses/* and
# charts/* (RLlib, SB3; CleanRL's names), distill/* (distillation). A chart whose tags a run does
# not write is simply empty for that run.
TENSORBOARD_LAYOUT: dict[str, dict[str, list[Any]]] = {
    "offline vs online": {
        "accuracy, balanced accuracy and win rate": [
            "Multiline", [r"^offline/accuracy$", r"^offline/balanced_accuracy$", r"^online/win_rate$"]],
        "win rate (95% Wilson interval)": [
            "Margin", ["online/win_rate", "online/win_rate_ci_low", "online/win_rate_ci_high"]],
        "win rate vs each opponent": ["Multiline", [r"^online/win_rate_vs_"]],
        "offline metrics": ["Multiline", [r"^offline/(accuracy|balanced_accuracy|macro_f1|no_action_recall|"
                                          r"mean_skill_recall)$"]],
    },
    "training": {
        "losses": ["Multiline", [r"^train/loss$", r"^losses/", r"^distill/(kl|val_kl|visited_kl)$"]],
        "episode return": ["Multiline", [r"^charts/episode_return$"]],
        "teacher agreement": ["Multiline", [r"^distill/.*agreement$"]],
        "speed": ["Multiline", [r"^charts/.*per_second$"]],
    },
}


class RunEvaluator(Protocol):
    """What the tracker needs from an evaluator (:class:`evaluation.run_report.RunEvaluator`)."""

    def evaluate(self, writer: Any, step: int, policy: Policy, *, play: bool = True) -> dict[str, float]: ...

    def selection_key(self, logged: dict[str, float]) -> tuple[float, float] | None: ...

    def is_better(self, candidate: tuple[float, float] | None, best: tuple[float, float] | None) -> bool: ...

    def final(self, policy: Policy) -> dict[str, Any]: ...

    def report(self, run_dir: Path, name: str, results: dict[str, Any], *, step_name: str) -> None: ...


class RunTracker:
    """Evaluation, TensorBoard, checkpoints and the final report of one run in ``run_dir``."""

    def __init__(self, run_dir: Path, *, name: str, evaluator: RunEvaluator, metadata: dict[str, Any],
                 config_yaml: str, resume_state: dict[str, Any] | None = None,
                 logit_adjustment: torch.Tensor | np.ndarray | None = None,
                 device: str | torch.device = "cpu", step_name: str = "epoch") -> None:
        self.run_dir, self.name, self.evaluator = Path(run_dir), name, evaluator
        self.metadata, self.device, self.step_name = metadata, device, step_name
        self.logit_adjustment = logit_adjustment
        state = resume_state or {}
        self.best: tuple[float, float] | None = tuple(state["best"]) if state.get("best") else None
        self.best_step = int(state.get("best_step", -1))
        self.last_eval_step = int(state.get("last_eval_step", -1))
        # a resumed run drops events logged after its last checkpoint (they are logged again)
        self.writer = SummaryWriter(str(run_dir), purge_step=state["step"] + 1 if state else None)
        self.writer.add_custom_scalars(TENSORBOARD_LAYOUT)  # offline next to online (Custom Scalars tab)
        if not state:  # a resumed run keeps the config it started with (resume checks it is the same)
            self.writer.add_text("config", f"```yaml\n{config_yaml}\n```", global_step=0)
            atomic_write_text(self.run_dir / "config.yaml", config_yaml)

    def policy(self, network: PolicyNetwork) -> BCPolicy:
        return BCPolicy(network.eval(), name=self.name, logit_adjustment=self.logit_adjustment,
                        device=self.device)

    def _save(self, folder: str, network: PolicyNetwork, extra: dict[str, Any], **kwargs: Any) -> Path:
        return save_checkpoint(self.run_dir / folder, network, logit_adjustment=self.logit_adjustment,
                               name=kwargs.pop("name", self.name), metadata={**self.metadata, **extra},
                               **kwargs)

    # ---- during training ------------------------------------------------------------------------
    def log_scalars(self, values: dict[str, float | None], step: int) -> None:
        for tag, value in values.items():
            if value is not None and np.isfinite(value):
                self.writer.add_scalar(tag, float(value), step)

    def evaluate(self, network: PolicyNetwork, step: int, *, play: bool = True,
                 keep_as: str | None = None) -> dict[str, float]:
        """Score ``network`` at ``step``, log it, keep it as ``best/`` if it is the best so far
        (and as ``keep_as``, e.g. ``epoch_003``, when given)."""
        logged = self.evaluator.evaluate(self.writer, step, self.policy(network), play=play)
        self.last_eval_step = step
        candidate = self.evaluator.selection_key(logged)
        if self.evaluator.is_better(candidate, self.best):
            self.best, self.best_step = candidate, step
            self._save("best", network, {"step": step, "metrics": logged})
        if keep_as:
            self._save(keep_as, network, {"step": step, "metrics": logged})
        self.writer.flush()
        return logged

    def snapshot(self, network: PolicyNetwork, iteration: int) -> Path:
        """Freeze the current policy into the league (a checkpoint the opponent pool will find)."""
        return self._save(f"league/iter_{iteration:05d}", network, {"iteration": iteration},
                          name=f"{self.name}@{iteration}")

    def save_last(self, network: PolicyNetwork, step: int, state: dict[str, Any],
                  optimizer: torch.optim.Optimizer | None = None) -> None:
        """``last/``: the network, the optimiser and ``state`` (the trainer's own counters) plus the
        tracker's (best so far), which :func:`resume_state` gives back."""
        training_state = {**state, "step": step, "best": self.best, "best_step": self.best_step,
                          "last_eval_step": self.last_eval_step}
        self._save("last", network, {"step": step, "training_state": training_state}, optimizer=optimizer)
        self.writer.flush()

    # ---- the end --------------------------------------------------------------------------------
    def finish(self, head: dict[str, Any], hparams: dict[str, Any], step: int) -> dict[str, Any]:
        """Score ``best/`` with the final protocol; write results; log HParams; print the table."""
        if self.best_step < 0:
            raise ValueError("the best metric was never logged, so there is no best checkpoint; logged "
                             "tags look like offline/balanced_accuracy, online/win_rate")
        network, _ = load_network(self.run_dir / "best", self.device)
        final = self.evaluator.final(self.policy(network))
        results = {**head, "best_epoch": self.best_step, **final}
        self.evaluator.report(self.run_dir, self.name, results, step_name=self.step_name)
        hparams = {k: (str(v) if isinstance(v, list | tuple) else v) for k, v in hparams.items()}
        self.writer.add_hparams(hparams,
                                {"hparams/test_accuracy": final["test"]["accuracy"],
                                 "hparams/test_balanced_accuracy": final["test"]["balanced_accuracy"],
                                 "hparams/online_win_rate": final["online"]["win_rate"]},
                                run_name=".", global_step=step)
        self.writer.close()
        return results


def resume_state(run_dir: Path) -> dict[str, Any]:
    """The training state saved in ``run_dir/last`` (the trainer's counters and the best so far)."""
    return dict(read_manifest(Path(run_dir) / "last")["training_state"])
