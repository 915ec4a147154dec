"""Difficulty controls: each knob measurably changes play, seeds fix everything, bad values fail clearly."""

import numpy as np
import pytest

from agents.difficulty import (
    FRAMES_PER_MINUTE,
    DifficultyConfig,
    DifficultyPolicy,
    difficulty_config,
    with_difficulty,
)
from agents.pros import ProPlayer
from agents.registry import make_policy
from agents.scripted import IdleBot, SpamBot
from envs.actions import NUM_ACTIONS, Action
from envs.engine import DuelEngine
from envs.match_runner import play_matches
from envs.observation import ME, OPP, MatchField


class Probe:
    """Remembers every observation batch it is shown; presses nothing."""

    name = "probe"

    def __init__(self):
        self.seen = []

    def reset(self, num_envs, seed=None, env_ids=None):
        pass

    def act(self, obs):
        self.seen.append(obs.copy())
        return np.zeros(obs.shape[0], dtype=np.int64)


def recorded_match(seed=0, frames=400):
    """Side 0's observations, frame by frame, from a footsies vs rushdown match: (T, OBS_DIM)."""
    engine = DuelEngine(1)
    engine.reset(rng=np.random.default_rng(seed))
    a, b = make_policy("footsies"), make_policy("rushdown")
    a.reset(1, seed=seed)
    b.reset(1, seed=seed + 1)
    rows = []
    while not engine.done[0] and len(rows) < frames:
        obs = engine.observe()[0]
        rows.append(obs[0].copy())
        engine.step(np.array([[a.act(obs[0:1])[0], b.act(obs[1:2])[0]]]))
    return np.stack(rows)


def expected_view(obs, t, k, start=0):
    """What a bot with reaction delay k sees at frame t: the opponent (and distance) from frame
    max(start, t - k), its own state and the clock from frame t."""
    view = obs[max(start, t - k)].copy()
    view[ME:OPP] = obs[t, ME:OPP]
    view[MatchField.TIME_LEFT] = obs[t, MatchField.TIME_LEFT]
    return view


# ---- reaction delay -------------------------------------------------------------------------------
@pytest.mark.parametrize("k", [1, 6, 12])
def test_reaction_delay_shows_the_opponent_k_frames_late(k):
    obs = recorded_match()
    probe = Probe()
    bot = DifficultyPolicy(probe, DifficultyConfig(reaction_delay=k))
    bot.reset(1, seed=0)
    for t in range(len(obs)):
        bot.act(obs[t:t + 1])
    seen = np.concatenate(probe.seen)
    expected = np.stack([expected_view(obs, t, k) for t in range(len(obs))])
    np.testing.assert_array_equal(seen, expected)


def test_reaction_delay_shifts_footsies_decisions():
    """footsies (perfect skill) is a pure function of what it sees: the delayed bot decides on
    frame t exactly what footsies decides on the delayed view, and that differs from undelayed play."""
    obs = recorded_match()
    k = 12
    footsies = make_policy("footsies")
    footsies.reset(1, seed=0)
    undelayed = footsies.act(obs)
    on_delayed_view = footsies.act(np.stack([expected_view(obs, t, k) for t in range(len(obs))]))
    bot = with_difficulty(make_policy("footsies"), DifficultyConfig(reaction_delay=k))
    bot.reset(1, seed=0)
    delayed = np.array([bot.act(obs[t:t + 1])[0] for t in range(len(obs))])
    np.testing.assert_array_equal(delayed, on_delayed_view)
    assert (delayed != undelayed).sum() >= 5


def test_reaction_delay_queues_are_per_env_and_respect_reset_env_ids():
    a, b = recorded_match(seed=0), recorded_match(seed=1)
    n, k, restart = min(len(a), len(b)), 5, 50
    probe = Probe()
    bot = DifficultyPolicy(probe, DifficultyConfig(reaction_delay=k))
    bot.reset(2, seed=0)
    for t in range(n):
        if t == restart:
            bot.reset(2, env_ids=np.array([1]))  # env 1's match restarts (from b[restart] on)
        bot.act(np.stack([a[t], b[t]]))
    seen = np.stack(probe.seen)  # (T, 2, OBS_DIM)
    for t in (3, restart, restart + 2, restart + k, n - 1):
        np.testing.assert_array_equal(seen[t, 0], expected_view(a, t, k))
        start = restart if t >= restart else 0
        np.testing.assert_array_equal(seen[t, 1], expected_view(b, t, k, start=start))
    # env 1 right after its restart sees no opponent from the previous match
    assert not np.array_equal(seen[restart, 1, OPP:], b[restart - k, OPP:])


