"""The two-player PettingZoo ``ParallelEnv``: both fighters act every frame.

Agents are ``player_0`` (left at the bell) and ``player_1``; each gets its own egocentric
observation, so one policy can control either. Rewards and termination are those of
:class:`envs.fighting_env.FightingEnv` (zero-sum damage difference plus +-1 for the result); both
agents leave ``agents`` on the frame the match ends. Checked by ``pettingzoo.test.parallel_api_test``
and ``parallel_seed_test``.

    from envs.pettingzoo_env import FightingParallelEnv
    env = FightingParallelEnv(render_mode=None, observation_delay=0, round_seconds=60)
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.utils import seeding
from pettingzoo import ParallelEnv

from envs.actions import NUM_ACTIONS, check_action
from envs.duel import PLAYER_IDS, Duel
from envs.observation import observation_space
from envs.options import build_params, check_seed
from envs.params import GameParams


class FightingParallelEnv(ParallelEnv):
    metadata = {"render_modes": ["human", "rgb_array", "ansi"], "render_fps": 60,
                "name": "fightlab_duel_v0", "is_parallelizable": True}

    def __init__(self, render_mode: str | None = None, observation_delay: int = 0,
                 params: GameParams | None = None, **game_options: Any) -> None:
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be one of {self.metadata['render_modes']} or None, "
                             f"got {render_mode!r}")
        self.params = build_params(params, game_options)
        self.render_mode = render_mode
        self.duel = Duel(self.params, observation_delay)
        self.possible_agents = list(PLAYER_IDS)
        self.agents: list[str] = []
        self.observation_spaces = {a: observation_space() for a in self.possible_agents}
        self.action_spaces = {a: gym.spaces.Discrete(NUM_ACTIONS) for a in self.possible_agents}
        self._np_random, _ = seeding.np_random(None)
        self._renderer: Any = None

    def observation_space(self, agent: str) -> gym.spaces.Space:
        return self.observation_spaces[agent]

    def action_space(self, agent: str) -> gym.spaces.Space:
        return self.action_spaces[agent]

    def reset(self, seed: int | None = None,
              options: dict[str, Any] | None = None) -> tuple[dict, dict]:
        # PettingZoo's API test passes arbitrary reset options; this env defines none and ignores them.
        seed = check_seed(seed)
        if seed is not None:
            self._np_random, _ = seeding.np_random(seed)
        obs = self.duel.reset(self._np_random)
        self.agents = list(self.possible_agents)
        return self._by_agent(obs, copy=True), {a: self.duel.info(k) for k, a in enumerate(PLAYER_IDS)}

    def step(self, actions: dict[str, Any]) -> tuple[dict, dict, dict, dict, dict]:
        if not self.agents:
            raise RuntimeError("step() called on a finished match; call reset() first")
        missing = [a for a in self.agents if a not in actions]
        if missing:
            raise ValueError(f"actions is missing {missing}; expected one command for each of "
                             f"{self.agents}")
        obs, rewards, done = self.duel.step(check_action(actions[PLAYER_IDS[0]]),
                                            check_action(actions[PLAYER_IDS[1]]))
        observations = self._by_agent(obs, copy=True)
        reward_dict = {a: float(rewards[k]) for k, a in enumerate(PLAYER_IDS)}
        terminations = {a: done for a in PLAYER_IDS}
        truncations = {a: False for a in PLAYER_IDS}
        infos = {a: self.duel.info(k) for k, a in enumerate(PLAYER_IDS)}
        if done:
            self.agents = []
        if self.render_mode == "human":
            self.render()
        return observations, reward_dict, terminations, truncations, infos

    def _by_agent(self, obs: np.ndarray, copy: bool) -> dict[str, np.ndarray]:
        return {a: (obs[k].copy() if copy else obs[k]) for k, a in enumerate(PLAYER_IDS)}

    def render(self) -> Any:
        if self.render_mode is None:
            gym.logger.warn("render() called without a render_mode")
            return None
        from envs.rendering import PygameRenderer, render_ansi

        if self.render_mode == "ansi":
            return render_ansi(self.duel.engine.state, 0, self.params)
        if self._renderer is None:
            self._renderer = PygameRenderer(self.params, self.render_mode)
        return self._renderer.render(self.duel.engine.state, 0)

    def close(self) -> None:
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None
