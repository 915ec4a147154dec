"""Round robin: seeds, parity with the match runner, persistence and resume, forfeits, Ray."""

import json
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest

from agents.registry import make_policy
from agents.scripted import IdleBot
from envs.match_runner import play_matches
from evaluation.participants import Participant
from evaluation.tournament import (
    LOG_NAME,
    TournamentLogError,
    block_seed,
    play_wave,
    run_tournament,
    schedule,
    waves,
)


def scripted(*names):
    return [Participant(name, name, "scripted") for name in names]


class Broken(IdleBot):
    """Plays NO_ACTION, but fails in the way it was told to on frame ``at`` of its batch."""

    def __init__(self, how, at=10):
        self.how, self.at, self.calls = how, at, 0

    def act(self, obs):
        self.calls += 1
        actions = np.full(obs.shape[0], 7, dtype=np.int64)  # LIGHT_ATTACK: it fights back
        if self.calls >= self.at:
            if self.how == "raise":
                raise RuntimeError("bot bug")
            if self.how == "invalid":
                actions[0] = 99  # only its first match
        return actions


@dataclass(frozen=True)
class BrokenParticipant(Participant):
    how: str = "raise"

    def make(self, params=None):
        return Broken(self.how)


def test_block_seeds_are_stable_and_independent_of_the_other_participants():
    small = {(b.a, b.b, b.index): b.seed for b in schedule(["idle", "random"], 8, seed=5, block_matches=4)}
    large = {(b.a, b.b, b.index): b.seed for b in schedule(["zoner", "random", "idle"], 8, seed=5,
                                                           block_matches=4)}
    assert small.items() <= large.items()
    assert block_seed(5, "idle", "random", 0) == block_seed(5, "idle", "random", 0) != \
        block_seed(6, "idle", "random", 0)
    assert len(large) == 3 * 2 and [b.first_match for b in schedule(["a", "b"], 10, 0, 4)] == [0, 4, 8]
    assert [len(w) for w in waves(schedule(["a", "b", "c"], 8, 0, 4), 10)] == [2, 2, 2]


def test_a_block_is_the_same_matches_as_play_matches():
    participants = scripted("random", "rushdown_club", "idle")
    blocks = schedule([p.label for p in participants], 6, seed=1, block_matches=3)
    records = play_wave(blocks, {p.label: p for p in participants})
    for block, record in zip(blocks, records, strict=True):
        ref = play_matches(make_policy(block.a), make_policy(block.b), block.num_matches, seed=block.seed,
                           first_match_id=block.first_match)
        assert [m["result"] for m in record["matches"]] == ref.table["result"].tolist()
        assert [m["frames"] for m in record["matches"]] == ref.table["duration_frames"].tolist()
        assert [m["a_side"] for m in record["matches"]] == ref.table["a_side"].tolist()
        assert np.array_equal([m["counts_b"] for m in record["matches"]], ref.action_counts[:, 1])


def test_sides_alternate_and_results_are_consistent(tmp_path):
    results = run_tournament(scripted("footsies", "idle", "random"), out_dir=tmp_path, matches_per_pairing=4,
                             block_matches=4, progress=False)
    table = results.matches
    assert len(table) == 3 * 4 and table.groupby(["a", "b"])["a_side"].sum().eq(2).all()
    vs_idle = table[(table["a"] == "footsies") & (table["b"] == "idle")]
    assert (vs_idle["result"] == "win").all()
    assert results.action_counts["idle"][1:].sum() == 0 and results.action_counts["footsies"][1:].sum() > 0


def test_interrupted_and_resumed_equals_uninterrupted(tmp_path):
    participants = scripted("random", "rushdown_club", "idle", "footsies")
    kwargs = dict(matches_per_pairing=4, block_matches=2, seed=7, progress=False, wave_matches=8)
    whole = run_tournament(participants, out_dir=tmp_path / "whole", **kwargs)
    # a crash: only some blocks made it to the log, and the last line is torn mid-write
    log = (tmp_path / "whole" / LOG_NAME).read_text().splitlines(keepends=True)
    (tmp_path / "crashed").mkdir()
    (tmp_path / "crashed" / LOG_NAME).write_text("".join(log[:5]) + log[5][:40])
    with pytest.raises(FileExistsError, match="tournament.resume=true"):
        run_tournament(participants, out_dir=tmp_path / "crashed", **kwargs)
    resumed = run_tournament(participants, out_dir=tmp_path / "crashed", resume=True, **kwargs)
    assert resumed.played_now == len(whole.matches) - 4 * 2
    pd.testing.assert_frame_equal(resumed.matches, whole.matches)
    assert all(np.array_equal(resumed.action_counts[k], whole.action_counts[k]) for k in whole.labels)
    lines = (tmp_path / "crashed" / LOG_NAME).read_text().splitlines()
    assert all(json.loads(line) for line in lines) and len(lines) == len(log)
    again = run_tournament(participants, out_dir=tmp_path / "crashed", resume=True, **kwargs)
    assert again.played_now == 0
    pd.testing.assert_frame_equal(again.matches, whole.matches)


