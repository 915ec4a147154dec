"""Off-policy evaluation on the pro logs: what a bot *would* do in the logged matches, and its value.

Per-frame accuracy asks "does the bot press what the pro pressed?". A team that wants to know which
bot wins before playing needs to ask "is what the bot presses *worth* something?". This module
answers it from the logs alone, in three steps:

1. :func:`timelines`: the held-out logs as one timeline per (match, side)
   (:mod:`datasets.episodes`), padded to a ``[T, E, ...]`` block, with the acting player's reward
   per frame: damage dealt minus damage taken (fractions of max HP) and, on the last frame, the
   match result (+1 win, -1 loss, 0 draw); and the decision situation of each row
   (:mod:`datasets.situations`).
2. :func:`replay`: a bot's command on every logged row, fed *in time order* with one ``reset`` per
   timeline, so stateful bots (the pros' reaction delay, the difficulty knobs' queues and APM
   buckets) act as they would in a match rather than as if every row were a fresh one.
3. :func:`fitted_q_evaluation`: Fitted Q Evaluation (Le et al. 2019; the strongest family in the
   deep OPE benchmark of Fu et al. 2021), for many bots at once. One network with a shared trunk
   and one 12-command head per bot regresses ``Q_k(s, a_logged)`` on
   ``r + gamma * Q_k(s', pi_k(s'))`` with a target network; head 0 evaluates the pros themselves
   (``pi_0(s') = a'_logged``: SARSA). Where the acting player is ``busy`` the engine ignores the
   command, so every bot's next command there is the logged one. A bot's value is the mean over
   logged decision rows of ``Q_k(s, pi_k(s))``; its *advantage over the pro* is the same under the
   pros' head, ``Q_0(s, pi_k(s)) - Q_0(s, a_logged)``, per situation; and each situation's *stake*
   is what the pros' pressing was worth there (their command's Q over waiting's).

d3rlpy ships ``DiscreteFQE``, but it evaluates a d3rlpy algorithm's policy one at a time; ours are
any :class:`~agents.policy.Policy` (scripted, stateful, handicapped), and 80 bots share one
network and one pass over the data here (seconds on 2 cores), so the fitted-Q loop is our own.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from agents.policy import Policy
from datasets.episodes import build_episodes
from datasets.load import LogDataset
from datasets.situations import DECISION_SITUATIONS, SITUATION_IDS, situation_codes
from envs.actions import NUM_ACTIONS, Action
from envs.params import GameParams
from envs.seeding import derived_seed

BUSY = SITUATION_IDS["busy"]
NO_ACTION = int(Action.NO_ACTION)


@dataclass
class Timelines:
    """Logged matches as ``E`` timelines (one per match and side) of up to ``T`` frames."""

    observations: np.ndarray  # [T, E, OBS_DIM] float32; past its end a timeline repeats its last row
    actions: np.ndarray  # [T, E] int64: the pro's command
    rewards: np.ndarray  # [T, E] float32: damage dealt - taken; + the result on the last frame
    valid: np.ndarray  # [T, E] bool: rows that were logged
    situations: np.ndarray  # [T, E] int8: datasets.situations ids

    @property
    def num_rows(self) -> int:
        return int(self.valid.sum())


def timelines(dataset: LogDataset, params: GameParams | None = None) -> Timelines:
    """The dataset's matches as padded timelines with rewards (see the module docstring).

    The episodes and their rewards come from :func:`datasets.episodes.build_episodes` (one home for
    what a logged frame is worth); this pads them into ``[T, E]`` blocks and adds the situations.
    """
    if dataset.frames.empty:
        raise ValueError("timelines: the dataset has no frames")
    episodes = build_episodes(dataset)
    index, valid = episodes.padded_index()
    observations, actions = episodes.observations[index], episodes.actions[index]
    rewards = np.where(valid, episodes.rewards[index], np.float32(0.0)).astype(np.float32)
    situations = situation_codes(observations.reshape(-1, observations.shape[-1]), params)
    situations = situations.reshape(valid.shape)
    return Timelines(observations, actions, rewards, valid, situations)


def replay(policy: Policy, lines: Timelines, seed: int = 0) -> np.ndarray:
    """``policy``'s command on every logged row ``[T, E]``, fed in time order (one reset per call)."""
    steps, num = lines.actions.shape
    policy.reset(num, seed=seed)
    out = np.empty((steps, num), dtype=np.int64)
    for t in range(steps):
        out[t] = policy.act(lines.observations[t])
    return out


@dataclass
class FQEConfig:
    """Fitted Q Evaluation settings (``alignment.fqe`` in ``conf/alignment.yaml``)."""

    gamma: float = 0.97  # per frame: a horizon of ~33 frames (half a second), the span of an exchange
    hidden_size: int = 128
    steps: int = 3000  # gradient steps
    target_every: int = 150  # steps between target-network updates (one Bellman backup each)
    batch_size: int = 2048
    lr: float = 1e-3
    seed: int = 0


