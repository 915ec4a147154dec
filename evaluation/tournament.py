"""Round-robin tournaments: every participant plays every other, M matches per pairing, resumable.

How a tournament is laid out, and why:

* **Pairings and blocks.** Each unordered pair of participants (labels sorted, so listing order does
  not matter) plays ``matches_per_pairing`` matches, cut into *blocks* of up to ``block_matches``
  consecutive matches. Match ``m`` of a pairing puts the first label on side ``m % 2``, so with an
  even M each bot plays each side equally often.
* **Seeds.** A block's seed is derived (:func:`envs.seeding.derived_seed`) from the tournament seed,
  the two labels and the block index. Adding or removing a participant therefore changes no other
  pairing's matches, and a block plays the same matches whichever wave, process or Ray worker it runs
  in. Within a block the seeds are those of :func:`envs.match_runner.play_matches`' first wave, so a block
  is the same matches as ``play_matches(a, b, n, seed=block.seed, first_match_id=block.first_match)``
  (a test holds this parity).
* **Waves.** Blocks of many pairings are played *concurrently* in one batched engine (up to
  ``wave_matches`` matches). Each block gets fresh, seeded policy instances, so its randomness does
  not depend on what else shares the wave. A policy that declares ``deterministic = True`` (same
  observation, same command, no state: e.g. a network's argmax) is shared instead: one batched act
  call per frame for all its matches in the wave, which is what makes a tournament of networks fast.
  With ``stack_networks`` (the default), the shared BC bots of one architecture are decided together:
  one forward pass per frame over their stacked weights (:mod:`evaluation.stacked`), with the same
  commands, forfeits and per-bot CPU-time budget as one call per bot.
* **Persistence.** Each finished block is appended to ``matches.jsonl`` (one JSON line, flushed and
  fsynced) the moment its last match ends. ``resume=True`` reads the log, skips finished blocks and
  plays the rest; a torn last line from a crash is cut off. Because blocks are seeded independently,
  interrupted + resumed gives exactly the table an uninterrupted run gives.
* **Forfeits.** Every policy is wrapped in :class:`evaluation.guard.GuardedPolicy`: a bot that
  raises, returns invalid commands or exceeds its time budget forfeits the affected matches (a loss,
  with the reason recorded) and the tournament goes on.
* **Backends.** ``local`` plays the waves in this process; ``ray`` plays them as Ray tasks (a local
  Ray instance, or a cluster at ``ray_address``), rebuilding policies in the workers from their specs.
  Same seed, same blocks, same table.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from agents.artifacts import TOURNAMENT, atomic_write_text, describe_kind, folder_kind, folder_lock
from agents.rl.ray_runtime import init_ray
from envs.actions import NUM_ACTIONS
from envs.engine import DRAW, DuelEngine
from envs.match_runner import wave_seeds
from envs.params import GameParams
from envs.seeding import derived_seed
from envs.terminal import progress_bar
from evaluation.guard import GuardedPolicy
from evaluation.participants import Participant, artifact_sha256
from evaluation.protocol import code_version
from evaluation.stacked import StackedGroup, stack_groups

LOG_NAME = "matches.jsonl"
LOG_FORMAT = "fightlab-tournament-log"
LOG_VERSION = 1


class TournamentLogError(ValueError):
    """A match log that cannot be resumed: corrupt, or written by a tournament with other settings."""


# ---- schedule -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Block:
    """Matches ``first_match .. first_match + num_matches - 1`` of pairing ``a`` vs ``b`` (a < b)."""

    a: str
    b: str
    index: int
    first_match: int
    num_matches: int
    seed: int

    @property
    def key(self) -> str:
        return f"{self.a}\t{self.b}\t{self.index}"


def block_seed(seed: int, a: str, b: str, index: int) -> int:
    """The block's seed, from the tournament seed, both labels and the block index (stable across runs,
    processes and participant lists: :mod:`envs.seeding`, no ``hash()``, no position in a list)."""
    return derived_seed(seed, "tournament", a, b, index)


def schedule(labels: Sequence[str], matches_per_pairing: int, seed: int,
             block_matches: int = 96) -> list[Block]:
    """Every block of the round robin, pairings in sorted-label order."""
    if matches_per_pairing < 1 or block_matches < 1:
        raise ValueError(f"matches_per_pairing and block_matches must be >= 1, got "
                         f"{matches_per_pairing} and {block_matches}")
    blocks = []
    for a, b in itertools.combinations(sorted(labels), 2):
        for index, first in enumerate(range(0, matches_per_pairing, block_matches)):
            n = min(block_matches, matches_per_pairing - first)
            blocks.append(Block(a, b, index, first, n, block_seed(seed, a, b, index)))
    return blocks


def waves(blocks: Sequence[Block], wave_matches: int) -> list[list[Block]]:
    """Consecutive blocks packed into waves of at most ``wave_matches`` concurrent matches."""
    out: list[list[Block]] = []
    size = 0
    for block in blocks:
        if out and size + block.num_matches <= wave_matches:
            out[-1].append(block)
            size += block.num_matches
        else:
            out.append([block])
            size = block.num_matches
    return out


# ---- playing a wave -------------------------------------------------------------------------------
@dataclass
class _Controller:
    """One policy instance and the (match row, side) slots it plays in the wave's engine."""

    guard: GuardedPolicy
    rows: np.ndarray
    sides: np.ndarray
    players: np.ndarray  # 0: the block's a, 1: its b
    stateless: bool  # deterministic and shared: may be given only the rows still running


