"""The guard turns a bot's failures into per-row faults and always returns valid commands."""

import time

import numpy as np
import pytest

from agents.scripted import IdleBot, RandomBot
from envs.actions import NUM_ACTIONS
from envs.observation import OBS_DIM
from evaluation.guard import GuardedPolicy

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


class Slow(Returns):
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
    assert GuardedPolicy(Slow(None), time_budget_s=None).act(OBS) is not None


def test_deterministic_is_read_from_the_wrapped_policy():
    bot = IdleBot()
    assert not GuardedPolicy(bot).deterministic
    bot.deterministic = True
    assert GuardedPolicy(bot).deterministic
    with pytest.raises(ValueError):
        GuardedPolicy(bot, time_budget_s=0)
