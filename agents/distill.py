"""Policy distillation: a small student learns a trained teacher's action distribution, DAgger style.

``python train.py agent=distill agent.teacher=runs/teachers/ppo_h256x256_seed0 agent.hidden_sizes=[16]``

The teacher is any trained bot checkpoint (:func:`agents.checkpoint.load`: a BC or RL
:class:`~agents.networks.PolicyNetwork`, say ``[256, 256]``); the student is a smaller
:class:`~agents.networks.PolicyNetwork` (``hidden_sizes`` from ``[8]`` to ``[128]``). Each round
(DAgger, Ross et al. 2011; policy distillation, Rusu et al. 2016):

1. **act**: ``num_envs`` matches against the opponent pool (:class:`envs.pool_vector_env.PoolVectorEnv`)
   run ``frames_per_round`` frames; the teacher plays a share ``beta * beta_decay ** round`` of the
   match slots (drawn per round by a seeded generator: round 0 is all teacher with ``beta=1``), the
   student plays the rest, so later rounds visit the states the *student's* mistakes lead to;
2. **label**: every visited state gets the teacher's logits (its decision logits, after any logit
   adjustment), whoever acted there;
3. **aggregate**: the rows join the dataset of all rounds, at most ``buffer_rows`` of them (over the
   cap, seeded reservoir sampling keeps a uniform sample of every row seen);
4. **train**: ``epochs_per_round`` passes of minibatch KL(teacher || student) over the aggregate, both
   softmaxes at ``temperature`` (soft targets; the student needs no logit adjustment of its own);
5. **track**: the run tracker (:class:`agents.tracker.RunTracker`, shared with BC and RL) scores the
   student every round (offline on the validation split; matches every ``eval_every`` rounds and after
   the last), keeps ``best/`` and ``last/``, and later writes the results.

TensorBoard tags (step: round): ``distill/kl`` (the round's training loss), ``distill/teacher_agreement``
(argmax agreement with the teacher on the states visited this round, measured before the student trained
on them), ``distill/command_agreement`` (the same, on states where the teacher pressed a command, not
NO_ACTION: pros and bots mostly wait, so plain agreement flatters a student that always waits),
``distill/val_kl`` / ``distill/val_agreement`` (on the validation split's observations),
``distill/teacher_share``, ``distill/buffer_rows``, ``charts/frames_per_second``, ``charts/round_seconds``.
Every seed comes from :func:`envs.seeding.derived_seed`, so a seed fixes the run (on one device).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from gymnasium.vector import AutoresetMode

from agents.bc import BCPolicy, resolve_device, torch_threads
from agents.gym_envs import make_pool_vector_env
from agents.networks import ACTIVATIONS, PolicyNetwork
from agents.registry import resolve_pool
from agents.rl.config import DEFAULT_TRAINING_POOL
from agents.rl.league import SELF
from agents.tracker import RunTracker
from envs.actions import NUM_ACTIONS, Action
from envs.observation import OBS_DIM
from envs.seeding import derived_seed
from envs.terminal import progress_bar


@dataclass
class DistillConfig:
    """``conf/agent/distill.yaml``: the distillation agent (``agent.<field>=...`` on the command line)."""

    name: str = "distill"
    teacher: str | None = None  # the teacher checkpoint: run folder, best/ or manifest.json (required)
    hidden_sizes: list[int] = field(default_factory=lambda: [32])  # the student (a [256, 256] teacher: 45x)
    activation: str = "relu"
    seed: int = 0
    device: str = "auto"  # auto: CUDA when torch sees a GPU, else the CPU (teacher and student)
    lr: float = 1e-3  # Adam, kept across rounds
    rounds: int = 20  # DAgger iterations: act, label, aggregate, train
    frames_per_round: int = 128  # env steps per match per round: 256 x 128 = 32768 labelled states
    num_envs: int = 256  # matches stepped as one batch (one engine)
    beta: float = 1.0  # the teacher's share of match slots in round 0 (1: the teacher plays all)
    beta_decay: float = 0.5  # the teacher's share in round i: beta * beta_decay ** i (then the student)
    epochs_per_round: int = 2  # passes over the aggregated dataset after each round
    batch_size: int = 1024
    temperature: float = 1.0  # soft targets: KL(softmax(teacher / T) || softmax(student / T))
    buffer_rows: int = 262_144  # cap on the aggregated dataset (a seeded uniform sample of all rows)
    opponents: list[str] = field(default_factory=lambda: list(DEFAULT_TRAINING_POOL))  # bots and pools
    eval_every: int = 5  # rounds between evaluations with matches (and after the last); 0: the last only


def check_config(agent: DistillConfig) -> None:
    """Fail before any work on values that cannot work, naming the field (:class:`ValueError`)."""
    for key in ("rounds", "frames_per_round", "num_envs", "epochs_per_round", "batch_size", "buffer_rows"):
        if getattr(agent, key) < 1:
            raise ValueError(f"agent.{key} must be >= 1, got {getattr(agent, key)}")
    for key in ("lr", "temperature"):
        if not getattr(agent, key) > 0:
            raise ValueError(f"agent.{key} must be > 0, got {getattr(agent, key)}")
    if not 0 <= agent.beta <= 1 or not 0 <= agent.beta_decay <= 1:
        raise ValueError(f"agent.beta and agent.beta_decay must be in [0, 1], got {agent.beta} and "
                         f"{agent.beta_decay}")
    if agent.eval_every < 0:
        raise ValueError(f"agent.eval_every must be >= 0, got {agent.eval_every}")
    if agent.activation not in ACTIVATIONS:
        raise ValueError(f"agent.activation must be one of {sorted(ACTIVATIONS)}, got {agent.activation!r}")
    if any(h < 1 for h in agent.hidden_sizes):
        raise ValueError(f"agent.hidden_sizes must be positive, got {list(agent.hidden_sizes)}")
    opponents = list(resolve_pool(agent.opponents))  # an unknown bot name fails here
    if not opponents or SELF in opponents:
        raise ValueError(f"agent=distill needs a pool of bots without {SELF!r} (the teacher and student "
                         f"play one side); got opponents={opponents}")


def teacher_share(agent: DistillConfig, round_index: int) -> float:
    """DAgger's beta for a round: the share of match slots the teacher plays."""
    return float(agent.beta * agent.beta_decay ** round_index)


