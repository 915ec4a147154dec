"""Play a bot in a window: the game designer's entry point.

    python play.py                                    # you (left) vs footsies
    python play.py bot=runs/bc/focal_seed0/best side=right
    python play.py bot=turtle difficulty.reaction_delay=12 difficulty.apm_cap=120
    python play.py spectate=true bot=footsies p2=zoner # watch two bots
    python play.py round_seconds=30 record.player=alice

Every match you finish is recorded as a log dataset (``data/playtests/<timestamp>`` unless
``record.dir=...``) through :class:`datasets.recording.RecordLogs`, so playtests become training
data; after each match the result screen asks how hard and how fun it was (keys 1-5, Enter
skips), and the answers are stored with the match in the dataset's ``manifest["match_notes"]``.

The loop is :class:`PlaySession`: one ``FightingEnv`` (you are the agent, the bot its opponent)
stepped one frame per tick, drawn by :class:`envs.rendering.PygameRenderer`. Key events come from
an input source (:mod:`agents.keyboard`): the real keyboard, or a script (``script=keys.json``) that
posts the same pygame events, which is how the tests drive whole matches headless.
"""

from __future__ import annotations

import os
import sys
from dataclasses import asdict, dataclass, field
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import Any

os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")

import hydra  # noqa: E402
import numpy as np  # noqa: E402
from hydra.core.config_store import ConfigStore  # noqa: E402
from omegaconf import DictConfig, OmegaConf  # noqa: E402

from agents.artifacts import atomic_write_bytes  # noqa: E402
from agents.difficulty import DifficultyConfig, difficulty_config, with_difficulty  # noqa: E402
from agents.human import HumanPlayer  # noqa: E402
from agents.keyboard import (  # noqa: E402
    BUTTON_KEYS,
    DIRECTION_KEYS,
    QUIT_KEYS,
    QUIT_KEYS_OFF_FIGHT,
    RATING_KEYS,
    REMATCH_KEYS,
    SKIP_KEYS,
    InputSource,
    KeyboardInput,
    ScriptedInput,
    key_name,
)
from agents.registry import UnknownBotError, make_policy  # noqa: E402
from datasets.recording import RecordLogs  # noqa: E402
from envs.config_checks import check_overrides_or_exit  # noqa: E402
from envs.fighting_env import FightingEnv  # noqa: E402
from envs.options import build_params  # noqa: E402
from envs.rendering import SIDE_COLORS, PygameRenderer  # noqa: E402

WHITE, GREY, GOLD = (255, 255, 255), (185, 185, 200), (250, 215, 110)
RESULT_COLORS = {"win": (120, 230, 120), "loss": (240, 110, 100), "draw": (230, 230, 230)}
CONTROLS = [  # (keys, what they do): a grid of 4 columns under the stage
    [("A/D, Left/Right", "walk"), ("W, Up", "jump"), ("S, Down", "crouch"), ("Space", "guard (hold)")],
    [("J", "light"), ("K", "heavy"), ("L", "fireball"), ("U", "throw")],
    [("I", "anti-air"), ("Up + toward", "jump in"), ("R", "rematch"), ("Esc", "quit")],
]
FOOTER_ROW_PX = 20
SPECTATE_CONTROLS = [[("R", "restart the match"), ("Esc, Q", "quit")]]


class Side(Enum):
    left = "left"
    right = "right"


@dataclass
class RecordConfig:
    enabled: bool = True  # record every finished human match as a log dataset
    dir: str | None = None  # default: data/playtests/<YYYYmmdd-HHMMSS>
    player: str = "designer"  # rows are logged as player_id "human:<player>"
    ask_ratings: bool = True  # ask difficulty and fun (1-5) after each match


@dataclass
class PlayConfig:
    bot: str = "footsies"  # the bot you fight: a name (idle, random, footsies, pros) or a checkpoint/bundle
    side: Side = Side.left  # your side at the bell
    p2: str | None = None  # set it to watch bot vs bot: `bot` on the left, p2 on the right
    spectate: bool = False  # watch bot vs bot (p2 defaults to the same bot)
    difficulty: DifficultyConfig = field(default_factory=DifficultyConfig)  # handicaps for `bot`
    round_seconds: float = 60.0
    max_hp: int = 100
    game: dict[str, Any] = field(default_factory=dict)  # other GameParams: +game.walk_forward_speed=4
    seed: int = 0  # match k starts from seed + k
    max_matches: int | None = None  # end the session after this many matches (null: until you quit)
    headless: bool = False  # no visible window, no 60 fps pacing (tests, automated playtests)
    script: str | None = None  # a JSON key script instead of the keyboard (see agents/keyboard.py)
    screenshot: str | None = None  # save the window at screenshot_tick, and <name>_result.png
    screenshot_tick: int = 90
    record: RecordConfig = field(default_factory=RecordConfig)


