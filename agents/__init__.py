"""Players: the Policy protocol and every bot that implements it.

Importing this package also registers the Gymnasium id ``FightLab/Duel-v0`` (:mod:`agents.gym_envs`),
whose factory resolves ``opponent="footsies"`` and other bot names to bots.
"""

from agents import gym_envs  # noqa: F401  (registers FightLab/Duel-v0)
from agents.policy import Policy
from agents.pros import PRO_STYLES, ProPlayer, Skill, Style
from agents.registry import UnknownBotError, available_bots, make_policy
from agents.scripted import IdleBot, RandomBot, SpamBot

__all__ = ["PRO_STYLES", "IdleBot", "Policy", "ProPlayer", "RandomBot", "Skill", "SpamBot", "Style",
           "UnknownBotError", "available_bots", "load", "make_policy"]


def __getattr__(name: str) -> object:
    """``agents.load`` (trained bots) imports torch on first use only, so scripted bots stay light."""
    if name == "load":
        from agents.checkpoint import load

        return load
    raise AttributeError(f"module 'agents' has no attribute {name!r}")
