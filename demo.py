"""A demo match in the terminal, then a batch of matches and their results.

    python demo.py                          # footsies vs random: one match shown, 200 played
    python demo.py p1=random p2=idle matches=50 seed=3
    python demo.py show=false               # just the results table

Until ``train.py`` lands this is the project's main job: it exercises the engine, the bots and the
match runner end to end.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import hydra
import numpy as np
from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig, OmegaConf
from rich.console import Console
from rich.table import Table

from agents.registry import UnknownBotError, make_policy
from envs.config_checks import check_overrides_or_exit
from envs.engine import DuelEngine
from envs.match_runner import play_matches
from envs.params import GameParams
from envs.rendering import render_ansi


@dataclass
class DemoConfig:
    p1: str = "footsies"  # a registered bot name: idle, random, footsies
    p2: str = "random"
    matches: int = 200
    seed: int = 0
    show: bool = True  # print one match as text first
    show_every: int = 45  # frames between printed snapshots of that match


ConfigStore.instance().store(name="demo_schema", node=DemoConfig)


def show_match(cfg: DemoConfig, console: Console) -> None:
    params = GameParams()
    p1, p2 = make_policy(cfg.p1, params), make_policy(cfg.p2, params)
    engine = DuelEngine(1, params)
    engine.reset(rng=np.random.default_rng(cfg.seed))
    p1.reset(1, seed=cfg.seed)
    p2.reset(1, seed=cfg.seed + 1)
    names = (cfg.p1.upper(), cfg.p2.upper())
    while not engine.done[0]:
        obs = engine.observe()[0]
        engine.step(np.array([[p1.act(obs[0:1])[0], p2.act(obs[1:2])[0]]]))
        if engine.frame[0] % cfg.show_every == 0 or engine.done[0]:
            console.print(render_ansi(engine.state, 0, params, names), highlight=False, markup=False)
            console.print()


@hydra.main(version_base=None, config_path="conf", config_name="demo")
def main(cfg: DictConfig) -> None:
    config: DemoConfig = OmegaConf.to_object(cfg)
    for key in ("p1", "p2"):  # fail before any match, with the list of valid names
        try:
            make_policy(getattr(config, key))
        except UnknownBotError as err:
            raise SystemExit(f"demo.py: {key}={getattr(config, key)}: {err}") from None
    console = Console()
    if config.show:
        show_match(config, console)
    start = time.perf_counter()
    results = play_matches(make_policy(config.p1), make_policy(config.p2), config.matches,
                           seed=config.seed, progress=True)
    seconds = time.perf_counter() - start
    summary = results.summary()
    table = Table(title=f"{config.p1} vs {config.p2}: {config.matches} matches, seed {config.seed}")
    for column in ("wins", "losses", "draws", "win rate", "mean length (s)"):
        table.add_column(column, justify="right")
    table.add_row(str(summary["wins"]), str(summary["losses"]), str(summary["draws"]),
                  f"{summary['win_rate']:.3f}", f"{summary['mean_duration_s']:.1f}")
    console.print(table)
    frames = int(results.table["duration_frames"].sum())
    console.print(f"{frames:,} frames in {seconds:.2f} s ({frames / seconds:,.0f} frames/s)")
    share = results.action_distribution(0)
    console.print(f"{config.p1} pressed NO_ACTION on {share['NO_ACTION']:.1%} of frames")


if __name__ == "__main__":
    check_overrides_or_exit("demo")  # bad overrides fail here, naming the valid keys
    main()
