"""Validation of what users pass to the envs: game options and seeds.

Kept in one place so every adapter (Gymnasium, vector, PettingZoo, RLlib) rejects a typo'd option
or a bad seed with the same clear message instead of a TypeError from deep inside.
"""

from __future__ import annotations

import numpy as np

from envs.params import GameParams


def build_params(params: GameParams | None, game_options: dict[str, object]) -> GameParams:
    """``params`` (default :class:`GameParams`) with keyword overrides such as ``round_seconds=30``.

    Unknown option names raise ``TypeError`` listing every valid one.
    """
    if params is not None and not isinstance(params, GameParams):
        raise TypeError(f"params must be a GameParams, got {type(params).__name__}")
    base = params if params is not None else GameParams()
    return base.replace(**game_options) if game_options else base


def check_seed(seed: object) -> int | None:
    """Return ``seed`` as an int (or None); anything but a non-negative integer raises ``TypeError``."""
    if seed is None:
        return None
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be a non-negative int or None, got {seed!r} "
                        f"({type(seed).__name__})")
    if seed < 0:
        raise TypeError(f"seed must be a non-negative int or None, got {seed}")
    return int(seed)


def check_reset_options(options: dict[str, object] | None, allowed: tuple[str, ...]) -> dict:
    """``reset(options=...)`` may only carry the keys an adapter documents."""
    if options is None:
        return {}
    if not isinstance(options, dict):
        raise TypeError(f"options must be a dict or None, got {type(options).__name__}")
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ValueError(f"unknown reset option(s) {unknown}; valid options: {list(allowed)}")
    return options


def check_side(side: object, name: str = "agent_side") -> int | str:
    """A side is 0 (left at the bell), 1 (right) or "random" (drawn each episode)."""
    if side == "random" or (isinstance(side, (int, np.integer)) and not isinstance(side, bool)
                            and side in (0, 1)):
        return side if side == "random" else int(side)
    raise ValueError(f"{name} must be 0, 1 or 'random', got {side!r}")
