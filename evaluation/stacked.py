"""The tournament's stacked network bots: one forward pass per frame for every bot of an architecture.

:func:`evaluation.tournament.play_wave` shares one instance of each ``deterministic`` bot across all
its matches in a wave. With ``stack_networks`` it goes one step further: the shared BC bots whose
networks have the same architecture (:func:`agents.stacked.stack_key`) form a
:class:`StackedGroup`, and each frame their observations are gathered into one padded
``[bots, max_rows, obs_dim]`` batch and decided by one :class:`agents.stacked.StackedBCPolicies`
forward pass instead of one call per bot.

The guard's rules still hold per bot (:class:`evaluation.guard.GuardedPolicy`):

* **Same commands.** Rows the stacked pass calls a near tie are decided by the bot's own ``act``
  (through its guard, on exactly the rows the per-bot path would give it), so a tournament with
  stacking writes the same match records as one without.
* **Exceptions.** If the stacked pass raises, that frame and every later one of the wave are
  played per bot through each bot's own guard: a bot that raises forfeits only its own matches.
* **CPU-time budget.** The stacked call's CPU time (:func:`time.thread_time`) is split among the
  bots in proportion to their rows, and each bot's share is checked against its budget like one
  batched ``act`` call of its own; the group's first call is the untimed warm-up of every bot in it.
  A bot that also decides near ties per bot is charged that call by its guard as usual.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np

from agents.stacked import StackedBCPolicies, stack_key
from evaluation.guard import GuardedPolicy


class StackedGroup:
    """Guarded BC bots of one architecture, decided together (see the module doc)."""

    def __init__(self, guards: Sequence[GuardedPolicy]) -> None:
        self.guards = list(guards)
        self.stack = StackedBCPolicies([g.policy for g in self.guards])
        self.failed: str | None = None  # why the group fell back to per-bot calls, once it has

    def act(self, obs: np.ndarray, rows: Sequence[np.ndarray], sides: Sequence[np.ndarray]
            ) -> list[np.ndarray | None]:
        """Commands for each bot's ``obs[rows[k], sides[k]]`` (``None`` where it has no rows); each
        guard's ``last_fault`` says whether that bot faulted, as after its own ``act`` call."""
        batches = [obs[r, s] if len(r) else None for r, s in zip(rows, sides, strict=True)]
        out: list[np.ndarray | None] = [None] * len(self.guards)
        active = [k for k, batch in enumerate(batches) if batch is not None]
        if not active:
            return out
        if self.failed is None:
            start_cpu, start_wall = time.thread_time(), time.perf_counter()
            try:
                commands, near = self.stack.forward(batches)
            except Exception as err:  # noqa: BLE001 - fall back to per-bot calls, which attribute faults
                self.failed = f"{type(err).__name__}: {err}"
            else:
                cpu, wall = time.thread_time() - start_cpu, time.perf_counter() - start_wall
                total = sum(len(batches[k]) for k in active)
                for k in active:
                    n = len(batches[k])
                    out[k] = self.guards[k].accept(
                        commands[k], n, cpu * n / total, wall * n / total,
                        what=f"its share ({n} of {total} rows) of one stacked act call")
                    if near[k].any():  # a near tie: the bot's own act decides, on its own rows
                        fault = self.guards[k].last_fault
                        out[k] = self.guards[k].act(batches[k])
                        if fault is not None:
                            self.guards[k].last_fault = fault
                return out
        for k in active:
            out[k] = self.guards[k].act(batches[k])
        return out


def stack_groups(guards: Sequence[GuardedPolicy]) -> list[list[int]]:
    """Indices into ``guards`` of the bots to stack: groups of two or more with one
    :func:`agents.stacked.stack_key`, in the order of their first member."""
    groups: dict[tuple, list[int]] = {}
    for index, guard in enumerate(guards):
        key = stack_key(guard.policy)
        if key is not None:
            groups.setdefault(key, []).append(index)
    return [members for members in groups.values() if len(members) >= 2]
