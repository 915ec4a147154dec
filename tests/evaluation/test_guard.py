"""The guard turns a bot's failures into per-row faults and always returns valid commands; its
time budget is CPU time, so a loaded machine does not change who forfeits."""

import os
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import pytest

from agents.registry import make_policy
from agents.scripted import IdleBot, RandomBot
from envs.actions import NUM_ACTIONS
from envs.observation import OBS_DIM
from envs.params import GameParams
from evaluation.guard import GuardedPolicy
from evaluation.participants import Participant
from evaluation.tournament import play_wave, schedule

OBS = np.zeros((5, OBS_DIM), dtype=np.float32)


class Returns:
    name = "returns"

    def __init__(self, value):
        self.value = value

    def reset(self, num_envs, seed=None, env_ids=None):
        pass

    def act(self, obs):
        return self.value


class Raises(Returns):
    def act(self, obs):
        raise RuntimeError("boom")


def burn_cpu(seconds):
    """Busy-loop until this thread has used ``seconds`` of CPU time (however long that takes)."""
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass


class Slow(Returns):
    """Too slow because it computes too much: 50 ms of CPU per call."""

    def act(self, obs):
        burn_cpu(0.05)
        return np.zeros(obs.shape[0], dtype=np.int64)


class Sleeps(Returns):
    def act(self, obs):
        time.sleep(0.05)
        return np.zeros(obs.shape[0], dtype=np.int64)


def test_clean_policy_passes_through_without_fault():
    guard = GuardedPolicy(RandomBot(), time_budget_s=5.0)
    guard.reset(5, seed=3)
    reference = RandomBot()
    reference.reset(5, seed=3)
    assert np.array_equal(guard.act(OBS), reference.act(OBS))
    assert guard.last_fault is None


def test_exception_faults_every_row_and_returns_no_action():
    guard = GuardedPolicy(Raises(None))
    actions = guard.act(OBS)
    assert np.array_equal(actions, np.zeros(5)) and actions.dtype == np.int64
    assert guard.last_fault.rows.all()
    assert "RuntimeError: boom" in guard.last_fault.reason


def test_out_of_range_ids_fault_only_their_rows():
    guard = GuardedPolicy(Returns(np.array([1, NUM_ACTIONS, 2, -1, 3])))
    actions = guard.act(OBS)
    assert actions.tolist() == [1, 0, 2, 0, 3]
    assert guard.last_fault.rows.tolist() == [False, True, False, True, False]
    assert f"invalid command id {NUM_ACTIONS}" in guard.last_fault.reason


@pytest.mark.parametrize("value, words", [(np.zeros(4, dtype=np.int64), "shape (4,)"),
                                          (np.zeros(5, dtype=np.float32), "dtype float32"),
                                          ("GUARD", "shape ()")])
def test_wrong_shape_or_dtype_faults_every_row(value, words):
    guard = GuardedPolicy(Returns(value))
    guard.act(OBS)
    assert guard.last_fault.rows.all() and words in guard.last_fault.reason


def test_time_budget_ignores_the_warm_up_call_then_faults():
    guard = GuardedPolicy(Slow(None), time_budget_s=0.01)
    guard.act(OBS)
    assert guard.last_fault is None  # the first call is a warm-up
    guard.act(OBS)
    assert guard.last_fault is not None and "timeout" in guard.last_fault.reason
    assert "ms of CPU time" in guard.last_fault.reason and "over the 10 ms budget" in guard.last_fault.reason
    assert GuardedPolicy(Slow(None), time_budget_s=None).act(OBS) is not None


def test_the_budget_counts_cpu_time_not_waiting():
    """50 ms of sleep is 50 ms of wall time but almost no CPU time: not a timeout (the documented
    choice: the budget measures the bot's computation, which the machine's load does not change)."""
    guard = GuardedPolicy(Sleeps(None), time_budget_s=0.01)
    for _ in range(3):
        start = time.perf_counter()
        guard.act(OBS)
        assert time.perf_counter() - start > 0.01 and guard.last_fault is None