def distill_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor,
                 temperature: float) -> torch.Tensor:
    """Mean over rows of KL(softmax(teacher / T) || softmax(student / T)) (Rusu et al. 2016)."""
    target = F.log_softmax(teacher_logits / temperature, dim=1)
    predicted = F.log_softmax(student_logits / temperature, dim=1)
    return F.kl_div(predicted, target, log_target=True, reduction="batchmean")


@torch.inference_mode()
def agreement_metrics(student: PolicyNetwork, observations: np.ndarray, teacher_logits: np.ndarray, *,
                      temperature: float = 1.0, batch_rows: int = 65_536) -> dict[str, float]:
    """How close ``student`` is to the teacher on ``observations``: ``kl`` (as the training loss),
    ``agreement`` (same argmax) and ``command_agreement`` (same argmax where the teacher's is not
    NO_ACTION; NaN when it never is)."""
    device = next(student.parameters()).device
    was_training = student.training
    student.eval()
    kl_sum, same, commands, same_commands = 0.0, 0, 0, 0
    for first in range(0, len(observations), batch_rows):
        x = torch.as_tensor(np.ascontiguousarray(observations[first:first + batch_rows], np.float32),
                            device=device)
        t = torch.as_tensor(np.ascontiguousarray(teacher_logits[first:first + batch_rows], np.float32),
                            device=device)
        s = student(x)
        kl_sum += float(distill_loss(s, t, temperature)) * len(x)
        wanted, chosen = t.argmax(dim=1), s.argmax(dim=1)
        is_command = wanted != int(Action.NO_ACTION)
        same += int((wanted == chosen).sum())
        commands += int(is_command.sum())
        same_commands += int(((wanted == chosen) & is_command).sum())
    student.train(was_training)
    rows = max(len(observations), 1)
    return {"kl": kl_sum / rows, "agreement": same / rows,
            "command_agreement": same_commands / commands if commands else float("nan")}


