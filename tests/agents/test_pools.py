"""Named bot pools live next to the bot registry; resolve_pool expands them and catches typos."""

import pytest

from agents.registry import (
    PERFECT_PROS,
    POOLS,
    REFERENCE_POOL,
    SCRIPTED_BOTS,
    UnknownBotError,
    resolve_pool,
)


def test_pools_are_registered_bots():
    assert POOLS == {"reference": REFERENCE_POOL, "perfect_pros": PERFECT_PROS}
    assert all(name in SCRIPTED_BOTS for pool in POOLS.values() for name in pool)


def test_resolve_pool_expands_pool_names_in_place():
    assert resolve_pool("reference") == REFERENCE_POOL
    assert resolve_pool(["footsies", "perfect_pros", "self"]) == ("footsies", *PERFECT_PROS, "self")
    assert resolve_pool(["runs/x/best"]) == ("runs/x/best",)  # paths are make_policy's to load


def test_a_typo_lists_the_pools_and_the_bots():
    with pytest.raises(UnknownBotError, match=r"unknown bot 'refrence'.*pools: perfect_pros, reference; "
                                              r"available bots: footsies, idle"):
        resolve_pool(["refrence"])
    with pytest.raises(TypeError, match="pool entry"):
        resolve_pool([3])
