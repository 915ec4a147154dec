"""Scripted players: the idle and random baselines and a competent footsies fighter.

All decide from the egocentric observation only (what a player sees on screen), vectorised over
the batch with numpy: no Python loop over matches.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from envs.actions import NUM_ACTIONS, Action
from envs.observation import ME, OPP, FighterField, MatchField
from envs.params import GameParams

_SAFETY_PX = 2.0


class IdleBot:
    """Never presses anything (always ``NO_ACTION``): the degenerate "99% accuracy" bot of the lecture."""

    name = "idle"

    def reset(self, num_envs: int, seed: int | None = None,
              env_ids: np.ndarray | None = None) -> None:
        pass

    def act(self, obs: np.ndarray) -> np.ndarray:
        return np.zeros(obs.shape[0], dtype=np.int64)


class RandomBot:
    """A button masher: a uniformly random command every frame (seeded by ``reset``)."""

    name = "random"

    def __init__(self) -> None:
        self._rng = np.random.default_rng(0)

    def reset(self, num_envs: int, seed: int | None = None,
              env_ids: np.ndarray | None = None) -> None:
        if env_ids is None:
            self._rng = np.random.default_rng(seed)

    def act(self, obs: np.ndarray) -> np.ndarray:
        return self._rng.integers(0, NUM_ACTIONS, size=obs.shape[0], dtype=np.int64)


@dataclass(frozen=True)
class FootsiesStyle:
    """Knobs of :class:`FootsiesBot`; distances in px beyond the relevant move's reach."""

    spacing_margin: float = 14.0  # stay this far outside the heavy's reach before poking
    anti_air_margin: float = 8.0
    projectile_distance: float = 260.0  # throw fireballs from at least this far


