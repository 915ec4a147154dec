"""Record any play of the Gymnasium env as a log dataset: a wrapper, not a feature of the env.

As in Minari's ``DataCollector``, recording wraps the env instead of being baked into it, so a human
at the keyboard, a trained bot or a script produce logs the same way::

    env = RecordLogs(gym.make("FightLab/Duel-v0", opponent="zoner", render_mode="human"),
                     "data/alice", player_id="human:alice", style="human", skill="human")
    obs, info = env.reset(seed=0)
    ...  # play
    env.close()  # writes data/alice (atomically): frames, matches, manifest, card

Each frame becomes one row for the agent's side (the observation the env returned before the step,
and the command sent) and, with ``record_opponent`` (default), one row for the opponent's side (its
observation from the engine and the command its policy chose). A match is written when it ends;
a match abandoned by ``reset`` or ``close`` before its end is dropped, because the matches table
needs a result. Wrap the env directly (``gym.make``'s own wrappers are fine): an action-changing
wrapper between this one and the env would make the logged command differ from the played one.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pandas as pd

from datasets.writer import DEFAULT_SHARD_ROWS, DatasetWriter, PlayerInfo
from envs.actions import check_action
from envs.engine import DRAW
from envs.fighting_env import FightingEnv
from envs.params import GameParams


class _ActionSpy:
    """Wraps the env's opponent policy and remembers the command it chose last (all else forwarded)."""

    def __init__(self, policy: Any) -> None:
        self.policy = policy
        self.name = getattr(policy, "name", type(policy).__name__)
        self.last_action = 0

    def reset(self, num_envs: int, seed: int | None = None, env_ids: np.ndarray | None = None) -> None:
        self.policy.reset(num_envs, seed=seed, env_ids=env_ids)

    def act(self, obs: np.ndarray) -> np.ndarray:
        actions = self.policy.act(obs)
        self.last_action = int(np.asarray(actions).reshape(-1)[0])
        return actions

    def __getattr__(self, name: str) -> Any:
        return getattr(self.policy, name)