class _QNetwork(nn.Module):
    def __init__(self, obs_dim: int, hidden: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.trunk = nn.Sequential(nn.Linear(obs_dim, hidden), nn.ReLU(),
                                   nn.Linear(hidden, hidden), nn.ReLU())
        self.out = nn.Linear(hidden, heads * NUM_ACTIONS)
        with torch.no_grad():  # every head starts as head 0: bots that act alike get alike values
            self.out.weight.copy_(self.out.weight[:NUM_ACTIONS].repeat(heads, 1))
            self.out.bias.copy_(self.out.bias[:NUM_ACTIONS].repeat(heads))

    def forward(self, obs: torch.Tensor) -> torch.Tensor:  # [B, heads, NUM_ACTIONS]
        return self.out(self.trunk(obs)).view(-1, self.heads, NUM_ACTIONS)


@dataclass
class FQEResult:
    """Per bot ``k`` (the order of the ``policy_actions`` given): value and advantage over the pro."""

    value: np.ndarray  # [K]: mean Q_k(s, pi_k(s)) over logged decision rows
    advantage: np.ndarray  # [K]: mean Q_0(s, pi_k(s)) - Q_0(s, a_logged) over logged decision rows
    situation_advantage: np.ndarray  # [K, len(DECISION_SITUATIONS)]: the advantage per situation
    # [len(DECISION_SITUATIONS)]: what pressing is worth there, under the pros' head: the mean of
    # max(0, Q_0(s, a_pro) - Q_0(s, NO_ACTION)) over the rows where the pro pressed (NaN: never)
    stakes: np.ndarray
    seconds: float


def fitted_q_evaluation(lines: Timelines, policy_actions: np.ndarray, config: FQEConfig | None = None,
                        threads: int = 0) -> FQEResult:
    """Fit one Q head per bot (plus head 0 for the pros) on the logged transitions; score each bot.

    ``policy_actions`` is ``[K, T, E]``: each bot's :func:`replay` on ``lines``.
    """
    config = config or FQEConfig()
    start = time.perf_counter()
    policy_actions = np.asarray(policy_actions, dtype=np.int64)
    num_bots = policy_actions.shape[0]
    if policy_actions.shape[1:] != lines.actions.shape:
        raise ValueError(f"policy_actions must be [K, {lines.actions.shape[0]}, {lines.actions.shape[1]}], "
                         f"got {policy_actions.shape}")
    # every head's command: head 0 the pro's, head k bot k-1's; where busy, the logged one (ignored anyway)
    busy = lines.situations == BUSY
    bots = np.where(busy[None], lines.actions[None], policy_actions)
    commands = np.concatenate([lines.actions[None], bots])
    t_idx, e_idx = np.nonzero(lines.valid)
    nxt = np.minimum(t_idx + 1, lines.valid.shape[0] - 1)
    last = ~lines.valid[nxt, e_idx] | (t_idx + 1 == lines.valid.shape[0])  # the match ended on this row
    obs = torch.from_numpy(lines.observations[t_idx, e_idx])
    next_obs = torch.from_numpy(lines.observations[nxt, e_idx])
    logged = torch.from_numpy(lines.actions[t_idx, e_idx])
    rewards = torch.from_numpy(lines.rewards[t_idx, e_idx])
    not_done = torch.from_numpy((~last).astype(np.float32))
    next_commands = torch.from_numpy(commands[:, nxt, e_idx].T.copy())  # [N, heads]
    heads = num_bots + 1

    previous_threads = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        torch.manual_seed(derived_seed(config.seed, "fqe"))
        network = _QNetwork(obs.shape[1], config.hidden_size, heads)
        target = _QNetwork(obs.shape[1], config.hidden_size, heads)
        target.load_state_dict(network.state_dict())
        optimizer = torch.optim.Adam(network.parameters(), lr=config.lr)
        generator = torch.Generator().manual_seed(derived_seed(config.seed, "fqe", "batches"))
        n = len(obs)
        for step in range(config.steps):
            if step % config.target_every == 0:
                target.load_state_dict(network.state_dict())
            batch = torch.randint(0, n, (min(config.batch_size, n),), generator=generator)
            with torch.no_grad():
                next_q = target(next_obs[batch]).gather(2, next_commands[batch].unsqueeze(2)).squeeze(2)
                y = rewards[batch, None] + config.gamma * not_done[batch, None] * next_q  # [B, heads]
            q = network(obs[batch])  # [B, heads, A]
            q_logged = q.gather(2, logged[batch].view(-1, 1, 1).expand(-1, heads, 1)).squeeze(2)
            loss = torch.nn.functional.smooth_l1_loss(q_logged, y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

        # scoring on the decision rows (busy rows: every command is the same command)
        decide = ~busy[t_idx, e_idx]
        rows = torch.from_numpy(np.flatnonzero(decide))
        with torch.no_grad():
            q_all = torch.cat([network(obs[rows[i:i + 65536]]) for i in range(0, len(rows), 65536)])
        own = commands[1:, t_idx[decide], e_idx[decide]].T  # [R, K]: each bot's command
        own_t = torch.from_numpy(own.copy())
        heads_q = q_all[:, 1:, :]  # [R, K, A]
        value = heads_q.gather(2, own_t.unsqueeze(2)).squeeze(2).mean(0).numpy()
        pro_q = q_all[:, 0, :]  # [R, A]
        pro_logged = pro_q.gather(1, logged[rows].unsqueeze(1))  # [R, 1]
        adv = (pro_q.gather(1, own_t) - pro_logged).numpy()  # [R, K]
        gain = torch.clamp(pro_logged[:, 0] - pro_q[:, NO_ACTION], min=0.0).numpy()  # [R]
        pro_pressed = logged[rows].numpy() != NO_ACTION
    finally:
        torch.set_num_threads(previous_threads)
    situation = lines.situations[t_idx[decide], e_idx[decide]]
    per_situation = np.full((num_bots, len(DECISION_SITUATIONS)), np.nan)
    stakes = np.full(len(DECISION_SITUATIONS), np.nan)
    for j, name in enumerate(DECISION_SITUATIONS):
        mask = situation == SITUATION_IDS[name]
        if mask.any():
            per_situation[:, j] = adv[mask].mean(0)
        if (mask & pro_pressed).any():
            stakes[j] = gain[mask & pro_pressed].mean()
    return FQEResult(value=value.astype(np.float64), advantage=adv.mean(0).astype(np.float64),
                     situation_advantage=per_situation, stakes=stakes, seconds=time.perf_counter() - start)
