"""Players: the Policy protocol and every bot that implements it."""

from agents.policy import Policy
from agents.registry import UnknownBotError, available_bots, make_policy
from agents.scripted import FootsiesBot, IdleBot, RandomBot

__all__ = ["FootsiesBot", "IdleBot", "Policy", "RandomBot", "UnknownBotError", "available_bots",
           "make_policy"]