def test_resume_keeps_finished_pairings_when_a_participant_is_added(tmp_path):
    kwargs = dict(matches_per_pairing=2, block_matches=2, progress=False, out_dir=tmp_path)
    first = run_tournament(scripted("idle", "random"), **kwargs)
    more = run_tournament(scripted("idle", "random", "footsies"), resume=True, **kwargs)
    assert more.played_now == 4
    pd.testing.assert_frame_equal(more.matches[more.matches["a"] == "idle"].reset_index(drop=True),
                                  first.matches)
    with pytest.raises(TournamentLogError, match="seed"):
        run_tournament(scripted("idle", "random"), resume=True, seed=1, **kwargs)


@pytest.mark.parametrize("how, forfeited", [("raise", 4), ("invalid", 1)])
def test_a_failing_bot_forfeits_and_the_tournament_completes(tmp_path, how, forfeited):
    participants = [*scripted("idle", "random"), BrokenParticipant("broken", "broken", "checkpoint", how=how)]
    results = run_tournament(participants, out_dir=tmp_path, matches_per_pairing=4, block_matches=4,
                             progress=False)
    forfeits = results.forfeits
    assert len(forfeits) == 2 * forfeited and set(forfeits["forfeit_by"]) == {"broken"}
    expected = "bot bug" if how == "raise" else "invalid command id 99"
    assert forfeits["forfeit_reason"].str.contains(expected).all()
    broken_is_a = forfeits["a"] == "broken"
    assert (forfeits["result"] == np.where(broken_is_a, "loss", "win")).all()
    assert (forfeits["frames"] == 10).all()  # the match ended on the faulty frame
    assert len(results.matches) == 12


def test_ray_backend_gives_the_same_table(tmp_path):
    pytest.importorskip("ray")
    participants = scripted("random", "idle", "footsies")
    kwargs = dict(matches_per_pairing=4, block_matches=2, wave_matches=4, seed=3, progress=False)
    local = run_tournament(participants, out_dir=tmp_path / "local", **kwargs)
    remote = run_tournament(participants, out_dir=tmp_path / "ray", backend="ray", ray_num_cpus=2, **kwargs)
    pd.testing.assert_frame_equal(remote.matches, local.matches)
    assert remote.played_now == len(local.matches) == 12


@dataclass(frozen=True)
class NetworkParticipant(Participant):
    """A BC bot with random weights of a given seed and shape (stackable with others of its shape)."""

    weights_seed: int = 0
    hidden: tuple = (32, 16)

    def make(self, params=None):
        import torch

        from agents.bc import BCPolicy
        from agents.networks import PolicyNetwork

        torch.manual_seed(self.weights_seed)
        return BCPolicy(PolicyNetwork(hidden_sizes=self.hidden), name=self.label)


def networks():
    return [*scripted("idle", "footsies"),
            *(NetworkParticipant(f"net{k}", f"net{k}", "checkpoint", weights_seed=k) for k in range(3)),
            NetworkParticipant("wide", "wide", "checkpoint", weights_seed=9, hidden=(64,))]


def test_stacked_networks_play_the_same_matches_as_one_call_per_bot(tmp_path):
    kwargs = dict(matches_per_pairing=4, block_matches=2, seed=11, progress=False, wave_matches=64)
    stacked = run_tournament(networks(), out_dir=tmp_path / "stacked", **kwargs)
    single = run_tournament(networks(), out_dir=tmp_path / "single", stack_networks=False, **kwargs)
    pd.testing.assert_frame_equal(stacked.matches, single.matches)
    assert all(np.array_equal(stacked.action_counts[k], single.action_counts[k]) for k in single.labels)
    assert stacked.forfeits.empty


def test_a_failing_stacked_pass_falls_back_to_each_bot(tmp_path, monkeypatch):
    from agents.stacked import StackedBCPolicies

    kwargs = dict(matches_per_pairing=2, block_matches=2, seed=4, progress=False, wave_matches=64)
    reference = run_tournament(networks(), out_dir=tmp_path / "reference", stack_networks=False, **kwargs)
    calls = []

    def broken(self, batches):
        calls.append(len(batches))
        raise RuntimeError("stacked kernel failed")

    monkeypatch.setattr(StackedBCPolicies, "forward", broken)
    fallback = run_tournament(networks(), out_dir=tmp_path / "fallback", **kwargs)
    assert calls  # the stacked pass was tried, then every bot played on its own
    pd.testing.assert_frame_equal(fallback.matches, reference.matches)
    assert fallback.forfeits.empty
