"""The native RLlib ``MultiAgentEnv`` (new API stack): both fighters as RLlib agents.

Written against RLlib's own ``MultiAgentEnv`` rather than wrapping the PettingZoo env, so RLlib
sees its native per-agent spaces and ``"__all__"`` done flags without a conversion layer. Agents
are ``player_0`` and ``player_1`` with egocentric observations; map both to one module for
self-play. ``config`` carries the same options as the other adapters, e.g.
``{"observation_delay": 2, "round_seconds": 30}``::

    from ray.rllib.algorithms.ppo import PPOConfig
    from envs.rllib_env import FightingMultiAgentEnv
    config = PPOConfig().environment(FightingMultiAgentEnv, env_config={"round_seconds": 30})

**Opponent pool.** With ``config["opponent_pool"]`` (a factory of an opponent sampler, see
:mod:`envs.pool_env`; :func:`agents.gym_envs.pool_env_config` builds one from bot names around
:class:`agents.rl.league.OpponentPool`) each episode draws its opponent. When a bot is drawn, it
plays one side inside the env and only the learner's fighter (a random side, or ``agent_side``)
is an RLlib agent that episode; when ``"self"`` is drawn, both fighters are agents, as without a
pool. ``infos`` carry ``opponent`` (who was drawn) and, on the last frame, ``result`` ("win",
"loss", "draw") for the learner's side. The env takes the sampler factory, never bot names: names
are resolved in :mod:`agents`.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.utils import seeding
from ray.rllib.env.multi_agent_env import MultiAgentEnv

from envs.actions import NUM_ACTIONS, check_action
from envs.duel import PLAYER_IDS, Duel
from envs.observation import observation_space
from envs.options import build_params, check_seed, check_side
from envs.pool_env import POOL_KEY, SELF, OpponentSampler, PoolOpponent, make_sampler, reject_named_pool


class FightingMultiAgentEnv(MultiAgentEnv):
    def __init__(self, config: dict[str, Any] | None = None) -> None:
        super().__init__()
        options = dict(config or {})
        reject_named_pool(options)
        observation_delay = options.pop("observation_delay", 0)
        params = options.pop("params", None)
        factory = options.pop(POOL_KEY, None)
        agent_side = check_side(options.pop("agent_side", "random"))
        self.params = build_params(params, options)
        self.duel = Duel(self.params, observation_delay)
        self.agents = self.possible_agents = list(PLAYER_IDS)
        self.observation_spaces = {a: observation_space() for a in PLAYER_IDS}
        self.action_spaces = {a: gym.spaces.Discrete(NUM_ACTIONS) for a in PLAYER_IDS}
        self._np_random, _ = seeding.np_random(None)
        # None: no pool, both sides are agents every episode (self-play)
        self.pool: OpponentSampler | None = None if factory is None else make_sampler(factory, self.params)
        self._draw = None if self.pool is None else PoolOpponent(self.pool, agent_side)
        self.opponent_name = SELF
        self._opponent: PoolOpponent | None = None  # this episode's in-env bot; None: both sides are agents
        self._obs = np.zeros((2, self.observation_spaces[PLAYER_IDS[0]].shape[0]), np.float32)

    def reset(self, *, seed: int | None = None,
              options: dict[str, Any] | None = None) -> tuple[dict, dict]:
        seed = check_seed(seed)
        if seed is not None:
            self._np_random, _ = seeding.np_random(seed)
        self._obs = self.duel.reset(self._np_random)
        self._opponent, self.opponent_name = None, SELF
        if self._draw is not None:
            self._draw.draw(self._np_random)
            self.opponent_name = self._draw.name
            self._opponent = self._draw if self._draw.policy is not None else None
        self.agents = list(PLAYER_IDS) if self._opponent is None else [PLAYER_IDS[self._opponent.side]]
        return self._agent_dicts(self._obs, self._infos())

    def step(self, action_dict: dict[str, Any]) -> tuple[dict, dict, dict, dict, dict]:
        missing = [a for a in self.agents if a not in action_dict]
        if missing:
            raise ValueError(f"action_dict is missing {missing}; every active fighter acts every frame")
        if self._opponent is None:
            actions = [check_action(action_dict[a]) for a in PLAYER_IDS]
        else:
            side = self._opponent.side
            actions = [0, 0]
            actions[side] = check_action(action_dict[PLAYER_IDS[side]])
            actions[1 - side] = self._opponent.act(self._obs)
        self._obs, rewards, done = self.duel.step(*actions)
        observations, infos = self._agent_dicts(self._obs, self._infos())
        if done and self._opponent is not None:
            self._opponent.record(str(infos[PLAYER_IDS[self._opponent.side]]["result"]))
        reward_dict = {a: float(rewards[PLAYER_IDS.index(a)]) for a in self.agents}
        terminateds = {a: done for a in self.agents} | {"__all__": done}
        truncateds = {a: False for a in self.agents} | {"__all__": False}
        return observations, reward_dict, terminateds, truncateds, infos

    def _infos(self) -> list[dict[str, Any]]:
        return [self.duel.info(k) | {"opponent": self.opponent_name} for k in range(len(PLAYER_IDS))]

    def _agent_dicts(self, obs: np.ndarray, infos: list[dict[str, Any]]) -> tuple[dict, dict]:
        """Per-agent observation and info dicts for the fighters that are RLlib agents now."""
        index = [PLAYER_IDS.index(a) for a in self.agents]
        return ({a: obs[k].copy() for a, k in zip(self.agents, index, strict=True)},
                {a: infos[k] for a, k in zip(self.agents, index, strict=True)})
