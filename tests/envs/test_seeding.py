"""The one seeding scheme: SeedSequence-derived, deterministic, distinct per key, stable across processes."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from envs.seeding import child_seeds, derived_seed, key_to_int, seed_sequence

ROOT = Path(__file__).resolve().parents[2]


def test_same_seed_and_keys_same_seed():
    assert derived_seed(7, "tournament", "a", "b", 0) == derived_seed(7, "tournament", "a", "b", 0)
    assert child_seeds(3, 5) == child_seeds(3, 5)


def test_distinct_seeds_and_keys_give_distinct_seeds():
    seeds = {derived_seed(seed, key) for seed in range(20) for key in range(20)}
    assert len(seeds) == 400
    assert len({derived_seed(0, "a", "b"), derived_seed(0, "b", "a"), derived_seed(0, "ab"),
                derived_seed(0, "a"), derived_seed(0)}) == 5
    # what seed * k + i collides on, SeedSequence keeps apart
    assert derived_seed(1, 0) != derived_seed(0, 10_007)


def test_children_are_spawned_children_and_nested_keys_are_nested_spawns():
    spawned = [int(s.generate_state(1)[0]) for s in np.random.SeedSequence(11).spawn(4)]
    assert child_seeds(11, 4) == spawned == [derived_seed(11, i) for i in range(4)]
    wave = np.random.SeedSequence(11).spawn(3)[2]
    assert [int(s.generate_state(1)[0]) for s in wave.spawn(3)] == [derived_seed(11, 2, j) for j in range(3)]
    assert child_seeds(11, 0) == []


def test_str_and_int_keys_and_the_range_numpy_wants():
    assert key_to_int(5) == 5 and key_to_int("zoner") == key_to_int("zoner") != key_to_int("zoner ")
    assert 0 <= key_to_int("zoner") < 2**64
    for seed in (0, 1, 2**31, 2**63, 2**100):
        value = derived_seed(seed, "x", 3)
        assert isinstance(value, int) and 0 <= value < 2**32
        np.random.default_rng(value)  # a valid seed again
    assert isinstance(seed_sequence(0, "a"), np.random.SeedSequence)
    for bad in (-1, 1.5, "3", True):
        with pytest.raises(ValueError):
            derived_seed(bad)
    with pytest.raises(ValueError):
        derived_seed(0, -2)


def test_string_keys_do_not_depend_on_pythons_salted_hash():
    code = "from envs.seeding import derived_seed; print(derived_seed(4, 'footsies', 'zoner', 1))"
    outputs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                              env={**os.environ, "PYTHONHASHSEED": salt}, cwd=ROOT).stdout
               for salt in ("1", "2")}
    assert outputs == {f"{derived_seed(4, 'footsies', 'zoner', 1)}\n"}
