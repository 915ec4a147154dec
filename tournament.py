"""Run a round-robin tournament, rate the bots, and put offline metrics next to online results.

    python tournament.py                                        # scripted bots + every runs/**/best
    python tournament.py tournament.participants=[footsies,random,runs/bc/none_seed0/best]
    python tournament.py tournament.resume=true                 # finish an interrupted tournament
    python tournament.py tournament.backend=ray [ray.address=auto]
    python tournament.py report.enabled=false                   # standings only
    tensorboard --logdir runs

Writes into ``tournament.out_dir`` (default ``runs/tournament``): ``matches.jsonl`` (every match, as
it finishes), ``results.json`` / ``pairings.csv`` / ``standings.csv`` / ``results.md`` /
``win_rates.png`` (standings with Bradley-Terry ratings), ``report.json`` / ``report.csv`` /
``report.md`` / ``accuracy_vs_win_rate.png`` / ``tensorboard/`` (offline vs online). How pairings,
seeds, resuming and forfeits work: :mod:`evaluation.tournament`.
"""

from __future__ import annotations

import json
import shlex
import sys
import time
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

import hydra
import pandas as pd
from hydra.core.config_store import ConfigStore
from hydra.utils import to_absolute_path
from omegaconf import DictConfig, OmegaConf
from rich.console import Console
from rich.table import Table

from agents.artifacts import FolderInUseError, StorageError, folder_lock
from agents.rl.ray_runtime import RaySettings
from envs.config_checks import check_overrides_or_exit
from envs.terminal import report_console
from evaluation import protocol as eval_protocol
from evaluation.alignment import predicted_win_rates
from evaluation.offline import SCALAR_METRICS
from evaluation.participants import (
    Participant,
    ParticipantError,
    check_participants,
    resolve_participants,
    training_dataset,
)
from evaluation.protocol import EvalProtocol, ProtocolError
from evaluation.ratings import rate
from evaluation.report import (
    action_jsd,
    best_predictor_sentence,
    join_report,
    offline_table,
    pro_action_counts,
    rank_correlations,
    run_groups,
    write_report,
)
from evaluation.standings import (
    format_p_value,
    pairing_table,
    print_standings,
    standings_table,
    write_standings,
)
from evaluation.tournament import LOG_NAME, TournamentLogError, TournamentResults, run_tournament

DEFAULT_PARTICIPANTS = ["footsies", "reference"]  # the strongest scripted bot and the reference pool


class Backend(Enum):
    local = "local"
    ray = "ray"


@dataclass
class TournamentSettings:
    # bot names, pool names (reference, perfect_pros), bot paths (checkpoint folder, run folder,
    # .onnx), or label=spec
    participants: list[str] = field(default_factory=lambda: list(DEFAULT_PARTICIPANTS))
    globs: list[str] = field(default_factory=lambda: ["runs/**/best"])  # each match is a checkpoint
    runs_dir: str = "runs"  # path labels are relative to this folder
    matches_per_pairing: int = 96  # 96: a 95% Wilson interval of about +-0.1 on a pairing's win rate
    block_matches: int = 96  # matches per log record (the resume granularity)
    wave_matches: int = 4096  # matches played concurrently in one batched engine
    seed: int = 0
    out_dir: str = "runs/tournament"
    resume: bool = False  # finish the tournament logged in out_dir
    overwrite: bool = False  # discard a tournament already logged in out_dir
    backend: Backend = Backend.local
    time_budget_ms: float | None = 1000.0  # CPU time per batched act call, else a forfeit; null: none
    torch_threads: int = 1  # for network bots; 0: torch's default (a 2nd thread on a busy core is 10x slower)
    progress: bool = True
    stack_networks: bool = True  # BC bots of one architecture: one stacked forward per frame (same table)
    # name -> participant labels: standings get a vs_<name> win-rate column against each group
    groups: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class RatingsSettings:
    bootstrap: int = 200  # resamples for the rating intervals
    seed: int = 0
    prior_wins: float = 0.5  # pseudo-wins each way per pairing (keeps a winless bot's rating finite)


