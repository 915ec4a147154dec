"""The envs built from bot names, and the Gymnasium ids: where ``opponent="footsies"`` becomes a bot.

The envs (:mod:`envs`) take Policy objects and opponent-sampler factories, never names: the game is
the bottom layer and does not know the bots. This module is the other half: it resolves names with
:func:`agents.registry.make_policy` (registered bots, checkpoint and bundle paths) and
:func:`agents.registry.resolve_pool` (pool names such as ``"reference"``), then builds the env
classes. Importing :mod:`agents` imports this module, which registers the Gymnasium ids, so::

    import gymnasium, agents
    env = gymnasium.make("FightLab/Duel-v0", opponent="footsies", render_mode="human")
    vec = gymnasium.make_vec("FightLab/Duel-v0", num_envs=4096, vectorization_mode="vector_entry_point",
                             opponent="random")
    pool = gymnasium.make_vec("FightLab/PoolDuel-v0", num_envs=1024, vectorization_mode="vector_entry_point",
                              opponents=["reference"], pfsp_power=1.0)

For RL fine-tuning against a pool, :func:`pool_env_config` turns bot and pool names into the
``config["opponent_pool"]`` factory that the pool envs take: :class:`envs.pool_vector_env.PoolVectorEnv`
(N matches in one engine; what RLlib and SB3 PPO sample through, ``FightLab/PoolDuel-v0``),
:class:`envs.pool_env.PoolFighterEnv` (one match) and :class:`envs.rllib_env.FightingMultiAgentEnv`
(RLlib, with live self-play); a ``functools.partial`` of :class:`agents.rl.league.OpponentPool`,
which pickles to RLlib's env runners. Nothing here imports Ray.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import gymnasium

from agents.policy import Policy
from agents.registry import make_policy, resolve_pool
from agents.rl.league import SELF, OpponentPool
from envs import ENV_ID
from envs.fighting_env import FightingEnv
from envs.options import build_params
from envs.params import GameParams
from envs.pool_env import NAMED_POOL_KEYS, POOL_KEY, OpponentPoolFactory, PoolFighterEnv
from envs.pool_vector_env import POOL_ENV_ID, PoolVectorEnv
from envs.vector_env import FightingVectorEnv

DEFAULT_OPPONENT = "footsies"


def make_env(opponent: str | Policy = DEFAULT_OPPONENT, *, params: GameParams | None = None,
             **kwargs: Any) -> FightingEnv:
    """:class:`~envs.fighting_env.FightingEnv` against ``opponent``: a bot name, a checkpoint or
    bundle path, or a Policy. Other keyword arguments (``agent_side``, ``observation_delay``,
    ``render_mode``, game options such as ``round_seconds``) go to the env."""
    params, kwargs = _params(params, kwargs)
    return FightingEnv(opponent=make_policy(opponent, params), params=params, **kwargs)


make_env.metadata = FightingEnv.metadata  # gymnasium.make reads the render modes from the entry point


def make_vector_env(num_envs: int = 1, opponent: str | Policy = DEFAULT_OPPONENT, *,
                    params: GameParams | None = None, **kwargs: Any) -> FightingVectorEnv:
    """:class:`~envs.vector_env.FightingVectorEnv`: ``num_envs`` matches against one ``opponent``
    (name, path or Policy), stepped as one batch."""
    params, kwargs = _params(params, kwargs)
    return FightingVectorEnv(num_envs=num_envs, opponent=make_policy(opponent, params), params=params,
                             **kwargs)


def _params(params: GameParams | None, kwargs: dict[str, Any]) -> tuple[GameParams, dict[str, Any]]:
    """Split game options (``round_seconds=30``) from env arguments and build the GameParams the
    opponent is made for (a pro's reach and timing depend on them)."""
    env_args = {"agent_side", "observation_delay", "render_mode"}
    game_options = {k: v for k, v in kwargs.items() if k not in env_args}
    return build_params(params, game_options), {k: v for k, v in kwargs.items() if k in env_args}


# ---- opponent pools for RL --------------------------------------------------------------------------
def pool_factory(opponents: str | Iterable[str], *, league_dir: str | Path | None = None,
                 league_share: float = 0.0, league_size: int = 5,
                 pfsp_power: float = 0.0) -> OpponentPoolFactory:
    """A picklable factory of :class:`~agents.rl.league.OpponentPool` for ``config["opponent_pool"]``.

    ``opponents`` mixes bot names, checkpoint paths, pool names (expanded by
    :func:`~agents.registry.resolve_pool`) and ``"self"``; a typo fails here, before any env exists.
    The env calls the factory with its ``params``, so every env builds its own pool and bots.
    """
    names = list(resolve_pool(opponents))
    if not names:
        raise ValueError("the opponent pool is empty: name at least one bot or pool (or 'self')")
    return functools.partial(OpponentPool, names, league_dir=None if league_dir is None else str(league_dir),
                             league_share=league_share, league_size=league_size, pfsp_power=pfsp_power)


def pool_env_config(opponents: str | Iterable[str], *, league_dir: str | Path | None = None,
                    league_share: float = 0.0, league_size: int = 5, pfsp_power: float = 0.0,
                    **env_options: Any) -> dict[str, Any]:
    """An env config for the pool envs: ``env_options`` (game options, ``observation_delay``,
    ``agent_side``) plus ``"opponent_pool"``, the factory :func:`pool_factory` builds."""
    return {**env_options, POOL_KEY: pool_factory(opponents, league_dir=league_dir,
                                                  league_share=league_share, league_size=league_size,
                                                  pfsp_power=pfsp_power)}


def resolve_env_config(config: Mapping[str, Any] | None) -> dict[str, Any]:
    """``config`` with bot names resolved: ``opponents`` (and ``league_*``, ``pfsp_power``) become
    ``"opponent_pool"``; a config without ``opponents`` is returned as a copy."""
    config = dict(config or {})
    named = {k: config.pop(k) for k in NAMED_POOL_KEYS if k in config}
    if not named:
        return config
    if "opponents" not in named:
        raise TypeError(f"env config keys {sorted(named)} configure an opponent pool but no 'opponents' "
                        "are named")
    if POOL_KEY in config:
        raise TypeError(f"env config has both 'opponents' and {POOL_KEY!r}; pass one")
    return pool_env_config(named.pop("opponents"), **named, **config)


def make_pool_env(config: Mapping[str, Any]) -> PoolFighterEnv:
    """:class:`~envs.pool_env.PoolFighterEnv` from a config that may name its ``opponents``."""
    return PoolFighterEnv(resolve_env_config(config))


def make_pool_vector_env(num_envs: int = 1, **config: Any) -> PoolVectorEnv:
    """:class:`~envs.pool_vector_env.PoolVectorEnv`: ``num_envs`` matches in one engine, each against
    an opponent drawn from the pool. ``config`` names the pool (``opponents``, ``league_dir``,
    ``league_share``, ``league_size``, ``pfsp_power``) or passes ``opponent_pool``, a factory; the rest
    (``agent_side``, ``observation_delay``, ``autoreset_mode``, game options) goes to the env. The
    ``vector_entry_point`` of ``FightLab/PoolDuel-v0``, so RLlib's env runners build it with
    ``gym.make_vec(..., **env_config)``."""
    return PoolVectorEnv(num_envs=num_envs, **resolve_env_config(config))


def make_pool_fighter_env(**config: Any) -> PoolFighterEnv:
    """``gymnasium.make("FightLab/PoolDuel-v0", opponents=[...])``: the one-match view of the same pool."""
    return make_pool_env(config)


def uses_self_play(env_config: Mapping[str, Any] | None) -> bool:
    """Whether an env config needs the multi-agent env: no opponent pool at all (pure self-play) or
    ``"self"`` among the named ``opponents``. A config holding a sampler factory is taken to draw
    bots only (it cannot be inspected without building it)."""
    config = dict(env_config or {})
    if "opponents" in config:
        return SELF in resolve_pool(config["opponents"])
    return POOL_KEY not in config


def register() -> None:
    """Register ``FightLab/Duel-v0`` and ``FightLab/PoolDuel-v0`` (single env and ``make_vec``) with
    the name-resolving factories."""
    if ENV_ID not in gymnasium.registry:
        gymnasium.register(id=ENV_ID, entry_point="agents.gym_envs:make_env",
                           vector_entry_point="agents.gym_envs:make_vector_env")
    if POOL_ENV_ID not in gymnasium.registry:
        gymnasium.register(id=POOL_ENV_ID, entry_point="agents.gym_envs:make_pool_fighter_env",
                           vector_entry_point="agents.gym_envs:make_pool_vector_env")


register()
