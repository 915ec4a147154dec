"""The match runner: M matches between two policies through the batched engine.

It lives with the game and only sees the :class:`~envs.policy.Policy` protocol, so every layer
above (log generation in :mod:`datasets`, online evaluation and the tournament in
:mod:`evaluation`, ``demo.py``) plays matches the same way.

This is the *online* test of the lecture: not "does the bot predict the pro's button", but "does
it win". Matches run in waves of up to ``batch_size`` concurrent matches; each policy is asked once
per frame for all matches of the wave (one batched call, so a network does one forward pass).
Sides alternate (policy A is side 0 in even matches, side 1 in odd ones), so neither policy gets the
left or right side more often. One seed fixes the starting spots and every policy's randomness.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import pandas as pd

from envs.actions import ACTION_NAMES, NUM_ACTIONS, InvalidActionError, check_action_batch
from envs.engine import DRAW, DuelEngine
from envs.params import GameParams
from envs.policy import Policy
from envs.seeding import derived_seed
from envs.terminal import progress_bar
from envs.win_record import WinRecord


class FrameRecorder(Protocol):
    """Receives every frame the runner plays (the hook the log generator writes pro logs through).

    ``begin_wave`` announces the wave's global match ids and which side policy A plays in each;
    ``record_frame`` then gets, for each frame, the wave rows still running, the frame index (all
    matches of a wave start together), and the observations each side saw ``(n, 2, OBS_DIM)`` and
    the commands each side pressed ``(n, 2)`` for the whole wave (index them with ``rows``).
    """

    def begin_wave(self, match_ids: np.ndarray, a_side: np.ndarray) -> None: ...

    def record_frame(self, rows: np.ndarray, frame: int, obs: np.ndarray,
                     actions: np.ndarray) -> None: ...


@dataclass
class MatchResults:
    """Per-match outcomes from policy A's point of view.

    ``table`` has one row per match: ``match_id``, ``a_side`` (0 or 1), ``result`` ("win", "loss"
    or "draw" for A), ``hp_a``, ``hp_b``, ``duration_frames``, ``ko`` (ended before time-up).
    ``action_counts[m, k, a]`` is how often policy k (0 = A, 1 = B) pressed command a in match m.
    """

    name_a: str
    name_b: str
    seed: int
    table: pd.DataFrame
    action_counts: np.ndarray

    @property
    def num_matches(self) -> int:
        return len(self.table)

    @property
    def record(self) -> WinRecord:
        """A's wins, draws and losses."""
        return WinRecord.from_results(self.table["result"])

    def count(self, result: str) -> int:
        return int((self.table["result"] == result).sum())

    @property
    def win_rate(self) -> float:
        """A's wins / matches (draws count as not won)."""
        return self.record.win_rate

    def action_distribution(self, player: int = 0) -> pd.Series:
        """Share of each command in everything ``player`` (0 = A, 1 = B) pressed, NO_ACTION included."""
        totals = self.action_counts[:, player].sum(axis=0)
        return pd.Series(totals / max(totals.sum(), 1), index=list(ACTION_NAMES), name="share")

    def summary(self) -> dict[str, object]:
        record = self.record
        return {
            "a": self.name_a, "b": self.name_b, "matches": record.matches,
            "wins": record.wins, "losses": record.losses, "draws": record.draws,
            "win_rate": record.win_rate,
            "mean_duration_s": float(self.table["duration_frames"].mean() / 60.0),
        }


def play_matches(policy_a: Policy, policy_b: Policy, num_matches: int, *, seed: int = 0,
                 params: GameParams | None = None, observation_delay: int = 0,
                 batch_size: int = 1024, progress: bool = False,
                 recorder: FrameRecorder | None = None, first_match_id: int = 0) -> MatchResults:
    """Play ``num_matches`` matches of A vs B and return their :class:`MatchResults`.

    ``recorder`` (optional) sees every frame; ``first_match_id`` offsets the match ids so several
    calls can write one dataset.
    """
    if isinstance(num_matches, bool) or not isinstance(num_matches, (int, np.integer)) \
            or num_matches < 1:
        raise ValueError(f"num_matches must be a positive int, got {num_matches!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise TypeError(f"seed must be a non-negative int, got {seed!r} ({type(seed).__name__})")
    params = params if params is not None else GameParams()
    name_a = getattr(policy_a, "name", type(policy_a).__name__)
    name_b = getattr(policy_b, "name", type(policy_b).__name__)
    tables, counts = [], []
    starts = range(0, num_matches, batch_size)
    for wave, start in progress_bar(list(enumerate(starts)), desc=f"{name_a} vs {name_b}",
                                    enabled=progress, unit="wave"):
        n = min(batch_size, num_matches - start)
        table, count = _play_wave(policy_a, policy_b, name_a, name_b, first_match_id + start, n,
                                  wave_seeds(int(seed), wave), params, observation_delay, recorder)
        tables.append(table)
        counts.append(count)
    return MatchResults(name_a, name_b, int(seed), pd.concat(tables, ignore_index=True),
                        np.concatenate(counts))


def wave_seeds(seed: int, wave: int) -> tuple[int, int, int]:
    """``(starting spots, policy A, policy B)`` seeds of wave ``wave`` of ``play_matches(..., seed=seed)``."""
    return derived_seed(seed, wave, 0), derived_seed(seed, wave, 1), derived_seed(seed, wave, 2)


def _play_wave(policy_a: Policy, policy_b: Policy, name_a: str, name_b: str, first_id: int,
               n: int, seeds: tuple[int, int, int], params: GameParams,
               observation_delay: int, recorder: FrameRecorder | None
               ) -> tuple[pd.DataFrame, np.ndarray]:
    jitter_seed, seed_a, seed_b = seeds
    engine = DuelEngine(n, params, observation_delay)
    engine.reset(rng=np.random.default_rng(jitter_seed))
    policy_a.reset(n, seed=seed_a)
    policy_b.reset(n, seed=seed_b)
    rows = np.arange(n)
    side_a = (first_id + rows) % 2
    side_b = 1 - side_a
    actions = np.zeros((n, 2), dtype=np.int64)
    counts = np.zeros((n, 2, NUM_ACTIONS), dtype=np.int64)
    if recorder is not None:
        recorder.begin_wave(first_id + rows, side_a.copy())
    frame = 0
    while True:
        running = ~engine.done
        if not running.any():
            break
        obs = engine.observe()
        act_a = _checked(policy_a.act(obs[rows, side_a]), n, name_a)
        act_b = _checked(policy_b.act(obs[rows, side_b]), n, name_b)
        actions[rows, side_a] = act_a
        actions[rows, side_b] = act_b
        live = rows[running]
        counts[live, 0, act_a[live]] += 1
        counts[live, 1, act_b[live]] += 1
        if recorder is not None:
            recorder.record_frame(live, frame, obs, actions)
        engine.step(actions, validate=False)
        frame += 1
    winner = engine.winner
    result = np.where(winner == DRAW, "draw", np.where(winner == side_a, "win", "loss"))
    hp = engine.state.hp
    table = pd.DataFrame({
        "match_id": first_id + rows,
        "a_side": side_a,
        "result": result,
        "hp_a": hp[rows, side_a],
        "hp_b": hp[rows, side_b],
        "duration_frames": engine.frame.copy(),
        "ko": (hp[rows, side_a] == 0) | (hp[rows, side_b] == 0),
    })
    return table, counts


def _checked(actions: object, n: int, name: str) -> np.ndarray:
    try:
        return check_action_batch(actions, (n,))
    except InvalidActionError as err:
        raise InvalidActionError(f"policy {name!r} returned invalid actions: {err}") from err
