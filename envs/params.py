"""Character stats and frame data as data: the params object the engine reads.

Everything that decides a match (walk speed, reach, startup / active / recovery frames, damage,
stun) lives here, not in engine code, so a designer can rebalance the game by editing numbers and
a researcher can sweep them. Units: pixels (px) for distances, frames (1/60 s) for time, HP points
for damage. :func:`GameParams.to_rules` flattens the params into the read-only ``Rules`` tuple the
compiled engine takes.

Frame-data convention: a move issued on frame 0 is in *startup* on frames ``[0, startup)``, its
hitbox is *active* on ``[startup, startup + active)``, and *recovery* follows for ``recovery``
frames. During all three the fighter's inputs are ignored. ``hitstun`` / ``blockstun`` are the
frames the defender cannot act after being hit / after blocking. A move is *punishable* when the
attacker's remaining frames exceed the defender's stun by more than the defender's fastest startup:
that is the timing game the defaults are tuned for (spammed heavies and anti-airs get punished,
lights are safe but short).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from envs.actions import NUM_ACTIONS, Action


@dataclass(frozen=True)
class MoveData:
    """Frame data of one attack (see the module docstring for the conventions)."""

    startup: int
    active: int
    recovery: int
    damage: int
    reach: float  # px, centre-to-centre forward distance at which the hitbox connects
    hitstun: int
    blockstun: int
    pushback: float  # px the defender slides back on hit or block
    blockable: bool = True
    max_target_height: float = 30.0  # px; an airborne defender above this is not hit
    hits_crouching: bool = True  # False for high attacks a crouching defender ducks under
    cooldown: int = 0  # frames before the move can be used again (projectile)
    chip_damage: int = 0  # damage that gets through a guard (keeps zoning alive against turtles)

    @property
    def total_frames(self) -> int:
        return self.startup + self.active + self.recovery


def _default_moves() -> dict[str, MoveData]:
    return {
        # Fast, short, safe on block: the poke and combo starter. Low: hits crouchers.
        "LIGHT_ATTACK": MoveData(4, 2, 8, damage=4, reach=72.0, hitstun=16, blockstun=10,
                                 pushback=12.0, max_target_height=20.0),
        # Long reach, slow, unsafe when whiffed: the footsies tool. High: crouching ducks it.
        "HEAVY_ATTACK": MoveData(9, 3, 20, damage=11, reach=100.0, hitstun=24, blockstun=14,
                                 pushback=10.0, max_target_height=45.0, hits_crouching=False),
        # Projectile: spawned on its first active frame, travels on its own; jump over it.
        "SPECIAL": MoveData(12, 1, 22, damage=8, reach=0.0, hitstun=20, blockstun=12,
                            pushback=10.0, max_target_height=30.0, cooldown=90, chip_damage=2),
        # Beats guard, ground only, cannot grab a stunned fighter. Whiffs are very punishable.
        "THROW": MoveData(4, 2, 24, damage=12, reach=55.0, hitstun=30, blockstun=0,
                          pushback=40.0, blockable=False, max_target_height=0.0),
        # Hits jumping opponents anywhere above; huge recovery, so a guessed one gets punished.
        "ANTI_AIR": MoveData(3, 8, 28, damage=13, reach=62.0, hitstun=26, blockstun=16,
                             pushback=20.0, max_target_height=200.0),
    }


@dataclass(frozen=True)
class GameParams:
    """All rules and stats of a match. Both fighters share one character sheet (a mirror match)."""

    fps: int = 60
    round_seconds: float = 60.0
    max_hp: int = 100
    stage_width: float = 640.0
    body_width: float = 40.0  # px; grounded fighters cannot overlap closer than this
    start_distance: float = 240.0  # px between the fighters at the bell
    start_jitter: float = 60.0  # px; the pair starts shifted by a seeded uniform offset in +-this
    walk_forward_speed: float = 3.0  # px / frame
    walk_back_speed: float = 2.5
    walk_frames: int = 8  # one WALK command is a step of this many frames (cancellable)
    guard_frames: int = 12  # one GUARD command holds guard this long (cancellable)
    crouch_frames: int = 12
    jump_frames: int = 34  # airborne time; no inputs while airborne
    jump_height: float = 90.0  # px at the apex
    jump_forward_speed: float = 4.0  # px / frame horizontally for JUMP_FORWARD
    pass_over_height: float = 40.0  # px; a fighter higher than this can cross over the other
    projectile_speed: float = 6.0  # px / frame
    projectile_radius: float = 12.0
    projectile_spawn_offset: float = 30.0  # px in front of the thrower
    counter_hit_damage_multiplier: float = 1.5  # hitting a fighter in its own attack's frames
    counter_hit_extra_stun: int = 6
    moves: dict[str, MoveData] = field(default_factory=_default_moves)

    def __post_init__(self) -> None:
        problems = []
        if self.fps <= 0 or self.round_seconds <= 0 or self.max_hp <= 0:
            problems.append("fps, round_seconds and max_hp must be positive")
        if self.stage_width <= self.start_distance + self.body_width + 2 * self.start_jitter:
            problems.append("stage_width must exceed start_distance + body_width + 2 * start_jitter")
        for name in ("walk_frames", "guard_frames", "crouch_frames", "jump_frames"):
            if getattr(self, name) < 1:
                problems.append(f"{name} must be >= 1")
        unknown = set(self.moves) - {a.name for a in Action}
        if unknown:
            problems.append(f"moves has unknown action names {sorted(unknown)}")
        for name, move in self.moves.items():
            if move.startup < 0 or move.active < 1 or move.recovery < 0:
                problems.append(f"moves[{name}] needs startup >= 0, active >= 1, recovery >= 0")
        if problems:
            raise ValueError("invalid GameParams: " + "; ".join(problems))

    @property
    def round_frames(self) -> int:
        return int(round(self.round_seconds * self.fps))

    def replace(self, **changes: object) -> GameParams:
        """A copy with some fields changed; unknown names fail with the list of valid ones."""
        valid = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(changes) - valid)
        if unknown:
            raise TypeError(f"unknown game option(s) {unknown}; valid options: {sorted(valid)}")
        return dataclasses.replace(self, **changes)

    def to_rules(self) -> Rules:
        """Flatten into the ``Rules`` tuple of scalars and per-action arrays the engine compiles against."""
        per_action = {name: np.zeros(NUM_ACTIONS) for name in _PER_ACTION_FIELDS}
        duration = np.zeros(NUM_ACTIONS, dtype=np.int64)
        duration[Action.WALK_FORWARD] = duration[Action.WALK_BACK] = self.walk_frames
        duration[Action.GUARD] = self.guard_frames
        duration[Action.CROUCH] = self.crouch_frames
        duration[Action.JUMP] = duration[Action.JUMP_FORWARD] = self.jump_frames
        is_attack = np.zeros(NUM_ACTIONS, dtype=np.bool_)
        for name, move in self.moves.items():
            a = Action[name]
            is_attack[a] = True
            duration[a] = move.total_frames
            for key in _PER_ACTION_FIELDS:
                per_action[key][a] = float(getattr(move, key))
        return Rules(
            fps=self.fps,
            round_frames=self.round_frames,
            max_hp=self.max_hp,
            stage_width=float(self.stage_width),
            half_body=self.body_width / 2.0,
            body_width=float(self.body_width),
            start_distance=float(self.start_distance),
            walk_forward_speed=float(self.walk_forward_speed),
            walk_back_speed=float(self.walk_back_speed),
            jump_frames=self.jump_frames,
            jump_height=float(self.jump_height),
            jump_forward_speed=float(self.jump_forward_speed),
            pass_over_height=float(self.pass_over_height),
            projectile_speed=float(self.projectile_speed),
            projectile_radius=float(self.projectile_radius),
            projectile_spawn_offset=float(self.projectile_spawn_offset),
            counter_hit_damage_multiplier=float(self.counter_hit_damage_multiplier),
            counter_hit_extra_stun=self.counter_hit_extra_stun,
            special_cooldown=max(1, self.moves["SPECIAL"].cooldown) if "SPECIAL" in self.moves else 1,
            duration=duration,
            is_attack=is_attack,
            **{key: per_action[key] for key in _PER_ACTION_FIELDS},
        )


_PER_ACTION_FIELDS = (
    "startup", "active", "damage", "reach", "hitstun", "blockstun", "pushback",
    "blockable", "max_target_height", "hits_crouching", "cooldown", "chip_damage",
)


class Rules(NamedTuple):
    """Read-only, numba-friendly view of :class:`GameParams` (built by ``GameParams.to_rules``).

    Per-action arrays are indexed by :class:`envs.actions.Action` id; non-attacks hold zeros.
    """

    fps: int
    round_frames: int
    max_hp: int
    stage_width: float
    half_body: float
    body_width: float
    start_distance: float
    walk_forward_speed: float
    walk_back_speed: float
    jump_frames: int
    jump_height: float
    jump_forward_speed: float
    pass_over_height: float
    projectile_speed: float
    projectile_radius: float
    projectile_spawn_offset: float
    counter_hit_damage_multiplier: float
    counter_hit_extra_stun: int
    special_cooldown: int
    duration: np.ndarray  # frames a move lasts (walk step, guard, jump, attack total)
    is_attack: np.ndarray
    startup: np.ndarray
    active: np.ndarray
    damage: np.ndarray
    reach: np.ndarray
    hitstun: np.ndarray
    blockstun: np.ndarray
    pushback: np.ndarray
    blockable: np.ndarray
    max_target_height: np.ndarray
    hits_crouching: np.ndarray
    cooldown: np.ndarray
    chip_damage: np.ndarray
