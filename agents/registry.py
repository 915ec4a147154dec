"""Bots by name: what ``opponent="footsies"`` in an env or ``p1=random`` in a config resolves to,
and the named pools of them (``reference``, ``perfect_pros``) that evaluation and training fight.

A string that is not a registered name but a path to a trained checkpoint
(``runs/lecture/focal_seed0``, its ``best/`` folder, ``manifest.json`` or ``model.safetensors``)
loads that bot with :func:`agents.checkpoint.load`, and a path to an exported bundle (its folder,
``manifest.json``, ``model.onnx`` or ``model.int8.onnx``) loads it with
:func:`agents.onnx_policy.load_bundle`, so every ``opponent=`` / ``p1=`` accepts trained bots too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

from agents.difficulty import split_difficulty_spec, with_difficulty
from agents.policy import Policy
from agents.pros import PRO_STYLES, ProPlayer, pro_name
from agents.scripted import IdleBot, RandomBot
from envs.params import GameParams
from envs.pool_env import SELF

SCRIPTED_BOTS: dict[str, Callable[[GameParams], Policy]] = {
    "idle": lambda params: IdleBot(),
    "random": lambda params: RandomBot(),
    "footsies": lambda params: ProPlayer("footsies", "perfect", params),
}
# the pros: "rushdown", "zoner", "turtle" at pro skill, "<style>_club" at club skill, and
# "<style>_perfect" (no reaction delay, no execution error: the hard pool RL fine-tuning aims at)
for _style in PRO_STYLES:
    for _skill in ("pro", "club", "perfect"):
        SCRIPTED_BOTS[pro_name(_style, _skill)] = (
            lambda params, style=_style, skill=_skill: ProPlayer(style, skill, params))


# ---- named pools ----------------------------------------------------------------------------------
PROS: tuple[str, ...] = ("rushdown", "zoner", "turtle")
CLUB_PROS: tuple[str, ...] = ("rushdown_club", "zoner_club", "turtle_club")
# The reference pool online evaluation scores every bot against: the pros at two skill levels (the
# players the logs came from, and weaker versions of them), the button masher and the idle bot.
REFERENCE_POOL: tuple[str, ...] = (*PROS, *CLUB_PROS, "random", "idle")
# The pros with no reaction delay and no execution error: a rebalanced BC bot beats the reference
# pool almost always, so RL fine-tuning shows its gain (or not) against these.
PERFECT_PROS: tuple[str, ...] = ("rushdown_perfect", "zoner_perfect", "turtle_perfect")
POOLS: dict[str, tuple[str, ...]] = {"reference": REFERENCE_POOL, "perfect_pros": PERFECT_PROS}


class UnknownBotError(ValueError):
    """A bot name that is not registered."""


def available_bots() -> list[str]:
    return sorted(SCRIPTED_BOTS)


def resolve_pool(spec: str | Iterable[str]) -> tuple[str, ...]:
    """Bot names for a pool name (``"reference"``), or for a list mixing pool names and bots.

    Pool names expand in place; bot names and checkpoint / bundle paths pass through (loading them
    is :func:`make_policy`'s job). A name that is neither a pool nor a registered bot nor spelled
    like a path raises :class:`UnknownBotError` listing the pools and the bots.
    """
    entries = [spec] if isinstance(spec, str) else list(spec)
    names: list[str] = []
    for entry in entries:
        if not isinstance(entry, str):
            raise TypeError(f"a pool entry must be a pool or bot name, got {type(entry).__name__}: {entry!r}")
        if entry in POOLS:
            names.extend(POOLS[entry])
        elif (base := split_difficulty_spec(entry)[0]) in SCRIPTED_BOTS or entry == SELF \
                or _looks_like_checkpoint(base):
            names.append(entry)
        else:
            raise UnknownBotError(f"unknown bot {entry!r} (not a pool either); pools: "
                                  f"{', '.join(sorted(POOLS))}; available bots: "
                                  f"{', '.join(available_bots())}")
    return tuple(names)


def _looks_like_checkpoint(spec: str) -> bool:
    """A path (existing, or spelled like one) rather than a bot name: it goes to the checkpoint loader,
    whose errors name the file."""
    return Path(spec).exists() or "/" in spec or spec.endswith((".safetensors", ".json", ".onnx"))


def make_policy(spec: str | Policy, params: GameParams | None = None) -> Policy:
    """A fresh policy from a registered name, a checkpoint or bundle path, or ``spec`` itself if a Policy.

    A name or path may end in difficulty knobs, ``footsies@reaction_delay:12,action_noise:0.1``: the
    bot is then wrapped by :func:`agents.difficulty.with_difficulty`.
    """
    if isinstance(spec, str):
        base, difficulty = split_difficulty_spec(spec)
        if difficulty is not None:
            return with_difficulty(make_policy(base, params), difficulty)
        factory = SCRIPTED_BOTS.get(spec)
        if factory is None and _looks_like_checkpoint(spec):
            from agents.onnx_policy import is_bundle_path, load_bundle

            if is_bundle_path(spec):  # an exported bot: ONNX Runtime, no torch
                return load_bundle(spec)
            from agents.checkpoint import load  # torch is imported only when a checkpoint is used

            return load(spec)
        if factory is None:
            raise UnknownBotError(f"unknown bot {spec!r}; available bots: {', '.join(available_bots())}")
        return factory(params if params is not None else GameParams())
    if isinstance(spec, Policy):
        return spec
    raise TypeError(f"a bot must be a registered name ({', '.join(available_bots())}) or an object "
                    f"with act(obs) and reset(num_envs, seed, env_ids); got {type(spec).__name__}")
