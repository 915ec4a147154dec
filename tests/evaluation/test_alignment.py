"""Offline estimators of win rate (evaluation.ope) and their validation (evaluation.alignment)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from datasets.load import load_dataset
from datasets.situations import SITUATION_IDS
from envs.observation import ME, OPP, FighterField
from evaluation.alignment import (
    FITTED,
    UNFITTED,
    RidgeEstimator,
    bootstrap_scores,
    family_splits,
    ranking_scores,
    validate,
)
from evaluation.offline import predict
from evaluation.ope import FQEConfig, Timelines, fitted_q_evaluation, replay, timelines

# ---- the logged timelines ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tiny_lines(tiny_dataset):
    dataset = load_dataset(tiny_dataset)
    return dataset, timelines(dataset)


def test_timelines_hold_every_logged_row_once_in_time_order(tiny_lines):
    dataset, lines = tiny_lines
    assert lines.num_rows == dataset.num_frames
    assert lines.actions.shape[1] == 2 * dataset.num_matches
    first = dataset.match(int(dataset.matches["match_id"].min()))
    side0 = first[first["side"] == 0]["action_id"].to_numpy()
    column = 0  # match ids sort first, side 0 first
    assert np.array_equal(lines.actions[:len(side0), column][lines.valid[:len(side0), column]], side0)


def test_rewards_add_up_to_the_hp_difference_and_the_result(tiny_lines):
    dataset, lines = tiny_lines
    for column in range(4):
        n = int(lines.valid[:, column].sum())
        obs = lines.observations[:n, column]
        me_lost = obs[0, ME + FighterField.HP] - obs[-1, ME + FighterField.HP]
        opp_lost = obs[0, OPP + FighterField.HP] - obs[-1, OPP + FighterField.HP]
        result = lines.rewards[n - 1, column]
        assert result in (-1.0, 0.0, 1.0)
        assert lines.rewards[:n - 1, column].sum() == pytest.approx(opp_lost - me_lost, abs=1e-4)
    # the two sides of a match see opposite results
    assert lines.rewards[lines.valid[:, 0].sum() - 1, 0] == -lines.rewards[lines.valid[:, 1].sum() - 1, 1]


def test_replay_of_a_stateless_bot_equals_predicting_the_rows(tiny_lines):
    from agents.scripted import RandomBot

    class Copy:  # presses what the observation's own fields say: a pure function of the row
        deterministic = True

        def reset(self, num_envs, seed=None, env_ids=None):
            pass

        def act(self, obs):
            return (obs[:, ME + FighterField.HP] * 11).astype(np.int64) % 12

    _, lines = tiny_lines
    replayed = replay(Copy(), lines)[lines.valid]
    rows = lines.observations[lines.valid]
    assert np.array_equal(replayed, predict(Copy(), rows))
    assert replay(RandomBot(), lines, seed=3).shape == lines.actions.shape


def test_a_stateful_bot_is_replayed_as_in_a_match(tiny_lines):
    from agents.registry import make_policy

    _, lines = tiny_lines
    delayed = replay(make_policy("footsies@reaction_delay:30"), lines)
    fresh = replay(make_policy("footsies"), lines)
    assert (delayed != fresh).any()  # the delay matters once rows come in order


# ---- fitted Q evaluation ------------------------------------------------------------------------------

def _synthetic(steps: int = 40, episodes: int = 64, seed: int = 0) -> Timelines:
    """Decision rows only; the reward is 1 on frames where the pro pressed command 1, else 0."""
    rng = np.random.default_rng(seed)
    obs = rng.normal(size=(steps, episodes, 42)).astype(np.float32)
    actions = rng.integers(0, 3, size=(steps, episodes))
    rewards = (actions == 1).astype(np.float32)
    situations = np.full((steps, episodes), SITUATION_IDS["neutral"], dtype=np.int8)
    return Timelines(obs, actions, rewards, np.ones((steps, episodes), dtype=bool), situations)


def test_fqe_learns_the_value_of_each_policy_where_the_answer_is_known():
    lines = _synthetic()
    always = [np.full(lines.actions.shape, a) for a in (0, 1)]
    # gamma 0: Q(s, a) = E[r | a] = 1 for command 1, 0 otherwise
    result = fitted_q_evaluation(lines, np.stack(always), FQEConfig(gamma=0.0, steps=400, batch_size=256),
                                 threads=1)
    assert result.value[1] == pytest.approx(1.0, abs=0.1) and result.value[0] == pytest.approx(0.0, abs=0.1)
    assert result.advantage[1] > 0.5 > result.advantage[0]
    # gamma 0.5: the policy that always presses 1 is worth 1 + 0.5 + 0.25 + ... ~ 2 away from the end
    result = fitted_q_evaluation(lines, np.stack(always), FQEConfig(gamma=0.5, steps=1000, batch_size=256),
                                 threads=1)
    assert result.value[1] == pytest.approx(2.0, abs=0.3) and result.value[0] < 0.5


def test_fqe_is_deterministic_by_seed_and_rejects_misshaped_actions():
    lines = _synthetic(steps=10, episodes=8)
    acts = np.stack([lines.actions, np.zeros_like(lines.actions)])
    config = FQEConfig(steps=50, batch_size=64)
    a, b = fitted_q_evaluation(lines, acts, config), fitted_q_evaluation(lines, acts, config)
    assert np.array_equal(a.value, b.value) and np.array_equal(a.advantage, b.advantage)
    assert a.advantage[0] == 0.0  # the pros' own commands: no advantage over themselves
    with pytest.raises(ValueError, match="policy_actions"):
        fitted_q_evaluation(lines, acts[:, :5], config)


# ---- validation -----------------------------------------------------------------------------------

def test_ranking_scores_of_a_perfect_a_reversed_and_a_constant_estimator():
    truth = np.array([0.1, 0.4, 0.5, 0.9, 0.2])
    perfect = ranking_scores(truth * 3, truth)
    assert perfect["spearman"] == pytest.approx(1.0) and perfect["regret_at_1"] == 0.0
    reversed_ = ranking_scores(-truth, truth)
    assert reversed_["kendall"] == pytest.approx(-1.0)
    assert reversed_["regret_at_1"] == pytest.approx(0.8) and reversed_["regret_at_3"] == pytest.approx(0.5)
    constant = ranking_scores(np.zeros(5), truth)  # ties are broken against the estimator
    assert np.isnan(constant["spearman"]) and constant["regret_at_1"] == pytest.approx(0.8)


def test_bootstrap_intervals_hold_the_point_estimate():
    rng = np.random.default_rng(0)
    truth = rng.uniform(size=40)
    estimate = truth + rng.normal(scale=0.2, size=40)
    point = ranking_scores(estimate, truth)
    intervals = bootstrap_scores(estimate, truth, 300, seed=1)
    low, high = intervals["spearman"]
    assert low < point["spearman"] < high and high - low < 0.5
    assert intervals == bootstrap_scores(estimate, truth, 300, seed=1)


def test_family_splits_hold_out_each_family():
    splits = family_splits(["bc", "rl", "scripted", "handicapped", "bc"])
    assert splits["fit bc -> rl+scripted+handicapped"] == (["bc"], ["rl", "scripted", "handicapped"])
    assert splits["fit rl+scripted+handicapped -> bc"] == (["rl", "scripted", "handicapped"], ["bc"])
    assert {"leave out rl", "leave out scripted", "leave out handicapped"} <= set(splits)
    assert "leave out bc" not in splits  # the same as "fit rest -> bc"


def _zoo_table(n: int = 48, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    table = pd.DataFrame({"family": np.array(["bc", "rl", "scripted", "handicapped"])[np.arange(n) % 4],
                          "win_rate": rng.uniform(size=n)}, index=[f"bot{i}" for i in range(n)])
    for name in UNFITTED:
        table[name] = rng.normal(size=n)
    table["situation_advantage"] = table["win_rate"] * 2 + 1  # a perfect estimator
    table["restraint"] = -table["win_rate"] + rng.normal(scale=0.05, size=n)  # a reversed one
    return table


def test_validation_scores_estimators_on_held_out_families_only():
    table = _zoo_table()
    validation = validate(table, resamples=50, seed=0)
    perfect = validation[validation["estimator"] == "situation_advantage"]
    assert np.allclose(perfect["spearman"], 1.0) and (perfect["regret_at_1"] == 0.0).all()
    assert (validation[validation["estimator"] == "restraint"]["spearman"] < -0.8).all()
    fitted = validation[validation["estimator"] == FITTED]  # the ridge learns the perfect column
    assert (fitted["spearman"] > 0.95).all()
    held = validation[validation["split"] == "fit bc -> rl+scripted+handicapped"]
    assert (held["n"] == 36).all()


def test_the_estimator_file_round_trips_and_a_bad_one_is_named(tmp_path):
    table = _zoo_table()
    estimator = RidgeEstimator.fit(table)
    path = estimator.save(tmp_path / "estimator.json", {"zoo": "test"})
    loaded, provenance = RidgeEstimator.load(path)
    assert np.allclose(loaded.predict(table), estimator.predict(table)) and provenance == {"zoo": "test"}
    assert ((estimator.predict(table) >= 0) & (estimator.predict(table) <= 1)).all()
    payload = json.loads(path.read_text())
    payload["features"] = ["accuracy", "telepathy"]
    path.write_text(json.dumps(payload))
    with pytest.raises(ValueError, match="estimator.json"):
        RidgeEstimator.load(path)
