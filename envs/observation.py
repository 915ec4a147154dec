"""The one egocentric observation encoding, documented field by field, versioned.

Egocentric means the acting player is always "me" and every direction is measured along my facing:
``distance > 0`` means the opponent is in front of me whichever side of the screen I stand on. One
bot therefore plays either side, and logs from both sides train one model. The same encoding feeds
the envs, the logs, behaviour cloning, RL and exported bots; manifests record
:data:`ENCODING_VERSION`, and any change to the fields below must bump it.

Layout: two match-wide fields, then the same block of :class:`FighterField` for "me" (offset
:data:`ME`) and for the opponent (offset :data:`OPP`). The compiled engine writes it
(``envs.engine._encode``); this module is the documentation and the names.
"""

from __future__ import annotations

from enum import IntEnum

import gymnasium as gym
import numpy as np

ENCODING_VERSION = "1"


class MatchField(IntEnum):
    TIME_LEFT = 0
    DISTANCE = 1


class FighterField(IntEnum):
    HP = 0
    BACK_SPACE = 1
    HEIGHT = 2
    JUMP_DIRECTION = 3
    BUSY = 4
    STUN = 5
    GUARDING = 6
    CROUCHING = 7
    WALKING = 8
    ATTACK_LIGHT = 9
    ATTACK_HEAVY = 10
    ATTACK_SPECIAL = 11
    ATTACK_THROW = 12
    ATTACK_ANTI_AIR = 13
    PHASE_STARTUP = 14
    PHASE_ACTIVE = 15
    PHASE_RECOVERY = 16
    SPECIAL_COOLDOWN = 17
    PROJECTILE_ACTIVE = 18
    PROJECTILE_DISTANCE = 19


# the commands whose "performing it" flags are ATTACK_LIGHT .. ATTACK_ANTI_AIR, in that order
ATTACK_COMMANDS: tuple[str, ...] = ("LIGHT_ATTACK", "HEAVY_ATTACK", "SPECIAL", "THROW", "ANTI_AIR")

ME = len(MatchField)
OPP = ME + len(FighterField)
OBS_DIM = OPP + len(FighterField)

# (unit, low, high, description) per field; a test checks every enum member is documented.
MATCH_FIELD_DOCS: dict[MatchField, tuple[str, float, float, str]] = {
    MatchField.TIME_LEFT: ("fraction", 0.0, 1.0, "round time remaining / round length"),
    MatchField.DISTANCE: ("stage widths", -1.0, 1.0,
                          "opponent x minus my x along my facing / stage width (> 0: in front)"),
}
FIGHTER_FIELD_DOCS: dict[FighterField, tuple[str, float, float, str]] = {
    FighterField.HP: ("fraction", 0.0, 1.0, "HP / max HP"),
    FighterField.BACK_SPACE: ("stage widths", 0.0, 1.0,
                              "distance from the fighter to the wall behind it / stage width"),
    FighterField.HEIGHT: ("jump heights", 0.0, 1.0, "height above the floor / jump apex height"),
    FighterField.JUMP_DIRECTION: ("sign", -1.0, 1.0,
                                  "+1 jumping toward its opponent, -1 away, 0 neutral or grounded"),
    FighterField.BUSY: ("seconds", 0.0, 2.0,
                        "time until it can act again (move, jump or stun remaining)"),
    FighterField.STUN: ("seconds", 0.0, 2.0, "hit-stun or block-stun remaining"),
    FighterField.GUARDING: ("flag", 0.0, 1.0, "1 while guarding or in block-stun"),
    FighterField.CROUCHING: ("flag", 0.0, 1.0, "1 while crouching"),
    FighterField.WALKING: ("sign", -1.0, 1.0, "+1 walking toward its opponent, -1 away, 0 not walking"),
    FighterField.ATTACK_LIGHT: ("flag", 0.0, 1.0, "1 while performing LIGHT_ATTACK"),
    FighterField.ATTACK_HEAVY: ("flag", 0.0, 1.0, "1 while performing HEAVY_ATTACK"),
    FighterField.ATTACK_SPECIAL: ("flag", 0.0, 1.0, "1 while performing SPECIAL (throwing a projectile)"),
    FighterField.ATTACK_THROW: ("flag", 0.0, 1.0, "1 while performing THROW"),
    FighterField.ATTACK_ANTI_AIR: ("flag", 0.0, 1.0, "1 while performing ANTI_AIR"),
    FighterField.PHASE_STARTUP: ("flag", 0.0, 1.0, "1 in an attack's startup frames"),
    FighterField.PHASE_ACTIVE: ("flag", 0.0, 1.0, "1 in an attack's active frames"),
    FighterField.PHASE_RECOVERY: ("flag", 0.0, 1.0, "1 in an attack's recovery frames"),
    FighterField.SPECIAL_COOLDOWN: ("fraction", 0.0, 1.0, "projectile cooldown remaining / full cooldown"),
    FighterField.PROJECTILE_ACTIVE: ("flag", 0.0, 1.0, "1 while its projectile is on screen"),
    FighterField.PROJECTILE_DISTANCE: ("stage widths", -1.0, 1.0,
                                       "its projectile's x minus MY x along MY facing / stage width"),
}


def observation_field_names() -> tuple[str, ...]:
    """Column names in encoding order, e.g. ``time_left``, ``me_hp``, ``opp_hp`` (used by logs)."""
    names = [f.name.lower() for f in MatchField]
    for prefix in ("me", "opp"):
        names += [f"{prefix}_{f.name.lower()}" for f in FighterField]
    return tuple(names)


def observation_field_table() -> list[dict[str, object]]:
    """One row per field: index, name, unit, low, high, description (for the README and manifests)."""
    rows = []
    names = observation_field_names()
    docs = [MATCH_FIELD_DOCS[f] for f in MatchField]
    docs += [FIGHTER_FIELD_DOCS[f] for f in FighterField] * 2
    for index, (name, (unit, low, high, description)) in enumerate(zip(names, docs, strict=True)):
        rows.append({"index": index, "name": name, "unit": unit, "low": low, "high": high,
                     "description": description})
    return rows


def observation_space() -> gym.spaces.Box:
    """The Box every adapter exposes, with per-field bounds from the docs above."""
    table = observation_field_table()
    low = np.array([row["low"] for row in table], dtype=np.float32)
    high = np.array([row["high"] for row in table], dtype=np.float32)
    return gym.spaces.Box(low=low, high=high, dtype=np.float32)


def attack_reach(fighter: np.ndarray, reaches: np.ndarray) -> np.ndarray:
    """The reach of the attack each row's fighter is performing (0 when none): ``fighter`` is a
    ``[rows, len(FighterField)]`` block (``obs[:, ME:OPP]`` or ``obs[:, OPP:]``), ``reaches`` the
    reach per :data:`ATTACK_COMMANDS` (``[params.moves[name].reach for name in ATTACK_COMMANDS]``)."""
    return fighter[:, FighterField.ATTACK_LIGHT:FighterField.ATTACK_ANTI_AIR + 1] @ reaches