def play_wave(blocks: Sequence[Block], participants: Mapping[str, Participant], *,
              params: GameParams | None = None, time_budget_s: float | None = None,
              observation_delay: int = 0, on_block: Callable[[dict[str, Any]], None] | None = None,
              on_matches_done: Callable[[int], None] | None = None,
              stack_networks: bool = True) -> list[dict[str, Any]]:
    """Play every match of ``blocks`` concurrently in one engine; return one record per block.

    ``stack_networks``: decide the shared BC bots of one architecture in one stacked forward pass
    per frame (:mod:`evaluation.stacked`; same records as without). ``on_block(record)`` is called
    as soon as a block's last match ends (the tournament appends it to the log there);
    ``on_matches_done(n)`` after every frame in which n > 0 matches ended (for progress bars).
    Records are plain JSON-ready dicts (see :func:`_block_record`).
    """
    params = params if params is not None else GameParams()
    total = sum(b.num_matches for b in blocks)
    engine = DuelEngine(total, params, observation_delay)
    a_side = np.empty(total, dtype=np.int64)
    controllers: list[_Controller] = []
    shared: dict[str, tuple[GuardedPolicy, list[np.ndarray], list[np.ndarray], list[np.ndarray]]] = {}
    block_rows: list[np.ndarray] = []
    offset = 0
    for block in blocks:
        rows = offset + np.arange(block.num_matches)
        offset += block.num_matches
        block_rows.append(rows)
        a_side[rows] = (block.first_match + np.arange(block.num_matches)) % 2
        # exactly play_matches' seeding for a single wave of this block
        jitter_seed, seed_a, seed_b = wave_seeds(block.seed, 0)
        engine.reset(rows, rng=np.random.default_rng(jitter_seed))
        for player, label, sides, policy_seed in ((0, block.a, a_side[rows], seed_a),
                                                  (1, block.b, 1 - a_side[rows], seed_b)):
            if label in shared:
                entry = shared[label]
                entry[1].append(rows)
                entry[2].append(sides)
                entry[3].append(np.full(len(rows), player))
                continue
            guard = GuardedPolicy(participants[label].make(params), time_budget_s, label)
            if guard.deterministic:
                shared[label] = (guard, [rows], [sides], [np.full(len(rows), player)])
            else:
                guard.reset(len(rows), seed=policy_seed)
                controllers.append(_Controller(guard, rows, sides, np.full(len(rows), player), False))
    for guard, rows_list, sides_list, players_list in shared.values():
        rows = np.concatenate(rows_list)
        guard.reset(len(rows), seed=0)
        controllers.append(_Controller(guard, rows, np.concatenate(sides_list),
                                       np.concatenate(players_list), True))
    # shared bots of one network architecture: (group, indices of their controllers)
    stateless = [i for i, c in enumerate(controllers) if c.stateless]
    stacks = [(StackedGroup([controllers[stateless[j]].guard for j in members]),
               [stateless[j] for j in members])
              for members in (stack_groups([controllers[i].guard for i in stateless])
                              if stack_networks else [])]

    actions = np.zeros((total, 2), dtype=np.int64)
    counts = np.zeros((total, 2, NUM_ACTIONS), dtype=np.int64)
    forfeit_side = np.full(total, -1, dtype=np.int64)  # -1 none, 0/1 that side, DRAW both
    forfeit_frame = np.zeros(total, dtype=np.int64)
    forfeit_reason = np.full(total, "", dtype=object)
    pending = list(range(len(blocks)))
    records: list[dict[str, Any]] = [{} for _ in blocks]
    frame = 0
    while pending:
        running = ~engine.done & (forfeit_side < 0)
        obs = engine.observe()
        actions[:] = 0
        faults: list[tuple[np.ndarray, np.ndarray, str]] = []
        stacked: dict[int, np.ndarray | None] = {}  # controller index -> what its group decided
        for group, members in stacks:
            member_rows, member_sides = [], []
            for i in members:
                live = running[controllers[i].rows]
                member_rows.append(controllers[i].rows[live])
                member_sides.append(controllers[i].sides[live])
            decided = group.act(obs, member_rows, member_sides)
            stacked.update(zip(members, decided, strict=True))
        for index, c in enumerate(controllers):
            live = running[c.rows]
            if not live.any():
                continue
            if c.stateless:
                rows, sides, players = c.rows[live], c.sides[live], c.players[live]
                chosen = stacked.get(index)
                if chosen is None:
                    chosen = c.guard.act(obs[rows, sides])
                live = np.ones(len(rows), dtype=bool)
            else:
                rows, sides, players = c.rows, c.sides, c.players
                chosen = c.guard.act(obs[rows, sides])
            actions[rows[live], sides[live]] = chosen[live]
            counts[rows[live], players[live], chosen[live]] += 1
            fault = c.guard.last_fault
            if fault is not None:
                bad = fault.rows & live
                if bad.any():
                    faults.append((rows[bad], sides[bad], f"{c.guard.name}: {fault.reason}"))
        for rows, sides, reason in faults:
            both = forfeit_side[rows] >= 0  # the other side forfeited on this same frame
            forfeit_side[rows] = np.where(both, DRAW, sides)
            forfeit_frame[rows] = frame
            forfeit_reason[rows] = np.where(both, forfeit_reason[rows] + "; " + reason, reason)
            actions[rows] = 0
        engine.step(actions, validate=False)
        frame += 1
        still = ~engine.done & (forfeit_side < 0)
        if on_matches_done is not None:
            ended = int(running.sum() - still.sum())
            if ended:
                on_matches_done(ended)
        for k in list(pending):
            if not still[block_rows[k]].any():
                pending.remove(k)
                records[k] = _block_record(blocks[k], block_rows[k], engine, a_side, counts,
                                           forfeit_side, forfeit_frame, forfeit_reason)
                if on_block is not None:
                    on_block(records[k])
    return records