class RecordLogs(gym.Wrapper):
    """Write every finished match played through a ``FightingEnv`` to a dataset at ``path``.

    ``player_id`` / ``style`` / ``skill`` describe the agent (e.g. ``"human:alice"``, ``"human"``,
    ``"human"``); the opponent is described by its policy (``name``, ``style``, ``skill``).
    ``path`` must not exist unless ``overwrite=True`` (checked here, before anyone plays). The
    dataset appears at ``path`` on :meth:`close`; nothing is written if no match was finished.
    ``metadata`` (e.g. ``play.py``'s bot and difficulty settings) is added to the manifest's
    ``generator`` record; :meth:`add_match_notes` attaches notes such as ratings to a match.
    """

    def __init__(self, env: gym.Env, path: str | Path, *, player_id: str = "human",
                 style: str = "human", skill: str = "human", record_opponent: bool = True,
                 overwrite: bool = False, shard_rows: int = DEFAULT_SHARD_ROWS,
                 metadata: Mapping[str, Any] | None = None) -> None:
        super().__init__(env)
        self.metadata_record = dict(metadata or {})
        base = env.unwrapped
        if not isinstance(base, FightingEnv):
            raise TypeError(f"RecordLogs records envs.fighting_env.FightingEnv (FightLab/Duel-v0); got "
                            f"{type(base).__name__}")
        self.base: FightingEnv = base
        self.player = PlayerInfo(player_id, style, skill)
        self.record_opponent = record_opponent
        self._original_opponent = base.opponent
        self.opponent_player = PlayerInfo.of(base.opponent)
        self._spy = _ActionSpy(base.opponent)
        base.opponent = self._spy
        self.num_matches_recorded = 0
        self._writer: DatasetWriter | None = DatasetWriter(
            path, generator=self._generator_record(), seed=None, overwrite=overwrite,
            shard_rows=shard_rows)
        self.path = self._writer.path
        self._in_match = False
        self._seed = -1
        self._last_obs = self._both_sides_observation()
        self._reset_episode()

    def _generator_record(self) -> dict[str, Any]:
        defaults = dataclasses.asdict(GameParams())
        changed = {k: v for k, v in dataclasses.asdict(self.base.params).items() if defaults[k] != v}
        spec = self.env.spec
        return {
            "source": "datasets.recording.RecordLogs",
            "env": spec.id if spec is not None else type(self.base).__name__,
            "player": dataclasses.asdict(self.player),
            "opponent": dataclasses.asdict(self.opponent_player),
            "agent_side": self.base.default_agent_side,
            "observation_delay": self.base.duel.engine.observation_delay,
            "game_params_changed": changed,
            "record_opponent": self.record_opponent,
            **self.metadata_record,
        }

    def _reset_episode(self) -> None:
        self._frames: list[int] = []
        self._obs: list[np.ndarray] = []  # (2, OBS_DIM) per frame, by side
        self._actions: list[tuple[int, int]] = []  # by side

    def _both_sides_observation(self) -> np.ndarray:
        return self.base.duel.engine.observe()[0].copy()

    def reset(self, *, seed: int | None = None,
              options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        if self._in_match and self._frames:
            gym.logger.warn(f"RecordLogs: reset before the match ended; dropping its {len(self._frames)} "
                            "frames (the matches table needs a result)")
        obs, info = self.env.reset(seed=seed, options=options)
        self._seed = -1 if seed is None else int(seed)
        self._reset_episode()
        self._in_match = True
        self._last_obs = self._both_sides_observation()
        return obs, info

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        if self._writer is None:
            raise RuntimeError("RecordLogs: step() after close()")
        frame = int(self.base.duel.engine.frame[0])
        obs, reward, terminated, truncated, info = self.env.step(action)
        me = self.base.agent_side
        actions = [0, 0]
        actions[me] = check_action(action)
        actions[1 - me] = self._spy.last_action
        if self._in_match:
            self._frames.append(frame)
            self._obs.append(self._last_obs)
            self._actions.append((actions[0], actions[1]))
        self._last_obs = self._both_sides_observation()
        if terminated and self._in_match:
            self._write_match()
        if terminated or truncated:
            self._in_match = False
        return obs, reward, terminated, truncated, info

    def _write_match(self) -> None:
        assert self._writer is not None
        me = self.base.agent_side
        by_side = (self.player, self.opponent_player) if me == 0 else (self.opponent_player, self.player)
        frames = np.asarray(self._frames, dtype=np.int32)
        obs = np.stack(self._obs)  # (T, 2, OBS_DIM)
        actions = np.asarray(self._actions, dtype=np.int64)  # (T, 2)
        sides = [0, 1] if self.record_opponent else [me]
        k = len(sides)
        self._writer.add_rows(self.num_matches_recorded, np.repeat(frames, k),
                              np.tile(np.asarray(sides, dtype=np.int8), len(frames)),
                              obs[:, sides].reshape(-1, obs.shape[-1]), actions[:, sides].reshape(-1),
                              players=by_side)
        state = self.base.duel.engine.state
        winner = int(state.winner[0])
        self._writer.add_match_rows(pd.DataFrame({
            "match_id": [self.num_matches_recorded],
            "player_0_id": [by_side[0].player_id], "player_0_style": [by_side[0].style],
            "player_1_id": [by_side[1].player_id], "player_1_style": [by_side[1].style],
            "winner": ["draw" if winner == DRAW else f"player_{winner}"],
            "hp_0": [int(state.hp[0, 0])], "hp_1": [int(state.hp[0, 1])],
            "duration_frames": [int(state.frame[0])],
            "seed": [self._seed],
        }))
        self.num_matches_recorded += 1
        self._reset_episode()

    def add_match_notes(self, notes: Mapping[str, Any], match_id: int | None = None) -> None:
        """Attach notes (e.g. a playtester's ratings) to a recorded match, by default the last one.

        They are stored in the dataset's ``manifest["match_notes"]`` (see
        :meth:`datasets.writer.DatasetWriter.add_match_notes`).
        """
        if self._writer is None:
            raise RuntimeError("RecordLogs: add_match_notes() after close()")
        if match_id is None:
            if not self.num_matches_recorded:
                raise ValueError("RecordLogs: no match recorded yet to attach notes to")
            match_id = self.num_matches_recorded - 1
        self._writer.add_match_notes(match_id, notes)

    def close(self) -> None:
        """Publish the dataset (if any match finished), give the env its opponent back, close it."""
        if self._writer is not None:
            writer, self._writer = self._writer, None
            self.base.opponent = self._original_opponent
            if self.num_matches_recorded:
                writer.close()
            else:
                writer.abort()
                gym.logger.warn(f"RecordLogs: no match was finished; nothing written to {self.path}")
        super().close()
