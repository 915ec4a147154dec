"""Bots by name: what ``opponent="footsies"`` in an env or ``p1=random`` in a config resolves to.

A string that is not a registered name but a path to a trained checkpoint
(``runs/lecture/focal_seed0``, its ``best/`` folder, ``manifest.json`` or ``model.safetensors``)
loads that bot with :func:`agents.checkpoint.load`, and a path to an exported bundle (its folder,
``manifest.json``, ``model.onnx`` or ``model.int8.onnx``) loads it with
:func:`agents.onnx_policy.load_bundle`, so every ``opponent=`` / ``p1=`` accepts trained bots too.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from agents.policy import Policy
from agents.pros import PRO_STYLES, ProPlayer, pro_name
from agents.scripted import IdleBot, RandomBot
from envs.params import GameParams

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


class UnknownBotError(ValueError):
    """A bot name that is not registered."""


def available_bots() -> list[str]:
    return sorted(SCRIPTED_BOTS)


def _looks_like_checkpoint(spec: str) -> bool:
    """A path (existing, or spelled like one) rather than a bot name: it goes to the checkpoint loader,
    whose errors name the file."""
    return Path(spec).exists() or "/" in spec or spec.endswith((".safetensors", ".json", ".onnx"))


def make_policy(spec: str | Policy, params: GameParams | None = None) -> Policy:
    """A fresh policy from a registered name, a checkpoint or bundle path, or ``spec`` itself if a Policy."""
    if isinstance(spec, str):
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
