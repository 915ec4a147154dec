"""Seeds: every seed FightLab uses is derived from a user's seed by one scheme, numpy's SeedSequence.

A seed fixes everything (same seed, same logs, same matches, same tournament table), and the parts
of a run must not share or overlap randomness. Both come from deriving every seed here:

* :func:`child_seeds` ``(seed, n)``: ``n`` independent seeds, one per opponent, pairing or wave;
  the same as ``SeedSequence(seed).spawn(n)``, each turned into one integer.
* :func:`derived_seed` ``(seed, *keys)``: one seed for a named or numbered part, e.g.
  ``derived_seed(seed, "tournament", "footsies", "zoner", 0)`` or ``derived_seed(seed, epoch)``.
  It is ``SeedSequence(entropy=seed, spawn_key=keys)``, so ``derived_seed(seed, i)`` is
  ``child_seeds(seed, n)[i]`` and ``derived_seed(seed, w, j)`` is child ``j`` of child ``w``
  (``SeedSequence(seed).spawn(...)[w].spawn(...)[j]``): nested spawning and keys are one scheme.

Why SeedSequence and not ``seed * k + i``: arithmetic seeds collide across runs (seed 1, epoch
10_007 is seed 2, epoch 0) and neighbouring integer seeds give correlated streams in some
generators; SeedSequence hashes the seed and the key path through a mixing function designed so
that distinct (seed, keys) give independent, non-overlapping streams.

Stability: the derivation depends only on the integers (and strings) given, never on Python's
``hash()`` (salted per process), object ids, list positions or the platform, so a seed derived in
a Ray worker, a subprocess or next year's run is the same number. String keys are mapped to
integers with an 8-byte BLAKE2b digest of their UTF-8 bytes (:func:`key_to_int`). Derived seeds
are ints in ``[0, 2**32)``: valid for ``numpy.random.default_rng``, ``torch.manual_seed``,
Gymnasium's ``reset(seed=...)`` and as a user seed again.
"""

from __future__ import annotations

import hashlib

import numpy as np

SEED_BITS = 32  # derived seeds are in [0, 2**32)


def _check_seed(seed: int) -> int:
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"a seed must be a non-negative int, got {seed!r} ({type(seed).__name__})")
    return int(seed)


def key_to_int(key: int | str) -> int:
    """A non-negative int for a spawn key: ints as they are, strings by a stable 64-bit BLAKE2b hash."""
    if isinstance(key, str):
        return int.from_bytes(hashlib.blake2b(key.encode("utf-8"), digest_size=8).digest(), "little")
    if isinstance(key, bool) or not isinstance(key, int | np.integer) or key < 0:
        raise ValueError(f"a seed key must be a str or a non-negative int, got {key!r}")
    return int(key)


def seed_sequence(seed: int, *keys: int | str) -> np.random.SeedSequence:
    """The ``SeedSequence`` of ``(seed, *keys)`` (for code that spawns further or wants a Generator)."""
    return np.random.SeedSequence(entropy=_check_seed(seed), spawn_key=tuple(key_to_int(k) for k in keys))


def derived_seed(seed: int, *keys: int | str) -> int:
    """One seed in ``[0, 2**32)`` for the part of a run named by ``keys`` (see the module docstring)."""
    return int(seed_sequence(seed, *keys).generate_state(1)[0])


def child_seeds(seed: int, n: int) -> list[int]:
    """``n`` independent seeds derived from ``seed``: ``[derived_seed(seed, i) for i in range(n)]``."""
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 0:
        raise ValueError(f"n must be a non-negative int, got {n!r}")
    return [derived_seed(seed, i) for i in range(int(n))]

