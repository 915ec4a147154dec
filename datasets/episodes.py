"""Logged matches as episodes: one per (match, side), with the acting player's reward per frame.

A log row says what a pro saw and pressed; offline RL and off-policy evaluation also need what it
was *worth*. This module is the one place that turns a split of the logs into episodes, the view
that both the off-policy evaluation (:mod:`evaluation.ope`) and the Minari export
(:mod:`datasets.minari_format`) read, so a frame's reward means the same thing everywhere:

* one episode per (match, side): the match from that fighter's egocentric point of view, in frame
  order (both sides' episodes of a match are the same frames seen by each fighter);
* reward per frame = damage dealt minus damage taken, in fractions of max HP (the HP drop between
  this row and the next), and on the last frame the match result: +1 win, -1 loss, 0 draw, from the
  matches table (the same reward the Gymnasium env pays, ``envs.fighting_env``);
* ``terminals``: True on each episode's last frame (a KO or time-up; there is no truncation, the
  timer is in the observation).

The logs do not record the state after the final command of a match, so an episode has as many
observations as commands; consumers that need ``T + 1`` observations repeat the last one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from datasets.load import LogDataset
from datasets.schema import OBSERVATION_COLUMNS
from envs.observation import ME, OPP, FighterField


@dataclass
class Episodes:
    """``E`` episodes stored flat: episode ``e`` is rows ``starts[e] : starts[e] + lengths[e]``.

    Episodes are ordered by ``(match_id, side)``; rows within one by frame. ``order`` maps each flat
    row back to its row in ``dataset.frames`` (so per-row columns such as ``player_id`` can be read).
    """

    match_ids: np.ndarray  # [E] int64
    sides: np.ndarray  # [E] int64: 0 = the fighter that starts on the left
    starts: np.ndarray  # [E] int64: first flat row of each episode
    lengths: np.ndarray  # [E] int64: frames logged
    results: np.ndarray  # [E] float32: +1 win, -1 loss, 0 draw for that side
    observations: np.ndarray  # [N, OBS_DIM] float32
    actions: np.ndarray  # [N] int64: the command the pro pressed
    rewards: np.ndarray  # [N] float32: damage dealt - taken; + the result on the last frame
    terminals: np.ndarray  # [N] bool: the episode's last frame
    order: np.ndarray  # [N] int64: index into ``dataset.frames`` of each flat row

    @property
    def num_episodes(self) -> int:
        return len(self.starts)

    @property
    def num_rows(self) -> int:
        return len(self.actions)

    def episode(self, index: int) -> slice:
        """The flat rows of episode ``index``."""
        start = int(self.starts[index])
        return slice(start, start + int(self.lengths[index]))

    def padded_index(self) -> tuple[np.ndarray, np.ndarray]:
        """``(index [T, E], valid [T, E])``: the flat row each cell of a ``[T, E]`` block takes (past
        an episode's end, its last row) and which cells were logged; ``T`` is the longest episode."""
        longest = int(self.lengths.max())
        t = np.arange(longest)[:, None]
        index = self.starts[None, :] + np.minimum(t, self.lengths[None, :] - 1)
        return index, t < self.lengths[None, :]


def match_results(dataset: LogDataset, match_ids: np.ndarray, sides: np.ndarray) -> np.ndarray:
    """+1 / -1 / 0 per (match, side) from the matches table's ``winner`` (a match missing there: -1)."""
    winners = dict(zip(dataset.matches["match_id"], dataset.matches["winner"], strict=True))
    return np.array([1.0 if winners.get(m) == f"player_{s}" else 0.0 if winners.get(m) == "draw" else -1.0
                     for m, s in zip(match_ids.tolist(), sides.tolist(), strict=True)], dtype=np.float32)


def build_episodes(dataset: LogDataset) -> Episodes:
    """The dataset's (or split's) frames as episodes with rewards (see the module docstring)."""
    frames = dataset.frames
    if frames.empty:
        raise ValueError("episodes: the dataset has no frames")
    order = np.lexsort((frames["frame"].to_numpy(), frames["side"].to_numpy(),
                        frames["match_id"].to_numpy())).astype(np.int64)
    match_col = frames["match_id"].to_numpy(np.int64)[order]
    side_col = frames["side"].to_numpy(np.int64)[order]
    boundary = np.r_[True, (match_col[1:] != match_col[:-1]) | (side_col[1:] != side_col[:-1])]
    starts = np.flatnonzero(boundary).astype(np.int64)
    lengths = np.diff(np.r_[starts, len(order)]).astype(np.int64)
    observations = frames[list(OBSERVATION_COLUMNS)].to_numpy(dtype=np.float32)[order]
    actions = frames["action_id"].to_numpy(dtype=np.int64)[order]

    me_hp, opp_hp = observations[:, ME + FighterField.HP], observations[:, OPP + FighterField.HP]
    rewards = np.zeros(len(order), dtype=np.float32)
    rewards[:-1] = (opp_hp[:-1] - opp_hp[1:]) - (me_hp[:-1] - me_hp[1:])
    last = starts + lengths - 1
    match_ids, sides = match_col[starts], side_col[starts]
    results = match_results(dataset, match_ids, sides)
    rewards[last] = results  # also overwrites the cross-episode difference on each last row
    terminals = np.zeros(len(order), dtype=bool)
    terminals[last] = True
    return Episodes(match_ids=match_ids, sides=sides, starts=starts, lengths=lengths, results=results,
                    observations=observations, actions=actions, rewards=rewards, terminals=terminals,
                    order=order)
