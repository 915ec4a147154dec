"""Bots by name: what ``opponent="footsies"`` in an env or ``p1=random`` in a config resolves to."""

from __future__ import annotations

from collections.abc import Callable

from agents.policy import Policy
from agents.pros import PRO_STYLES, ProPlayer, pro_name
from agents.scripted import IdleBot, RandomBot
from envs.params import GameParams

SCRIPTED_BOTS: dict[str, Callable[[GameParams], Policy]] = {
    "idle": lambda params: IdleBot(),
    "random": lambda params: RandomBot(),
    "footsies": lambda params: ProPlayer("footsies", "perfect", params),
}
# the pros: "rushdown", "zoner", "turtle" at pro skill, "<style>_club" at club skill
for _style in PRO_STYLES:
    for _skill in ("pro", "club"):
        SCRIPTED_BOTS[pro_name(_style, _skill)] = (
            lambda params, style=_style, skill=_skill: ProPlayer(style, skill, params))


class UnknownBotError(ValueError):
    """A bot name that is not registered."""


def available_bots() -> list[str]:
    return sorted(SCRIPTED_BOTS)


def make_policy(spec: str | Policy, params: GameParams | None = None) -> Policy:
    """A fresh policy from a registered name, or ``spec`` itself when it already is a Policy."""
    if isinstance(spec, str):
        factory = SCRIPTED_BOTS.get(spec)
        if factory is None:
            raise UnknownBotError(f"unknown bot {spec!r}; available bots: {', '.join(available_bots())}")
        return factory(params if params is not None else GameParams())
    if isinstance(spec, Policy):
        return spec
    raise TypeError(f"a bot must be a registered name ({', '.join(available_bots())}) or an object "
                    f"with act(obs) and reset(num_envs, seed, env_ids); got {type(spec).__name__}")
