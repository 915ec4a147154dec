"""The Gymnasium vector env: ``num_envs`` matches in one engine, each against the opponent policy.

This is the batched engine exposed through Gymnasium's ``VectorEnv`` API (the way
``CartPoleVectorEnv`` is), not N copies of the single env: one compiled step advances every match,
and the opponent policy is asked once per frame for all of them. Autoreset follows Gymnasium's
default ``NEXT_STEP`` mode: the step that ends an episode returns its final observation with
``terminated=True``; the *next* step resets that env (its action is ignored) and returns the new
episode's first observation with reward 0 and ``terminated=False``.

``gymnasium.make_vec("FightLab/Duel-v0", num_envs=N, vectorization_mode="vector_entry_point")``
builds it once :mod:`agents` is imported (it resolves ``opponent="footsies"`` to a Policy); keyword
arguments are those of :class:`envs.fighting_env.FightingEnv` (except ``render_mode``: use the
single env to watch a match). The class itself takes ``opponent`` as a Policy object.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from envs.actions import NUM_ACTIONS, check_action_batch
from envs.engine import DRAW, DuelEngine
from envs.observation import observation_space
from envs.options import build_params, check_reset_options, check_seed, check_side
from envs.params import GameParams
from envs.policy import Policy, check_policy


class FightingVectorEnv(VectorEnv):
    """``num_envs`` single-agent matches against ``opponent``, stepped as one batch."""

    metadata = {"render_modes": [], "autoreset_mode": AutoresetMode.NEXT_STEP}

    def __init__(self, num_envs: int = 1, opponent: Policy | None = None,
                 agent_side: int | str = "random", observation_delay: int = 0,
                 params: GameParams | None = None, render_mode: str | None = None,
                 **game_options: Any) -> None:
        if render_mode is not None:
            raise ValueError("FightingVectorEnv does not render; watch a match with the single "
                             "env (gymnasium.make(..., render_mode='human'))")
        setup_duel_vector(self, num_envs, build_params(params, game_options), observation_delay, agent_side)
        self.opponent = check_policy(opponent)

    def reset(self, *, seed: int | None = None,
              options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=check_seed(seed))
        options = check_reset_options(options, ("agent_side",))
        side = check_side(options.get("agent_side", self.default_agent_side))
        self._side_mode = side
        self._draw_sides(self._rows)
        self.opponent.reset(self.num_envs, seed=int(self.np_random.integers(2**31)))
        self.engine.reset(rng=self.np_random)
        self._prev_done[:] = False
        return self._agent_obs(), self._info()

    def step(self, actions: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray,
                                          dict[str, Any]]:
        actions = check_action_batch(actions, (self.num_envs,))
        obs = self.engine.observe()
        opponent_actions = check_action_batch(
            self.opponent.act(obs[self._rows, 1 - self.agent_side]), (self.num_envs,))
        self._actions[self._rows, self.agent_side] = actions
        self._actions[self._rows, 1 - self.agent_side] = opponent_actions
        dealt = self.engine.step(self._actions, validate=False)  # finished envs stay frozen
        side = self.agent_side
        rewards = (dealt[self._rows, side] - dealt[self._rows, 1 - side]) / self.params.max_hp
        winner = self.engine.winner
        terminated = self.engine.done.copy()
        rewards = rewards + np.where(winner == side, 1.0, 0.0) * terminated
        rewards = rewards - np.where(winner == 1 - side, 1.0, 0.0) * terminated

        restarting = np.flatnonzero(self._prev_done)
        if restarting.size:  # NEXT_STEP autoreset of the envs that ended last step
            self._draw_sides(restarting)
            self.engine.reset(restarting, rng=self.np_random)
            self.opponent.reset(self.num_envs, env_ids=restarting)
            rewards[restarting] = 0.0
            terminated[restarting] = False
        self._prev_done = terminated
        truncated = np.zeros(self.num_envs, dtype=np.bool_)
        return self._agent_obs(), rewards.astype(np.float32), terminated, truncated, self._info()

    def _draw_sides(self, ids: np.ndarray) -> None:
        if self._side_mode == "random":
            self.agent_side[ids] = self.np_random.integers(2, size=ids.shape[0])
        else:
            self.agent_side[ids] = self._side_mode

    def _agent_obs(self) -> np.ndarray:
        return learner_obs(self.engine, self._rows, self.agent_side)

    def _info(self) -> dict[str, Any]:
        return learner_info(self.engine, self._rows, self.agent_side)


def setup_duel_vector(env: VectorEnv, num_envs: int, params: GameParams, observation_delay: int,
                      agent_side: int | str) -> None:
    """What the vector envs set up alike: N matches in one engine, the spaces, the learner's side
    per slot (drawn at each reset from ``agent_side``) and the action buffer."""
    env.params = params
    env.num_envs = int(num_envs)
    env.engine = DuelEngine(env.num_envs, params, observation_delay)
    env.default_agent_side = check_side(agent_side)
    env.single_observation_space = observation_space()
    env.single_action_space = gym.spaces.Discrete(NUM_ACTIONS)
    env.observation_space = batch_space(env.single_observation_space, env.num_envs)
    env.action_space = batch_space(env.single_action_space, env.num_envs)
    env.render_mode = None
    env._rows = np.arange(env.num_envs)
    env.agent_side = np.zeros(env.num_envs, dtype=np.int64)
    env._actions = np.zeros((env.num_envs, 2), dtype=np.int64)
    env._prev_done = np.zeros(env.num_envs, dtype=np.bool_)


def learner_obs(engine: DuelEngine, rows: np.ndarray, agent_side: np.ndarray) -> np.ndarray:
    """Each match's observation from the side the learner plays (``rows`` is ``arange(num_envs)``)."""
    return engine.observe()[rows, agent_side]


def learner_info(engine: DuelEngine, rows: np.ndarray, agent_side: np.ndarray) -> dict[str, Any]:
    """The vector envs' info dict, from the learner's side: frame, both HPs, side, and the result
    (``"win"``/``"loss"``/``"draw"``, masked by ``_result`` to the matches that ended)."""
    hp = engine.state.hp
    ended = engine.done
    result = np.where(engine.winner == DRAW, "draw", np.where(engine.winner == agent_side, "win", "loss"))
    return {
        "frame": engine.frame.copy(),
        "hp": hp[rows, agent_side],
        "opponent_hp": hp[rows, 1 - agent_side],
        "side": agent_side.copy(),
        "result": np.where(ended, result, ""),
        "_result": ended.copy(),
    }
