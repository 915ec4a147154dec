"""Scripted pro players: they win like pros, they play like pros (mostly waiting), styles differ."""

import numpy as np
import pandas as pd
import pytest
from scipy.spatial.distance import jensenshannon

from agents.pros import PRO_STYLES, SKILLS, STYLES, ProPlayer, Skill
from agents.registry import make_policy
from envs.engine import DuelEngine
from envs.match_runner import play_matches
from envs.observation import ME, OPP, MatchField


@pytest.mark.parametrize("style", PRO_STYLES)
def test_each_pro_beats_random_95_and_idle_100_percent_of_200_matches(style):
    versus_random = play_matches(make_policy(style), make_policy("random"), 200, seed=0)
    versus_idle = play_matches(make_policy(style), make_policy("idle"), 200, seed=0)
    assert versus_random.win_rate >= 0.95, versus_random.summary()
    assert versus_idle.win_rate == 1.0, versus_idle.summary()


def style_distributions(matches: int = 60) -> pd.DataFrame:
    shares = {}
    for style in PRO_STYLES:
        total = None
        for opponent in PRO_STYLES:
            results = play_matches(make_policy(style), make_policy(opponent), matches, seed=4)
            share = results.action_distribution(0)
            total = share if total is None else total + share
        shares[style] = total / len(PRO_STYLES)
    return pd.DataFrame(shares)


def test_styles_are_visibly_different_and_mostly_wait():
    shares = style_distributions()
    for style in PRO_STYLES:
        assert shares.loc["NO_ACTION", style] >= 0.9, shares  # sparing, like the lecture's pros
    # each style's signature command is where it leads the others
    assert shares.loc["SPECIAL"].idxmax() == "zoner"
    assert shares.loc["WALK_BACK"].idxmax() == "zoner"
    assert shares.loc["LIGHT_ATTACK"].idxmax() == "rushdown"
    assert shares.loc["WALK_FORWARD"].idxmax() == "rushdown"
    assert shares.loc["CROUCH"].idxmax() == "turtle"
    assert shares.loc["NO_ACTION"].idxmax() == "turtle"
    # and their distributions over the commands they actually press differ clearly
    pressed = shares.drop(index="NO_ACTION")
    pressed = pressed / pressed.sum()
    for i, a in enumerate(PRO_STYLES):
        for b in PRO_STYLES[i + 1:]:
            assert jensenshannon(pressed[a], pressed[b], base=2) > 0.15, (a, b)


def test_pro_beats_its_club_level_self():
    for style in PRO_STYLES:
        results = play_matches(make_policy(style), make_policy(f"{style}_club"), 200, seed=3)
        assert results.count("win") > results.count("loss"), (style, results.summary())


def test_same_seed_same_decisions():
    engine = DuelEngine(16)
    engine.reset(rng=np.random.default_rng(0))
    traces = []
    for _ in range(2):
        bot = make_policy("rushdown_club")
        bot.reset(16, seed=9)
        traces.append([bot.act(engine.observe()[:, 0]) for _ in range(50)])
    assert all(np.array_equal(a, b) for a, b in zip(*traces, strict=True))


def test_reaction_delay_sees_the_opponent_late_and_itself_now():
    bot = ProPlayer("turtle", Skill("test", reaction_frames=3))
    bot.reset(2, seed=0)
    frames = [np.full((2, 42), t, dtype=np.float32) for t in range(8)]
    views = [bot._perceive(obs) for obs in frames]
    for t, view in enumerate(views):
        seen = max(0, t - 3)
        assert (view[:, OPP:] == seen).all() and (view[:, MatchField.DISTANCE] == seen).all()
        assert (view[:, ME:OPP] == t).all() and (view[:, MatchField.TIME_LEFT] == t).all()
    bot.reset(2, env_ids=np.array([1]))  # episode 1 restarts: its memory starts over
    view = bot._perceive(np.full((2, 42), 100, dtype=np.float32))
    assert (view[1, OPP:] == 100).all() and (view[0, OPP:] == 5).all()


def test_registry_names_cover_styles_and_skills():
    for style in PRO_STYLES:
        assert make_policy(style).skill == "pro"
        club = make_policy(f"{style}_club")
        assert club.style == style and club.skill == "club"
    assert set(PRO_STYLES) <= set(STYLES) and {"pro", "club"} <= set(SKILLS)
    footsies = make_policy("footsies")
    assert footsies.name == "footsies" and footsies.skill == "perfect"
