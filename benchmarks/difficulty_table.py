"""How much each difficulty knob weakens a bot: win rate against pros at several settings.

The designer-facing question is "if I turn this down, how much easier does the bot get?". This
plays one bot (default ``footsies``, the strongest scripted bot; or any name or checkpoint / bundle
path that ``make_policy`` accepts) at each setting of :mod:`agents.difficulty` against pros, with
the same seed for every setting (so each setting faces the same starting positions and the same pro
randomness), and prints a markdown table of win rates with Wilson 95% intervals. "off" is the
reference measured in the same run. ``presses/min`` is what the bot actually pressed (anything but
NO_ACTION) per minute of play, which shows what the APM cap binds.

    python benchmarks/difficulty_table.py [--bot footsies] [--opponents rushdown zoner] \\
        [--matches 50] [--seed 0]

Writes ``benchmarks/results/difficulty.json``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from tqdm.auto import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agents.difficulty import FRAMES_PER_MINUTE, DifficultyConfig, with_difficulty  # noqa: E402
from agents.registry import UnknownBotError, make_policy  # noqa: E402
from benchmarks.common import write_results  # noqa: E402
from evaluation.online import evaluate_online  # noqa: E402

SETTINGS: tuple[DifficultyConfig, ...] = (
    DifficultyConfig(),
    DifficultyConfig(reaction_delay=6),
    DifficultyConfig(reaction_delay=12),
    DifficultyConfig(reaction_delay=24),
    DifficultyConfig(action_noise=0.1),
    DifficultyConfig(action_noise=0.3),
    DifficultyConfig(apm_cap=60),
    DifficultyConfig(apm_cap=120),
    DifficultyConfig(apm_cap=300),
)


def measure(bot: str, opponents: list[str], matches: int, seed: int,
            progress: bool = True) -> list[dict[str, object]]:
    """One row per setting: wins, matches, win rate and its interval, per-opponent win rates."""
    rows = []
    for config in tqdm(SETTINGS, desc="difficulty settings", unit="setting", disable=not progress):
        policy = with_difficulty(make_policy(bot), config)
        result = evaluate_online(policy, opponents, matches_per_opponent=matches, seed=seed)
        low, high = result.interval
        rows.append({
            "setting": config.label(),
            "reaction_delay": config.reaction_delay, "action_noise": config.action_noise,
            "apm_cap": config.apm_cap,
            "wins": result.wins, "matches": result.matches, "win_rate": result.win_rate,
            "ci_low": low, "ci_high": high,
            "win_rate_vs": {o.opponent: o.win_rate for o in result.opponents},
            "presses_per_minute": float(1.0 - result.action_distribution["NO_ACTION"]) * FRAMES_PER_MINUTE,
        })
    return rows


def markdown_table(rows: list[dict[str, object]], opponents: list[str]) -> str:
    header = ["setting", "win rate [95% CI]", *(f"vs {o}" for o in opponents), "presses/min"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        per = row["win_rate_vs"]
        assert isinstance(per, dict)
        cells = [f"`{row['setting']}`",
                 f"{row['win_rate']:.0%} [{row['ci_low']:.0%}, {row['ci_high']:.0%}]",
                 *(f"{per[o]:.0%}" for o in opponents), f"{row['presses_per_minute']:.0f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bot", default="footsies", help="bot name or checkpoint / bundle path")
    parser.add_argument("--opponents", nargs="+", default=["rushdown", "zoner"],
                        help="pros to play (registered bot names)")
    parser.add_argument("--matches", type=int, default=50, help="matches per opponent per setting")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        for spec in (args.bot, *args.opponents):
            make_policy(spec)
    except (UnknownBotError, FileNotFoundError, ValueError) as err:
        print(f"difficulty_table: {err}", file=sys.stderr)
        return 1
    start = time.perf_counter()
    rows = measure(args.bot, list(args.opponents), args.matches, args.seed)
    seconds = time.perf_counter() - start
    print(f"{args.bot} vs {', '.join(args.opponents)}: {args.matches} matches per opponent per setting, "
          f"seed {args.seed} ({seconds:.0f} s)\n")
    print(markdown_table(rows, list(args.opponents)))
    path = write_results("difficulty", {
        "bot": args.bot, "opponents": list(args.opponents), "matches_per_opponent": args.matches,
        "seed": args.seed, "seconds": seconds, "settings": rows})
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
