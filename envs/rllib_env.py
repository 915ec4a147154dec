"""The native RLlib ``MultiAgentEnv`` (new API stack): both fighters as RLlib agents.

Written against RLlib's own ``MultiAgentEnv`` rather than wrapping the PettingZoo env, so RLlib
sees its native per-agent spaces and ``"__all__"`` done flags without a conversion layer. Agents
are ``player_0`` and ``player_1`` with egocentric observations; map both to one module for
self-play. ``config`` carries the same options as the other adapters, e.g.
``{"observation_delay": 2, "round_seconds": 30}``::

    from ray.rllib.algorithms.ppo import PPOConfig
    from envs.rllib_env import FightingMultiAgentEnv
    config = PPOConfig().environment(FightingMultiAgentEnv, env_config={"round_seconds": 30})

**Opponent pool.** With ``config["opponents"]`` (a list of bot names / checkpoint paths, and
``"self"``) each episode draws its opponent from an :class:`agents.rl.league.OpponentPool`
(options ``league_dir``, ``league_share``, ``league_size``, ``pfsp_power``; see that module). When a bot is
drawn, it plays one side inside the env and only the learner's fighter (a random side, or
``agent_side``) is an RLlib agent that episode; when ``"self"`` is drawn, both fighters are
agents, as without a pool. ``infos`` carry ``opponent`` (who was drawn) and, on the last frame,
``result`` ("win", "loss", "draw") for the learner's side.
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

POOL_OPTIONS = ("opponents", "league_dir", "league_share", "league_size", "pfsp_power", "agent_side")


class FightingMultiAgentEnv(MultiAgentEnv):
    def __init__(self, config: dict[str, Any] | None = None) -> None:
        super().__init__()
        options = dict(config or {})
        observation_delay = options.pop("observation_delay", 0)
        params = options.pop("params", None)
        pool_options = {k: options.pop(k) for k in POOL_OPTIONS if k in options}
        self.params = build_params(params, options)
        self.duel = Duel(self.params, observation_delay)
        self.agents = self.possible_agents = list(PLAYER_IDS)
        self.observation_spaces = {a: observation_space() for a in PLAYER_IDS}
        self.action_spaces = {a: gym.spaces.Discrete(NUM_ACTIONS) for a in PLAYER_IDS}
        self._np_random, _ = seeding.np_random(None)
        self.agent_side = check_side(pool_options.pop("agent_side", "random"))
        self.pool = None
        if pool_options.get("opponents"):
            from agents.rl.league import OpponentPool  # envs must not import agents at module level

            self.pool = OpponentPool(list(pool_options.pop("opponents")), params=self.params,
                                     **pool_options)
        self.opponent_name = "self"
        self._opponent: Any = None  # the in-env bot of this episode; None: both sides are agents
        self._side = 0  # the learner's side when a bot plays the other
        self._obs = np.zeros((2, self.observation_spaces[PLAYER_IDS[0]].shape[0]), np.float32)

    def reset(self, *, seed: int | None = None,
              options: dict[str, Any] | None = None) -> tuple[dict, dict]:
        seed = check_seed(seed)
        if seed is not None:
            self._np_random, _ = seeding.np_random(seed)
        self._obs = self.duel.reset(self._np_random)
        self._opponent, self.opponent_name = None, "self"
        if self.pool is not None:
            self.opponent_name, self._opponent = self.pool.sample(self._np_random)
        if self._opponent is None:
            self.agents = list(PLAYER_IDS)
        else:
            self._side = int(self._np_random.integers(2)) if self.agent_side == "random" \
                else int(self.agent_side)
            self._opponent.reset(1, seed=int(self._np_random.integers(2**31)))
            self.agents = [PLAYER_IDS[self._side]]
        return self._agent_dicts(self._obs, self._infos())

    def step(self, action_dict: dict[str, Any]) -> tuple[dict, dict, dict, dict, dict]:
        missing = [a for a in self.agents if a not in action_dict]
        if missing:
            raise ValueError(f"action_dict is missing {missing}; every active fighter acts every frame")
        if self._opponent is None:
            actions = [check_action(action_dict[a]) for a in PLAYER_IDS]
        else:
            actions = [0, 0]
            actions[self._side] = check_action(action_dict[PLAYER_IDS[self._side]])
            actions[1 - self._side] = int(self._opponent.act(self._obs[1 - self._side][None])[0])
        self._obs, rewards, done = self.duel.step(*actions)
        observations, infos = self._agent_dicts(self._obs, self._infos())
        if done and self._opponent is not None:
            self.pool.record(self.opponent_name, str(infos[PLAYER_IDS[self._side]]["result"]))
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
