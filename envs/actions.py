"""The command set: one enum with stable names and ids, shared by the engine, envs, bots and logs.

A command is an *input event*: it is issued on one frame and starts a move that plays out over
several frames (a walk step, a guard, an attack with startup / active / recovery frames). On frames
where a player presses nothing new, the command is ``NO_ACTION``, exactly as in real input logs.
That is why a good player's log is mostly ``NO_ACTION``: moves take time, and pros wait for the
right moment. Directions are egocentric: ``WALK_FORWARD`` walks toward the opponent on either side.

Ids are part of the log format and of exported models: never renumber, only append.
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np


class Action(IntEnum):
    """Every command a fighter can issue. ``NO_ACTION`` is 0 by design (the lecture's majority class)."""

    NO_ACTION = 0
    WALK_FORWARD = 1
    WALK_BACK = 2
    JUMP = 3
    JUMP_FORWARD = 4
    CROUCH = 5
    GUARD = 6
    LIGHT_ATTACK = 7
    HEAVY_ATTACK = 8
    SPECIAL = 9  # projectile
    THROW = 10
    ANTI_AIR = 11


NUM_ACTIONS: int = len(Action)
ACTION_NAMES: tuple[str, ...] = tuple(a.name for a in Action)
ATTACKS: tuple[Action, ...] = (
    Action.LIGHT_ATTACK,
    Action.HEAVY_ATTACK,
    Action.SPECIAL,
    Action.THROW,
    Action.ANTI_AIR,
)


class InvalidActionError(ValueError):
    """An action that is not a valid command id (out of range, wrong shape or dtype)."""


def check_action_batch(actions: object, expected_shape: tuple[int, ...]) -> np.ndarray:
    """Return ``actions`` as an int64 array of ``expected_shape`` or raise :class:`InvalidActionError`.

    The message names what was expected, so a bot that returns floats, a wrong batch size or an
    id past the enum fails at the call that produced it, not deep inside the engine.
    """
    arr = np.asarray(actions)
    if arr.dtype.kind not in "iu":
        raise InvalidActionError(
            f"actions must be integer command ids (dtype int), got dtype {arr.dtype}; "
            f"valid ids are 0..{NUM_ACTIONS - 1} ({', '.join(ACTION_NAMES)})"
        )
    if arr.shape != expected_shape:
        raise InvalidActionError(f"actions must have shape {expected_shape}, got {arr.shape}")
    if arr.size and (arr.min() < 0 or arr.max() >= NUM_ACTIONS):
        bad = arr[(arr < 0) | (arr >= NUM_ACTIONS)].ravel()[0]
        raise InvalidActionError(
            f"action id {int(bad)} is out of range: valid ids are 0..{NUM_ACTIONS - 1} "
            f"({', '.join(ACTION_NAMES)})"
        )
    return arr.astype(np.int64, copy=False)


def check_action(action: object) -> int:
    """Validate one command id (a Python or numpy integer) for single-match adapters."""
    if isinstance(action, np.ndarray) and action.shape == ():
        action = action.item()
    if isinstance(action, bool) or not isinstance(action, (int, np.integer)):
        raise InvalidActionError(
            f"action must be an int command id in 0..{NUM_ACTIONS - 1}, got {action!r} "
            f"({type(action).__name__}); valid commands: {', '.join(ACTION_NAMES)}"
        )
    if not 0 <= int(action) < NUM_ACTIONS:
        raise InvalidActionError(
            f"action id {int(action)} is out of range: valid ids are 0..{NUM_ACTIONS - 1} "
            f"({', '.join(ACTION_NAMES)})"
        )
    return int(action)
