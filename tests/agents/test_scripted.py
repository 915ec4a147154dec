"""Scripted bots and the registry: the Policy protocol, seeding, clear errors on unknown names."""

import numpy as np
import pytest

from agents import IdleBot, Policy, ProPlayer, RandomBot, UnknownBotError, available_bots, make_policy
from envs.engine import DuelEngine
from envs.observation import OBS_DIM


@pytest.mark.parametrize("name", available_bots())
def test_registered_bots_implement_the_protocol(name):
    bot = make_policy(name)
    assert isinstance(bot, Policy) and bot.name == name
    bot.reset(8, seed=0)
    obs = DuelEngine(8).observe()[:, 0]
    actions = bot.act(obs)
    assert actions.shape == (8,) and actions.dtype == np.int64


def test_random_bot_is_seeded():
    obs = np.zeros((64, OBS_DIM), dtype=np.float32)
    a, b = RandomBot(), RandomBot()
    a.reset(64, seed=1)
    b.reset(64, seed=1)
    assert np.array_equal(a.act(obs), b.act(obs))
    b.reset(64, seed=2)
    assert not np.array_equal(a.act(obs), b.act(obs))


def test_idle_bot_never_acts():
    assert not IdleBot().act(np.ones((5, OBS_DIM), dtype=np.float32)).any()


def test_footsies_bot_waits_while_busy_and_closes_distance():
    engine = DuelEngine(1)
    bot = ProPlayer("footsies", "perfect")
    obs = engine.observe()[:, 0]
    assert bot.act(obs)[0] == 1  # WALK_FORWARD from the starting distance


def test_unknown_bot_name_lists_what_is_available():
    listing = "unknown bot 'pro_rushdown'; available bots: footsies, idle, random"
    with pytest.raises(UnknownBotError, match=listing):
        make_policy("pro_rushdown")
    with pytest.raises(TypeError, match="a bot must be a registered name"):
        make_policy(42)
