"""One fighter against an opponent drawn anew each episode: the opponent-pool env, without Ray.

RL fine-tuning fights a *pool* of opponents (the reference pros, the perfect pros, frozen snapshots
of the learner, see :class:`agents.rl.league.OpponentPool`). Choosing who plays is the business of
:mod:`agents`; the game only needs an **opponent sampler**, any object with

* ``sample(rng) -> (name, policy_or_None)``: the opponent of the next episode, a
  :class:`~envs.policy.Policy`, or None for "the learner itself" (self-play, which only the
  multi-agent env can play);
* ``record(name, result)``: the learner's result ("win", "loss", "draw") against ``name``.

The env config carries it as ``config["opponent_pool"]``: a *factory* called once per env as
``factory(params=<the env's GameParams>)``, not the sampler itself, so that a config survives
RLlib's pickling to its env runners and each env (each runner, each SB3 sub-env) gets its own
sampler. ``functools.partial(OpponentPool, [...])`` is such a factory;
:func:`agents.gym_envs.pool_env_config` builds it from bot names.

:class:`PoolFighterEnv` is the single-agent Gymnasium view (what stable-baselines3 trains on);
:class:`~envs.rllib_env.FightingMultiAgentEnv` plays the same draws through RLlib and adds
self-play. Both share :class:`PoolOpponent`, so opponent sampling, sides and result bookkeeping
are one implementation. Nothing here imports Ray.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

import gymnasium as gym
import numpy as np

from envs.actions import NUM_ACTIONS, check_action
from envs.duel import Duel
from envs.observation import observation_space
from envs.options import build_params, check_seed, check_side
from envs.params import GameParams
from envs.policy import Policy, check_policy

SELF = "self"  # the name a sampler gives the learner itself (self-play)
POOL_KEY = "opponent_pool"
NAMED_POOL_KEYS = ("opponents", "league_dir", "league_share", "league_size", "pfsp_power")


@runtime_checkable
class OpponentSampler(Protocol):
    """Draws each episode's opponent and hears the learner's results (see the module docstring)."""

    def sample(self, rng: np.random.Generator) -> tuple[str, Policy | None]: ...

    def record(self, name: str, result: str) -> None: ...


OpponentPoolFactory = Callable[..., OpponentSampler]  # called as factory(params=GameParams)


def reject_named_pool(config: dict[str, Any]) -> None:
    """A clear error for a config that names bots (``opponents=[...]``) instead of passing a factory."""
    named = [k for k in NAMED_POOL_KEYS if k in config]
    if named:
        raise TypeError(f"env config keys {named} name bots; the envs take objects: pass "
                        f"config[{POOL_KEY!r}], a factory of an opponent sampler "
                        "(agents.gym_envs.pool_env_config(opponents, ...) builds the config from names)")


def make_sampler(factory: OpponentPoolFactory, params: GameParams) -> OpponentSampler:
    """Call ``factory(params=params)`` and check that the result samples and records."""
    if not callable(factory):
        raise TypeError(f"config[{POOL_KEY!r}] must be a callable returning an opponent sampler (e.g. "
                        f"functools.partial(OpponentPool, [...])), got {type(factory).__name__}")
    sampler = factory(params=params)
    if not isinstance(sampler, OpponentSampler):
        raise TypeError(f"config[{POOL_KEY!r}]() returned {type(sampler).__name__}, which lacks "
                        "sample(rng) -> (name, policy_or_None) and record(name, result)")
    return sampler


class PoolOpponent:
    """The current episode's opponent, drawn from ``sampler``, and the learner's side against it.

    ``agent_side`` (0, 1 or "random") is the learner's side when a bot is drawn; after
    :meth:`draw`, ``policy`` is None when the sampler chose self-play.
    """

    def __init__(self, sampler: OpponentSampler, agent_side: int | str = "random") -> None:
        self.sampler = sampler
        self.agent_side = check_side(agent_side)
        self.name = SELF
        self.policy: Policy | None = None
        self.side = 0  # the learner's side when a bot plays the other

    def draw(self, rng: np.random.Generator) -> None:
        """Draw the next episode's opponent and the learner's side; reset it with a seed from ``rng``."""
        self.name, policy = self.sampler.sample(rng)
        self.policy = None if policy is None else check_policy(policy, f"the pool's opponent {self.name!r}")
        if self.policy is not None:
            self.side = int(rng.integers(2)) if self.agent_side == "random" else int(self.agent_side)
            self.policy.reset(1, seed=int(rng.integers(2**31)))

    def act(self, obs: np.ndarray) -> int:
        """The opponent's command for this frame; ``obs`` is ``(2, OBS_DIM)``, one row per side."""
        return int(self.policy.act(obs[1 - self.side][None])[0])

    def record(self, result: str) -> None:
        self.sampler.record(self.name, result)


class PoolFighterEnv(gym.Env):
    """One fighter against the opponent pool: a new opponent (and side) every episode.

    ``config``: ``opponent_pool`` (required, see the module docstring), ``agent_side`` (0, 1 or
    "random", the default), ``observation_delay``, ``params`` and any game option. Rewards,
    observations and episode end are :class:`~envs.fighting_env.FightingEnv`'s; ``info`` also
    carries ``opponent``, the name of who was drawn. A sampler that draws self-play raises: a
    single-agent env cannot play both sides (use :class:`~envs.rllib_env.FightingMultiAgentEnv`).
    """

    metadata = {"render_modes": []}

    def __init__(self, config: dict[str, Any] | None = None) -> None:
        options = dict(config or {})
        reject_named_pool(options)
        factory = options.pop(POOL_KEY, None)
        if factory is None:
            raise TypeError(f"PoolFighterEnv needs config[{POOL_KEY!r}], a factory of an opponent sampler "
                            "(agents.gym_envs.pool_env_config(opponents, ...) builds it from bot names)")
        observation_delay = options.pop("observation_delay", 0)
        agent_side = options.pop("agent_side", "random")
        self.params = build_params(options.pop("params", None), options)
        self.duel = Duel(self.params, observation_delay)
        self.pool = make_sampler(factory, self.params)
        self.opponent = PoolOpponent(self.pool, agent_side)
        self.observation_space = observation_space()
        self.action_space = gym.spaces.Discrete(NUM_ACTIONS)
        self._obs = np.zeros((2, self.observation_space.shape[0]), np.float32)

    def reset(self, *, seed: int | None = None,
              options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=check_seed(seed))
        self._obs = self.duel.reset(self.np_random)
        self.opponent.draw(self.np_random)
        if self.opponent.policy is None:
            raise ValueError(f"the opponent pool drew {self.opponent.name!r} (self-play), which needs both "
                             "sides learning: a single-agent env cannot play it (use the RLlib "
                             "multi-agent env, agent=ppo)")
        side = self.opponent.side
        return self._obs[side].copy(), self._info(side)

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        side = self.opponent.side
        actions = [0, 0]
        actions[side] = check_action(action)
        actions[1 - side] = self.opponent.act(self._obs)
        self._obs, rewards, done = self.duel.step(*actions)
        info = self._info(side)
        if done:
            self.opponent.record(str(info["result"]))
        return self._obs[side].copy(), float(rewards[side]), done, False, info

    def _info(self, side: int) -> dict[str, Any]:
        return self.duel.info(side) | {"opponent": self.opponent.name}


__all__ = ["NAMED_POOL_KEYS", "POOL_KEY", "SELF", "OpponentPoolFactory", "OpponentSampler",
           "PoolFighterEnv", "PoolOpponent", "make_sampler", "reject_named_pool"]
