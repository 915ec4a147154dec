"""The lecture's experiment, end to end, in one command: logs -> BC (every rebalancing) -> RL -> tournament.

    python experiment.py                      # scale=full: the README's table (about 40 min on 2 cores)
    python experiment.py scale=small          # a few minutes: the same pipeline on a small dataset (CI)
    python experiment.py name=lecture2 seed=1 # another seed, in runs/lecture2/

Steps, each skipped when its result is already on disk (so an interrupted experiment continues where
it stopped, and re-running prints the same table):

1. the pro logs: the default dataset (``scale=full``) or a small one in ``runs/<name>/data``;
2. behaviour cloning with each method of ``scale.rebalances`` (``train.py agent=bc``), runs in
   ``runs/<name>/<rebalance>_seed<seed>/``;
3. RLlib PPO fine-tuning (``train.py agent=ppo``) of the BC run with the best win rate against the
   reference pool, in ``runs/<name>/ppo_<rebalance>_seed<seed>/``;
4. a tournament of every trained bot and the scripted players (``tournament.py``) with its report:
   per bot, accuracy / balanced accuracy / macro-F1 on the test split next to win rate and rating,
   the rank correlations between offline and online metrics, and the plots, in
   ``runs/<name>/tournament/``.

Config: ``conf/experiment.yaml`` and ``conf/scale/{full,small}.yaml`` (``ExperimentConfig``,
``ScaleConfig`` below). ``notebooks/accuracy_vs_winrate.ipynb`` reads what this writes.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hydra
from hydra.core.config_store import ConfigStore
from hydra.utils import to_absolute_path
from omegaconf import DictConfig, OmegaConf
from rich.console import Console

from agents.bc import BCConfig
from agents.rl.config import RLlibPPOConfig
from evaluation.online import PERFECT_PROS, REFERENCE_POOL


@dataclass
class ScaleConfig:
    """How big the experiment is: ``conf/scale/full.yaml`` (the README) or ``small.yaml`` (CI)."""

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
    ratings_bootstrap: int = 200


@dataclass
class ExperimentConfig:
    scale: ScaleConfig = field(default_factory=ScaleConfig)
    name: str = "lecture"
    seed: int = 0
    logdir: str = "runs"
    progress: bool = True


ConfigStore.instance().store(name="experiment_schema", node=ExperimentConfig)
ConfigStore.instance().store(group="scale", name="scale_schema", node=ScaleConfig)

# the scripted players in the tournament: the pros at three skills, the strongest scripted bot, and
# the two baselines (the button masher and the lecture's idle bot)
SCRIPTED = ["footsies", *REFERENCE_POOL, *PERFECT_PROS]


class ExperimentError(RuntimeError):
    """A step of the experiment that cannot run (bad scale values, a failed step)."""


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


def run_or_read(run_dir: Path, train: Any, config: Any) -> dict[str, Any]:
    """``results.json`` of a finished run, or train it now (an unfinished folder is started over)."""
    results = run_dir / "results.json"
    if results.is_file():
        return json.loads(results.read_text())
    config.train.overwrite = True
    return train(config)


def train_config(cfg: ExperimentConfig, agent: Any, data: str | None, opponents: list[str]) -> Any:
    from train import DatasetConfig, EvalConfig, RunConfig, TrainConfig

    scale = cfg.scale
    return TrainConfig(agent=agent, experiment=cfg.name, seed=cfg.seed, dataset=DatasetConfig(path=data),
                       eval=EvalConfig(matches_per_opponent=scale.eval_matches_per_opponent,
                                       final_matches_per_opponent=scale.final_matches_per_opponent,
                                       opponents=opponents),
                       train=RunConfig(logdir=cfg.logdir, progress=cfg.progress))


def run_experiment(cfg: ExperimentConfig) -> Path:
    import tournament
    import train

    console = Console(stderr=True)
    scale = cfg.scale
    if not scale.rebalances:
        raise ExperimentError("scale.rebalances is empty: name at least one BC method")
    root = Path(to_absolute_path(cfg.logdir)) / cfg.name
    data = dataset_path(cfg, root, console)

    # 2. behaviour cloning, one run per rebalancing method
    bc_results = {}
    for k, rebalance in enumerate(scale.rebalances, 1):
        console.print(f"[2/4] behaviour cloning {k}/{len(scale.rebalances)}: rebalance={rebalance}")
        agent = BCConfig(rebalance=rebalance, epochs=scale.bc_epochs, seed=cfg.seed,
                         hidden_sizes=list(scale.hidden_sizes))
        config = train_config(cfg, agent, data, list(REFERENCE_POOL))
        bc_results[rebalance] = run_or_read(train.run_directory(config), train.train, config)

    # 3. RL fine-tuning of the best BC run (by win rate against the reference pool, then balanced accuracy)
    best = max(bc_results, key=lambda r: (bc_results[r]["online"]["win_rate"],
                                          bc_results[r]["test"]["balanced_accuracy"]))
    start = train.run_directory(train_config(cfg, BCConfig(rebalance=best), data, []))
    console.print(f"[3/4] RLlib PPO fine-tuning of the best BC run, {start.name} (win rate "
                  f"{bc_results[best]['online']['win_rate']:.3f} against the reference pool)")
    agent = RLlibPPOConfig(init_from=str(start), seed=cfg.seed, iterations=scale.ppo_iterations,
                           train_batch_size=scale.ppo_train_batch_size,
                           minibatch_size=scale.ppo_minibatch_size, eval_every=scale.ppo_eval_every)
    config = train_config(cfg, agent, data, list(PERFECT_PROS))
    run_or_read(root / f"ppo_{best}_seed{cfg.seed}", train.train_rl, config)

    # 4. the tournament and its offline-vs-online report
    out = root / "tournament"
    console.print(f"[4/4] tournament of every bot in {root} and the scripted players -> {out}")
    if not (out / "report.md").is_file():
        trained = [f"{best.parent.name}={best}" for best in sorted(root.glob("*/best"))]  # label=path
        settings = tournament.TournamentSettings(
            participants=[*SCRIPTED, *trained], globs=[],
            matches_per_pairing=scale.tournament_matches_per_pairing, seed=cfg.seed, out_dir=str(out),
            overwrite=True, progress=cfg.progress,
            groups={"reference_pool": list(REFERENCE_POOL), "perfect_pros": list(PERFECT_PROS)})
        tournament.run(tournament.TournamentConfig(
            tournament=settings, ratings=tournament.RatingsSettings(bootstrap=scale.ratings_bootstrap,
                                                                    seed=cfg.seed),
            report=tournament.ReportSettings(dataset=data)), Console(width=150))
    console.print(f"experiment {cfg.name}: the table is {out / 'report.md'}, the standings "
                  f"{out / 'results.md'}; plots and TensorBoard: tensorboard --logdir {root}")
    return out


@hydra.main(version_base=None, config_path="conf", config_name="experiment")
def main(cfg: DictConfig) -> None:
    config: ExperimentConfig = OmegaConf.to_object(cfg)
    try:
        run_experiment(config)
    except (ExperimentError, ValueError, FileNotFoundError) as err:
        print(f"experiment.py: {err}", file=sys.stderr)
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
