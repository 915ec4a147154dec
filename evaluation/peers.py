"""Peer baselines next to our rebalanced BC: one command, same split, same pool, one table.

``python -m evaluation.peers`` trains, on the training split of the evaluation protocol's dataset
(``eval.dataset``: path, split fractions, split seed, the same split ``train.py`` uses):

* the peers of :mod:`agents.peers` (d3rlpy ``DiscreteBC`` and ``DiscreteCQL``, imitation ``BC`` when
  importable), each saved as an ONNX bundle that plays through the Policy protocol;
* our BC with the README's best rebalancing (``python train.py agent=bc agent.rebalance=oversample``)
  and, as an anchor, naive BC (``agent.rebalance=none``), both as ``train.py`` steps;

then runs one ``tournament.py`` round robin of all of them with the reference pool (which holds the
idle bot, the other anchor), and writes ``<out_dir>/seed<seed>/peers.md`` / ``peers.csv``: per bot,
accuracy and balanced accuracy on the test split, the win rate against the pool with its Wilson 95%
interval, and the Bradley-Terry rating of the round robin. Every step is cached like the scripts it
runs: a rerun reuses peers trained the same way, finished ``train.py`` runs and the tournament log.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import hydra
import pandas as pd
from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig, OmegaConf
from rich.console import Console

from agents.artifacts import atomic_write_text
from agents.onnx_policy import read_bundle_manifest
from agents.peers import (
    D3RLPY_PEERS,
    IMITATION_PEER,
    PEERS,
    PeerData,
    PeerSettings,
    imitation_missing,
    train_and_save,
)
from agents.registry import make_policy, resolve_pool
from datasets.episodes import build_episodes
from datasets.load import split_by_match
from envs.seeding import derived_seed
from evaluation import protocol as eval_protocol
from evaluation.offline import evaluate_policy
from evaluation.protocol import EvalProtocol
from evaluation.standings import participant_record
from evaluation.steps import run_or_exit, run_step


@dataclass
class PeersConfig:
    """``conf/peers.yaml``: what ``python -m evaluation.peers`` trains and plays (defaults live here)."""

    seed: int = 0  # peers' and BC's training seed; the tournament's seed is derived from it
    out_dir: str = "runs/peers"  # everything goes to <out_dir>/seed<seed>/
    peers: list[str] = field(default_factory=lambda: list(PEERS))  # imitation_bc skipped when missing
    training: PeerSettings = field(default_factory=PeerSettings)
    bc_rebalance: str = "oversample"  # the README's best rebalancing (the lecture's table)
    naive_bc: bool = True  # also train agent.rebalance=none: the lecture's high-accuracy, never-winning bot
    bc_epochs: int | None = None  # null: conf/agent/bc.yaml's epochs
    # train.py's own final report (not the table's win rates, which come from the tournament)
    bc_final_matches_per_opponent: int = 24
    matches_per_pairing: int = 24  # the tournament's; 8 pool bots -> 192 matches per bot against the pool
    overwrite: bool = False  # retrain peers saved with another seed, settings or data (else: stop, say so)
    progress: bool = True
    eval: EvalProtocol = field(default_factory=EvalProtocol)


ConfigStore.instance().store(name="peers_schema", node=PeersConfig)


def _peer_fingerprint(config: PeersConfig, dataset: dict[str, Any]) -> dict[str, Any]:
    """What decides a trained peer: seed, settings (threads aside: speed only) and the data."""
    settings = {k: v for k, v in asdict(config.training).items() if k != "threads"}
    return {"seed": config.seed, "settings": settings,
            "frames_sha256": dataset.get("frames_sha256"), "split_fractions": dataset.get("split_fractions"),
            "split_seed": dataset.get("split_seed")}


def _reusable(bundle: Path, expected: dict[str, Any]) -> bool:
    """A bundle saved by an earlier run with the same seed, settings and data."""
    if not (bundle / "manifest.json").is_file():
        return False
    recorded = dict((read_bundle_manifest(bundle).get("provenance") or {}).get("fingerprint") or {})
    recorded["settings"] = {k: v for k, v in (recorded.get("settings") or {}).items() if k != "threads"}
    return recorded == expected


def train_peers(config: PeersConfig, root: Path, console: Console) -> tuple[dict[str, Path], list[str]]:
    """Train (or reuse) every requested peer; return ``{name: bundle}`` and notes on skipped peers."""
    unknown = [p for p in config.peers if p not in PEERS]
    if unknown:
        raise ValueError(f"peers: unknown peer(s) {unknown}; choose from {list(PEERS)}")
    splits, dataset = eval_protocol.load_splits(config.eval.dataset)
    info = dict(splits["train"].dataset)
    spec = config.eval.dataset
    train = split_by_match(dataset, spec.split_fractions, seed=spec.split_seed)["train"]
    episodes = build_episodes(train)
    data = PeerData(episodes.observations, episodes.actions, episodes.rewards, episodes.terminals)
    fingerprint = _peer_fingerprint(config, info)
    bundles, notes = {}, []
    for name in config.peers:
        if name == IMITATION_PEER and (missing := imitation_missing()) is not None:
            notes.append(f"{IMITATION_PEER} skipped: {missing}")
            console.print(f"note: {notes[-1]}", highlight=False, markup=False)
            continue
        bundle = root / "peers" / name
        if _reusable(bundle, fingerprint):
            console.print(f"{name}: reusing {bundle}", highlight=False)
            bundles[name] = bundle
            continue
        if (bundle.exists() or bundle.is_symlink()) and not config.overwrite:  # before, not after, training
            raise FileExistsError(f"{bundle} holds a peer trained with another seed, settings or data "
                                  f"(its manifest's provenance.fingerprint differs from {fingerprint}); pass "
                                  "overwrite=true to retrain it, or choose another out_dir")
        console.print(f"{name}: training {config.training.steps:,} steps on {len(data.actions):,} rows "
                      f"({episodes.num_episodes} episodes)", highlight=False)
        _, seconds = train_and_save(name, data, config.training, config.seed, bundle,
                                    provenance={"training_dataset": info, "fingerprint": fingerprint},
                                    overwrite=config.overwrite)
        console.print(f"{name}: {seconds:.0f} s -> {bundle}", highlight=False)
        bundles[name] = bundle
    return bundles, notes


def _dataset_overrides(config: PeersConfig) -> dict[str, Any]:
    spec = config.eval.dataset
    return {"eval.dataset.path": spec.path, "eval.dataset.split_fractions": list(spec.split_fractions),
            "eval.dataset.split_seed": spec.split_seed}


def _training_eval_overrides(config: PeersConfig) -> dict[str, Any]:
    """The protocol's training-time evaluation for train.py: what the best checkpoint is chosen on."""
    protocol = config.eval
    return {"eval.opponents": list(protocol.opponents), "eval.every_epochs": protocol.every_epochs,
            "eval.matches_per_opponent": protocol.matches_per_opponent, "eval.seed": protocol.seed,
            "eval.final_seed": protocol.final_seed, "eval.best_metric": protocol.best_metric,
            "eval.observation_delay": protocol.observation_delay}


