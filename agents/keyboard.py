"""Keyboard input for ``play.py``: key bindings, and where key events come from.

It lives next to the human player (:mod:`agents.human`), which turns held keys into commands;
the game (:mod:`envs`) knows nothing about keyboards.

The game loop always reads pygame's event queue; an *input source* only decides what gets into it.
:class:`KeyboardInput` is the real keyboard (SDL queues the events itself). :class:`ScriptedInput`
posts scripted ``KEYDOWN`` / ``KEYUP`` events (``pygame.event.post``) at given ticks or when the
loop reaches a given screen, so tests and automated playtests drive the very same code path as a
person at the keyboard, headless (``SDL_VIDEODRIVER=dummy``).

A script is a list of steps (a JSON file for ``play.py script=...``)::

    [{"wait": 10, "down": ["right"]},              # 10 ticks after the previous step
     {"wait": 40, "up": ["right"], "tap": ["j"]},  # tap: down now, up on the next tick
     {"screen": "rate_difficulty", "tap": ["3"]},  # as soon as the rating question shows
     {"screen": "rate_fun", "tap": ["4"]}]

Key names are pygame's (``pygame.key.name``): ``left``, ``right``, ``up``, ``down``, ``space``,
``return``, ``escape``, letters and digits. When the script runs out the session quits
(``quit_at_end``), so an automated run never waits for a key that will not come.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from envs.actions import Action

# What each key does in a match; directions are screen directions (play.py maps them to
# forward / back with the fighter's facing). One table: the loop and the on-screen help read it.
DIRECTION_KEYS: dict[str, tuple[str, ...]] = {
    "left": ("left", "a"),
    "right": ("right", "d"),
    "up": ("up", "w"),
    "down": ("down", "s"),
    "guard": ("space",),
}
BUTTON_KEYS: dict[Action, tuple[str, ...]] = {
    Action.LIGHT_ATTACK: ("j",),
    Action.HEAVY_ATTACK: ("k",),
    Action.SPECIAL: ("l",),
    Action.THROW: ("u",),
    Action.ANTI_AIR: ("i",),
}
RATING_KEYS: dict[str, int] = {**{str(n): n for n in range(1, 6)}, **{f"[{n}]": n for n in range(1, 6)}}
SKIP_KEYS = ("return", "enter", "backspace", "0", "[0]")
REMATCH_KEYS = ("r",)
QUIT_KEYS = ("escape",)  # always; q quits too, but only off the fight (it sits next to W A S D)
QUIT_KEYS_OFF_FIGHT = ("escape", "q")


def key_name(key: int) -> str:
    """pygame's name of a key code (``"right"``, ``"j"``, ``"[1]"`` for keypad 1)."""
    import pygame

    return pygame.key.name(key)


class InputSource(Protocol):
    """Puts key events into pygame's queue for the tick about to be played on ``screen``."""

    def pump(self, screen: str, tick: int) -> None: ...


class KeyboardInput:
    """The real keyboard: SDL queues its events already, nothing to add."""

    def pump(self, screen: str, tick: int) -> None:
        pass


@dataclass
class ScriptStep:
    """Post ``down`` / ``up`` / ``tap`` keys once ``wait`` ticks passed since the previous step and,
    if ``screen`` is set, the loop shows that screen."""

    wait: int = 0
    screen: str | None = None
    down: list[str] = field(default_factory=list)
    up: list[str] = field(default_factory=list)
    tap: list[str] = field(default_factory=list)

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any], where: str) -> ScriptStep:
        if not isinstance(raw, Mapping):
            raise ValueError(f"{where}: a script step must be an object like {{\"wait\": 10, \"tap\": "
                             f"[\"j\"]}}, got {raw!r}")
        valid = ("wait", "screen", "down", "up", "tap")
        unknown = sorted(set(raw) - set(valid))
        if unknown:
            raise ValueError(f"{where}: unknown key(s) {unknown}; a step has {list(valid)}")
        step = cls(**dict(raw))
        if isinstance(step.wait, bool) or not isinstance(step.wait, int) or step.wait < 0:
            raise ValueError(f"{where}: wait must be an int >= 0 (ticks), got {step.wait!r}")
        for name in ("down", "up", "tap"):
            keys = getattr(step, name)
            if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
                raise ValueError(f"{where}: {name} must be a list of key names, got {keys!r}")
        return step


class ScriptedInput:
    """Scripted key events, posted into pygame's queue (see the module docstring)."""

    def __init__(self, steps: Sequence[ScriptStep | Mapping[str, Any]], quit_at_end: bool = True,
                 source: str = "script") -> None:
        self.steps = [s if isinstance(s, ScriptStep) else ScriptStep.from_mapping(s, f"{source} step {i}")
                      for i, s in enumerate(steps)]
        self.quit_at_end = quit_at_end
        self.source = source
        self._next = 0
        self._last_fired = 0
        self._pending_up: list[str] = []
        self._quit_posted = False
        self.fired_at: list[tuple[int, str]] = []  # (tick, screen) of each step, for tests

    @classmethod
    def from_file(cls, path: str | Path) -> ScriptedInput:
        path = Path(path)
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise FileNotFoundError(f"script {path} does not exist") from None
        except json.JSONDecodeError as err:
            raise ValueError(f"script {path} is not valid JSON: {err}") from err
        if not isinstance(raw, list):
            raise ValueError(f"script {path} must hold a JSON list of steps, got {type(raw).__name__}")
        return cls(raw, source=str(path))

    @property
    def done(self) -> bool:
        return self._next >= len(self.steps)

    def pump(self, screen: str, tick: int) -> None:
        import pygame

        for key in self._pending_up:
            self._post(pygame.KEYUP, key)
        self._pending_up = []
        while not self.done:
            step = self.steps[self._next]
            if tick - self._last_fired < step.wait or (step.screen is not None and step.screen != screen):
                return
            for key in step.down:
                self._post(pygame.KEYDOWN, key)
            for key in step.up:
                self._post(pygame.KEYUP, key)
            for key in step.tap:
                self._post(pygame.KEYDOWN, key)
            self._pending_up = list(step.tap)
            self.fired_at.append((tick, screen))
            self._last_fired = tick
            self._next += 1
            if step.tap:  # let the taps be released before later steps fire
                return
        if self.quit_at_end and not self._quit_posted and not self._pending_up:
            self._quit_posted = True
            pygame.event.post(pygame.event.Event(pygame.QUIT))

    def _post(self, kind: int, name: str) -> None:
        import pygame

        try:
            key = pygame.key.key_code(name)
        except ValueError:
            raise ValueError(f"{self.source}: unknown key name {name!r} (pygame key names: 'left', "
                             "'space', 'return', 'j', '3', ...)") from None
        pygame.event.post(pygame.event.Event(kind, key=key, mod=0, unicode="", scancode=0))
