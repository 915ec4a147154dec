"""The human player: held directions and pressed buttons turned into one command per frame.

A keyboard is not a command stream. A player *holds* a direction to walk, crouch or guard and
*presses* a button to attack, while the game takes one command per frame, each starting a move
that plays out over several frames (a walk step is ``walk_frames`` long). :class:`HumanPlayer`
bridges the two the way fighting games do:

* held controls (forward, back, down, guard, up) re-issue their command only when the fighter is
  not already doing it or its step is about to end, so walking is continuous and the log stays an
  input log (mostly ``NO_ACTION``, like the pros'), not the same command on every frame;
* button presses go into a short input buffer (``buffer_frames``) and come out on the first frame
  the fighter can act, so a press during a recovery is not lost;
* up is a held control too: holding it jumps again on landing; up with forward held is
  ``JUMP_FORWARD``, up alone or with back is ``JUMP`` (the game has no back jump).

Controls are egocentric (forward = toward the opponent), as in the action set; the window maps
screen left / right to back / forward with the fighter's current facing (``play.py``). The player
implements the :class:`~agents.policy.Policy` protocol (``act`` on a batch of one), so the env and
the recorder treat it like any bot.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from envs.actions import ATTACKS, Action
from envs.observation import ME, FighterField
from envs.params import GameParams


@dataclass
class HeldControls:
    """What the player holds this frame, in egocentric directions."""

    forward: bool = False
    back: bool = False
    up: bool = False
    down: bool = False
    guard: bool = False


class HumanPlayer:
    """Keyboard state in, one command per frame out (see the module docstring)."""

    name = "human"
    style = "human"
    skill = "human"

    def __init__(self, params: GameParams | None = None, buffer_frames: int = 8) -> None:
        if isinstance(buffer_frames, bool) or not isinstance(buffer_frames, int) or buffer_frames < 1:
            raise ValueError(f"buffer_frames must be an int >= 1, got {buffer_frames!r}")
        params = params if params is not None else GameParams()
        self.buffer_frames = buffer_frames
        self.held = HeldControls()
        self._durations = {Action.WALK_FORWARD: params.walk_frames, Action.WALK_BACK: params.walk_frames,
                           Action.GUARD: params.guard_frames, Action.CROUCH: params.crouch_frames}
        self._buffer: deque[tuple[Action, int]] = deque()  # (button, frames left in the buffer)
        self._last_hold: Action = Action.NO_ACTION
        self._hold_age = 0  # frames since _last_hold was issued

    def press(self, button: Action) -> None:
        """A button went down this frame (an attack); it waits in the buffer until it can come out."""
        button = Action(button)
        if button not in ATTACKS:
            raise ValueError(f"press() takes an attack button ({', '.join(a.name for a in ATTACKS)}); "
                             f"directions are held: set player.held.<forward|back|up|down|guard>")
        self._buffer.append((button, self.buffer_frames))

    def reset(self, num_envs: int = 1, seed: int | None = None, env_ids: np.ndarray | None = None) -> None:
        """A new match: forget buffered presses (what is held stays held)."""
        self._buffer.clear()
        self._last_hold = Action.NO_ACTION
        self._hold_age = 0

    def act(self, obs: np.ndarray) -> np.ndarray:
        return np.array([self.command(np.asarray(obs).reshape(-1, obs.shape[-1])[0])], dtype=np.int64)

    # ---- one frame -----------------------------------------------------------------------------
    def command(self, obs: np.ndarray) -> int:
        """The command for this frame given the player's own (egocentric) observation row."""
        me = obs[ME:]
        can_act = me[FighterField.BUSY] == 0 and me[FighterField.STUN] == 0
        self._hold_age += 1
        if not can_act:
            self._age_buffer()
            return int(Action.NO_ACTION)
        if self._buffer:
            button, _ = self._buffer.popleft()
            self._last_hold = Action.NO_ACTION
            return int(button)
        wanted = self._held_command()
        if wanted == Action.NO_ACTION:
            self._last_hold = Action.NO_ACTION
            return int(Action.NO_ACTION)
        if wanted in (Action.JUMP, Action.JUMP_FORWARD):
            self._last_hold = Action.NO_ACTION
            return int(wanted)
        doing = self._doing(me)
        step_ending = wanted == self._last_hold and self._hold_age >= self._durations[wanted] - 1
        if doing != wanted or step_ending:
            self._last_hold, self._hold_age = wanted, 0
            return int(wanted)
        return int(Action.NO_ACTION)

    def _held_command(self) -> Action:
        held = self.held
        forward = held.forward and not held.back
        back = held.back and not held.forward
        if held.up:
            return Action.JUMP_FORWARD if forward else Action.JUMP
        if held.guard:
            return Action.GUARD
        if held.down:
            return Action.CROUCH
        if forward:
            return Action.WALK_FORWARD
        if back:
            return Action.WALK_BACK
        return Action.NO_ACTION

    @staticmethod
    def _doing(me: np.ndarray) -> Action:
        """The held-type move the fighter is in, read from its observation."""
        if me[FighterField.GUARDING] > 0:
            return Action.GUARD
        if me[FighterField.CROUCHING] > 0:
            return Action.CROUCH
        if me[FighterField.WALKING] > 0:
            return Action.WALK_FORWARD
        if me[FighterField.WALKING] < 0:
            return Action.WALK_BACK
        return Action.NO_ACTION

    def _age_buffer(self) -> None:
        """Buffered presses expire after ``buffer_frames`` frames of not being able to act."""
        self._buffer = deque((button, left - 1) for button, left in self._buffer if left > 1)