@dataclass
class ReportSettings:
    enabled: bool = True  # offline metrics on each bot's test split next to the tournament results
    tensorboard: bool = True
    # an estimator.json of `python -m evaluation.alignment`: adds a predicted_win_rate column (from the
    # logs alone, before any match: the win rate the bot would have in that zoo's round robin)
    estimator: str | None = None


@dataclass
class TournamentConfig:
    tournament: TournamentSettings = field(default_factory=TournamentSettings)
    ratings: RatingsSettings = field(default_factory=RatingsSettings)
    ray: RaySettings = field(default_factory=RaySettings)
    report: ReportSettings = field(default_factory=ReportSettings)
    # the eval group: eval.dataset.path=null scores each trained bot on its own dataset's test split
    # (scripted bots on the default dataset); a path scores everyone on that dataset. Matches are
    # played at the bots' recorded observation delay unless eval.observation_delay is set.
    eval: EvalProtocol = field(default_factory=EvalProtocol)


ConfigStore.instance().store(name="tournament_schema", node=TournamentConfig)


def _fail(message: str) -> SystemExit:
    return SystemExit(f"tournament.py: {message}")


def run(config: TournamentConfig, console: Console) -> None:
    t = config.tournament
    if t.matches_per_pairing < 2 or t.matches_per_pairing % 2:
        raise _fail(f"tournament.matches_per_pairing must be an even number >= 2 (sides are swapped "
                    f"equally), got {t.matches_per_pairing}")
    if t.block_matches % 2:
        raise _fail(f"tournament.block_matches must be even, got {t.block_matches}")
    try:
        participants, notes = resolve_participants(t.participants, t.globs, runs_dir=t.runs_dir)
        check_participants(participants)
    except ParticipantError as err:
        raise _fail(str(err)) from None
    labels = [p.label for p in participants]
    for name, members in t.groups.items():
        unknown = sorted(set(members) - set(labels))
        if unknown:
            raise _fail(f"tournament.groups.{name} names {unknown}, which are not participants; "
                        f"participants: {labels}")
    for note in notes:
        console.print(f"note: {note}", highlight=False)
    if t.torch_threads > 0 and any(p.learned for p in participants):
        import torch

        torch.set_num_threads(t.torch_threads)
    delay = observation_delay(config.eval, participants)
    out_dir = to_absolute_path(t.out_dir)
    start = time.perf_counter()
    try:
        results = run_tournament(
            participants, out_dir=out_dir, matches_per_pairing=t.matches_per_pairing, seed=t.seed,
            resume=t.resume, overwrite=t.overwrite, backend=t.backend.value, wave_matches=t.wave_matches,
            block_matches=t.block_matches,
            time_budget_s=None if t.time_budget_ms is None else t.time_budget_ms / 1000.0,
            ray_address=config.ray.address, ray_num_cpus=config.ray.num_cpus, progress=t.progress,
            stack_networks=t.stack_networks, observation_delay=delay, protocol={"observation_delay": delay,
                                               "eval_dataset": OmegaConf.to_container(
                                                   OmegaConf.structured(config.eval.dataset))})
    except (FileExistsError, TournamentLogError, ValueError) as err:
        raise _fail(str(err)) from None
    seconds = time.perf_counter() - start
    if up_to_date(config, results, out_dir):
        console.print(f"{out_dir} holds this tournament, complete, with its report: nothing played, nothing "
                      "rewritten (tables in results.md and report.md; tournament.overwrite=true replays it)",
                      highlight=False)
        return
    pairings = pairing_table(results)
    ratings = rate(results.labels, pairings, bootstrap=config.ratings.bootstrap, seed=config.ratings.seed,
                   prior_wins=config.ratings.prior_wins)
    standings = standings_table(results, pairings, ratings, t.groups)
    total = len(results.matches)
    title = (f"tournament: {len(participants)} bots, {t.matches_per_pairing} matches per pairing, "
             f"seed {t.seed} ({total} matches)")
    forfeits = results.forfeits
    late_notes = []
    if len(forfeits):
        late_notes.append(f"{len(forfeits)} matches were forfeited (losses for the offender); the tournament "
                     "completed. Reasons: " + "; ".join(sorted(set(forfeits["forfeit_reason"]))[:5]))
    if not any(p.learned for p in participants):
        late_notes.append("no trained bots took part: add checkpoints with "
                          "tournament.participants=[...,<path>] or train into runs/ "
                          "(python train.py agent=bc) so tournament.globs finds them")
    print_standings(console, standings, pairings, title, show_pairings=len(pairings) <= 60)
    paths = write_standings(out_dir, results, pairings, standings, ratings, title, notes + late_notes,
                            fingerprint=report_fingerprint(config, results))
    for note in late_notes:
        console.print(f"note: {note}", highlight=False)
    console.print(f"played {results.played_now} matches in {seconds:.1f} s "
                  f"({total - results.played_now} read back from the log); wrote "
                  f"{', '.join(p.name for p in paths)} to {out_dir}", highlight=False)
    if config.report.enabled:
        report(config, participants, results, standings, out_dir, console)


