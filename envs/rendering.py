"""Drawing a match: ``ansi`` text and pygame frames (``rgb_array`` arrays or a ``human`` window).

Rendering only reads the engine state (match ``i`` of a :class:`~envs.engine.DuelState`), so every
adapter and ``play.py`` draw the same picture. pygame is imported lazily, on the first frame, so
training never needs a display or even pygame's import time.
"""

from __future__ import annotations

import io
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
                 names: tuple[str, str] = SIDE_LABELS, caption: str = "FightLab",
                 footer_height: int = 0) -> None:
        if mode not in ("rgb_array", "human"):
            raise ValueError(f"PygameRenderer mode must be 'rgb_array' or 'human', got {mode!r}")
        self.params = params
        self.mode = mode
        self.names = names
        self.caption = caption
        self.width = int(params.stage_width)
        self.footer_height = int(footer_height)  # a panel under the floor (play.py shows the controls)
        self.height = HUD_HEIGHT + 220 + FLOOR_MARGIN + self.footer_height
        self.floor_y = self.height - FLOOR_MARGIN - self.footer_height
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
    def draw(self, state: DuelState, i: int, overlay: list[str] | None = None,
             show_winner: bool = True) -> Any:
        """Draw the match onto the off-screen surface and return it (``overlay``: extra text lines;
        ``show_winner=False`` leaves the result to the caller, e.g. a result dialog)."""
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
        if winner != RUNNING and show_winner:
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

    def draw_footer(self, rows: list[list[tuple[str, str]]], size: int = 20) -> None:
        """Fill the footer panel with rows of ``(key, what it does)`` pairs, laid out as a grid whose
        columns line up across rows and spread over the width."""
        pg, surf, font = self._pygame, self._surface, self.font(size)
        top = self.height - self.footer_height
        pg.draw.rect(surf, (16, 17, 26), (0, top, self.width, self.footer_height))
        pg.draw.line(surf, (70, 70, 90), (0, top), (self.width, top), 1)
        cells = [[(font.render(key, True, (250, 215, 110)), font.render(label, True, (200, 200, 212)))
                  for key, label in row] for row in rows]
        columns = max((len(row) for row in cells), default=0)
        widths = [max((k.get_width() + 6 + v.get_width() for row in cells if c < len(row)
                       for k, v in [row[c]]), default=0) for c in range(columns)]
        margin = 10
        gap = max(12, (self.width - 2 * margin - sum(widths)) // max(1, columns - 1))
        line_h = font.get_linesize() + 3
        for r, row in enumerate(cells):
            x, y = margin, top + 6 + line_h * r
            for c, (key_image, label_image) in enumerate(row):
                surf.blit(key_image, (x, y))
                surf.blit(label_image, (x + key_image.get_width() + 6, y))
                x += widths[c] + gap

    def draw_dialog(self, lines: list[tuple[str, int, tuple[int, int, int]]],
                    top: int | None = None) -> None:
        """A semi-transparent box with ``(text, size, colour)`` lines, centred across the stage, its
        top at ``top`` (default: just under the HUD, above the fighters' heads where it fits)."""
        pg = self._pygame
        pad, gap = 10, 5
        images = [self.font(size).render(text, True, color) for text, size, color in lines]
        box_w = min(self.width - 20, max(image.get_width() for image in images) + 2 * pad)
        box_h = sum(image.get_height() for image in images) + gap * (len(images) - 1) + 2 * pad
        if top is None:
            top = HUD_HEIGHT + 12
            if top + box_h > self.floor_y - FIGHTER_HEIGHT:  # would hide the fighters anyway: centre it
                top = max(HUD_HEIGHT - 4, (HUD_HEIGHT + self.floor_y - box_h) // 2)
        box = pg.Surface((box_w, box_h), pg.SRCALPHA)
        box.fill((10, 10, 18, 215))
        self._surface.blit(box, ((self.width - box_w) // 2, top))
        pg.draw.rect(self._surface, (120, 120, 150), ((self.width - box_w) // 2, top, box_w, box_h), 1,
                     border_radius=4)
        y = top + pad
        for image in images:
            self._surface.blit(image, image.get_rect(midtop=(self.width // 2, y)))
            y += image.get_height() + gap

    # ---- output ------------------------------------------------------------------------------
    def present(self, fps: int | None = None) -> None:
        """Show what was drawn in the window (``human`` mode); ``fps`` paces the loop (None: as fast
        as it goes, for headless runs)."""
        if self._window is None:
            raise RuntimeError("present() needs mode='human' and a drawn frame")
        self._window.blit(self._surface, (0, 0))
        self._pygame.display.flip()
        if fps:
            self._clock.tick(fps)

    def png_bytes(self) -> bytes:
        """The last drawn frame as PNG bytes (screenshots of play sessions; the caller writes them,
        e.g. with :func:`agents.artifacts.atomic_write_bytes`)."""
        if self._surface is None:
            raise RuntimeError("nothing drawn yet")
        buffer = io.BytesIO()
        self._pygame.image.save(self._surface, buffer, "png")
        return buffer.getvalue()

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
