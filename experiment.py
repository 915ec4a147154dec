"""The lecture's experiment, end to end, in one command: logs -> BC (every rebalancing) -> RL -> tournament.

    python experiment.py                      # scale=full: the README's table, in runs/lecture/
    python experiment.py scale=small          # a few minutes: the same pipeline on a small dataset (CI),
                                              # in runs/lecture_small/
    python experiment.py name=lecture2 seed=1 # another seed, in runs/lecture2/
    python experiment.py overwrite=true       # recompute the steps whose inputs changed

Each step is the command a user would type (printed before it runs), run as its own process, so
no script imports another:

1. the pro logs: the default dataset (``scale=full``) or a small one in ``runs/<name>/data``;
2. ``train.py agent=bc`` with each method of ``scale.rebalances``, in ``runs/<name>/<rebalance>_seed<seed>/``;
3. ``train.py agent=ppo eval=perfect_pros`` from the BC run with the best win rate against the
   reference pool, in ``runs/<name>/ppo_<rebalance>_seed<seed>/``;
4. ``tournament.py`` of these bots and the scripted players, with its offline-vs-online report, in
   ``runs/<name>/tournament/``.

Reuse: every run records its fingerprint (the evaluation protocol with the dataset's content hash,
the hash of its resolved config, its parent's weights hash, the code commit;
:func:`evaluation.protocol.fingerprint`). A step whose result on disk has the fingerprint the
command would produce now is read back (``train.reuse=true``), so re-running changes nothing and
an interrupted experiment continues; an unfinished run is started over, and the tournament resumes
its match log. A finished step made *differently* stops the experiment with what differs, unless
``overwrite=true`` (then it is recomputed, and so is every step after it that depends on it).

Config: ``conf/experiment.yaml`` and ``conf/scale/{full,small}.yaml`` (``ExperimentConfig``,
``ScaleConfig`` below). ``notebooks/accuracy_vs_winrate.ipynb`` reads what this writes.
"""

from __future__ import annotations

import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hydra
from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig, OmegaConf
from rich.console import Console

from agents.registry import POOLS
from envs.config_checks import check_overrides_or_exit
from evaluation.steps import StepError, read_step_results, run_or_exit, run_step


@dataclass
class ScaleConfig:
    """How big the experiment is: ``conf/scale/full.yaml`` (the README) or ``small.yaml`` (CI)."""

    name: str = "full"  # the default experiment folder is runs/lecture (full) or runs/lecture_<name>
    dataset_matches_per_pairing: int | None = None  # null: the default dataset; else a dataset this size
    rebalances: list[str] = field(default_factory=lambda: ["none", "class_weight", "effective_number",
                                                           "focal", "undersample", "oversample", "smote",
                                                           "logit_adjust"])
    hidden_sizes: list[int] = field(default_factory=lambda: [256, 256])
    bc_epochs: int = 8
    eval_matches_per_opponent: int = 24
    final_matches_per_opponent: int = 100
    ppo_iterations: int = 150
    ppo_train_batch_size: int = 8192
    ppo_minibatch_size: int = 1024
    ppo_eval_every: int = 10
    tournament_matches_per_pairing: int = 96
    # the scripted players of the tournament: bot names and pool names (agents.registry.POOLS); the
    # vs_<pool> columns cover the members of each pool that play
    tournament_scripted: list[str] = field(default_factory=lambda: ["footsies", "reference", "perfect_pros"])
    ratings_bootstrap: int = 200


@dataclass
class ExperimentConfig:
    scale: ScaleConfig = field(default_factory=ScaleConfig)
    name: str | None = None  # null: lecture (scale=full) or lecture_<scale.name>
    seed: int = 0
    logdir: str = "runs"
    overwrite: bool = False  # recompute finished steps made differently (else: say what differs, stop)
    progress: bool = True


ConfigStore.instance().store(name="experiment_schema", node=ExperimentConfig)
ConfigStore.instance().store(group="scale", name="scale_schema", node=ScaleConfig)


def scripted_players(scale: ScaleConfig) -> list[str]:
    """The tournament's scripted players by bot name, pools expanded (by default the strongest
    scripted bot, the reference pool: the pros at two skills, the button masher, the lecture's idle
    bot; and the pros at perfect skill)."""
    names: list[str] = []
    for entry in scale.tournament_scripted:
        names += [n for n in POOLS.get(entry, [entry]) if n not in names]
    return names


def pool_groups(players: list[str]) -> dict[str, list[str]]:
    """``vs_<pool>`` win-rate columns: each named pool's members among ``players``."""
    groups = {"reference_pool": "reference", "perfect_pros": "perfect_pros"}
    return {group: members for group, pool in groups.items()
            if (members := [n for n in POOLS[pool] if n in players])}


class ExperimentError(StepError):
    """A step of the experiment that cannot run (bad scale values, a failed step)."""


def experiment_root(cfg: ExperimentConfig) -> Path:
    name = cfg.name or ("lecture" if cfg.scale.name == "full" else f"lecture_{cfg.scale.name}")
    return Path(cfg.logdir) / name