ConfigStore.instance().store(name="play_schema", node=PlayConfig)


class PlaySetupError(ValueError):
    """A setting that stops the session before it starts (unknown bot, bad option, ...)."""


@dataclass
class SessionSummary:
    """What happened: results from the human's (or P1's) view, ratings, where the logs went."""

    results: list[str] = field(default_factory=list)
    ratings: list[dict[str, Any]] = field(default_factory=list)
    record_path: Path | None = None
    ticks: int = 0


class PlaySession:
    """The game loop: screens ``fight`` -> ``rate_difficulty`` -> ``rate_fun`` -> ``menu`` (human), or
    ``fight`` -> ``result`` (spectating), one tick per frame."""

    def __init__(self, config: PlayConfig, inputs: InputSource | None = None) -> None:
        self.config = config
        if config.headless:  # before pygame opens anything
            os.environ["SDL_VIDEODRIVER"] = "dummy"
            os.environ["SDL_AUDIODRIVER"] = "dummy"
        try:
            self.params = build_params(None, {"round_seconds": config.round_seconds,
                                              "max_hp": config.max_hp, **dict(config.game)})
            difficulty = difficulty_config(config.difficulty)
        except (TypeError, ValueError) as err:
            raise PlaySetupError(str(err)) from err
        if config.max_matches is not None and config.max_matches < 1:
            raise PlaySetupError(f"max_matches must be >= 1 or null, got {config.max_matches}")
        self.spectating = config.spectate or config.p2 is not None
        bot = _bot("bot", config.bot, self.params)
        self.bot_name = _display_name(bot)
        self.bot = with_difficulty(bot, difficulty)
        self.difficulty = difficulty
        self.human: HumanPlayer | None = None
        if self.spectating:
            opponent = _bot("p2", config.p2 or config.bot, self.params)
            self.player_side = 0
            names = (self.bot_name, _display_name(opponent))
        else:
            opponent = self.bot
            self.human = HumanPlayer(self.params)
            self.player_side = 0 if Side(config.side) is Side.left else 1
            names = ("YOU", self.bot_name) if self.player_side == 0 else (self.bot_name, "YOU")
        try:  # before the recorder, which reserves its folder
            self.inputs = inputs if inputs is not None else (
                ScriptedInput.from_file(config.script) if config.script else KeyboardInput())
        except (FileNotFoundError, ValueError) as err:
            raise PlaySetupError(f"script={config.script}: {err}") from None
        self.env: Any = FightingEnv(opponent=opponent, agent_side=self.player_side, params=self.params)
        self.recorder: RecordLogs | None = None
        if config.record.enabled and not self.spectating:
            self.recorder = self._recorder(self.env)
            self.env = self.recorder
        footer = CONTROLS if not self.spectating else SPECTATE_CONTROLS
        self.footer = footer
        self.renderer = PygameRenderer(self.params, "human", names, caption="FightLab: play",
                                       footer_height=FOOTER_ROW_PX * len(footer) + 10)
        self.summary = SessionSummary(record_path=self.recorder.path if self.recorder else None)
        self.screen = "fight"
        self.tick = 0
        self.match_tick = 0
        self._held: set[str] = set()
        self._quit = False
        self._obs = np.zeros(0, dtype=np.float32)
        self._rating: dict[str, int | None] = {}
        self._result_ticks = 0
        self._result_shot = False

    # ---- setup -----------------------------------------------------------------------------------
    def _recorder(self, env: Any) -> RecordLogs:
        record = self.config.record
        path = Path(record.dir) if record.dir else Path("data/playtests") / datetime.now().strftime(
            "%Y%m%d-%H%M%S")
        try:
            return RecordLogs(env, path, player_id=f"human:{record.player}", style="human", skill="human",
                              metadata={"play": {"bot": self.config.bot, "side": Side(self.config.side).value,
                                                 "difficulty": asdict(self.difficulty)}})
        except (FileExistsError, ValueError) as err:
            raise PlaySetupError(f"record.dir: {err}") from err

    # ---- the loop --------------------------------------------------------------------------------
    def run(self) -> SessionSummary:
        import pygame

        try:
            self._start_match()
            while not self._quit:
                self.inputs.pump(self.screen, self.tick)
                for event in pygame.event.get():
                    self._handle(event)
                if self._quit:
                    break
                if self.screen == "fight":
                    self._fight_tick()
                else:
                    self._result_tick()
                self._draw()
                self.tick += 1
        finally:
            self.close()
        self.summary.ticks = self.tick
        return self.summary

    def _start_match(self) -> None:
        k = len(self.summary.results)
        self._obs, _ = self.env.reset(seed=self.config.seed + k)
        if self.human is not None:
            self.human.reset()
        else:
            self.bot.reset(1, seed=self.config.seed + 10_000 + k)
        self.screen = "fight"
        self.match_tick = 0
        self._rating = {}
        self._result_ticks = 0
        self._draw()

    def _fight_tick(self) -> None:
        if self.human is not None:
            state = self.env.unwrapped.duel.engine.state
            facing = int(state.facing[0, self.player_side])
            right, left = "right" in self._held, "left" in self._held
            held = self.human.held
            held.forward, held.back = (right, left) if facing > 0 else (left, right)
            held.up, held.down, held.guard = ("up" in self._held, "down" in self._held,
                                              "guard" in self._held)
            command = self.human.command(self._obs)
        else:
            command = int(self.bot.act(self._obs[None])[0])
        self._obs, _, terminated, _, info = self.env.step(command)
        self.match_tick += 1
        if terminated:
            self._finish_match(str(info["result"]))

    def _finish_match(self, result: str) -> None:
        self.summary.results.append(result)
        asking = self.recorder is not None and self.config.record.ask_ratings
        if asking:
            self._rating = {"difficulty": None, "fun": None}
            self.recorder.add_match_notes(dict(self._rating))
            self.summary.ratings.append(self._rating)
        self.screen = "result" if self.spectating else ("rate_difficulty" if asking else "menu")

    def _result_tick(self) -> None:
        """Off the fight: end the session when max_matches is reached and nothing is left to ask;
        spectating, start the next match after a short look at the result."""
        self._result_ticks += 1
        linger = 0 if self.config.headless else 2 * self.params.fps
        if self.screen in ("menu", "result") and self._max_reached() and self._result_ticks > linger:
            self._quit = True
        elif self.screen == "result" and self._result_ticks > max(linger, 1):
            self._start_match()

    def _max_reached(self) -> bool:
        return self.config.max_matches is not None and len(self.summary.results) >= self.config.max_matches

    # ---- keys ------------------------------------------------------------------------------------
    def _handle(self, event: Any) -> None:
        import pygame

        if event.type == pygame.QUIT:
            self._quit = True
            return
        if event.type == pygame.WINDOWFOCUSLOST:  # keys released in another window never come back up
            self._held.clear()
            return
        if event.type not in (pygame.KEYDOWN, pygame.KEYUP):
            return
        name = key_name(event.key)
        for control, keys in DIRECTION_KEYS.items():  # tracked on every screen: no stuck keys
            if name in keys:
                (self._held.add if event.type == pygame.KEYDOWN else self._held.discard)(control)
        if event.type != pygame.KEYDOWN:
            return
        if name in (QUIT_KEYS if self.screen == "fight" else QUIT_KEYS_OFF_FIGHT):
            self._quit = True
        elif self.screen == "fight":
            if self.human is not None:
                for button, keys in BUTTON_KEYS.items():
                    if name in keys:
                        self.human.press(button)
            elif name in REMATCH_KEYS:
                self._start_match()
        elif name in REMATCH_KEYS and not self._max_reached():
            self._start_match()
        elif self.screen in ("rate_difficulty", "rate_fun") and (name in RATING_KEYS or name in SKIP_KEYS):
            question = "difficulty" if self.screen == "rate_difficulty" else "fun"
            self._rating[question] = RATING_KEYS.get(name)
            assert self.recorder is not None
            self.recorder.add_match_notes({question: self._rating[question]})
            self.screen = "rate_fun" if question == "difficulty" else "menu"

    # ---- drawing ---------------------------------------------------------------------------------
    def _draw(self) -> None:
        renderer, state = self.renderer, self.env.unwrapped.duel.engine.state
        renderer.draw(state, 0, overlay=self._overlay(), show_winner=False)
        renderer.draw_footer(self.footer)
        if self.screen == "fight" and self.match_tick < 45:
            renderer.draw_dialog([(f"ROUND {len(self.summary.results) + 1}   FIGHT!", 44, GOLD)])
        elif self.screen != "fight":
            renderer.draw_dialog(self._dialog())
        renderer.present(None if self.config.headless else self.params.fps)
        shot = self.config.screenshot
        if shot and self.screen == "fight" and not self.summary.results and self.match_tick == \
                self.config.screenshot_tick:
            atomic_write_bytes(shot, renderer.png_bytes())
        if shot and self.screen != "fight" and not self._result_shot:
            self._result_shot = True
            path = Path(shot)
            atomic_write_bytes(path.with_name(f"{path.stem}_result{path.suffix or '.png'}"),
                               renderer.png_bytes())

    def _overlay(self) -> list[str]:
        lines = []
        if not self.difficulty.is_off:
            lines.append(f"{self.bot_name} difficulty: {self.difficulty.label().replace(',', ', ')}")
        if self.recorder is not None:
            path = str(self.recorder.path)
            lines.append(f"recording to {path if len(path) <= 60 else '...' + path[-57:]}")
        results = self.summary.results
        if results and self.spectating:
            names = self.renderer.names
            lines.append(f"session: {names[0]} {results.count('win')} - {names[1]} {results.count('loss')}"
                         f" - draws {results.count('draw')}")
        elif results:
            lines.append(f"session: {results.count('win')} W - {results.count('loss')} L - "
                         f"{results.count('draw')} D")
        return lines[-3:]

    def _dialog(self) -> list[tuple[str, int, tuple[int, int, int]]]:
        result = self.summary.results[-1]
        names = self.renderer.names
        color = RESULT_COLORS[result]
        if self.spectating:
            winner = {"win": 0, "loss": 1}.get(result)
            title = f"{names[winner]} WINS" if winner is not None else "DRAW"
            color = SIDE_COLORS[winner] if winner is not None else color
        else:
            title = {"win": "YOU WIN", "loss": "YOU LOSE", "draw": "DRAW"}[result]
        hp = self.env.unwrapped.duel.engine.state.hp[0]
        how = "KO" if (hp == 0).any() else "time up"
        lines = [(f"{title}  ({how})", 46, color)]
        if self.screen == "rate_difficulty":
            lines += [("How hard was that bot?", 28, WHITE),
                      ("1 too easy  -  3 just right  -  5 too hard", 24, GOLD),
                      ("Enter: skip     R: rematch     Esc: quit", 20, GREY)]
        elif self.screen == "rate_fun":
            lines += [(f"Difficulty: {self._rating.get('difficulty') or 'skipped'}.  How fun was it?", 28,
                       WHITE),
                      ("1 boring  -  3 okay  -  5 great", 24, GOLD),
                      ("Enter: skip     R: rematch     Esc: quit", 20, GREY)]
        elif self.screen == "menu":
            if self._rating:
                saved = "saved with the recording" if self.recorder is not None else "not recorded"
                lines.append((f"Difficulty {self._rating.get('difficulty') or '-'}   "
                              f"Fun {self._rating.get('fun') or '-'}   ({saved})", 22, GREY))
            lines.append(("R: rematch     Esc / Q: quit" if not self._max_reached() else "Esc / Q: quit",
                          28, WHITE))
        elif self._max_reached():
            lines.append(("last match of the session     Esc / Q: quit", 22, GREY))
        else:
            lines.append(("next match in a moment     R: now     Esc / Q: quit", 22, GREY))
        return lines

    def close(self) -> None:
        """Write the recording (if a match finished) and close the window; safe to call twice."""
        env, self.env = self.env, None
        if env is not None:
            env.close()
            self.renderer.close()


