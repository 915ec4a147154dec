"""The native RLlib ``MultiAgentEnv`` (new API stack): both fighters as RLlib agents.

Written against RLlib's own ``MultiAgentEnv`` rather than wrapping the PettingZoo env, so RLlib
sees its native per-agent spaces and ``"__all__"`` done flags without a conversion layer. Agents
are ``player_0`` and ``player_1`` with egocentric observations; map both to one module for
self-play. ``config`` carries the same options as the other adapters, e.g.
``{"observation_delay": 2, "round_seconds": 30}``::

    from ray.rllib.algorithms.ppo import PPOConfig
    from envs.rllib_env import FightingMultiAgentEnv
    config = PPOConfig().environment(FightingMultiAgentEnv, env_config={"round_seconds": 30})
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
from gymnasium.utils import seeding
from ray.rllib.env.multi_agent_env import MultiAgentEnv

from envs.actions import NUM_ACTIONS, check_action
from envs.duel import PLAYER_IDS, Duel
from envs.observation import observation_space
from envs.options import build_params, check_seed


class FightingMultiAgentEnv(MultiAgentEnv):
    def __init__(self, config: dict[str, Any] | None = None) -> None:
        super().__init__()
        options = dict(config or {})
        observation_delay = options.pop("observation_delay", 0)
        params = options.pop("params", None)
        self.params = build_params(params, options)
        self.duel = Duel(self.params, observation_delay)
        self.agents = self.possible_agents = list(PLAYER_IDS)
        self.observation_spaces = {a: observation_space() for a in PLAYER_IDS}
        self.action_spaces = {a: gym.spaces.Discrete(NUM_ACTIONS) for a in PLAYER_IDS}
        self._np_random, _ = seeding.np_random(None)

    def reset(self, *, seed: int | None = None,
              options: dict[str, Any] | None = None) -> tuple[dict, dict]:
        seed = check_seed(seed)
        if seed is not None:
            self._np_random, _ = seeding.np_random(seed)
        obs = self.duel.reset(self._np_random)
        self.agents = list(PLAYER_IDS)
        return ({a: obs[k].copy() for k, a in enumerate(PLAYER_IDS)},
                {a: self.duel.info(k) for k, a in enumerate(PLAYER_IDS)})

    def step(self, action_dict: dict[str, Any]) -> tuple[dict, dict, dict, dict, dict]:
        missing = [a for a in PLAYER_IDS if a not in action_dict]
        if missing:
            raise ValueError(f"action_dict is missing {missing}; both fighters act every frame")
        obs, rewards, done = self.duel.step(check_action(action_dict[PLAYER_IDS[0]]),
                                            check_action(action_dict[PLAYER_IDS[1]]))
        observations = {a: obs[k].copy() for k, a in enumerate(PLAYER_IDS)}
        reward_dict = {a: float(rewards[k]) for k, a in enumerate(PLAYER_IDS)}
        terminateds = {a: done for a in PLAYER_IDS}
        terminateds["__all__"] = done
        truncateds = {a: False for a in PLAYER_IDS}
        truncateds["__all__"] = False
        infos = {a: self.duel.info(k) for k, a in enumerate(PLAYER_IDS)}
        return observations, reward_dict, terminateds, truncateds, infos