def _block_record(block: Block, rows: np.ndarray, engine: DuelEngine, a_side: np.ndarray,
                  counts: np.ndarray, forfeit_side: np.ndarray, forfeit_frame: np.ndarray,
                  forfeit_reason: np.ndarray) -> dict[str, Any]:
    matches = []
    for j, row in enumerate(rows):
        side = int(a_side[row])
        by = int(forfeit_side[row])
        if by == DRAW:
            result, forfeit = "draw", {"by": "both", "reason": str(forfeit_reason[row])}
        elif by >= 0:
            result = "loss" if by == side else "win"
            forfeit = {"by": block.a if by == side else block.b, "reason": str(forfeit_reason[row])}
        else:
            winner = int(engine.winner[row])
            result = "draw" if winner == DRAW else ("win" if winner == side else "loss")
            forfeit = None
        hp = engine.state.hp[row]
        matches.append({
            "match": block.first_match + j, "a_side": side, "result": result,
            "hp_a": int(hp[side]), "hp_b": int(hp[1 - side]),
            "frames": int(forfeit_frame[row] + 1 if forfeit else engine.frame[row]),
            "ko": bool(forfeit is None and (hp[0] == 0 or hp[1] == 0)),
            "forfeit": forfeit,
            "counts_a": counts[row, 0].tolist(), "counts_b": counts[row, 1].tolist(),
        })
    return {"type": "block", "key": block.key, "a": block.a, "b": block.b, "index": block.index,
            "first_match": block.first_match, "seed": block.seed, "matches": matches}


def play_wave_records(blocks: Sequence[Block], participants: Mapping[str, Participant],
                      params: GameParams | None, time_budget_s: float | None,
                      observation_delay: int = 0, stack_networks: bool = True) -> list[dict[str, Any]]:
    """:func:`play_wave` without a callback: what a Ray task runs (arguments are plain data)."""
    return play_wave(blocks, participants, params=params, time_budget_s=time_budget_s,
                     observation_delay=observation_delay, stack_networks=stack_networks)


