"""Forfeits instead of crashes: a guard around each tournament participant.

A tournament of a dozen bots runs for minutes; one bot that raises, returns garbage or hangs must
not take the other pairings down with it, and its failures must be *visible* in the results rather
than silently absorbed. :class:`GuardedPolicy` wraps any :class:`agents.policy.Policy` and turns
its failures into per-row faults the tournament records as forfeited matches (losses for the
offender, with the reason):

* ``act`` raised: every row of that batched call faults (the batch cannot be attributed);
* ``act`` returned the wrong shape or a non-integer dtype: every row faults;
* ``act`` returned out-of-range ids: only those rows fault;
* ``act`` used more than ``time_budget_s`` of CPU time for the batched call: every row faults. The
  first call is a warm-up (numba compiles, torch initialises lazily, caches fill) and is never timed.

**Why CPU time, not wall time.** The budget is measured with :func:`time.thread_time`: the CPU time
the calling thread spent inside ``act``. Wall time also counts the time the operating system keeps
the process waiting for a core, so on a loaded machine (a Ray tournament on 2 busy cores) a 10 ms
decision can take a second of wall time and a bot would forfeit matches it plays identically on an
idle machine: the table would depend on the load. CPU time does not grow with load, so the same seed
gives the same table, while a bot that is slow because it computes too much (an endless search, a
huge network) still forfeits. What it does not charge: time spent waiting (``sleep``, I/O, locks) and
work handed to other threads (a bot that uses an intra-op thread pool is charged for the calling
thread's share only; the tournament runs torch and ONNX Runtime with one thread, so theirs is all of
it). A call that never returns is out of any budget's reach: the guard measures calls that end.

The guard always returns valid commands (``NO_ACTION`` in faulted rows), so the caller can keep
stepping the other matches; :attr:`GuardedPolicy.last_fault` says what went wrong in the last call.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from agents.policy import Policy
from envs.actions import NUM_ACTIONS, Action

NO_ACTION = int(Action.NO_ACTION)


@dataclass(frozen=True)
class Fault:
    """What went wrong in one batched ``act`` call: which rows and why (one reason per call)."""

    rows: np.ndarray  # bool (B,): rows whose match the policy forfeits
    reason: str


class GuardedPolicy:
    """A Policy that never raises and never returns an invalid command; faults are reported instead.

    Args:
        policy: the wrapped policy.
        time_budget_s: the most CPU time (seconds, :func:`time.thread_time`) one batched ``act`` call
            may use, ``None`` for no limit.
        name: the label the tournament knows the policy by (defaults to the policy's ``name``).
    """

    def __init__(self, policy: Policy, time_budget_s: float | None = None, name: str | None = None) -> None:
        if time_budget_s is not None and time_budget_s <= 0:
            raise ValueError(f"time_budget_s must be > 0 or None, got {time_budget_s}")
        self.policy = policy
        self.time_budget_s = time_budget_s
        self.name = name or str(getattr(policy, "name", type(policy).__name__))
        self.last_fault: Fault | None = None
        self.calls = 0  # act calls so far; call 0 is the untimed warm-up

    @property
    def deterministic(self) -> bool:
        """Whether the wrapped policy declared itself deterministic and stateless (see tournament)."""
        return getattr(self.policy, "deterministic", False) is True

    def reset(self, num_envs: int, seed: int | None = None, env_ids: np.ndarray | None = None) -> None:
        """Reset the wrapped policy; an exception here is re-raised (it happens before any match)."""
        self.policy.reset(num_envs, seed=seed, env_ids=env_ids)

    def act(self, obs: np.ndarray) -> np.ndarray:
        """Valid ``(B,)`` int64 commands; sets :attr:`last_fault` (``None`` when the call was clean)."""
        batch = obs.shape[0]
        start_cpu, start_wall = time.thread_time(), time.perf_counter()
        try:
            raw = self.policy.act(obs)
        except Exception as err:  # noqa: BLE001 - any bot bug becomes a forfeit, not a crash
            self.calls += 1
            self.last_fault = Fault(np.ones(batch, dtype=bool), f"act raised {type(err).__name__}: {err}")
            return np.zeros(batch, dtype=np.int64)
        # the budget is CPU time: unlike wall time, it does not grow with load (wall is reported only)
        return self.accept(raw, batch, time.thread_time() - start_cpu, time.perf_counter() - start_wall)

    def accept(self, raw: object, batch: int, cpu: float, wall: float, *,
               what: str = "one batched act call") -> np.ndarray:
        """What follows the policy's answer ``raw`` for ``batch`` rows that took ``cpu`` / ``wall``
        seconds: each row checked, the call held to the budget (except the first, the warm-up),
        :attr:`last_fault` set. :mod:`evaluation.stacked` calls it with each bot's share of one
        stacked call (``what`` says so in the forfeit reason)."""
        warm_up = self.calls == 0
        self.calls += 1
        actions, fault = _validate(raw, batch)
        if fault is None and not warm_up and self.time_budget_s is not None and cpu > self.time_budget_s:
            fault = Fault(np.ones(batch, dtype=bool),
                          f"timeout: {what} used {cpu * 1000:.0f} ms of CPU time "
                          f"({wall * 1000:.0f} ms wall), over the {self.time_budget_s * 1000:.0f} ms budget")
        self.last_fault = fault
        return actions


def _validate(raw: object, batch: int) -> tuple[np.ndarray, Fault | None]:
    """Per-row check of what ``act`` returned: (valid commands, fault or None)."""
    try:
        arr = np.asarray(raw)
    except Exception as err:  # noqa: BLE001
        return np.zeros(batch, dtype=np.int64), Fault(np.ones(batch, dtype=bool),
                                                      f"returned something that is not an array: {err}")
    if arr.shape != (batch,):
        return np.zeros(batch, dtype=np.int64), Fault(
            np.ones(batch, dtype=bool), f"returned shape {arr.shape}, expected ({batch},) command ids")
    if arr.dtype.kind not in "iu":
        return np.zeros(batch, dtype=np.int64), Fault(
            np.ones(batch, dtype=bool), f"returned dtype {arr.dtype}, expected integer command ids")
    arr = arr.astype(np.int64, copy=False)
    bad = (arr < 0) | (arr >= NUM_ACTIONS)
    if not bad.any():
        return arr, None
    first = int(np.flatnonzero(bad)[0])
    fault = Fault(bad, f"returned invalid command id {int(arr[first])} (valid ids are 0..{NUM_ACTIONS - 1})")
    return np.where(bad, NO_ACTION, arr), fault
