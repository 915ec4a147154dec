"""The bot zoo: many bots with a spread of skill, their tournament, in one resumable command.

An offline estimator of win rate is only worth what it is validated on. The zoo gives it bots of
every kind the project makes, in four *families*:

* ``bc``: behaviour cloning, per rebalancing method x seed x network size, every epoch's checkpoint
  (``train.keep_epoch_checkpoints=true``), so a run's checkpoints span under- to well-trained;
* ``rl``: RLlib PPO fine-tuned from the best BC run, its league snapshots along training
  (``league/iter_*``) and its last weights;
* ``scripted``: every registered scripted bot: the pros of each style at club, pro and perfect
  skill, ``footsies``, the button masher ``random`` and the lecture's ``idle``;
* ``handicapped``: difficulty-knob variants (reaction delay, action noise, APM cap;
  :mod:`agents.difficulty`) of strong bots: ``footsies``, the best BC run, the RL run.

Each step is the command a user would type (:mod:`evaluation.steps`), so everything is cached and
resumable the way those commands are: a finished training run with the same fingerprint is read
back (``train.reuse=true``), the tournament resumes its match log (``tournament.resume=true``).
Same config, same seed: same bots, same matches, same table.

Layout under ``runs/zoo`` (``zoo=small``: ``runs/zoo_small``)::

    data/              the logs (zoo=small: a small generated dataset; default: data/default is used)
    bc/<method>_h<sizes>_seed<k>/epoch_NNN/   BC runs (train.py)
    bc/ppo_<start>/league/iter_NNNNN/, last/  the RL run (train.py agent=ppo)
    tournament/        the round robin of every bot (tournament.py): standings.csv, results.json
    zoo.json           every bot: label, spec, family, run, step

Config: :class:`ZooConfig` (``conf/zoo/{default,small}.yaml``), used by :mod:`evaluation.alignment`.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from rich.console import Console

from agents.artifacts import atomic_write_text, read_json_bounded
from agents.registry import available_bots
from evaluation.steps import StepError, read_step_results, run_step

FAMILIES = ("bc", "rl", "scripted", "handicapped")


@dataclass
class ZooConfig:
    """What goes into the zoo (``conf/zoo/default.yaml``; ``zoo=small`` for CI)."""

    name: str = "default"  # runs/zoo (default) or runs/zoo_<name>
    dataset_matches_per_pairing: int | None = None  # null: the default dataset; else a dataset this size
    rebalances: list[str] = field(default_factory=lambda: ["none", "class_weight", "oversample",
                                                           "logit_adjust"])
    seeds: list[int] = field(default_factory=lambda: [0, 1])
    hidden_sizes: list[list[int]] = field(default_factory=lambda: [[32], [256, 256]])
    bc_epochs: int = 3  # every epoch is a bot
    # training-time evaluation of each BC epoch (what "select the checkpoint by online win rate" uses)
    eval_opponents: list[str] = field(default_factory=lambda: ["reference"])
    eval_matches_per_opponent: int = 4
    final_matches_per_opponent: int = 8
    rl_iterations: int = 30  # 0: no RL family
    rl_snapshot_every: int = 5  # every snapshot is a bot
    rl_train_batch_size: int = 8192
    rl_minibatch_size: int = 1024
    scripted: list[str] | None = None  # null: every registered scripted bot
    # difficulty variants (agents.difficulty spec suffixes) of footsies, the best BC run and the RL run
    handicaps: list[str] = field(default_factory=lambda: [
        "reaction_delay:8", "reaction_delay:20", "action_noise:0.3", "action_noise:0.6", "apm_cap:30",
        "apm_cap:120"])
    handicapped_bots: list[str] = field(default_factory=lambda: ["footsies", "bc", "rl"])
    tournament_matches_per_pairing: int = 8


@dataclass(frozen=True)
class ZooBot:
    label: str  # in the tournament's tables
    spec: str  # what agents.registry.make_policy builds it from
    family: str  # one of FAMILIES
    run: str | None = None  # the training run (BC and RL), for checkpoint selection per run
    step: int | None = None  # epoch (BC) or iteration (RL)


def zoo_root(config: ZooConfig, logdir: str | Path = "runs") -> Path:
    return Path(logdir) / ("zoo" if config.name == "default" else f"zoo_{config.name}")


def run_name(rebalance: str, hidden_sizes: list[int], seed: int) -> str:
    return f"{rebalance}_h{'x'.join(str(h) for h in hidden_sizes)}_seed{seed}"


def _checkpoints(run_dir: Path, pattern: str) -> list[Path]:
    """Finished checkpoints (a manifest; hidden names are still being written), in name order."""
    return sorted(p for p in run_dir.glob(pattern) if not p.name.startswith(".")
                  and (p / "manifest.json").is_file())


def build_zoo(config: ZooConfig, *, logdir: str | Path = "runs", seed: int = 0, overwrite: bool = False,
              progress: bool = True, console: Console | None = None) -> tuple[list[ZooBot], Path]:
    """Train (or read back) every bot, play (or resume) the round robin; return the bots and the
    tournament folder. Writes ``zoo.json`` next to them."""
    console = console or Console(stderr=True)
    root = zoo_root(config, logdir)
    if not config.rebalances or not config.seeds or not config.hidden_sizes or config.bc_epochs < 1:
        raise StepError("zoo: rebalances, seeds and hidden_sizes must be non-empty and bc_epochs >= 1")
    data: str | None = None
    if config.dataset_matches_per_pairing is not None:
        from datasets.generate import GenerateConfig, ensure_default_dataset

        data = str(root / "data")
        ensure_default_dataset(data, config=GenerateConfig(
            matches_per_pairing=config.dataset_matches_per_pairing, seed=seed, progress=progress))
    shared: dict[str, Any] = {"experiment": "bc", "seed": seed, "train.logdir": str(root),
                              "train.reuse": True, "train.overwrite": overwrite, "train.progress": progress,
                              "eval.every_epochs": 1, "eval.opponents": list(config.eval_opponents),
                              "eval.matches_per_opponent": config.eval_matches_per_opponent,
                              "eval.final_matches_per_opponent": config.final_matches_per_opponent}
    if data is not None:
        shared["eval.dataset.path"] = data
    bots: list[ZooBot] = []

    # 1. behaviour cloning: every method x seed x size, every epoch kept
    runs = [(r, s, h) for r in config.rebalances for s in config.seeds for h in config.hidden_sizes]
    finals: dict[str, float] = {}
    for k, (rebalance, run_seed, sizes) in enumerate(runs, 1):
        name = run_name(rebalance, sizes, run_seed)
        console.print(f"[zoo 1/3] behaviour cloning {k}/{len(runs)}: {name}")
        run_step(console, "train.py", {
            **shared, "seed": run_seed, "agent": "bc", "agent.rebalance": rebalance,
            "agent.hidden_sizes": list(sizes), "agent.epochs": config.bc_epochs,
            "train.run_name": name, "train.keep_epoch_checkpoints": True})
        run_dir = root / "bc" / name
        finals[name] = float(read_step_results(run_dir)["online"]["win_rate"])
        for checkpoint in _checkpoints(run_dir, "epoch_*"):
            epoch = int(checkpoint.name.split("_")[1])
            bots.append(ZooBot(f"bc/{name}/e{epoch}", str(checkpoint), "bc", name, epoch))
    best_bc = max(finals, key=lambda n: (finals[n], n))

    # 2. RL fine-tuning of the best BC run: its league snapshots and last weights
    rl_last: str | None = None
    if config.rl_iterations > 0:
        ppo = f"ppo_{best_bc}"
        console.print(f"[zoo 2/3] RLlib PPO from {best_bc} ({config.rl_iterations} iterations)")
        run_step(console, "train.py", {
            **{k: v for k, v in shared.items() if not k.startswith(("eval.every", "eval.opponents"))},
            "agent": "ppo", "agent.init_from": str(root / "bc" / best_bc), "eval": "perfect_pros",
            "agent.iterations": config.rl_iterations, "agent.snapshot_every": config.rl_snapshot_every,
            "agent.eval_every": config.rl_iterations, "agent.train_batch_size": config.rl_train_batch_size,
            "agent.minibatch_size": config.rl_minibatch_size, "train.run_name": ppo})
        run_dir = root / "bc" / ppo
        read_step_results(run_dir)
        for snapshot in _checkpoints(run_dir / "league", "iter_*"):
            iteration = int(snapshot.name.split("_")[1])
            bots.append(ZooBot(f"rl/i{iteration}", str(snapshot), "rl", ppo, iteration))
        rl_last = str(run_dir / "last")
        bots.append(ZooBot("rl/last", rl_last, "rl", ppo, config.rl_iterations))

    # 3. scripted bots and handicapped variants
    scripted = config.scripted if config.scripted is not None else available_bots()
    bots += [ZooBot(name, name, "scripted") for name in scripted]
    strong = {"footsies": "footsies", "bc": str(root / "bc" / best_bc / f"epoch_{config.bc_epochs:03d}"),
              "rl": rl_last}
    for which in config.handicapped_bots:
        if which not in strong:
            raise StepError(f"zoo.handicapped_bots: {which!r} is not one of {sorted(strong)}")
        if strong[which] is None:
            continue
        for knob in config.handicaps:
            bots.append(ZooBot(f"{which}@{knob}", f"{strong[which]}@{knob}", "handicapped"))

    # 4. the round robin
    out = root / "tournament"
    console.print(f"[zoo 3/3] round robin of {len(bots)} bots, {config.tournament_matches_per_pairing} "
                  f"matches per pairing -> {out}")
    overrides: dict[str, Any] = {
        "tournament.participants": [f"{b.label}={b.spec}" for b in bots], "tournament.globs": [],
        "tournament.matches_per_pairing": config.tournament_matches_per_pairing, "tournament.seed": seed,
        "tournament.out_dir": str(out), "tournament.resume": True, "tournament.overwrite": overwrite,
        "tournament.progress": progress, "report.enabled": False, "ratings.seed": seed}
    if data is not None:
        overrides["eval.dataset.path"] = data
    run_step(console, "tournament.py", overrides)
    record = {"config": asdict(config), "seed": seed, "dataset": data, "tournament": str(out),
              "bots": [asdict(b) for b in bots]}
    atomic_write_text(root / "zoo.json", json.dumps(record, indent=2) + "\n")
    return bots, out


def read_zoo(root: str | Path) -> tuple[list[ZooBot], Path]:
    """The bots and tournament folder a finished :func:`build_zoo` recorded in ``root/zoo.json``."""
    path = Path(root) / "zoo.json"
    if not path.is_file():
        raise StepError(f"{path} does not exist: build the zoo first (python -m evaluation.alignment "
                        "without reuse_zoo=true)")
    record = read_json_bounded(path)
    try:
        bots = [ZooBot(**bot) for bot in record["bots"]]
    except (KeyError, TypeError) as err:
        raise StepError(f"{path}: 'bots' must list label, spec, family, run, step ({err})") from None
    return bots, Path(record["tournament"])


def zoo_table(bots: list[ZooBot], tournament_dir: str | Path) -> pd.DataFrame:
    """One row per bot (index: label): family, run, step, spec, and the tournament's win rate and rating."""
    standings = pd.read_csv(Path(tournament_dir) / "standings.csv").set_index("label")
    table = pd.DataFrame([asdict(b) for b in bots]).set_index("label")
    missing = sorted(set(table.index) - set(standings.index))
    if missing:
        raise StepError(f"the tournament in {tournament_dir} has no result for {missing[:5]}"
                        f"{' ...' if len(missing) > 5 else ''}; rerun to finish it")
    return table.join(standings[["win_rate", "win_rate_ci_low", "win_rate_ci_high", "rating"]])
