"""Decision situations: each one read from the observation, counted in the manifest and the card,
and a policy's per-situation metrics."""

import json

import numpy as np
import pandas as pd
import pytest

from datasets.card import render_card
from datasets.load import load_dataset
from datasets.situations import (
    DECISION_SITUATIONS,
    NUM_SITUATIONS,
    REACTIONS,
    SITUATION_IDS,
    SITUATIONS,
    situation_codes,
    situation_table,
)
from envs.actions import ACTION_NAMES, Action
from envs.observation import ATTACK_COMMANDS, ME, OBS_DIM, OPP, FighterField, MatchField
from envs.params import GameParams
from evaluation.offline import situation_metrics

W = GameParams().stage_width


def observation(distance_px=300.0, back_px=200.0, **fields):
    """One observation: the opponent ``distance_px`` in front, me ``back_px`` from my wall; fields as
    ``me_busy=0.1`` or ``opp_height=0.5``."""
    obs = np.zeros(OBS_DIM, dtype=np.float32)
    obs[MatchField.TIME_LEFT] = 0.5
    obs[MatchField.DISTANCE] = distance_px / W
    obs[ME + FighterField.BACK_SPACE] = back_px / W
    obs[ME + FighterField.HP] = obs[OPP + FighterField.HP] = 1.0
    for name, value in fields.items():
        who, field = name.split("_", 1)
        obs[(ME if who == "me" else OPP) + FighterField[field.upper()]] = value
    return obs


CASES = {
    "busy": observation(80, me_busy=0.2, opp_phase_recovery=1),  # busy wins over everything
    "anti_air": observation(70, opp_height=0.5, opp_jump_direction=1),
    "combo": observation(60, opp_stun=0.2),
    "punish": observation(95, opp_phase_recovery=1, opp_attack_heavy=1, opp_busy=0.2),
    "under_attack": observation(105, opp_phase_startup=1, opp_attack_heavy=1),
    "projectile_incoming": observation(300, opp_projectile_active=1, opp_projectile_distance=60 / W),
    "guard_break": observation(50, opp_guarding=1),
    "in_reach": observation(90),
    "cornered": observation(300, back_px=20),
    "neutral": observation(300),
}


def test_each_situation_is_read_from_the_observation():
    assert list(CASES) == list(SITUATIONS)
    codes = situation_codes(np.stack(list(CASES.values())))
    assert [SITUATIONS[c] for c in codes] == list(CASES)
    # the boundaries: a heavy's reach, a blocked attack out of reach, a projectile behind me
    assert SITUATIONS[situation_codes(observation(101)[None])[0]] == "neutral"
    assert SITUATIONS[situation_codes(observation(130, opp_phase_startup=1, opp_attack_light=1)[None])[0]] \
        == "neutral"
    assert SITUATIONS[situation_codes(observation(300, opp_projectile_active=1,
                                                 opp_projectile_distance=-20 / W)[None])[0]] == "neutral"
    with pytest.raises(ValueError, match="expected observations"):
        situation_codes(np.zeros((3, OBS_DIM - 1)))
    # the names the card and the reach lookup rely on
    assert REACTIONS == SITUATIONS[1:7]
    flags = [f.name for f in FighterField][FighterField.ATTACK_LIGHT:FighterField.ATTACK_ANTI_AIR + 1]
    assert [f"ATTACK_{name.removesuffix('_ATTACK')}" for name in ATTACK_COMMANDS] == flags


def test_the_manifest_counts_rows_per_situation_and_command(tiny_dataset):
    manifest = json.loads((tiny_dataset / "manifest.json").read_text())
    record = manifest["situation_action_counts"]
    assert list(record) == list(SITUATIONS)
    counts = np.array([[record[s][a] for a in ACTION_NAMES] for s in SITUATIONS])
    assert counts.sum() == manifest["num_frames"]
    assert counts.sum(axis=0).tolist() == [manifest["action_counts"][a] for a in ACTION_NAMES]
    # recomputed from the stored frames: the same table
    observations, actions = load_dataset(tiny_dataset).to_numpy()
    again = np.zeros((NUM_SITUATIONS, len(ACTION_NAMES)), dtype=np.int64)
    np.add.at(again, (situation_codes(observations), actions), 1)
    assert np.array_equal(again, counts)
    # the pros' reactions land in their situations: anti-airs against jumps, guards under attack
    anti_air = record["anti_air"]
    assert anti_air["ANTI_AIR"] > 0.5 * counts[:, Action.ANTI_AIR].sum()
    assert record["under_attack"]["GUARD"] > 0.5 * record["under_attack"]["LIGHT_ATTACK"]
    assert sum(record["busy"].values()) > 0 and record["busy"]["NO_ACTION"] == sum(record["busy"].values())


def test_the_card_shows_the_situations(tiny_dataset):
    manifest = json.loads((tiny_dataset / "manifest.json").read_text())
    card = render_card("tiny", manifest, pd.read_parquet(tiny_dataset / "matches.parquet"))
    assert "## Situations" in card and "| punish |" in card
    rows = situation_table(manifest["situation_action_counts"])
    assert sum(r["rows"] for r in rows) == manifest["num_frames"]
    assert "## Situations" not in render_card("old", {k: v for k, v in manifest.items()
                                                      if k != "situation_action_counts"},
                                              pd.read_parquet(tiny_dataset / "matches.parquet"))


def test_situation_metrics_count_each_kind_of_moment():
    punish, neutral = SITUATION_IDS["punish"], SITUATION_IDS["neutral"]
    situations = np.array([punish] * 4 + [neutral] * 4)
    labels = np.array([8, 8, 0, 0, 0, 0, 0, 7])  # the pro punishes twice, waits, then jabs once
    waits = situation_metrics(labels, np.zeros(8, dtype=np.int64), situations)
    assert waits["situation/punish/recall"] == 0.0 and np.isnan(waits["situation/punish/precision"])
    assert waits["situation/punish/rows"] == 4 and waits["situation_recall"] == 0.0
    presses = situation_metrics(labels, np.array([8, 7, 8, 0, 0, 0, 7, 7]), situations)
    assert presses["situation/punish/recall"] == 0.5
    assert presses["situation/punish/precision"] == pytest.approx(1 / 3)  # one of its three presses
    assert presses["situation/punish/pressed_where_pro_waited"] == 0.5
    assert presses["situation/neutral/recall"] == 1.0
    assert presses["situation/neutral/pressed_where_pro_waited"] == pytest.approx(1 / 3)
    assert presses["situation_recall"] == 0.75  # mean over punish and neutral, where the pro pressed
    assert np.isnan(presses["situation/anti_air/recall"]) and presses["situation/anti_air/rows"] == 0
    assert set(DECISION_SITUATIONS) == set(SITUATIONS) - {"busy"}
    with pytest.raises(ValueError, match="equal-length"):
        situation_metrics(labels, labels[:3], situations)