def teacher_logits_of(teacher: BCPolicy, observations: np.ndarray, batch_rows: int = 65_536) -> np.ndarray:
    """The teacher's decision logits ``(N, num_actions)`` for ``observations``, as float32 numpy."""
    return np.concatenate([teacher.logits(observations[i:i + batch_rows]).float().cpu().numpy()
                           for i in range(0, len(observations), batch_rows)] or
                          [np.zeros((0, NUM_ACTIONS), np.float32)])


def teacher_agreement(student: PolicyNetwork, teacher: BCPolicy, observations: np.ndarray) -> float:
    """Argmax agreement of ``student`` with ``teacher`` on ``observations`` (e.g. the test split)."""
    return agreement_metrics(student, observations, teacher_logits_of(teacher, observations))["agreement"]


class AggregatedDataset:
    """DAgger's aggregated dataset: visited states and the teacher's logits, at most ``capacity`` rows.

    Below the cap every row is kept. Over it, reservoir sampling (Vitter's algorithm R, vectorised,
    drawn from a generator seeded with ``seed``) keeps a uniform sample of every row ever added, so the
    first rounds' teacher-driven states and the later student-driven ones stay in proportion.
    """

    def __init__(self, capacity: int, seed: int) -> None:
        self.capacity = int(capacity)
        self.states = np.empty((0, OBS_DIM), np.float32)
        self.logits = np.empty((0, NUM_ACTIONS), np.float32)
        self.seen = 0  # rows ever added
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return len(self.states)

    def add(self, states: np.ndarray, logits: np.ndarray) -> None:
        states = np.asarray(states, np.float32).reshape(-1, OBS_DIM)
        logits = np.asarray(logits, np.float32).reshape(-1, NUM_ACTIONS)
        free = min(self.capacity - len(self), len(states))
        if free > 0:
            self.states = np.concatenate([self.states, states[:free]])
            self.logits = np.concatenate([self.logits, logits[:free]])
        rest = len(states) - free
        if rest > 0:  # row k (0-based over all rows ever) replaces a random slot with probability cap / (k+1)
            index = np.arange(self.seen + free, self.seen + len(states))
            slot = self.rng.integers(0, index + 1)
            keep = np.flatnonzero(slot < self.capacity)
            # a slot drawn twice ends with the later row, as in the row-by-row algorithm
            _, last = np.unique(slot[keep][::-1], return_index=True)
            keep = keep[::-1][last]
            self.states[slot[keep]] = states[free + keep]
            self.logits[slot[keep]] = logits[free + keep]
        self.seen += len(states)


