"""The batched engine: frame data mechanics, determinism, batch parity, invariants, bad input."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from envs.actions import NUM_ACTIONS, Action, InvalidActionError
from envs.engine import DRAW, RUNNING, DuelEngine
from envs.observation import ME, OBS_DIM, OPP, FighterField, MatchField, observation_space
from envs.params import GameParams

A = Action
PARAMS = GameParams()


def engine_at(distance: float, params: GameParams = PARAMS) -> DuelEngine:
    """One match with the fighters ``distance`` px apart around the stage centre."""
    engine = DuelEngine(1, params)
    centre = params.stage_width / 2
    engine.state.x[0] = [centre - distance / 2, centre + distance / 2]
    return engine


def play(engine: DuelEngine, script: list[tuple[int, int]]) -> list[np.ndarray]:
    """Step through (side-0, side-1) commands; return damage dealt per frame."""
    dealt = []
    for a0, a1 in script:
        dealt.append(engine.step(np.array([[a0, a1]])).copy()[0])
    return dealt


def idle(frames: int) -> list[tuple[int, int]]:
    return [(A.NO_ACTION, A.NO_ACTION)] * frames


def test_light_attack_connects_on_its_first_active_frame():
    light = PARAMS.moves["LIGHT_ATTACK"]
    engine = engine_at(60)
    dealt = play(engine, [(A.LIGHT_ATTACK, A.NO_ACTION)] + idle(light.total_frames))
    hit_frames = [f for f, d in enumerate(dealt) if d[0] > 0]
    assert hit_frames == [light.startup]
    assert engine.state.hp[0, 1] == PARAMS.max_hp - light.damage
    assert engine.state.hp[0, 0] == PARAMS.max_hp


def test_attack_out_of_reach_whiffs():
    engine = engine_at(PARAMS.moves["LIGHT_ATTACK"].reach + 20)
    dealt = play(engine, [(A.LIGHT_ATTACK, A.NO_ACTION)] + idle(20))
    assert sum(d[0] for d in dealt) == 0


def test_inputs_are_ignored_while_busy():
    engine = engine_at(300)
    play(engine, [(A.HEAVY_ATTACK, A.NO_ACTION)])
    play(engine, [(A.LIGHT_ATTACK, A.NO_ACTION)])  # pressed during the heavy's startup
    assert engine.state.move[0, 0] == A.HEAVY_ATTACK
    assert engine.state.move_frame[0, 0] == 2


def test_walking_and_guard_are_cancellable():
    engine = engine_at(300)
    play(engine, [(A.WALK_FORWARD, A.GUARD)])
    play(engine, [(A.LIGHT_ATTACK, A.HEAVY_ATTACK)])
    assert list(engine.state.move[0]) == [A.LIGHT_ATTACK, A.HEAVY_ATTACK]


def test_guard_blocks_and_throw_beats_guard():
    engine = engine_at(60)
    dealt = play(engine, [(A.LIGHT_ATTACK, A.GUARD)] + idle(10))
    assert sum(d[0] for d in dealt) == 0
    engine = engine_at(50)
    dealt = play(engine, [(A.THROW, A.GUARD)] + idle(10))
    assert sum(d[0] for d in dealt) == PARAMS.moves["THROW"].damage


def test_crouching_ducks_the_heavy_but_not_the_light():
    heavy = PARAMS.moves["HEAVY_ATTACK"]
    engine = engine_at(80)
    dealt = play(engine, [(A.HEAVY_ATTACK, A.CROUCH)] + idle(heavy.startup + 2))
    assert sum(d[0] for d in dealt) == 0
    engine = engine_at(60)
    dealt = play(engine, [(A.LIGHT_ATTACK, A.CROUCH)] + idle(8))
    assert sum(d[0] for d in dealt) == PARAMS.moves["LIGHT_ATTACK"].damage


def test_jump_clears_a_projectile_and_anti_air_beats_a_jump():
    engine = engine_at(200)
    special = PARAMS.moves["SPECIAL"]
    script = [(A.SPECIAL, A.NO_ACTION)] + idle(special.startup + 8) + [(A.NO_ACTION, A.JUMP)] + idle(60)
    assert sum(d[0] for d in play(engine, script)) == 0
    engine = engine_at(200)
    assert sum(d[0] for d in play(engine, [(A.SPECIAL, A.NO_ACTION)] + idle(60))) == special.damage

    engine = engine_at(120)
    dealt = play(engine, [(A.JUMP_FORWARD, A.NO_ACTION)] + idle(8) + [(A.NO_ACTION, A.ANTI_AIR)]
                 + idle(12))
    assert sum(d[1] for d in dealt) >= PARAMS.moves["ANTI_AIR"].damage
    assert engine.state.y[0, 0] == 0  # knocked out of the air


def test_special_has_a_cooldown():
    engine = engine_at(300)
    play(engine, [(A.SPECIAL, A.NO_ACTION)] + idle(PARAMS.moves["SPECIAL"].total_frames))
    assert engine.state.cooldown[0, 0] > 0
    play(engine, [(A.SPECIAL, A.NO_ACTION)])
    assert engine.state.move[0, 0] == A.NO_ACTION  # pressed while on cooldown: ignored


def test_whiffed_heavy_is_punished_with_a_counter_hit():
    heavy = PARAMS.moves["HEAVY_ATTACK"]
    engine = engine_at(heavy.reach + 8)  # just out of reach: the heavy whiffs
    # the defender waits out the active frames, steps in during the recovery and answers with
    # its own heavy
    script = [(A.HEAVY_ATTACK, A.NO_ACTION)] + idle(heavy.startup + heavy.active - 1)
    script += [(A.NO_ACTION, A.WALK_FORWARD)] + idle(2)
    script += [(A.NO_ACTION, A.HEAVY_ATTACK)] + idle(heavy.startup + 1)
    assert len(script) < heavy.total_frames  # all of it happens while the whiff recovers
    dealt = play(engine, script)
    assert sum(d[0] for d in dealt) == 0
    counter_damage = int(heavy.damage * PARAMS.counter_hit_damage_multiplier)
    assert sum(d[1] for d in dealt) == counter_damage > heavy.damage


def test_time_up_with_equal_hp_is_a_draw_and_ko_is_a_win():
    params = GameParams(round_seconds=1.0)
    engine = DuelEngine(1, params)
    play(engine, idle(params.round_frames))
    assert engine.winner[0] == DRAW and engine.frame[0] == params.round_frames

    engine = engine_at(60, GameParams(max_hp=4))
    play(engine, [(A.LIGHT_ATTACK, A.NO_ACTION)] + idle(5))
    assert engine.winner[0] == 0 and engine.state.hp[0, 1] == 0


def test_finished_matches_stay_frozen_until_reset():
    params = GameParams(round_seconds=0.5)
    engine = DuelEngine(2, params)
    play_batch = np.zeros((2, 2), dtype=np.int64)
    for _ in range(params.round_frames + 10):
        engine.step(play_batch)
    assert (engine.frame == params.round_frames).all() and engine.done.all()
    engine.reset(np.array([1]))
    assert list(engine.winner) == [DRAW, RUNNING] and engine.frame[1] == 0


def random_actions(seed: int, frames: int, n: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, NUM_ACTIONS, size=(frames, n, 2))


def run(engine: DuelEngine, actions: np.ndarray) -> list[np.ndarray]:
    obs = []
    for a in actions:
        engine.step(a)
        obs.append(engine.observe().copy())
    return obs


def test_same_seed_same_match():
    actions = random_actions(7, 1500, 16)
    a, b = DuelEngine(16), DuelEngine(16)
    a.reset(rng=np.random.default_rng(3))
    b.reset(rng=np.random.default_rng(3))
    obs_a, obs_b = run(a, actions), run(b, actions)
    assert all(np.array_equal(x, y) for x, y in zip(obs_a, obs_b, strict=True))
    for field in a.state._fields:
        assert np.array_equal(getattr(a.state, field), getattr(b.state, field)), field


def test_batched_engine_matches_single_engines():
    """Parity: match i of a batch of 32 plays exactly like the same match run alone at N=1."""
    n, frames = 32, 1200
    actions = random_actions(11, frames, n)
    batched = DuelEngine(n)
    batch_obs = run(batched, actions)
    for i in range(n):
        single = DuelEngine(1)
        single_obs = run(single, actions[:, i:i + 1])
        assert all(np.array_equal(b[i], s[0]) for b, s in zip(batch_obs, single_obs, strict=True))
        for field in batched.state._fields:
            assert np.array_equal(getattr(batched.state, field)[i], getattr(single.state, field)[0])


def test_mirrored_inputs_give_mirrored_observations():
    """Egocentric encoding + simultaneous resolution: both sides see the same game."""
    engine = DuelEngine(1)
    rng = np.random.default_rng(0)
    for _ in range(800):
        a = rng.integers(0, NUM_ACTIONS)
        engine.step(np.array([[a, a]]))
        obs = engine.observe()[0]
        assert np.allclose(obs[0], obs[1]), (obs[0] - obs[1])
    assert engine.state.hp[0, 0] == engine.state.hp[0, 1]


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), jitter_seed=st.integers(0, 1000),
       aggression=st.floats(0.0, 1.0))
def test_random_play_invariants(seed, jitter_seed, aggression):
    params = GameParams(round_seconds=20.0)
    n = 8
    engine = DuelEngine(n, params)
    engine.reset(rng=np.random.default_rng(jitter_seed))
    rng = np.random.default_rng(seed)
    space = observation_space()
    results = np.full(n, RUNNING)
    ended_at = np.full(n, -1)
    for t in range(params.round_frames + 5):
        acts = rng.integers(0, NUM_ACTIONS, size=(n, 2))
        acts[rng.random((n, 2)) > aggression] = A.NO_ACTION
        engine.step(acts)
        s = engine.state
        assert ((s.hp >= 0) & (s.hp <= params.max_hp)).all()
        assert ((s.x >= params.body_width / 2) & (s.x <= params.stage_width - params.body_width / 2)).all()
        assert (s.y >= 0).all() and (s.y <= params.jump_height + 1e-9).all()
        for timer in (s.stun, s.cooldown, s.move_frame, s.frame):
            assert (timer >= 0).all()
        assert (s.frame <= params.round_frames).all()
        obs = engine.observe()
        assert obs.dtype == np.float32 and obs.shape == (n, 2, OBS_DIM)
        assert all(space.contains(o) for o in obs.reshape(-1, OBS_DIM))
        # exactly one result per finished match: once set it never changes
        newly = (results == RUNNING) & (engine.winner != RUNNING)
        ended_at[newly] = t
        changed = (results != RUNNING) & (engine.winner != results)
        assert not changed.any()
        results = engine.winner.copy()
    assert (results != RUNNING).all()
    assert set(np.unique(results)) <= {0, 1, DRAW}
    assert (engine.frame == ended_at + 1).all()


def test_observation_fields_say_who_is_who():
    engine = engine_at(100)
    engine.state.hp[0] = [80, 40]
    engine.step(np.array([[A.NO_ACTION, A.NO_ACTION]]))
    obs = engine.observe()[0]
    assert obs[0, ME + FighterField.HP] == pytest.approx(0.8)
    assert obs[0, OPP + FighterField.HP] == pytest.approx(0.4)
    assert obs[1, ME + FighterField.HP] == pytest.approx(0.4)
    assert obs[0, MatchField.DISTANCE] == pytest.approx(100 / PARAMS.stage_width)
    assert obs[1, MatchField.DISTANCE] == pytest.approx(100 / PARAMS.stage_width)


@pytest.mark.parametrize("bad, message", [
    (np.zeros((1, 2), dtype=np.float32), "integer command ids"),
    (np.zeros((2, 2), dtype=np.int64), "shape (1, 2)"),
    (np.array([[0, NUM_ACTIONS]]), f"action id {NUM_ACTIONS} is out of range"),
    (np.array([[-1, 0]]), "action id -1 is out of range"),
    ([["a", "b"]], "integer command ids"),
])
def test_invalid_actions_are_rejected_with_a_clear_error(bad, message):
    engine = DuelEngine(1)
    with pytest.raises(InvalidActionError, match=pytest.importorskip("re").escape(message)):
        engine.step(bad)


@pytest.mark.parametrize("kwargs, message", [
    ({"num_matches": 0}, "num_matches must be a positive int"),
    ({"num_matches": 1, "observation_delay": -1}, "observation_delay must be an int >= 0"),
])
def test_bad_engine_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        DuelEngine(**kwargs)


def test_bad_params_are_rejected():
    with pytest.raises(ValueError, match="moves has unknown action names"):
        GameParams(moves={"FIREBALL": PARAMS.moves["SPECIAL"]})
    with pytest.raises(TypeError, match="unknown game option"):
        PARAMS.replace(round_secs=10)