def dataset_path(cfg: ExperimentConfig, root: Path, console: Console) -> str | None:
    """Step 1: None for the default dataset (train.py generates it on first use), else a small one."""
    if cfg.scale.dataset_matches_per_pairing is None:
        return None
    from datasets.generate import GenerateConfig, generate

    path = root / "data"
    if not (path / "manifest.json").is_file():
        console.print(f"[1/4] generating pro logs ({cfg.scale.dataset_matches_per_pairing} matches per "
                      f"pairing) in {path}")
        generate(GenerateConfig(matches_per_pairing=cfg.scale.dataset_matches_per_pairing, seed=cfg.seed,
                                out=str(path), progress=cfg.progress))
    return str(path)


def train_overrides(cfg: ExperimentConfig, root: Path, data: str | None) -> dict[str, Any]:
    """What every training step shares: where runs go, the evaluation protocol, reuse."""
    overrides = {"experiment": root.name, "seed": cfg.seed, "train.logdir": str(root.parent),
                 "train.reuse": True, "train.overwrite": cfg.overwrite, "train.progress": cfg.progress,
                 "eval.matches_per_opponent": cfg.scale.eval_matches_per_opponent,
                 "eval.final_matches_per_opponent": cfg.scale.final_matches_per_opponent}
    if data is not None:
        overrides["eval.dataset.path"] = data
    return overrides


def run_experiment(cfg: ExperimentConfig) -> Path:
    console = Console(stderr=True)
    scale = cfg.scale
    if not scale.rebalances:
        raise ExperimentError("scale.rebalances is empty: name at least one BC method")
    root = experiment_root(cfg)
    data = dataset_path(cfg, root, console)
    shared = train_overrides(cfg, root, data)

    # 2. behaviour cloning, one run per rebalancing method
    bc_results = {}
    for k, rebalance in enumerate(scale.rebalances, 1):
        console.print(f"[2/4] behaviour cloning {k}/{len(scale.rebalances)}: rebalance={rebalance}")
        run_step(console, "train.py", {"agent": "bc", "agent.rebalance": rebalance,
                                       "agent.epochs": scale.bc_epochs,
                                       "agent.hidden_sizes": list(scale.hidden_sizes), **shared})
        bc_results[rebalance] = read_step_results(root / f"{rebalance}_seed{cfg.seed}")

    # 3. RL fine-tuning of the best BC run (by win rate against the reference pool, then balanced accuracy)
    best = max(bc_results, key=lambda r: (bc_results[r]["online"]["win_rate"],
                                          bc_results[r]["test"]["balanced_accuracy"]))
    start = root / f"{best}_seed{cfg.seed}"
    console.print(f"[3/4] RLlib PPO fine-tuning of the best BC run, {start.name} (win rate "
                  f"{bc_results[best]['online']['win_rate']:.3f} against the reference pool)")
    ppo_run = root / f"ppo_{best}_seed{cfg.seed}"
    run_step(console, "train.py", {"agent": "ppo", "agent.init_from": str(start), "eval": "perfect_pros",
                                   "agent.iterations": scale.ppo_iterations,
                                   "agent.train_batch_size": scale.ppo_train_batch_size,
                                   "agent.minibatch_size": scale.ppo_minibatch_size,
                                   "agent.eval_every": scale.ppo_eval_every, **shared})
    read_step_results(ppo_run)

    # 4. the tournament and its offline-vs-online report (resumed if interrupted)
    out = root / "tournament"
    trained = [root / f"{r}_seed{cfg.seed}" for r in scale.rebalances] + [ppo_run]
    console.print(f"[4/4] tournament of {len(trained)} trained bots and the scripted players -> {out}")
    labelled = [f"{run.name}={run / 'best'}" for run in trained]
    scripted = scripted_players(scale)
    tournament = {"tournament.participants": [*scripted, *labelled], "tournament.globs": [],
                  "tournament.matches_per_pairing": scale.tournament_matches_per_pairing,
                  "tournament.seed": cfg.seed, "tournament.out_dir": str(out), "tournament.resume": True,
                  "tournament.overwrite": cfg.overwrite, "tournament.progress": cfg.progress,
                  **{f"+tournament.groups.{name}": group for name, group in pool_groups(scripted).items()},
                  "ratings.bootstrap": scale.ratings_bootstrap, "ratings.seed": cfg.seed}
    if data is not None:
        tournament["eval.dataset.path"] = data
    run_step(console, "tournament.py", tournament)
    console.print(f"experiment {root.name}: the table is {out / 'report.md'}, the standings "
                  f"{out / 'results.md'}; plots and TensorBoard: tensorboard --logdir {root}", soft_wrap=True)
    return out


@hydra.main(version_base=None, config_path="conf", config_name="experiment")
def main(cfg: DictConfig) -> None:
    config: ExperimentConfig = OmegaConf.to_object(cfg)
    rerun = shlex.join(["python", "experiment.py", *sys.argv[1:]])
    run_or_exit("experiment.py", lambda: run_experiment(config),
                f"interrupted: experiment {experiment_root(config)} stopped; rerun the same command to "
                f"continue ({rerun}): finished steps are reused, an unfinished run starts over, the "
                "tournament resumes")


if __name__ == "__main__":
    check_overrides_or_exit("experiment")  # bad overrides fail here, naming the valid keys
    main()