def train_distill(agent: DistillConfig, tracker: RunTracker, teacher: BCPolicy, *, observation_delay: int = 0,
                  validation_observations: np.ndarray | None = None, progress: bool = True,
                  desc: str = "distill") -> tuple[PolicyNetwork, dict[str, Any]]:
    """Distil ``teacher`` into a new student for ``agent.rounds`` rounds, reporting to ``tracker``.

    Matches are played at ``observation_delay`` (the evaluator's). Returns the student (as after the
    last round; ``best/`` is the tracker's) and a summary: env ``frames`` and ``history``, the
    TensorBoard scalars of each round.
    """
    check_config(agent)
    device = resolve_device(agent.device)

    # the student and its optimiser (kept across rounds)
    torch.manual_seed(derived_seed(agent.seed, "student"))
    student = PolicyNetwork(OBS_DIM, NUM_ACTIONS, agent.hidden_sizes, agent.activation).to(device)
    optimizer = torch.optim.Adam(student.parameters(), lr=agent.lr)

    # the matches: num_envs slots against the pool; SAME_STEP autoreset, so every observation is one
    # the learner acts on (a finished match's last frame is in info, not in obs)
    env = make_pool_vector_env(agent.num_envs, opponents=list(agent.opponents),
                               observation_delay=observation_delay, autoreset_mode=AutoresetMode.SAME_STEP)
    obs, _ = env.reset(seed=derived_seed(agent.seed, "matches"))
    dataset = AggregatedDataset(agent.buffer_rows, seed=derived_seed(agent.seed, "aggregate"))
    val_obs = validation_observations
    val_logits = None if val_obs is None else teacher_logits_of(teacher, val_obs)

    summary: dict[str, Any] = {"frames": 0, "history": []}
    rounds = progress_bar(range(agent.rounds), desc=desc, unit="round", enabled=progress)
    for round_index in rounds:
        step = round_index + 1
        started = time.perf_counter()

        # 1. act: the teacher plays a share beta_i of the slots this round, the student the rest
        mixture = np.random.default_rng(derived_seed(agent.seed, "mixture", round_index))
        teacher_slots = mixture.random(agent.num_envs) < teacher_share(agent, round_index)
        states = np.empty((agent.frames_per_round, agent.num_envs, OBS_DIM), np.float32)
        labels = np.empty((agent.frames_per_round, agent.num_envs, NUM_ACTIONS), np.float32)
        student.eval()
        with torch_threads(1), torch.inference_mode():  # small per-frame batches: one thread is faster
            for frame in range(agent.frames_per_round):
                # 2. label: the teacher's logits for every visited state, whoever acts there
                states[frame] = obs
                logits = teacher.logits(obs)
                labels[frame] = logits.float().cpu().numpy()
                actions = logits.argmax(dim=1).cpu().numpy()
                if not teacher_slots.all():
                    own = student(torch.as_tensor(states[frame], device=device)).argmax(dim=1).cpu().numpy()
                    actions = np.where(teacher_slots, actions, own)
                obs, _, _, _, _ = env.step(actions)
        collect_seconds = time.perf_counter() - started
        summary["frames"] += agent.frames_per_round * agent.num_envs
        states, labels = states.reshape(-1, OBS_DIM), labels.reshape(-1, NUM_ACTIONS)
        visited = agreement_metrics(student, states, labels, temperature=agent.temperature)  # before training

        # 3. aggregate, and 4. train the student on everything so far by minibatch KL
        dataset.add(states, labels)
        x = torch.from_numpy(dataset.states).to(device)
        y = torch.from_numpy(dataset.logits).to(device)
        student.train()
        loss_sum, batches = torch.zeros((), device=device), 0
        # one thread: a small student gains nothing from more, and on a busy machine the threads of
        # each tiny step wait for one another (a probe on 2 shared cores: 1.5 ms a step, 2 threads 100 ms)
        with torch_threads(1):
            for epoch in range(agent.epochs_per_round):
                shuffle = derived_seed(agent.seed, "shuffle", round_index, epoch)
                order = torch.randperm(len(x), generator=torch.Generator().manual_seed(shuffle)).to(device)
                for first in range(0, len(x), agent.batch_size):
                    batch = order[first:first + agent.batch_size]
                    loss = distill_loss(student(x[batch]), y[batch], agent.temperature)
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    optimizer.step()
                    if epoch == agent.epochs_per_round - 1:  # the loss logged: the last pass's
                        loss_sum += loss.detach()
                        batches += 1

        # 5. log, evaluate (offline every round, matches every eval_every rounds and after the last)
        share = float(teacher_slots.mean())
        values = {"distill/kl": float(loss_sum) / max(batches, 1),
                  "distill/teacher_agreement": visited["agreement"],
                  "distill/command_agreement": visited["command_agreement"],
                  "distill/visited_kl": visited["kl"], "distill/teacher_share": share,
                  "distill/buffer_rows": len(dataset),
                  "charts/frames_per_second": agent.frames_per_round * agent.num_envs / collect_seconds,
                  "charts/round_seconds": time.perf_counter() - started}
        if val_logits is not None:
            val = agreement_metrics(student, val_obs, val_logits, temperature=agent.temperature)
            values |= {"distill/val_kl": val["kl"], "distill/val_agreement": val["agreement"],
                       "distill/val_command_agreement": val["command_agreement"]}
        tracker.log_scalars(values, step)
        summary["history"].append(values)
        play = step == agent.rounds or bool(agent.eval_every and step % agent.eval_every == 0)
        logged = tracker.evaluate(student, step, play=play)
        tracker.save_last(student, step, {"round": step, "frames": summary["frames"]}, optimizer=optimizer)
        rounds.set_postfix(kl=f"{values['distill/kl']:.3f}", agree=f"{visited['agreement']:.3f}",
                           win=f"{logged['online/win_rate']:.2f}" if "online/win_rate" in logged else "-")
    env.close()
    return student, summary