def train_bc(config: PeersConfig, root: Path, console: Console) -> dict[str, Path]:
    """Our BC runs as ``train.py`` steps (reused when finished identically); ``{label: best checkpoint}``."""
    rebalances = {f"bc_{config.bc_rebalance}": config.bc_rebalance}
    if config.naive_bc and config.bc_rebalance != "none":
        rebalances["bc_naive"] = "none"
    runs = {}
    for label, rebalance in rebalances.items():
        overrides = {"agent": "bc", "agent.rebalance": rebalance, "seed": config.seed, "experiment": "bc",
                     "train.logdir": str(root), "train.progress": config.progress, "train.reuse": True,
                     **_dataset_overrides(config), **_training_eval_overrides(config),
                     "eval.final_matches_per_opponent": config.bc_final_matches_per_opponent}
        if config.bc_epochs is not None:
            overrides["agent.epochs"] = config.bc_epochs
        if config.training.threads:  # speed only: not in train.py's fingerprint
            overrides["train.torch_threads"] = config.training.threads
        run_step(console, "train.py", overrides)
        runs[label] = root / "bc" / f"{rebalance}_seed{config.seed}" / "best"
    return runs


def run_peers(config: PeersConfig) -> pd.DataFrame:
    """The whole pipeline (module docstring); returns the table it writes."""
    console = Console()
    started = time.perf_counter()
    eval_protocol.check(config.eval)
    root = Path(config.out_dir) / f"seed{config.seed}"
    timings: dict[str, float] = {}
    bundles, notes = train_peers(config, root, console)
    timings["peers_s"] = time.perf_counter() - started
    runs = train_bc(config, root, console)
    timings["bc_s"] = time.perf_counter() - started - timings["peers_s"]

    pool = list(resolve_pool(list(config.eval.opponents)))
    bots = {**{name: str(path) for name, path in bundles.items()}, **{k: str(v) for k, v in runs.items()}}
    tournament_dir = root / "tournament"
    run_step(console, "tournament.py", {
        "tournament.participants": [*config.eval.opponents,
                                    *(f"{label}={spec}" for label, spec in bots.items())],
        "tournament.globs": [], "tournament.matches_per_pairing": config.matches_per_pairing,
        "tournament.seed": derived_seed(config.seed, "peers", "tournament"),
        "tournament.out_dir": str(tournament_dir), "tournament.resume": True, "tournament.overwrite": True,
        "tournament.progress": config.progress, "+tournament.groups.pool": pool,
        "report.enabled": False, **_dataset_overrides(config)})
    timings["tournament_s"] = time.perf_counter() - started - timings["peers_s"] - timings["bc_s"]

    table = peer_table(config, bots, pool, tournament_dir)
    timings["total_s"] = time.perf_counter() - started
    write_table(root, table, config, notes, timings)
    console.print(table_markdown(table), highlight=False, markup=False, soft_wrap=True)
    console.print(f"table: {root / 'peers.md'} ({timings['total_s']:.0f} s)", highlight=False)
    return table