# settings that say how a tournament runs, not what it computes: left out of its config hash
NOT_IN_FINGERPRINT = ("resume", "overwrite", "backend", "torch_threads", "progress", "wave_matches")


def report_fingerprint(config: TournamentConfig, results: TournamentResults) -> dict[str, Any]:
    """What the written tables depend on: the matches (the log's fingerprint: seeds, rules, each bot's
    weights hash, the code commit) and the hash of the resolved config (ratings, groups, report,
    the eval protocol), recorded in results.json and report.json."""
    resolved = OmegaConf.to_container(OmegaConf.structured(config), enum_to_str=True)
    resolved.pop("ray")
    resolved["tournament"] = {k: v for k, v in resolved["tournament"].items() if k not in NOT_IN_FINGERPRINT}
    return {"matches": results.fingerprint, "config_sha256": eval_protocol.config_sha256(resolved)}


def up_to_date(config: TournamentConfig, results: TournamentResults, out_dir: str) -> bool:
    """A resumed tournament that played nothing and whose tables were written from these same inputs."""
    path = Path(out_dir) / "report.json" if config.report.enabled else Path(out_dir) / "results.json"
    if not (config.tournament.resume and results.played_now == 0 and path.is_file()):
        return False
    try:
        written = json.loads(path.read_text(encoding="utf-8")).get("fingerprint")
    except (json.JSONDecodeError, UnicodeDecodeError, AttributeError):
        return False
    return written == json.loads(json.dumps(report_fingerprint(config, results), default=str))


def observation_delay(protocol: EvalProtocol, participants: list[Participant]) -> int:
    """The delay the tournament plays at: ``eval.observation_delay``, else the one the trained bots
    recorded (they must agree: one engine plays every pairing), else 0."""
    if protocol.observation_delay is not None:
        return int(protocol.observation_delay)
    recorded = {p.label: eval_protocol.observation_delay(protocol, training_dataset(p))
                for p in participants if p.learned}
    if len(set(recorded.values())) > 1:
        raise _fail(f"the trained bots were trained at different observation delays ({recorded}); one "
                    "tournament plays at one delay: choose it with eval.observation_delay=<frames>")
    return next(iter(recorded.values()), 0)