class FootsiesBot:
    """A competent fighter that plays the spacing and punish game the frame data is built around.

    In priority order, when it can act: anti-air a jump-in; continue a combo on a stunned
    opponent; punish an attack in recovery (heavy when there is time, else light); guard an attack
    in startup that can reach it or an incoming fireball; throw an opponent who is guarding; then
    space: approach (or zone with a fireball from far), poke with the heavy at its tip, jab up
    close. It waits (NO_ACTION) while a move it started is still playing out, so its log is mostly
    NO_ACTION for the same reason a pro's is.
    """

    name = "footsies"

    def __init__(self, params: GameParams | None = None, style: FootsiesStyle | None = None) -> None:
        self.params = params if params is not None else GameParams()
        self.style = style if style is not None else FootsiesStyle()
        moves = self.params.moves
        # Reaches it trusts, a little short of the real ones: the observation is float32, and a
        # poke at exactly max range that the engine (float64) sees as 0.0001 px short would whiff
        # forever.
        self._light_reach = moves["LIGHT_ATTACK"].reach - _SAFETY_PX
        self._heavy_reach = moves["HEAVY_ATTACK"].reach - _SAFETY_PX
        self._throw_reach = moves["THROW"].reach - _SAFETY_PX
        self._anti_air_reach = moves["ANTI_AIR"].reach - _SAFETY_PX
        self._light_startup = moves["LIGHT_ATTACK"].startup
        self._heavy_startup = moves["HEAVY_ATTACK"].startup
        # the opponent's reach by attack one-hot (LIGHT, HEAVY, SPECIAL, THROW, ANTI_AIR)
        self._opp_reach = np.array([moves[a.name].reach for a in
                                    (Action.LIGHT_ATTACK, Action.HEAVY_ATTACK, Action.SPECIAL,
                                     Action.THROW, Action.ANTI_AIR)])

    def reset(self, num_envs: int, seed: int | None = None,
              env_ids: np.ndarray | None = None) -> None:
        pass

    def act(self, obs: np.ndarray) -> np.ndarray:
        p, s = self.params, self.style
        fps = p.fps
        me = obs[:, ME:ME + len(FighterField)]
        opp = obs[:, OPP:OPP + len(FighterField)]
        d = obs[:, MatchField.DISTANCE] * p.stage_width
        free = me[:, FighterField.BUSY] == 0
        opp_busy = opp[:, FighterField.BUSY] * fps
        opp_air = opp[:, FighterField.HEIGHT] > 0
        opp_attacking = opp[:, FighterField.PHASE_STARTUP] + opp[:, FighterField.PHASE_ACTIVE] > 0
        attack_onehot = opp[:, FighterField.ATTACK_LIGHT:FighterField.ATTACK_ANTI_AIR + 1]
        opp_reach = attack_onehot @ self._opp_reach
        opp_recovering = opp[:, FighterField.PHASE_RECOVERY] > 0
        opp_guarding = opp[:, FighterField.GUARDING] > 0
        opp_hitstun = (opp[:, FighterField.STUN] > 0) & ~opp_guarding
        opp_crouching = opp[:, FighterField.CROUCHING] > 0
        fireball_gap = opp[:, FighterField.PROJECTILE_DISTANCE] * p.stage_width
        fireball_incoming = (opp[:, FighterField.PROJECTILE_ACTIVE] > 0) & (fireball_gap > 0) & (
            fireball_gap < 90)
        i_guard = me[:, FighterField.GUARDING] > 0
        i_walk_forward = me[:, FighterField.WALKING] > 0
        fireball_ready = (me[:, FighterField.SPECIAL_COOLDOWN] == 0) & (
            me[:, FighterField.PROJECTILE_ACTIVE] == 0)
        heavy_tip = self._heavy_reach + s.spacing_margin

        rules = [
            (~free, Action.NO_ACTION),
            (opp_air & (d <= self._anti_air_reach + s.anti_air_margin) & (d > 0), Action.ANTI_AIR),
            (opp_air, Action.NO_ACTION),
            (opp_hitstun & (d <= self._light_reach), Action.LIGHT_ATTACK),
            (opp_recovering & (opp_busy > self._heavy_startup) & (d <= self._heavy_reach),
             Action.HEAVY_ATTACK),
            (opp_recovering & (opp_busy > self._light_startup) & (d <= self._light_reach),
             Action.LIGHT_ATTACK),
            (opp_recovering & (opp_busy > 12) & ~i_walk_forward, Action.WALK_FORWARD),
            (opp_attacking & (d <= opp_reach + 12) & ~i_guard, Action.GUARD),
            (opp_attacking & (d <= opp_reach + 12), Action.NO_ACTION),
            (fireball_incoming & ~i_guard, Action.GUARD),
            (fireball_incoming, Action.NO_ACTION),
            (opp_guarding & (opp[:, FighterField.STUN] == 0) & (d <= self._throw_reach),
             Action.THROW),
            # a turtling opponent: walk in to throw range instead of poking into the guard
            (opp_guarding & (opp[:, FighterField.STUN] == 0) & ~i_walk_forward, Action.WALK_FORWARD),
            (opp_guarding & (opp[:, FighterField.STUN] == 0), Action.NO_ACTION),
            # a crouching opponent ducks the heavy: jab it (lights hit low) or walk into jab range
            (opp_crouching & (d <= self._light_reach), Action.LIGHT_ATTACK),
            (opp_crouching & ~i_walk_forward, Action.WALK_FORWARD),
            (opp_crouching, Action.NO_ACTION),
            ((d > s.projectile_distance) & fireball_ready, Action.SPECIAL),
            ((d > heavy_tip) & ~i_walk_forward, Action.WALK_FORWARD),
            # at the tip of the heavy's reach: let an approaching opponent walk into it
            ((d > self._heavy_reach) & (opp[:, FighterField.WALKING] > 0), Action.NO_ACTION),
            ((d > self._heavy_reach) & ~i_walk_forward, Action.WALK_FORWARD),
            (d > self._heavy_reach, Action.NO_ACTION),
            (d <= self._light_reach, Action.LIGHT_ATTACK),
            (d <= self._heavy_reach, Action.HEAVY_ATTACK),
        ]
        conditions = [cond for cond, _ in rules]
        choices = [int(action) for _, action in rules]
        return np.select(conditions, choices, default=int(Action.NO_ACTION)).astype(np.int64)


class SpamBot:
    """Presses the same command every frame: the "spam one move" strategy the rules must punish."""

    def __init__(self, action: Action) -> None:
        self.action = Action(action)
        self.name = f"spam_{self.action.name.lower()}"

    def reset(self, num_envs: int, seed: int | None = None,
              env_ids: np.ndarray | None = None) -> None:
        pass

    def act(self, obs: np.ndarray) -> np.ndarray:
        return np.full(obs.shape[0], int(self.action), dtype=np.int64)