# ---- action noise ---------------------------------------------------------------------------------
@pytest.mark.parametrize("p", [0.1, 0.3])
def test_action_noise_replaces_presses_at_rate_p_and_leaves_waiting_alone(p):
    spam = DifficultyPolicy(SpamBot(Action.HEAVY_ATTACK), DifficultyConfig(action_noise=p))
    spam.reset(2000, seed=1)
    obs = np.zeros((2000, 42), np.float32)
    actions = np.concatenate([spam.act(obs) for _ in range(20)])
    changed = actions != Action.HEAVY_ATTACK
    assert abs(changed.mean() - p) < 0.01, changed.mean()  # 40,000 presses: sd ~0.002
    replaced = actions[changed]
    counts = np.bincount(replaced, minlength=NUM_ACTIONS)
    assert counts[Action.HEAVY_ATTACK] == 0 and (np.delete(counts, Action.HEAVY_ATTACK) > 0).all()
    assert abs(counts[Action.NO_ACTION] / changed.sum() - 1 / 11) < 0.02  # a dropped input, 1 in 11

    idle = DifficultyPolicy(IdleBot(), DifficultyConfig(action_noise=p))
    idle.reset(100, seed=1)
    assert not any(idle.act(np.zeros((100, 42), np.float32)).any() for _ in range(20))


# ---- APM cap --------------------------------------------------------------------------------------
@pytest.mark.parametrize("apm", [60, 120, 300])
def test_apm_cap_bounds_presses_per_minute(apm):
    bot = DifficultyPolicy(SpamBot(Action.LIGHT_ATTACK), DifficultyConfig(apm_cap=apm))
    bot.reset(3, seed=0)
    obs = np.zeros((3, 42), np.float32)
    minutes = 3
    pressed = np.stack([bot.act(obs) != Action.NO_ACTION for _ in range(minutes * FRAMES_PER_MINUTE)])
    burst = max(1.0, apm / 60)
    totals = pressed.sum(axis=0)
    assert (totals <= apm * minutes + burst).all() and (totals >= apm * minutes - 1).all(), totals
    window = np.cumsum(pressed, axis=0)
    per_minute = window[FRAMES_PER_MINUTE:] - window[:-FRAMES_PER_MINUTE]  # every sliding minute
    assert per_minute.max() <= apm + burst
    assert bot.act(obs).dtype == np.int64


def test_apm_cap_bucket_refills_on_reset_env_ids_only():
    bot = DifficultyPolicy(SpamBot(Action.THROW), DifficultyConfig(apm_cap=60, apm_burst=3))
    bot.reset(2, seed=0)
    obs = np.zeros((2, 42), np.float32)
    first = np.stack([bot.act(obs) for _ in range(3)])
    assert (first == Action.THROW).all()  # the full bucket: 3 presses
    assert (bot.act(obs) == Action.NO_ACTION).all()  # empty now (refills 1 per 60 frames)
    bot.reset(2, env_ids=np.array([0]))
    assert bot.act(obs).tolist() == [Action.THROW, Action.NO_ACTION]


# ---- off, seeds, names ----------------------------------------------------------------------------
def test_off_is_the_bot_itself_and_a_wrapper_with_knobs_off_is_invisible():
    bot = make_policy("rushdown")
    assert with_difficulty(bot, DifficultyConfig()) is bot
    assert with_difficulty(bot, None) is bot
    wrapped = DifficultyPolicy(make_policy("rushdown"), DifficultyConfig())
    plain = play_matches(make_policy("rushdown"), make_policy("zoner"), 6, seed=3)
    same = play_matches(wrapped, make_policy("zoner"), 6, seed=3)
    assert plain.table.equals(same.table)
    np.testing.assert_array_equal(plain.action_counts, same.action_counts)


def test_same_seed_same_play_other_seed_other_play():
    config = DifficultyConfig(reaction_delay=4, action_noise=0.3, apm_cap=200)

    def run(seed):
        return play_matches(with_difficulty(ProPlayer("zoner"), config), make_policy("rushdown"), 6,
                            seed=seed).action_counts

    np.testing.assert_array_equal(run(5), run(5))
    assert not np.array_equal(run(5), run(6))