def _bot(key: str, spec: str, params: Any) -> Any:
    try:
        return make_policy(spec, params)
    except UnknownBotError as err:
        raise PlaySetupError(f"{key}={spec}: {err}") from None
    except (FileNotFoundError, ValueError, OSError) as err:
        raise PlaySetupError(f"{key}={spec}: cannot load this bot: {err}") from None


def _display_name(policy: Any) -> str:
    name = str(getattr(policy, "name", type(policy).__name__))
    name = name.rstrip("/").split("/")[-1] if "/" in name else name
    return name.upper()[:18]


def print_summary(summary: SessionSummary) -> None:
    results = summary.results
    print(f"played {len(results)} match(es): {results.count('win')} won, {results.count('loss')} lost, "
          f"{results.count('draw')} drawn")
    for k, rating in enumerate(summary.ratings):
        print(f"  match {k}: difficulty {rating.get('difficulty') or '-'}, fun {rating.get('fun') or '-'}")
    if summary.record_path is not None:
        if summary.record_path.exists():
            print(f"recorded to {summary.record_path} (ratings in manifest.json 'match_notes')")
        else:
            print("no match finished: nothing recorded")


@hydra.main(version_base=None, config_path="conf", config_name="play")
def main(cfg: DictConfig) -> None:
    config: PlayConfig = OmegaConf.to_object(cfg)
    try:
        session = PlaySession(config)
    except PlaySetupError as err:
        raise SystemExit(f"play.py: {err}") from None
    import pygame

    try:
        summary = session.run()
    except pygame.error as err:  # typically: no display to open a window on
        raise SystemExit(f"play.py: cannot open the game window ({err}); on a machine without a "
                         "display run with headless=true") from None
    print_summary(summary)


if __name__ == "__main__":
    check_overrides_or_exit("play")  # bad overrides fail here, naming the valid keys
    sys.exit(main())
