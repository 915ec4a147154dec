"""The Policy protocol every bot here implements: defined with the game (:mod:`envs.policy`), which
calls it, and re-exported so ``from agents.policy import Policy`` keeps working."""

from __future__ import annotations

from envs.policy import Policy

__all__ = ["Policy"]
