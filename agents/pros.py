"""Scripted pro players: one rule-based fighter, many styles and skill levels.

A pro is a :class:`ProPlayer` = a :class:`Style` (what it wants to do: rush in, keep away, wait)
plus a :class:`Skill` (how well it executes: reaction delay, execution errors). All of them share the
same priorities, which is what makes them pros rather than mashers:

1. reactions, the same for every style: anti-air a jump, continue a combo, punish an attack in its
   recovery, guard (or duck) an attack that can reach, guard an incoming fireball, throw or jab a
   defender who guards or crouches;
2. neutral, where styles differ: each style has a preferred distance and per-frame rates for
   approaching, retreating, jabbing, poking, throwing, jumping in and zoning with fireballs.

Rates are chances per frame on which the fighter is free to act, so a pro waits most of the time
and its input log is mostly ``NO_ACTION`` because of *how it plays*, not because of a quota.
Reaction delay is perception: the pro sees the opponent ``reaction_frames`` late (its own state it
knows at once). Execution errors replace a decided command by a random one. Everything is
vectorised over the batch; randomness comes from the seed given to ``reset``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from envs.actions import NUM_ACTIONS, Action
from envs.observation import ATTACK_COMMANDS, ME, OPP, FighterField, MatchField, attack_reach
from envs.params import GameParams

_SAFETY_PX = 2.0  # trust reaches a bit short: obs are float32, the engine float64


@dataclass(frozen=True)
class Style:
    """What a fighter wants in neutral. Distances in px, rates are chances per free frame."""

    name: str
    preferred_distance: float  # walks in when farther (subject to approach_rate)
    retreat_distance: float = 0.0  # walks back when closer than this (subject to retreat_rate)
    wait_margin: float = 0.0  # holds still this far outside its heavy's reach while the opponent walks in
    approach_rate: float = 1.0
    retreat_rate: float = 0.0
    jab_rate: float = 0.0  # LIGHT_ATTACK when in its reach
    poke_rate: float = 0.0  # HEAVY_ATTACK when in its reach
    throw_rate: float = 0.0  # THROW in neutral when in its reach
    guard_break_rate: float = 1.0  # walk in on / throw / jab a guarding or crouching opponent
    jump_in_rate: float = 0.0  # JUMP_FORWARD from jump-in distance
    fireball_rate: float = 0.0  # SPECIAL when at least fireball_distance away and it is ready
    fireball_distance: float = 260.0
    guard_rate: float = 1.0  # GUARD an attack that can reach it
    duck_heavy_rate: float = 0.0  # CROUCH under a heavy instead of guarding it
    anti_air_rate: float = 1.0
    # Not ahead on HP with less than this share of the round left: drop the plan and go in
    # (to heavy range, approaching at least half the time). Nobody wins a round by waiting.
    comeback_time_left: float = 0.6


@dataclass(frozen=True)
class Skill:
    """How well a fighter executes: the lecture's 'pro' vs a weaker player."""

    name: str
    reaction_frames: int = 0
    execution_error: float = 0.0
    # Timing jitter: on a frame where it is free and has something to do, the player does it
    # with this probability (else it does it a frame or more later). Real inputs are not
    # frame-exact; it is also why, frame by frame, NO_ACTION stays the likeliest label in
    # *every* situation, which is the lecture's trap for a naive classifier.
    decision_rate: float = 1.0


STYLES: dict[str, Style] = {
    # The reference fighter: deterministic, every rate 0 or 1, footsies at the tip of its heavy.
    "footsies": Style("footsies", preferred_distance=98.0, wait_margin=14.0, jab_rate=1.0,
                      poke_rate=1.0, fireball_rate=1.0),
    # Gets in your face: walks in, jabs, throws, jumps in, rarely zones.
    "rushdown": Style("rushdown", preferred_distance=55.0, approach_rate=0.5, jab_rate=0.5,
                      poke_rate=0.05, throw_rate=0.1, guard_break_rate=0.5, jump_in_rate=0.02,
                      fireball_rate=0.02, fireball_distance=380.0),
    # Keeps away: backs off, throws fireballs from range, anti-airs every jump.
    "zoner": Style("zoner", preferred_distance=300.0, retreat_distance=220.0, approach_rate=0.3,
                   retreat_rate=0.4, jab_rate=0.15, poke_rate=0.1, throw_rate=0.1,
                   guard_break_rate=0.2,
                   fireball_rate=0.2, fireball_distance=170.0, guard_rate=0.95),
    # Counter-puncher: waits just outside reach, blocks or ducks, punishes whiffs.
    "turtle": Style("turtle", preferred_distance=125.0, retreat_distance=70.0, wait_margin=30.0,
                    approach_rate=0.06, retreat_rate=0.1, jab_rate=0.1, poke_rate=0.04,
                    throw_rate=0.25, guard_break_rate=0.3, fireball_rate=0.02,
                    fireball_distance=300.0,
                    duck_heavy_rate=0.5),
}