def test_deterministic_is_read_from_the_wrapped_policy():
    bot = IdleBot()
    assert not GuardedPolicy(bot).deterministic
    bot.deterministic = True
    assert GuardedPolicy(bot).deterministic
    with pytest.raises(ValueError):
        GuardedPolicy(bot, time_budget_s=0)


# ---- a loaded machine ---------------------------------------------------------------------------
@contextmanager
def cpu_hog(processes=3, seconds=60.0):
    """Busy-loop subprocesses sharing one core with this thread (both pinned to it), so this thread
    gets about 1/(processes + 1) of the core: wall time stretches, CPU time does not. The hogs end
    by themselves after ``seconds`` and are killed on the way out."""
    if not hasattr(os, "sched_setaffinity"):
        pytest.skip("needs os.sched_setaffinity (Linux) to share one core with the hogs")
    before = os.sched_getaffinity(0)
    core = {min(before)}
    loop = f"import time\nend = time.monotonic() + {seconds}\nwhile time.monotonic() < end:\n    pass\n"
    hogs = []
    try:
        for _ in range(processes):
            hogs.append(subprocess.Popen([sys.executable, "-c", loop]))
            os.sched_setaffinity(hogs[-1].pid, core)
        os.sched_setaffinity(0, core)  # pid 0: this thread
        time.sleep(0.2)  # let the hogs start spinning
        yield
    finally:
        os.sched_setaffinity(0, before)
        for hog in hogs:
            hog.kill()
        for hog in hogs:
            hog.wait(timeout=10)


WALL_TIMES: list[float] = []  # per act call of every Footsies bot below, in seconds


class Footsies:
    """The footsies pro plus 3 ms of computation per decision; records each call's wall time."""

    def __init__(self, params):
        self.bot = make_policy("footsies", params)
        self.name = "footsies"

    def reset(self, num_envs, seed=None, env_ids=None):
        self.bot.reset(num_envs, seed=seed, env_ids=env_ids)

    def act(self, obs):
        start = time.perf_counter()
        burn_cpu(0.003)
        actions = self.bot.act(obs)
        WALL_TIMES.append(time.perf_counter() - start)
        return actions


@dataclass(frozen=True)
class Custom(Participant):
    build: type = Footsies

    def make(self, params=None):
        return self.build(params)


BUDGET_S = 0.010  # 3 ms of CPU is well inside it; 3 ms on a quarter of a core is not


def play(participants, params):
    blocks = schedule([p.label for p in participants], 2, seed=11, block_matches=2)
    return play_wave(blocks, {p.label: p for p in participants}, params=params, time_budget_s=BUDGET_S)


def test_a_loaded_machine_does_not_make_a_bot_forfeit():
    """Same seed, same table, also with three busy loops on the tournament's core: the matches that
    wall time would forfeit (a 3 ms decision taking over 10 ms) are played, and played the same."""
    params = GameParams(round_seconds=1.0)
    participants = [Custom("footsies", "footsies", "scripted"), Participant("turtle", "turtle", "scripted")]
    quiet = play(participants, params)
    WALL_TIMES.clear()
    with cpu_hog():
        loaded = play(participants, params)
    over = sum(wall > BUDGET_S for wall in WALL_TIMES[1:])  # (the first call is the untimed warm-up)
    assert over > 0, f"the hog never stretched a call past the budget: max {max(WALL_TIMES):.4f} s"
    assert all(not m.get("forfeit") for r in loaded for m in r["matches"]), loaded
    assert loaded == quiet


class Spins(Footsies):
    """Hung in a loop: 40 ms of computation per decision, four times the budget."""

    def act(self, obs):
        burn_cpu(0.04)
        return self.bot.act(obs)


def test_a_bot_that_computes_too_long_still_forfeits():
    params = GameParams(round_seconds=1.0)
    participants = [Custom("spins", "spins", "scripted", build=Spins),
                    Participant("turtle", "turtle", "scripted")]
    records = play(participants, params)
    forfeits = [m["forfeit"] for r in records for m in r["matches"] if m.get("forfeit")]
    assert len(forfeits) == 2, records
    assert all("spins: timeout" in f["reason"] and "ms of CPU time" in f["reason"] for f in forfeits)
