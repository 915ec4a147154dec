"""Generate a pro-log dataset: every pro plays every pro (mirrors included) on both sides.

    python -m datasets.generate                                   # the default dataset, data/default
    python -m datasets.generate players=[rushdown,zoner] matches_per_pairing=20 seed=3 \\
        out=data/mine overwrite=true

Every pairing of ``players`` (combinations with replacement, so mirror matches too) plays
``matches_per_pairing`` matches through the batched engine; the match runner alternates sides, so
each player's rows come from both sides of the screen. One seed fixes everything: each pairing gets
its own seed derived from it with :func:`envs.seeding.child_seeds`, and the same seed gives the same
rows and the same ``frames_sha256`` in the manifest. The dataset (frames, matches, manifest, card)
is written atomically by :class:`datasets.writer.DatasetWriter`.

:func:`ensure_default_dataset` is what training code calls: it generates the default dataset once
(repo-root ``data/default``, gitignored) and loads it ever after.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import hydra
from hydra.core.config_store import ConfigStore
from hydra.utils import to_absolute_path
from omegaconf import DictConfig, OmegaConf

from agents.artifacts import StorageError, recover_folder
from agents.registry import UnknownBotError, make_policy
from datasets.load import LogDataset, load_dataset
from datasets.manifest import CARD_NAME, MANIFEST_NAME, DatasetError, DatasetVersionError, read_manifest
from datasets.writer import DEFAULT_SHARD_ROWS, DatasetWriter, PlayerInfo
from envs.config_checks import check_overrides_or_exit
from envs.match_runner import play_matches
from envs.seeding import child_seeds
from envs.terminal import progress_bar

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_PLAYERS = ("rushdown", "zoner", "turtle")


@dataclass
class GenerateConfig:
    """What ``python -m datasets.generate`` accepts (a typo in an override fails with a message)."""

    players: list[str] = field(default_factory=lambda: list(DEFAULT_PLAYERS))  # registered bot names
    matches_per_pairing: int = 40  # per pairing of players; 3 players -> 6 pairings
    seed: int = 0
    out: str = "data/default"  # relative paths are relative to where you run the command
    overwrite: bool = False  # replace a dataset at `out` once the new one is complete (never anything else)
    shard_rows: int = DEFAULT_SHARD_ROWS  # rows per frames/part-NNNNN.parquet
    batch_size: int = 1024  # concurrent matches per engine wave
    observation_delay: int = 0  # frames of reaction time, as in the env option
    progress: bool = True


ConfigStore.instance().store(name="generate_schema", node=GenerateConfig)


def pairings(players: list[str]) -> list[tuple[str, str]]:
    """Every pair of players once, mirrors included: [a, b] -> (a, a), (a, b), (b, b)."""
    return list(itertools.combinations_with_replacement(players, 2))


def pairing_seeds(seed: int, count: int) -> list[int]:
    """Independent per-pairing seeds derived from ``seed`` (:mod:`envs.seeding`, not seed + i)."""
    return child_seeds(seed, count)


def _check_config(config: GenerateConfig) -> None:
    if not config.players:
        raise ValueError("players must name at least one registered bot")
    repeated = sorted({p for p in config.players if config.players.count(p) > 1})
    if repeated:
        raise ValueError(f"players lists {repeated} more than once; mirror matches are already included")
    for name in config.players:
        make_policy(name)  # UnknownBotError lists the registered names
    for key in ("matches_per_pairing", "shard_rows", "batch_size"):
        if getattr(config, key) < 1:
            raise ValueError(f"{key} must be >= 1, got {getattr(config, key)}")
    if config.seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {config.seed}")


def generator_record(config: GenerateConfig) -> dict[str, Any]:
    """What the manifest records about how the rows were made (everything that changes them)."""
    record = asdict(config)
    for key in ("out", "overwrite", "progress"):
        record.pop(key)
    record["source"] = "datasets.generate"
    record["pairings"] = [list(p) for p in pairings(config.players)]
    record["pairing_seeds"] = pairing_seeds(config.seed, len(record["pairings"]))
    return record


def generate(config: GenerateConfig) -> Path:
    """Play every pairing of ``config.players`` and write the dataset at ``config.out``; return its path."""
    _check_config(config)
    games = pairings(config.players)
    seeds = pairing_seeds(config.seed, len(games))
    writer = DatasetWriter(config.out, generator=generator_record(config), seed=config.seed,
                           shard_rows=config.shard_rows, overwrite=config.overwrite)
    bar = progress_bar(total=len(games) * config.matches_per_pairing, unit="match", desc="generating",
                       enabled=config.progress)
    with writer, bar:
        for k, ((name_a, name_b), pairing_seed) in enumerate(zip(games, seeds, strict=True)):
            a, b = make_policy(name_a), make_policy(name_b)
            writer.set_players(PlayerInfo.of(a), PlayerInfo.of(b))
            bar.set_postfix_str(f"{name_a} vs {name_b}")
            results = play_matches(a, b, config.matches_per_pairing, seed=pairing_seed,
                                   batch_size=config.batch_size,
                                   observation_delay=config.observation_delay, recorder=writer,
                                   first_match_id=k * config.matches_per_pairing)
            writer.add_matches(results, seed=pairing_seed)
            bar.update(config.matches_per_pairing)
    return writer.path


def default_dataset_path() -> Path:
    """Where the default dataset lives: ``<repo>/data/default`` (gitignored, generated on demand)."""
    return REPO_ROOT / "data" / "default"


def ensure_default_dataset(path: str | Path | None = None, *, config: GenerateConfig | None = None
                           ) -> LogDataset:
    """Load the default dataset, generating it first if (and only if) it does not exist yet.

    An existing dataset is never regenerated. A folder at ``path`` that is not a dataset (no
    manifest) or was written by an incompatible version raises an error saying what to delete.
    ``config`` (default: :class:`GenerateConfig`) is used only when generating; its ``out`` is
    replaced by ``path``.
    """
    path = Path(path) if path is not None else default_dataset_path()
    recover_folder(path)  # a regeneration killed between its renames: finish or undo it first
    if not path.exists():
        config = replace(config or GenerateConfig(), out=str(path), overwrite=False)
        try:
            generate(config)
        except FileExistsError:
            if not (path / MANIFEST_NAME).is_file():  # not a finished dataset from a concurrent run
                raise
    elif not (path / MANIFEST_NAME).is_file():
        raise DatasetError(f"{path} exists but is not a FightLab dataset (no {MANIFEST_NAME}); it is "
                           f"not regenerated over: delete it (rm -r {path}) and run again to generate "
                           "the default dataset")
    try:
        return load_dataset(path)
    except DatasetVersionError as err:
        raise DatasetVersionError(f"{err}. To regenerate the default dataset, delete it "
                                  f"(rm -r {path}) and run again") from err


@hydra.main(version_base=None, config_path="../conf", config_name="generate")
def main(cfg: DictConfig) -> None:
    config: GenerateConfig = OmegaConf.to_object(cfg)
    # Hydra may run the job in its own output folder: resolve `out` against where the user ran it
    config.out = to_absolute_path(config.out)
    start = time.perf_counter()
    try:
        path = generate(config)
    except (FileExistsError, UnknownBotError, ValueError, StorageError) as err:
        raise SystemExit(f"datasets.generate: {err}") from None
    seconds = time.perf_counter() - start
    print((path / CARD_NAME).read_text(encoding="utf-8"))
    rows = int(read_manifest(path)["num_frames"])
    print(f"wrote {path}: {rows:,} frames in {seconds:.1f} s ({rows / seconds:,.0f} frames/s)")


if __name__ == "__main__":
    check_overrides_or_exit("generate", program="python -m datasets.generate")  # bad overrides fail here
    main()