def test_names_skill_and_no_deterministic_flag():
    class Deterministic(IdleBot):
        deterministic = True

    bot = with_difficulty(Deterministic(), {"reaction_delay": 3, "apm_cap": 90})
    assert bot.name == "idle[reaction_delay=3,apm_cap=90]"
    assert bot.skill == "scripted+handicap" and bot.style == "idle"
    assert getattr(bot, "deterministic", False) is False  # stateful: never shared by the tournament


# ---- validation -----------------------------------------------------------------------------------
@pytest.mark.parametrize("options, message", [
    ({"reaction_delay": -1}, "reaction_delay must be an int number of frames in 0..600"),
    ({"reaction_delay": 2.5}, "reaction_delay must be an int"),
    ({"reaction_delay": True}, "reaction_delay must be an int"),
    ({"reaction_delay": 601}, "0..600"),
    ({"action_noise": 1.5}, r"action_noise must be a probability in \[0, 1\], got 1.5"),
    ({"action_noise": "lots"}, "action_noise must be a probability"),
    ({"apm_cap": 0}, "apm_cap must be a positive number or null"),
    ({"apm_cap": float("inf")}, "apm_cap must be a positive number"),
    ({"apm_burst": 5}, "apm_burst needs difficulty.apm_cap"),
    ({"apm_cap": 60, "apm_burst": 0.5}, "apm_burst must be >= 1"),
    ({"reaction_dealy": 3}, r"unknown difficulty option\(s\) \['reaction_dealy'\]; valid options"),
])
def test_bad_settings_fail_with_a_message_naming_the_knob(options, message):
    with pytest.raises(ValueError, match=message):
        difficulty_config(options)


def test_bad_wrapped_objects_fail_clearly():
    with pytest.raises(TypeError, match="wraps a Policy"):
        DifficultyPolicy(object(), DifficultyConfig(reaction_delay=1))
    with pytest.raises(TypeError, match="must be a DifficultyConfig or a mapping"):
        difficulty_config(12)
    bot = DifficultyPolicy(IdleBot(), DifficultyConfig(reaction_delay=2))
    bot.reset(2, seed=0)
    with pytest.raises(IndexError, match="out of range for 2 envs"):
        bot.reset(2, env_ids=np.array([2]))


def test_from_a_hydra_dictconfig():
    from omegaconf import OmegaConf

    cfg = OmegaConf.structured(DifficultyConfig)
    cfg.action_noise = 0.2
    assert difficulty_config(cfg) == DifficultyConfig(action_noise=0.2)


# ---- difficulty in a bot spec: "footsies@reaction_delay:12,action_noise:0.1" -------------------------

def test_a_spec_with_knobs_builds_the_handicapped_bot():
    from agents.difficulty import DifficultyConfig, DifficultyPolicy, split_difficulty_spec
    from agents.registry import make_policy, resolve_pool

    assert split_difficulty_spec("footsies") == ("footsies", None)
    assert split_difficulty_spec("footsies@reaction_delay:12,action_noise:0.1") == (
        "footsies", DifficultyConfig(reaction_delay=12, action_noise=0.1))
    bot = make_policy("footsies@apm_cap:60")
    assert isinstance(bot, DifficultyPolicy) and bot.config.apm_cap == 60
    assert resolve_pool(["rushdown@action_noise:0.5"]) == ("rushdown@action_noise:0.5",)


@pytest.mark.parametrize("spec, words", [("footsies@reaction_delay:soon", "needs a number"),
                                         ("footsies@reaction_delay:8,speed:2", "speed:2"),
                                         ("footsies@action_noise:2", "probability")])
def test_a_bad_knob_in_a_spec_is_named(spec, words):
    from agents.registry import make_policy

    with pytest.raises(ValueError, match=words):
        make_policy(spec)


def test_tournament_participants_take_knobs_on_names_and_paths(tmp_path):
    from evaluation.participants import resolve_participants

    folder = tmp_path / "runs" / "bc" / "best"
    folder.mkdir(parents=True)
    participants, _ = resolve_participants(["footsies@reaction_delay:8", "runs/bc/best@apm_cap:30"],
                                           runs_dir="runs", base_dir=tmp_path)
    scripted, trained = participants
    assert (scripted.label, scripted.kind) == ("footsies@reaction_delay:8", "scripted")
    assert scripted.file == "footsies"
    assert trained.label == "bc/best@apm_cap:30" and trained.file == str(folder)
    assert trained.spec == f"{folder}@apm_cap:30" and trained.kind == "checkpoint"
