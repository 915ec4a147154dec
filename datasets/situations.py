"""Decision situations: the lecture's "kinds" of moments, read from one logged observation.

A pro's log is mostly ``NO_ACTION``, and per-frame accuracy averages over every frame alike. But a
match is decided in a few kinds of moments (the opponent whiffed in front of you, jumped at you,
threw a fireball), and a bot that waits where the pro punished loses however accurate it is on the
rest. This module labels every logged row with the one situation the acting player ("me") is in,
from the egocentric observation alone (:mod:`envs.observation`) and the character sheet's reaches
(:class:`envs.params.GameParams`), so that any log, generated or imported, gets the same labels.

Situations are checked in the order of :data:`SITUATIONS`; a row gets the first that holds:

========================  ==========================================================================
``busy``                  I cannot act (in an attack, stun, jump or walk step): commands are ignored
``anti_air``              the opponent is airborne in front of me, within anti-air reach + 20 px
``combo``                 the opponent is in hit-stun within my light attack's reach
``punish``                the opponent is in an attack's recovery within my heavy attack's reach
``under_attack``          the opponent's attack (startup or active) can reach me (its reach + 12 px)
``projectile_incoming``   the opponent's projectile is in front of me, less than 90 px away
``guard_break``           the opponent guards or crouches within my light attack's reach
``in_reach``              neutral, within my heavy attack's reach
``cornered``              neutral, out of reach, with less than 50 px behind me
``neutral``               everything else: out of reach, room behind
========================  ==========================================================================

Reaches are the centre-to-centre distances of :data:`envs.params.GameParams.moves` (default
character sheet unless ``params`` is given); distances in the observation are in stage widths.
The labels depend on nothing but the observation, so they cost one vectorised pass over the rows
(the writer counts them per command into the manifest; :mod:`datasets.card` shows the table).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from envs.actions import ACTION_NAMES, NUM_ACTIONS
from envs.observation import ATTACK_COMMANDS, ME, OPP, FighterField, MatchField, attack_reach
from envs.params import GameParams

SITUATIONS: tuple[str, ...] = ("busy", "anti_air", "combo", "punish", "under_attack", "projectile_incoming",
                               "guard_break", "in_reach", "cornered", "neutral")
SITUATION_IDS: dict[str, int] = {name: k for k, name in enumerate(SITUATIONS)}
NUM_SITUATIONS = len(SITUATIONS)
# the situations where the acting player decides something: every one but "busy"
DECISION_SITUATIONS: tuple[str, ...] = SITUATIONS[1:]

# the reactions: where a pro answers what the opponent just did (the card's headline share)
REACTIONS: tuple[str, ...] = ("anti_air", "combo", "punish", "under_attack", "projectile_incoming",
                              "guard_break")


def situation_codes(obs: np.ndarray, params: GameParams | None = None) -> np.ndarray:
    """The situation id (index into :data:`SITUATIONS`) of each row of ``obs`` ``[rows, OBS_DIM]``."""
    p = params if params is not None else GameParams()
    obs = np.asarray(obs)
    if obs.ndim != 2 or obs.shape[1] != OPP + len(FighterField):
        raise ValueError(f"expected observations [rows, {OPP + len(FighterField)}], got {obs.shape}")
    me, opp = obs[:, ME:OPP], obs[:, OPP:]
    d = obs[:, MatchField.DISTANCE] * p.stage_width  # > 0: the opponent is in front of me
    reach = {name: p.moves[name].reach for name in ATTACK_COMMANDS}
    opp_reach = attack_reach(opp, np.array([reach[name] for name in ATTACK_COMMANDS]))
    opp_stunned = opp[:, FighterField.STUN] > 0
    opp_guarding = opp[:, FighterField.GUARDING] > 0
    projectile_gap = opp[:, FighterField.PROJECTILE_DISTANCE] * p.stage_width
    conditions = [
        me[:, FighterField.BUSY] > 0,
        (opp[:, FighterField.HEIGHT] > 0) & (d > 0) & (d <= reach["ANTI_AIR"] + 20),
        opp_stunned & ~opp_guarding & (d <= reach["LIGHT_ATTACK"]),
        (opp[:, FighterField.PHASE_RECOVERY] > 0) & (d <= reach["HEAVY_ATTACK"]),
        (opp[:, FighterField.PHASE_STARTUP] + opp[:, FighterField.PHASE_ACTIVE] > 0) & (d <= opp_reach + 12),
        (opp[:, FighterField.PROJECTILE_ACTIVE] > 0) & (projectile_gap > 0) & (projectile_gap < 90),
        (opp_guarding | (opp[:, FighterField.CROUCHING] > 0)) & (d <= reach["LIGHT_ATTACK"]),
        d <= reach["HEAVY_ATTACK"],
        me[:, FighterField.BACK_SPACE] * p.stage_width < 50,
    ]
    codes = np.select(conditions, list(range(len(conditions))), default=SITUATION_IDS["neutral"])
    return codes.astype(np.int8)


def situation_action_counts(situations: np.ndarray, actions: np.ndarray) -> np.ndarray:
    """Rows per (situation, command): ``[NUM_SITUATIONS, NUM_ACTIONS]`` int64."""
    flat = np.asarray(situations, dtype=np.int64) * NUM_ACTIONS + np.asarray(actions, dtype=np.int64)
    return np.bincount(flat, minlength=NUM_SITUATIONS * NUM_ACTIONS).reshape(NUM_SITUATIONS, NUM_ACTIONS)


def counts_record(counts: np.ndarray) -> dict[str, dict[str, int]]:
    """The manifest's ``situation_action_counts``: situation -> command -> rows (JSON-ready)."""
    return {situation: dict(zip(ACTION_NAMES, (int(c) for c in row), strict=True))
            for situation, row in zip(SITUATIONS, counts, strict=True)}


def situation_table(record: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per situation from a manifest's ``situation_action_counts``: rows, share of all rows,
    the share where the player pressed something, and the command pressed most there."""
    total = sum(sum(per.values()) for per in record.values()) or 1
    rows = []
    for situation in SITUATIONS:
        per = record.get(situation, {})
        count = sum(per.values())
        pressed = {name: n for name, n in per.items() if name != ACTION_NAMES[0] and n}
        top = max(pressed, key=pressed.get) if pressed else ""
        rows.append({"situation": situation, "rows": count, "share": count / total,
                     "pressed_share": sum(pressed.values()) / count if count else float("nan"),
                     "top_command": top, "top_command_share": pressed[top] / count if top else 0.0})
    return rows