# ---- the match log --------------------------------------------------------------------------------
def fingerprint(participants: Sequence[Participant], *, seed: int, matches_per_pairing: int,
                block_matches: int, params: GameParams, observation_delay: int = 0,
                protocol: dict[str, Any] | None = None) -> dict[str, Any]:
    """Everything that decides which matches a block holds (what a resumed run must agree with):
    settings, game rules, observation delay, each participant's spec *and* the hash of its weights
    (a bot retrained under the same path is another bot), the evaluation protocol and the code."""
    params_json = json.dumps(dataclasses.asdict(params), sort_keys=True, default=str)
    return {"seed": seed, "matches_per_pairing": matches_per_pairing, "block_matches": block_matches,
            "game_params_sha256": hashlib.sha256(params_json.encode()).hexdigest(),
            "observation_delay": observation_delay,
            "participants": {p.label: p.spec for p in participants},
            "participant_sha256": {p.label: artifact_sha256(p) for p in participants},
            "protocol": protocol, "code": (code_version() or {}).get("commit")}


class MatchLog:
    """``matches.jsonl``: a header line, then one line per finished block, appended and fsynced."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def create(self, header: dict[str, Any]) -> None:
        atomic_write_text(self.path, json.dumps({"type": "header", "format": LOG_FORMAT,
                                                 "version": LOG_VERSION, **header}) + "\n")

    def read(self) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
        """``(header, {block key: record})``; a torn last line (a crash mid-write) is cut off the file."""
        data = self.path.read_bytes()
        end = data.rfind(b"\n") + 1
        if end < len(data):
            with self.path.open("r+b") as handle:
                handle.truncate(end)
        lines = data[:end].decode("utf-8").splitlines()
        if not lines:
            raise TournamentLogError(f"{self.path} is empty: delete it or run with tournament.overwrite=true")
        try:
            header = json.loads(lines[0])
        except json.JSONDecodeError as err:
            raise TournamentLogError(f"{self.path}:1 is not a JSON header line ({err})") from err
        if header.get("format") != LOG_FORMAT or header.get("version") != LOG_VERSION:
            raise TournamentLogError(f"{self.path} is not a version-{LOG_VERSION} FightLab tournament log")
        blocks: dict[str, dict[str, Any]] = {}
        for number, line in enumerate(lines[1:], start=2):
            try:
                record = json.loads(line)
            except json.JSONDecodeError as err:
                raise TournamentLogError(f"{self.path}:{number} is corrupt ({err}); the log cannot be "
                                         "resumed, rerun with tournament.overwrite=true") from err
            blocks.setdefault(record["key"], record)
        return header, blocks

    def append(self, record: dict[str, Any]) -> None:
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(record, separators=(",", ":")) + "\n")
            handle.flush()
            os.fsync(handle.fileno())


def _check_resumable(log_path: Path, header: dict[str, Any], expected: dict[str, Any]) -> None:
    found = header.get("fingerprint", {})
    differ = [k for k in ("seed", "matches_per_pairing", "block_matches", "game_params_sha256",
                          "observation_delay", "code") if found.get(k) != expected[k]]
    if differ:
        details = ", ".join(f"{k}: {found.get(k)!r} there, {expected[k]!r} now" for k in differ)
        raise TournamentLogError(f"{log_path} was written with other settings ({details}); resume with "
                                 "the same settings, or start over with tournament.overwrite=true")
    old, old_sha = found.get("participants", {}), found.get("participant_sha256", {})
    changed = [label for label, spec in expected["participants"].items()
               if label in old and (old[label] != spec
                                    or old_sha.get(label) != expected["participant_sha256"][label])]
    if changed:
        raise TournamentLogError(f"{log_path}: participants {changed} now point to other bots than when the "
                                 "log was written (another path or other weights); give them new labels or "
                                 "use tournament.overwrite=true")


# ---- results --------------------------------------------------------------------------------------
@dataclass
class TournamentResults:
    """Every match of a tournament, from the block records (order-independent: sorted by pairing).

    ``matches`` has one row per match: ``a``, ``b``, ``match``, ``a_side``, ``result`` (for a),
    ``hp_a``, ``hp_b``, ``frames``, ``ko``, ``forfeit_by`` (a label, "both" or ""),
    ``forfeit_reason``. ``action_counts[label]`` is how often that participant pressed each command
    over all its matches.
    """

    participants: list[Participant]
    matches: pd.DataFrame
    action_counts: dict[str, np.ndarray]
    seed: int
    matches_per_pairing: int
    notes: list[str] = field(default_factory=list)
    fingerprint: dict[str, Any] = field(default_factory=dict)  # the log header's (:func:`fingerprint`)
    played_now: int = 0  # matches played by this run (0 when everything came from the log)

    @property
    def labels(self) -> list[str]:
        return [p.label for p in self.participants]

    @classmethod
    def from_records(cls, participants: Sequence[Participant], records: Sequence[dict[str, Any]], *,
                     seed: int, matches_per_pairing: int) -> TournamentResults:
        rows = []
        totals = {p.label: np.zeros(NUM_ACTIONS, dtype=np.int64) for p in participants}
        for record in records:
            for m in record["matches"]:
                forfeit = m["forfeit"] or {}
                rows.append({"a": record["a"], "b": record["b"], "match": m["match"], "a_side": m["a_side"],
                             "result": m["result"], "hp_a": m["hp_a"], "hp_b": m["hp_b"],
                             "frames": m["frames"], "ko": m["ko"], "forfeit_by": forfeit.get("by", ""),
                             "forfeit_reason": forfeit.get("reason", "")})
                totals[record["a"]] += np.asarray(m["counts_a"], dtype=np.int64)
                totals[record["b"]] += np.asarray(m["counts_b"], dtype=np.int64)
        columns = ["a", "b", "match", "a_side", "result", "hp_a", "hp_b", "frames", "ko", "forfeit_by",
                   "forfeit_reason"]
        table = pd.DataFrame(rows, columns=columns).sort_values(["a", "b", "match"], kind="stable")
        return cls(list(participants), table.reset_index(drop=True), totals, seed, matches_per_pairing)

    @property
    def forfeits(self) -> pd.DataFrame:
        return self.matches[self.matches["forfeit_by"] != ""]


# ---- running a tournament -------------------------------------------------------------------------
# what a tournament writes into out_dir besides its log (evaluation.standings, evaluation.report)
TOURNAMENT_FILES = ("results.json", "results.md", "standings.csv", "pairings.csv", "win_rates.png",
                    "report.json", "report.md", "report.csv", "accuracy_vs_win_rate.png", "tensorboard")


def check_out_dir(out_dir: str | Path) -> None:
    """Refuse an ``out_dir`` that is something else: an artifact folder of another kind (a checkpoint,
    a dataset, a bundle...), or a folder without a match log that holds files a tournament would
    overwrite (a training run's ``results.json``...). A missing or empty folder, a folder of
    unrelated files, or a tournament's own folder is fine. Raises :class:`FileExistsError`."""
    out_dir = Path(out_dir)
    if not (out_dir.exists() or out_dir.is_symlink()):
        return
    if not out_dir.is_dir():
        raise FileExistsError(f"tournament out_dir {out_dir} is a file, not a folder; choose another "
                              "tournament.out_dir")
    kind = folder_kind(out_dir)
    if kind is not None and kind != TOURNAMENT:
        raise FileExistsError(f"tournament out_dir {out_dir} is {describe_kind(kind)} (\"format\": "
                              f"{kind!r}), not a tournament folder; it is left alone: choose another "
                              "tournament.out_dir")
    if kind is None:
        clash = [name for name in (*TOURNAMENT_FILES, "config.yaml", "best", "last")
                 if (out_dir / name).exists()]
        if clash:
            raise FileExistsError(f"tournament out_dir {out_dir} holds {', '.join(clash)} but no {LOG_NAME}: "
                                  "it is not a tournament folder (a training run?) and a tournament would "
                                  "overwrite those files; choose another tournament.out_dir, or delete "
                                  "them if they are an old tournament's tables")


def run_tournament(participants: Sequence[Participant], *, out_dir: str | Path,
                   matches_per_pairing: int = 96, seed: int = 0, resume: bool = False,
                   overwrite: bool = False, backend: str = "local", wave_matches: int = 4096,
                   block_matches: int = 96, time_budget_s: float | None = 1.0,
                   params: GameParams | None = None, ray_address: str | None = None,
                   ray_num_cpus: int = 2, progress: bool = True, observation_delay: int = 0,
                   protocol: dict[str, Any] | None = None, stack_networks: bool = True) -> TournamentResults:
    """Play (or finish) the round robin of ``participants`` and return every match.

    The log lives at ``out_dir/matches.jsonl``. Without ``resume`` an existing log is an error
    (nothing already played is lost) unless ``overwrite``; with ``resume`` finished blocks are read
    back and only the rest is played; ``resume`` *and* ``overwrite`` resume a log of the same
    tournament (same :func:`fingerprint`) and start over otherwise.
    ``protocol`` (the evaluation protocol's record) is written into the log header.
    ``stack_networks`` decides BC bots of one architecture in one forward pass per frame
    (:func:`play_wave`; the same matches either way, so it is not in the fingerprint). Participants
    must already be checked (:func:`evaluation.participants.check_participants`).

    ``out_dir`` is locked while this runs (:func:`agents.artifacts.folder_lock`): a second process
    on the same tournament gets :class:`agents.artifacts.FolderInUseError` instead of playing every
    match again. A folder that is not a tournament is never written into (:func:`check_out_dir`).
    """
    if backend not in ("local", "ray"):
        raise ValueError(f"backend must be 'local' or 'ray', got {backend!r}")
    if wave_matches < 1:
        raise ValueError(f"wave_matches must be >= 1, got {wave_matches}")
    params = params if params is not None else GameParams()
    by_label = {p.label: p for p in participants}
    blocks = schedule(list(by_label), matches_per_pairing, seed, block_matches)
    expected = fingerprint(participants, seed=seed, matches_per_pairing=matches_per_pairing,
                           block_matches=block_matches, params=params,
                           observation_delay=observation_delay, protocol=protocol)
    out_dir = Path(out_dir)
    with folder_lock(out_dir, "tournament"):  # one process at a time plays (or resumes) this tournament
        check_out_dir(out_dir)
        log = MatchLog(out_dir / LOG_NAME)
        done: dict[str, dict[str, Any]] = {}
        if log.path.exists() and resume:
            try:
                header, done = log.read()
                _check_resumable(log.path, header, expected)
            except TournamentLogError:
                if not overwrite:
                    raise
                log.create({"fingerprint": expected})  # another tournament: start over, as asked
                done = {}
        elif log.path.exists() and not overwrite:
            raise FileExistsError(f"{log.path} already holds a tournament: resume it with "
                                  "tournament.resume=true, or start over with tournament.overwrite=true")
        else:
            log.create({"fingerprint": expected})
        todo = [b for b in blocks if b.key not in done]
        bar = progress_bar(total=sum(b.num_matches for b in todo), unit="match", desc="tournament",
                           enabled=progress and bool(todo))
        fresh: list[dict[str, Any]] = []

        def finished(record: dict[str, Any]) -> None:
            log.append(record)
            fresh.append(record)
            if backend == "ray":
                bar.update(len(record["matches"]))

        with bar:
            if backend == "local":
                for wave in waves(todo, wave_matches):
                    play_wave(wave, by_label, params=params, time_budget_s=time_budget_s,
                              observation_delay=observation_delay, on_block=finished,
                              on_matches_done=bar.update, stack_networks=stack_networks)
            else:
                for records in _ray_waves(waves(todo, wave_matches), by_label, params, time_budget_s,
                                          ray_address, ray_num_cpus, observation_delay, stack_networks):
                    for record in records:
                        finished(record)
        keys = {b.key for b in blocks}
        records = [r for r in done.values() if r["key"] in keys] + fresh
        results = TournamentResults.from_records(participants, records, seed=seed,
                                                 matches_per_pairing=matches_per_pairing)
        results.played_now = sum(len(r["matches"]) for r in fresh)
        results.fingerprint = expected
        return results


def _ray_waves(wave_list: list[list[Block]], participants: Mapping[str, Participant],
               params: GameParams, time_budget_s: float | None, address: str | None,
               num_cpus: int, observation_delay: int = 0,
               stack_networks: bool = True) -> Iterator[list[dict[str, Any]]]:
    """Each wave as a Ray task; yields each task's block records as soon as it finishes."""
    if not wave_list:
        return
    import ray  # imported only for this backend: it takes seconds

    started_here = init_ray(address, num_cpus)
    try:
        task = ray.remote(num_cpus=1)(play_wave_records)
        pending = [task.remote(wave, dict(participants), params, time_budget_s, observation_delay,
                               stack_networks) for wave in wave_list]
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            yield ray.get(ready[0])
    finally:
        if started_here:
            ray.shutdown()
