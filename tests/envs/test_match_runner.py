"""The match runner: the game rewards skill (competent > random > idle), sides, seeds, bad bots."""

import numpy as np
import pytest

from agents.pros import ProPlayer
from agents.scripted import IdleBot, RandomBot, SpamBot
from envs.actions import ACTION_NAMES, Action, InvalidActionError
from envs.match_runner import play_matches


def test_competent_fighter_beats_random_in_at_least_90_percent_of_200_matches():
    results = play_matches(ProPlayer("footsies", "perfect"), RandomBot(), 200, seed=0)
    assert results.num_matches == 200
    assert results.win_rate >= 0.9, results.summary()


def test_idle_never_wins():
    for opponent in (ProPlayer("footsies", "perfect"), RandomBot()):
        results = play_matches(IdleBot(), opponent, 200, seed=1)
        assert results.count("win") == 0, results.summary()
    # and the competent fighter KOs it rather than timing out
    results = play_matches(ProPlayer("footsies", "perfect"), IdleBot(), 50, seed=1)
    assert results.win_rate == 1.0 and results.table["ko"].all()


@pytest.mark.parametrize("move", [Action.LIGHT_ATTACK, Action.HEAVY_ATTACK, Action.SPECIAL,
                                  Action.THROW, Action.ANTI_AIR, Action.GUARD, Action.CROUCH,
                                  Action.JUMP_FORWARD])
def test_spamming_one_move_is_punished(move):
    results = play_matches(ProPlayer("footsies", "perfect"), SpamBot(move), 40, seed=2)
    assert results.win_rate >= 0.9, results.summary()


def test_sides_alternate_and_results_are_consistent():
    results = play_matches(RandomBot(), RandomBot(), 101, seed=3, batch_size=32)
    table = results.table
    assert list(table["match_id"]) == list(range(101))
    assert list(table["a_side"]) == [i % 2 for i in range(101)]
    assert set(table["result"]) <= {"win", "loss", "draw"}
    won = table["result"] == "win"
    assert (table.loc[won, "hp_a"] > table.loc[won, "hp_b"]).all()
    draw = table["result"] == "draw"
    assert (table.loc[draw, "hp_a"] == table.loc[draw, "hp_b"]).all()
    # every frame each player pressed exactly one command, NO_ACTION included
    assert (results.action_counts.sum(axis=2) == table["duration_frames"].to_numpy()[:, None]).all()
    dist = results.action_distribution(0)
    assert list(dist.index) == list(ACTION_NAMES) and dist.sum() == pytest.approx(1.0)


def test_same_seed_same_results_regardless_of_nothing_else():
    a = play_matches(ProPlayer("footsies", "perfect"), RandomBot(), 64, seed=5)
    b = play_matches(ProPlayer("footsies", "perfect"), RandomBot(), 64, seed=5)
    c = play_matches(ProPlayer("footsies", "perfect"), RandomBot(), 64, seed=6)
    assert a.table.equals(b.table) and np.array_equal(a.action_counts, b.action_counts)
    assert not a.table.equals(c.table)


def test_competent_fighter_mostly_waits():
    """A good player's log is mostly NO_ACTION because moves take time, not by quota."""
    results = play_matches(ProPlayer("footsies", "perfect"), RandomBot(), 50, seed=0)
    assert results.action_distribution(0)["NO_ACTION"] > 0.8


class BrokenBot:
    name = "broken"

    def __init__(self, output):
        self.output = output

    def reset(self, num_envs, seed=None, env_ids=None):
        pass

    def act(self, obs):
        return self.output(obs)


@pytest.mark.parametrize("output, message", [
    (lambda obs: np.full(obs.shape[0], 99), "action id 99 is out of range"),
    (lambda obs: np.zeros(obs.shape[0] + 1, dtype=np.int64), "must have shape"),
    (lambda obs: np.zeros(obs.shape[0], dtype=np.float64), "integer command ids"),
])
def test_a_bot_returning_invalid_actions_is_named(output, message):
    with pytest.raises(InvalidActionError, match=f"policy 'broken' returned invalid actions: .*{message}"):
        play_matches(BrokenBot(output), IdleBot(), 4, seed=0)


def test_bad_arguments():
    with pytest.raises(ValueError, match="num_matches must be a positive int"):
        play_matches(IdleBot(), IdleBot(), 0)
    with pytest.raises(TypeError, match="seed must be a non-negative int"):
        play_matches(IdleBot(), IdleBot(), 2, seed="1")
