"""Drawing a match: ``ansi`` text and pygame frames (``rgb_array`` arrays or a ``human`` window).

Rendering only reads the engine state (match ``i`` of a :class:`~envs.engine.DuelState`), so every
adapter and ``play.py`` draw the same picture. pygame is imported lazily, on the first frame, so
training never needs a display or even pygame's import time.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from envs.actions import Action
from envs.engine import DRAW, RUNNING, DuelState
from envs.params import GameParams

SIDE_COLORS = ((70, 130, 230), (225, 75, 70))
SIDE_LABELS = ("P1", "P2")
FLOOR_MARGIN = 60  # px of floor drawn under the fighters
HUD_HEIGHT = 70
FIGHTER_HEIGHT = 90
CROUCH_HEIGHT = 55


def _move_label(state: DuelState, i: int, p: int, params: GameParams) -> str:
    move = Action(int(state.move[i, p]))
    if state.stun[i, p] > 0:
        return f"{'BLOCKSTUN' if state.stun_is_block[i, p] else 'HITSTUN'} {int(state.stun[i, p])}"
    if move.name in params.moves:
        data = params.moves[move.name]
        f = int(state.move_frame[i, p])
        phase = "startup" if f < data.startup else ("ACTIVE" if f < data.startup + data.active
                                                     else "recovery")
        return f"{move.name}({phase})"
    return move.name


def render_ansi(state: DuelState, i: int, params: GameParams,
                names: tuple[str, str] = SIDE_LABELS) -> str:
    """Three text lines: timer and HP bars, the stage with both fighters, what each one is doing."""
    width = 64
    cells = ["."] * width
    for p in range(2):
        col = min(width - 1, int(state.x[i, p] / params.stage_width * width))
        cells[col] = str(p + 1) if state.y[i, p] == 0 else "^"  # ^: airborne
        if state.projectile_dir[i, p] != 0:
            pcol = min(width - 1, max(0, int(state.projectile_x[i, p] / params.stage_width * width)))
            cells[pcol] = "*"
    seconds_left = max(0.0, (params.round_frames - int(state.frame[i])) / params.fps)
    bars = []
    for p in range(2):
        filled = int(round(10 * state.hp[i, p] / params.max_hp))
        bars.append(f"{names[p]} {int(state.hp[i, p]):3d} [{'#' * filled}{' ' * (10 - filled)}]")
    lines = [f"{bars[0]}   {seconds_left:5.1f}s   {bars[1]}", "|" + "".join(cells) + "|",
             f"{names[0]}: {_move_label(state, i, 0, params)}   "
             f"{names[1]}: {_move_label(state, i, 1, params)}"]
    winner = int(state.winner[i])
    if winner != RUNNING:
        lines.append("DRAW" if winner == DRAW else f"{names[winner]} WINS")
    return "\n".join(lines)


class PygameRenderer:
    """Draws match ``i`` of a state onto a pygame surface; ``human`` mode also shows a window."""

    def __init__(self, params: GameParams, mode: str = "rgb_array",
                 names: tuple[str, str] = SIDE_LABELS, caption: str = "FightLab") -> None:
        if mode not in ("rgb_array", "human"):
            raise ValueError(f"PygameRenderer mode must be 'rgb_array' or 'human', got {mode!r}")
        self.params = params
        self.mode = mode
        self.names = names
        self.caption = caption
        self.width = int(params.stage_width)
        self.height = HUD_HEIGHT + 220 + FLOOR_MARGIN
        self.floor_y = self.height - FLOOR_MARGIN
        self._pygame: Any = None
        self._surface: Any = None
        self._window: Any = None
        self._clock: Any = None
        self._fonts: dict[int, Any] = {}

    # ---- lazy pygame -------------------------------------------------------------------------
    def _init(self) -> None:
        os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
        try:
            import pygame
        except ImportError as err:  # pragma: no cover - pygame is a declared dependency
            raise ImportError("rendering needs pygame: pip install pygame") from err
        self._pygame = pygame
        pygame.font.init()
        if self.mode == "human":
            pygame.display.init()
            pygame.display.set_caption(self.caption)
            self._window = pygame.display.set_mode((self.width, self.height))
            self._clock = pygame.time.Clock()
        self._surface = pygame.Surface((self.width, self.height))

    def font(self, size: int) -> Any:
        if size not in self._fonts:
            self._fonts[size] = self._pygame.font.Font(None, size)
        return self._fonts[size]

    # ---- drawing -----------------------------------------------------------------------------
    def draw(self, state: DuelState, i: int, overlay: list[str] | None = None) -> Any:
        """Draw the match onto the off-screen surface and return it (``overlay``: extra text lines)."""
        if self._pygame is None:
            self._init()
        pg, surf, p = self._pygame, self._surface, self.params
        surf.fill((24, 26, 38))
        pg.draw.rect(surf, (58, 52, 48), (0, self.floor_y, self.width, FLOOR_MARGIN))
        pg.draw.line(surf, (120, 110, 100), (0, self.floor_y), (self.width, self.floor_y), 2)
        for side in range(2):
            self._draw_fighter(state, i, side)
        for side in range(2):
            if state.projectile_dir[i, side] != 0:
                center = (int(state.projectile_x[i, side]), self.floor_y - 45)
                pg.draw.circle(surf, (255, 220, 90), center, int(p.projectile_radius))
                pg.draw.circle(surf, SIDE_COLORS[side], center, int(p.projectile_radius), 3)
        self._draw_hud(state, i)
        winner = int(state.winner[i])
        if winner != RUNNING:
            text = "DRAW" if winner == DRAW else f"{self.names[winner]} WINS"
            self._text(text, 56, (255, 255, 255), (self.width // 2, self.height // 2 - 20), center=True)
        for k, line in enumerate(overlay or []):
            self._text(line, 20, (200, 200, 210), (8, self.floor_y + 6 + 18 * k))
        return surf

    def _draw_fighter(self, state: DuelState, i: int, side: int) -> None:
        pg, surf, p = self._pygame, self._surface, self.params
        x, y = float(state.x[i, side]), float(state.y[i, side])
        facing = int(state.facing[i, side])
        move = int(state.move[i, side])
        height = CROUCH_HEIGHT if move == Action.CROUCH else FIGHTER_HEIGHT
        color = SIDE_COLORS[side]
        if state.stun[i, side] > 0 and not state.stun_is_block[i, side]:
            color = (250, 250, 250)  # hit flash
        top = self.floor_y - y - height
        body = pg.Rect(int(x - p.body_width / 2), int(top), int(p.body_width), height)
        pg.draw.rect(surf, color, body, border_radius=6)
        eye_x = int(x + facing * p.body_width / 4)
        pg.draw.circle(surf, (20, 20, 20), (eye_x, int(top + 14)), 4)
        guarding = move == Action.GUARD or (state.stun[i, side] > 0 and state.stun_is_block[i, side])
        if guarding:
            gx = int(x + facing * (p.body_width / 2 + 6))
            pg.draw.line(surf, (250, 220, 80), (gx, int(top + 5)), (gx, int(top + height - 5)), 5)
        name = Action(move).name
        if name in p.moves and move != Action.SPECIAL:
            data = p.moves[name]
            f = int(state.move_frame[i, side])
            if f < data.startup:
                limb_color, reach = (150, 150, 90), (data.reach - p.body_width / 2) * 0.4
            elif f < data.startup + data.active:
                limb_color, reach = (255, 140, 40), data.reach - p.body_width / 2
            else:
                limb_color, reach = (110, 110, 120), (data.reach - p.body_width / 2) * 0.7
            limb_y = int(top + (10 if move == Action.ANTI_AIR else 35))
            start = x + facing * p.body_width / 2
            end = start + facing * reach
            left, right = sorted((start, end))
            pg.draw.rect(surf, limb_color, (int(left), limb_y, max(2, int(right - left)), 12),
                         border_radius=4)

    def _draw_hud(self, state: DuelState, i: int) -> None:
        pg, surf, p = self._pygame, self._surface, self.params
        bar_w, bar_h, margin = self.width // 2 - 70, 18, 14
        for side in range(2):
            frac = max(0.0, float(state.hp[i, side]) / p.max_hp)
            x0 = margin if side == 0 else self.width - margin - bar_w
            pg.draw.rect(surf, (70, 20, 20), (x0, 20, bar_w, bar_h))
            fill = int(bar_w * frac)
            fx = x0 + bar_w - fill if side == 0 else x0  # bars drain toward the outside edge
            pg.draw.rect(surf, (90, 210, 90), (fx, 20, fill, bar_h))
            pg.draw.rect(surf, (230, 230, 230), (x0, 20, bar_w, bar_h), 2)
            label = f"{self.names[side]}  {int(state.hp[i, side])}"
            lx = x0 if side == 0 else x0 + bar_w
            self._text(label, 22, SIDE_COLORS[side], (lx, 44), right=side == 1)
        seconds = max(0, int(np.ceil((p.round_frames - int(state.frame[i])) / p.fps)))
        self._text(f"{seconds:02d}", 44, (255, 255, 255), (self.width // 2, 30), center=True)

    def _text(self, text: str, size: int, color: tuple[int, int, int], pos: tuple[int, int],
              center: bool = False, right: bool = False) -> None:
        image = self.font(size).render(text, True, color)
        rect = image.get_rect()
        if center:
            rect.center = pos
        elif right:
            rect.topright = pos
        else:
            rect.topleft = pos
        self._surface.blit(image, rect)

    # ---- output ------------------------------------------------------------------------------
    def render(self, state: DuelState, i: int, overlay: list[str] | None = None) -> np.ndarray | None:
        """``rgb_array``: an ``(H, W, 3)`` uint8 frame. ``human``: show it in the window, return None."""
        surf = self.draw(state, i, overlay)
        if self.mode == "rgb_array":
            return np.transpose(self._pygame.surfarray.array3d(surf), (1, 0, 2)).copy()
        self._window.blit(surf, (0, 0))
        self._pygame.event.pump()
        self._pygame.display.flip()
        self._clock.tick(self.params.fps)
        return None

    def close(self) -> None:
        if self._pygame is not None and self._window is not None:
            self._pygame.display.quit()
        self._window = None