SKILLS: dict[str, Skill] = {
    "perfect": Skill("perfect"),
    "pro": Skill("pro", reaction_frames=5, execution_error=0.02, decision_rate=0.45),
    "club": Skill("club", reaction_frames=12, execution_error=0.10, decision_rate=0.3),
}

PRO_STYLES: tuple[str, ...] = ("rushdown", "zoner", "turtle")


def pro_name(style: str, skill: str) -> str:
    """Registry name: the style for pro skill ("zoner"), style_skill otherwise ("zoner_club")."""
    return style if skill == "pro" else f"{style}_{skill}"


class ProPlayer:
    """A rule-based fighter with a :class:`Style` and a :class:`Skill` (see the module docstring)."""

    def __init__(self, style: Style | str, skill: Skill | str = "pro",
                 params: GameParams | None = None) -> None:
        self.style_config = STYLES[style] if isinstance(style, str) else style
        self.skill_config = SKILLS[skill] if isinstance(skill, str) else skill
        self.style = self.style_config.name
        self.skill = self.skill_config.name
        self.name = "footsies" if self.style == "footsies" and self.skill == "perfect" else \
            pro_name(self.style, self.skill)
        self.params = params if params is not None else GameParams()
        moves = self.params.moves
        self._light = moves["LIGHT_ATTACK"]
        self._heavy = moves["HEAVY_ATTACK"]
        self._light_reach = self._light.reach - _SAFETY_PX
        self._heavy_reach = self._heavy.reach - _SAFETY_PX
        self._throw_reach = moves["THROW"].reach - _SAFETY_PX
        self._anti_air_reach = moves["ANTI_AIR"].reach - _SAFETY_PX
        # jump-in window: a forward jump lands about this far ahead
        jump_travel = self.params.jump_frames * self.params.jump_forward_speed
        self._jump_window = (jump_travel - 10.0, jump_travel + 40.0)
        self._attack_reaches = np.array([moves[name].reach for name in ATTACK_COMMANDS])
        self._rng = np.random.default_rng(0)
        self._seen: np.ndarray | None = None  # (B, reaction_frames + 1, OBS_DIM) ring of observations
        self._fresh: np.ndarray | None = None  # rows whose episode just (re)started
        self._head = 0

    # ---- Policy protocol -------------------------------------------------------------------
    def reset(self, num_envs: int, seed: int | None = None,
              env_ids: np.ndarray | None = None) -> None:
        if env_ids is None:
            self._rng = np.random.default_rng(seed)
            self._seen = None
            self._fresh = np.ones(num_envs, dtype=bool)
        elif self._fresh is not None:
            self._fresh[np.asarray(env_ids)] = True

    def act(self, obs: np.ndarray) -> np.ndarray:
        view = self._perceive(obs)
        actions = self._decide(view)
        rate = self.skill_config.decision_rate
        if rate < 1.0:
            actions[self._rng.random(len(actions)) >= rate] = Action.NO_ACTION
        error = self.skill_config.execution_error
        if error > 0:
            fumble = (actions != Action.NO_ACTION) & (self._rng.random(len(actions)) < error)
            actions[fumble] = self._rng.integers(0, NUM_ACTIONS, size=int(fumble.sum()))
        return actions

    # ---- perception: the opponent seen reaction_frames late ---------------------------------
    def _perceive(self, obs: np.ndarray) -> np.ndarray:
        delay = self.skill_config.reaction_frames
        if delay == 0:
            return obs
        batch = obs.shape[0]
        if self._seen is None or self._seen.shape[0] != batch:
            self._seen = np.repeat(obs[:, None, :], delay + 1, axis=1)
            self._fresh = np.zeros(batch, dtype=bool)
            self._head = 0
        if self._fresh is not None and self._fresh.any():
            self._seen[self._fresh] = obs[self._fresh][:, None, :]
            self._fresh[:] = False
        self._head = (self._head + 1) % (delay + 1)
        self._seen[:, self._head] = obs
        oldest = (self._head + 1) % (delay + 1)
        view = self._seen[:, oldest].copy()
        view[:, ME:OPP] = obs[:, ME:OPP]  # its own state a player knows without delay
        view[:, MatchField.TIME_LEFT] = obs[:, MatchField.TIME_LEFT]
        return view

    def _gate(self, rate: float, batch: int) -> np.ndarray | bool:
        """True with probability ``rate`` per row; rates of exactly 0 or 1 draw no randomness."""
        if rate >= 1.0:
            return True
        if rate <= 0.0:
            return False
        return self._rng.random(batch) < rate

    # ---- decision: reactions first, then the style's neutral game ----------------------------
    def _decide(self, obs: np.ndarray) -> np.ndarray:
        p, s = self.params, self.style_config
        batch = obs.shape[0]
        gate = lambda rate: self._gate(rate, batch)  # noqa: E731
        me = obs[:, ME:OPP]
        opp = obs[:, OPP:]
        d = obs[:, MatchField.DISTANCE] * p.stage_width
        free = me[:, FighterField.BUSY] == 0
        opp_busy_frames = opp[:, FighterField.BUSY] * p.fps
        opp_air = opp[:, FighterField.HEIGHT] > 0
        opp_attacking = opp[:, FighterField.PHASE_STARTUP] + opp[:, FighterField.PHASE_ACTIVE] > 0
        opp_reach = attack_reach(opp, self._attack_reaches)
        opp_heavy = opp[:, FighterField.ATTACK_HEAVY] > 0
        opp_recovering = opp[:, FighterField.PHASE_RECOVERY] > 0
        opp_guarding = opp[:, FighterField.GUARDING] > 0
        opp_stunned = opp[:, FighterField.STUN] > 0
        opp_hitstun = opp_stunned & ~opp_guarding
        opp_turtling = opp_guarding & ~opp_stunned
        opp_crouching = opp[:, FighterField.CROUCHING] > 0
        opp_walking_in = opp[:, FighterField.WALKING] > 0
        fireball_gap = opp[:, FighterField.PROJECTILE_DISTANCE] * p.stage_width
        fireball_incoming = (opp[:, FighterField.PROJECTILE_ACTIVE] > 0) & (fireball_gap > 0) & (
            fireball_gap < 90)
        threatened = opp_attacking & (d <= opp_reach + 12)
        i_guard = me[:, FighterField.GUARDING] > 0
        i_crouch = me[:, FighterField.CROUCHING] > 0
        i_walk_in = me[:, FighterField.WALKING] > 0
        i_walk_out = me[:, FighterField.WALKING] < 0
        room_behind = me[:, FighterField.BACK_SPACE] * p.stage_width > 50
        fireball_ready = (me[:, FighterField.SPECIAL_COOLDOWN] == 0) & (
            me[:, FighterField.PROJECTILE_ACTIVE] == 0)
        in_jump_window = (d >= self._jump_window[0]) & (d <= self._jump_window[1])
        must_go_in = (obs[:, MatchField.TIME_LEFT] < s.comeback_time_left) & (
            me[:, FighterField.HP] <= opp[:, FighterField.HP])
        A = Action
        rules = [
            (~free, A.NO_ACTION),
            # reactions
            (opp_air & (d > 0) & (d <= self._anti_air_reach + 8) & gate(s.anti_air_rate), A.ANTI_AIR),
            (opp_air, A.NO_ACTION),
            (opp_hitstun & (d <= self._light_reach), A.LIGHT_ATTACK),
            (opp_recovering & (opp_busy_frames > self._heavy.startup) & (d <= self._heavy_reach),
             A.HEAVY_ATTACK),
            (opp_recovering & (opp_busy_frames > self._light.startup) & (d <= self._light_reach),
             A.LIGHT_ATTACK),
            (opp_recovering & (opp_busy_frames > 12) & ~i_walk_in, A.WALK_FORWARD),
            (threatened & opp_heavy & ~i_crouch & gate(s.duck_heavy_rate), A.CROUCH),
            (threatened & ~i_guard & ~i_crouch & gate(s.guard_rate), A.GUARD),
            (threatened, A.NO_ACTION),
            (fireball_incoming & ~i_guard, A.GUARD),
            (fireball_incoming, A.NO_ACTION),
            (opp_turtling & (d <= self._throw_reach) & gate(s.guard_break_rate), A.THROW),
            (opp_turtling & ~i_walk_in & gate(s.guard_break_rate), A.WALK_FORWARD),
            (opp_turtling, A.NO_ACTION),
            (opp_crouching & (d <= self._light_reach), A.LIGHT_ATTACK),
            (opp_crouching & ~i_walk_in & gate(s.guard_break_rate), A.WALK_FORWARD),
            (opp_crouching, A.NO_ACTION),
            # neutral: the style
            ((d <= self._throw_reach) & gate(s.throw_rate), A.THROW),
            ((d <= self._light_reach) & gate(s.jab_rate), A.LIGHT_ATTACK),
            ((d <= self._heavy_reach) & gate(s.poke_rate), A.HEAVY_ATTACK),
            (in_jump_window & gate(s.jump_in_rate), A.JUMP_FORWARD),
            ((d > s.fireball_distance) & fireball_ready & gate(s.fireball_rate), A.SPECIAL),
            (must_go_in & (d > self._heavy_reach) & ~i_walk_in & gate(max(s.approach_rate, 0.5)),
             A.WALK_FORWARD),
            (must_go_in & (d <= self._heavy_reach) & gate(max(s.poke_rate, 0.1)), A.HEAVY_ATTACK),
            ((d > s.preferred_distance) & (d <= s.preferred_distance + s.wait_margin)
             & opp_walking_in, A.NO_ACTION),
            ((d > s.preferred_distance) & ~i_walk_in & gate(s.approach_rate), A.WALK_FORWARD),
            ((d < s.retreat_distance) & room_behind & ~i_walk_out & gate(s.retreat_rate),
             A.WALK_BACK),
        ]
        conditions = [np.broadcast_to(cond, (batch,)) for cond, _ in rules]
        choices = [int(action) for _, action in rules]
        return np.select(conditions, choices, default=int(A.NO_ACTION)).astype(np.int64)