def peer_table(config: PeersConfig, bots: dict[str, str], pool: list[str],
               tournament_dir: Path) -> pd.DataFrame:
    """One row per bot (the peers, our BC runs, the idle anchor): offline metrics on the test split,
    win rate against the pool [Wilson 95%], the round robin's rating [bootstrap 95%], and the share
    of frames on which it pressed a command in its matches (a bot that never presses cannot win)."""
    test = eval_protocol.load_splits(config.eval.dataset)[0]["test"]
    pairings = pd.read_csv(tournament_dir / "pairings.csv")
    standings = pd.read_csv(tournament_dir / "standings.csv").set_index("label")
    pressed = json.loads((tournament_dir / "results.json").read_text(encoding="utf-8"))["action_counts"]
    rows = []
    for label, spec in {**bots, "idle": "idle"}.items():
        metrics, _ = evaluate_policy(make_policy(spec), test.observations, test.labels)
        record = participant_record(pairings, label, [p for p in pool if p != label])
        low, high = record.interval
        kind = "peer" if label in PEERS else "anchor" if label in ("idle", "bc_naive") else "ours"
        rows.append({"bot": label, "kind": kind, "accuracy": metrics["accuracy"],
                     "balanced_accuracy": metrics["balanced_accuracy"],
                     "win_rate_vs_pool": record.win_rate, "win_rate_ci_low": low, "win_rate_ci_high": high,
                     "matches_vs_pool": record.matches,
                     # how often it pressed anything in its matches (the pros: 1-6%)
                     "press_share": 1.0 - pressed[label]["NO_ACTION"] / max(1, sum(pressed[label].values())),
                     **{key: standings.loc[label, key] for key in ("rating", "rating_ci_low",
                                                                   "rating_ci_high")}})
    return pd.DataFrame(rows).set_index("bot").sort_values("win_rate_vs_pool", ascending=False, kind="stable")


def table_markdown(table: pd.DataFrame) -> str:
    """The table as a reader wants it: intervals in brackets, three decimals, ratings rounded."""
    lines = ["| bot | kind | accuracy | balanced acc. | win rate vs pool [95% CI] | BT rating [95% CI] | "
             "presses in matches |", "|---|---|---|---|---|---|---|"]
    for bot, row in table.iterrows():
        win = f"{row['win_rate_vs_pool']:.3f} [{row['win_rate_ci_low']:.3f}, {row['win_rate_ci_high']:.3f}]"
        rating = f"{row['rating']:.0f} [{row['rating_ci_low']:.0f}, {row['rating_ci_high']:.0f}]"
        lines.append(f"| `{bot}` | {row['kind']} | {row['accuracy']:.3f} | {row['balanced_accuracy']:.3f} | "
                     f"{win} | {rating} | {row['press_share']:.2%} |")
    return "\n".join(lines) + "\n"


def write_table(root: Path, table: pd.DataFrame, config: PeersConfig, notes: list[str],
                timings: dict[str, float]) -> None:
    """``peers.md`` (the table, notes, timings), ``peers.csv`` and ``peers.json`` under ``root``."""
    text = table_markdown(table)
    if notes:
        text += "\n" + "\n".join(f"- {note}" for note in notes) + "\n"
    text += (f"\nseed {config.seed}; {config.training.steps:,} gradient steps per peer; "
             f"{config.matches_per_pairing} matches per pairing; wall time {timings['total_s']:.0f} s "
             f"(peers {timings['peers_s']:.0f} s, BC {timings['bc_s']:.0f} s, tournament "
             f"{timings['tournament_s']:.0f} s)\n")
    atomic_write_text(root / "peers.md", text)
    atomic_write_text(root / "peers.csv", table.reset_index().to_csv(index=False))
    payload = {"config": OmegaConf.to_container(OmegaConf.structured(config)), "notes": notes,
               "timings_s": {k: round(v, 1) for k, v in timings.items()},
               "table": json.loads(table.reset_index().to_json(orient="records"))}
    atomic_write_text(root / "peers.json", json.dumps(payload, indent=2, default=float) + "\n")


@hydra.main(version_base=None, config_path="../conf", config_name="peers")
def main(cfg: DictConfig) -> None:
    config: PeersConfig = OmegaConf.to_object(cfg)
    run_or_exit("evaluation.peers", lambda: run_peers(config),
                "interrupted: rerun the same command to continue (trained peers, finished BC runs and "
                "played matches are reused)")


__all__ = ["D3RLPY_PEERS", "PeersConfig", "main", "peer_table", "run_peers", "table_markdown"]


if __name__ == "__main__":
    from envs.config_checks import check_overrides_or_exit

    check_overrides_or_exit("peers", program="python -m evaluation.peers")
    main()