def report(config: TournamentConfig, participants: list[Participant], results: TournamentResults,
           standings: pd.DataFrame, out_dir: str, console: Console) -> None:
    """The offline-vs-online table, correlations and plots (see :mod:`evaluation.report`)."""
    r = config.report
    try:
        offline, datasets = offline_table(participants, config.eval.dataset)
    except (ProtocolError, FileNotFoundError, ValueError) as err:
        raise _fail(str(err)) from None
    jsd = pd.concat([action_jsd({label: results.action_counts[label]},
                                pro_action_counts(datasets[offline.loc[label, "dataset"]]))
                     for label in offline.index if label in results.action_counts])
    table = join_report(standings, offline, jsd)
    if r.estimator:
        try:
            data = config.eval.dataset
            predicted = predicted_win_rates(to_absolute_path(r.estimator),
                                            {p.label: p.spec for p in participants}, data.path,
                                            data.split_fractions, data.split_seed,
                                            threads=config.tournament.torch_threads)
        except (ValueError, OSError) as err:
            raise _fail(f"report.estimator: {err}") from None
        table = table.join(predicted)
    correlations = rank_correlations(table, metrics=[*SCALAR_METRICS, *(["predicted_win_rate"] if r.estimator
                                                                         else [])])
    sentence = best_predictor_sentence(correlations)
    groups = {}
    for run_dir, labels_in_run in run_groups(participants).items():
        corr = rank_correlations(table.loc[labels_in_run])
        groups[run_dir] = (corr, best_predictor_sentence(corr, who=f"checkpoints of {run_dir}"))
    paths = write_report(out_dir, table, correlations, sentence, groups, tensorboard=r.tensorboard,
                         fingerprint=report_fingerprint(config, results))
    shown = Table(title="offline (each bot's test split) vs online")
    columns = ["bot", "kind", "dataset", "accuracy", "balanced_accuracy", "macro_f1", "no_action_recall",
               "mean_skill_recall", "win_rate", "rating", "action_jsd"]
    if r.estimator:
        columns.insert(8, "predicted_win_rate")
    for column in columns:
        shown.add_column(column, justify="left" if column in ("bot", "kind", "dataset") else "right")
    for label, row in table.iterrows():
        shown.add_row(str(label), row["kind"], row["dataset"], *(f"{row[c]:.3f}" for c in columns[3:-2]),
                      f"{row['rating']:.0f}", f"{row['action_jsd']:.3f}")
    console.print(shown)
    corr_table = Table(title="rank correlation with win rate")
    for column in ("offline metric", "n", "Spearman", "p", "Kendall", "p "):
        corr_table.add_column(column, justify="left" if column == "offline metric" else "right")
    for metric, row in correlations.iterrows():
        corr_table.add_row(metric, str(int(row["n"])), f"{row['spearman']:+.2f}",
                           format_p_value(row["spearman_p"]), f"{row['kendall']:+.2f}",
                           format_p_value(row["kendall_p"]))
    console.print(corr_table)
    console.print(sentence, highlight=False)
    for _, run_sentence in groups.values():
        console.print(run_sentence, highlight=False)
    console.print(f"wrote {', '.join(p.name for p in paths)} to {out_dir}", highlight=False)


@hydra.main(version_base=None, config_path="conf", config_name="tournament")
def main(cfg: DictConfig) -> None:
    config: TournamentConfig = OmegaConf.to_object(cfg)
    out_dir = Path(to_absolute_path(config.tournament.out_dir))
    try:
        # one process at a time in out_dir, from the first match to the last table written
        with folder_lock(out_dir, "tournament"):
            # piped output (a log file, CI) gets wide tables instead of rich's 80-column default
            run(config, report_console())  # wider than 80 columns when written to a log
    except (FolderInUseError, StorageError) as err:
        raise _fail(str(err)) from None
    except KeyboardInterrupt:  # Ctrl-C: one line saying what is saved and how to go on
        print(interrupted_message(out_dir), file=sys.stderr)
        raise SystemExit(130) from None


def interrupted_message(out_dir: Path) -> str:
    """How many matches the interrupted tournament logged in ``out_dir`` and the command that resumes it."""
    overrides = [a for a in sys.argv[1:] if not a.startswith(("tournament.resume=", "+tournament.resume="))]
    resume = shlex.join(["python", "tournament.py", *overrides, "tournament.resume=true"])
    log = out_dir / LOG_NAME
    matches = 0
    try:
        for line in log.read_text(encoding="utf-8").splitlines()[1:]:
            try:
                matches += len(json.loads(line).get("matches", []))
            except (ValueError, AttributeError):
                continue  # a torn last line: resuming cuts it off
    except OSError:
        return f"interrupted before {log} was started; nothing is saved: run {resume}"
    return f"interrupted: {matches} matches are in {log}; resume with {resume}"


if __name__ == "__main__":
    check_overrides_or_exit("tournament")  # bad overrides fail here, naming the valid keys
    main()
