"""``python play.py`` driven headless by scripted key events: a match, a rating, a recording, a screenshot.

The scripts post real pygame ``KEYDOWN`` / ``KEYUP`` events (``agents.keyboard.ScriptedInput``), so
the same event handling runs as for a person at the keyboard. Screenshots land in tests/artifacts/
(gitignored) for a human to look at.
"""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from agents.keyboard import ScriptedInput
from datasets.load import load_dataset
from datasets.validation import validate_frames, validate_matches

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "tests" / "artifacts"
HEADLESS = {"SDL_VIDEODRIVER": "dummy", "SDL_AUDIODRIVER": "dummy"}

PLAYTEST_SCRIPT = [
    {"wait": 5, "down": ["right"]},  # walk in
    {"wait": 30, "tap": ["j"]},  # light
    {"wait": 12, "tap": ["k"]},  # heavy
    {"wait": 20, "up": ["right"], "down": ["space"]},  # guard
    {"wait": 30, "up": ["space"], "tap": ["l"]},  # fireball
    {"screen": "rate_difficulty", "tap": ["3"]},
    {"screen": "rate_fun", "tap": ["4"]},
    {"screen": "menu", "tap": ["q"]},
]


def play(*overrides, cwd, script=None):
    args = [sys.executable, str(ROOT / "play.py"), "headless=true", *overrides]
    if script is not None:
        path = Path(cwd) / "keys.json"
        path.write_text(json.dumps(script))
        args.append(f"script={path}")
    import os

    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=120,
                          env={**os.environ, **HEADLESS})


def png_size(path):
    import pygame

    image = pygame.image.load(str(path))
    return image.get_size(), len(np.unique(pygame.surfarray.array3d(image).reshape(-1, 3), axis=0))


def test_a_scripted_playtest_reaches_a_result_is_rated_and_recorded(tmp_path):
    record = tmp_path / "playtest"
    shot = ARTIFACTS / "play_screenshot.png"
    out = play("round_seconds=3", "max_matches=1", f"record.dir={record}", "record.player=tester",
               f"screenshot={shot}", cwd=tmp_path, script=PLAYTEST_SCRIPT)
    assert out.returncode == 0, out.stderr
    assert "played 1 match(es)" in out.stdout and "match 0: difficulty 3, fun 4" in out.stdout
    dataset = load_dataset(record, verify=True)
    assert dataset.num_matches == 1
    assert dataset.manifest["match_notes"] == [{"match_id": 0, "difficulty": 3, "fun": 4}]
    assert dataset.manifest["generator"]["play"]["bot"] == "footsies"
    validate_matches(dataset.matches, validate_frames(dataset.frames, str(record)), str(record))
    human = dataset.frames[dataset.frames["player_id"] == "human:tester"]
    assert len(human) == 180 and (human["side"] == 0).all()  # 3 s at 60 fps, on the left
    pressed = set(human["action_name"])
    assert {"WALK_FORWARD", "LIGHT_ATTACK", "GUARD"} <= pressed
    assert (human["action_name"] == "NO_ACTION").mean() > 0.8  # an input log, not a key-state dump
    assert "## Match notes" in (record / "card.md").read_text()
    for path in (shot, shot.with_name("play_screenshot_result.png")):
        size, colours = png_size(path)
        assert size == (640, 420) and colours > 20, (path, size, colours)


def test_side_right_walks_toward_the_opponent_with_left_and_skipped_ratings_are_null(tmp_path):
    from play import PlayConfig, PlaySession, RecordConfig, Side

    config = PlayConfig(bot="idle", side=Side.right, round_seconds=1.0, max_matches=1, headless=True,
                        record=RecordConfig(dir=str(tmp_path / "rec")))
    script = ScriptedInput([{"wait": 2, "down": ["left"]}, {"wait": 30, "up": ["left"]},
                            {"screen": "rate_difficulty", "tap": ["return"]},
                            {"screen": "rate_fun", "tap": ["5"]}])
    summary = PlaySession(config, inputs=script).run()
    assert len(summary.results) == 1 and summary.ratings == [{"difficulty": None, "fun": 5}]
    dataset = load_dataset(tmp_path / "rec")
    human = dataset.frames[dataset.frames["player_id"] == "human:designer"]
    assert (human["side"] == 1).all() and "WALK_FORWARD" in set(human["action_name"])
    assert "WALK_BACK" not in set(human["action_name"])
    back_space = human.sort_values("frame")["me_back_space"].to_numpy()
    assert back_space[35] > back_space[0] + 0.1  # moved away from the right wall, toward the bot
    assert dataset.manifest["match_notes"] == [{"match_id": 0, "difficulty": None, "fun": 5}]


def test_quitting_mid_match_records_nothing(tmp_path):
    from play import PlayConfig, PlaySession, RecordConfig

    config = PlayConfig(headless=True, record=RecordConfig(dir=str(tmp_path / "rec")))
    session = PlaySession(config, inputs=ScriptedInput([{"wait": 20, "tap": ["escape"]}]))
    with pytest.warns(UserWarning, match="no match was finished; nothing written"):
        summary = session.run()
    assert summary.results == [] and not (tmp_path / "rec").exists()


def test_spectate_two_bots_and_nothing_is_recorded(tmp_path):
    out = play("spectate=true", "p2=zoner", "round_seconds=2", "max_matches=2", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "played 2 match(es)" in out.stdout
    assert not (tmp_path / "data").exists()


def test_unknown_bot_fails_with_the_list_of_bots(tmp_path):
    out = play("bot=nosuchbot", cwd=tmp_path)
    assert out.returncode == 1
    assert "play.py: bot=nosuchbot: unknown bot 'nosuchbot'; available bots: footsies, idle, random" \
        in out.stderr
    out = play("difficulty.reaction_delay=-3", cwd=tmp_path)
    assert out.returncode == 1 and "difficulty.reaction_delay must be an int" in out.stderr


def test_bad_scripts_fail_clearly():
    with pytest.raises(ValueError, match=r"step 0: unknown key\(s\) \['press'\]"):
        ScriptedInput([{"press": ["j"]}])
    with pytest.raises(ValueError, match="wait must be an int >= 0"):
        ScriptedInput([{"wait": -1}])
