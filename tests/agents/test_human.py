"""The human player: held keys walk smoothly without flooding the log, presses are buffered."""

import numpy as np
import pytest

from agents.human import HumanPlayer
from envs.actions import Action
from envs.engine import DuelEngine
from envs.params import GameParams


def drive(player, frames, hold=None, presses=None, opponent=Action.NO_ACTION):
    """Side 0 is the human; ``hold(t)`` sets held controls, ``presses[t]`` a button pressed at t."""
    engine = DuelEngine(1)
    engine.reset(rng=np.random.default_rng(0))
    commands, xs = [], []
    for t in range(frames):
        if hold is not None:
            hold(player.held, t)
        if presses and t in presses:
            player.press(presses[t])
        command = player.command(engine.observe()[0, 0])
        commands.append(command)
        engine.step(np.array([[command, int(opponent)]]))
        xs.append(float(engine.state.x[0, 0]))
    return np.array(commands), np.array(xs)


def test_holding_forward_walks_every_frame_with_one_command_per_step():
    params = GameParams()
    player = HumanPlayer(params)
    commands, xs = drive(player, 40, hold=lambda held, t: setattr(held, "forward", True))
    walks = np.flatnonzero(commands == Action.WALK_FORWARD)
    assert walks[0] == 0 and len(walks) == int(np.ceil(40 / (params.walk_frames - 1)))
    assert set(commands[commands != Action.WALK_FORWARD]) == {Action.NO_ACTION}
    assert (np.diff(xs) > 0).all()  # continuous walk toward the opponent (side 0 faces right)


def test_jumps_guard_and_crouch_from_held_controls():
    player = HumanPlayer()
    held = player.held
    held.up, held.forward = True, True
    obs = np.zeros(42, np.float32)  # a free fighter
    assert player.command(obs) == Action.JUMP_FORWARD
    held.forward, held.back = False, True
    assert player.command(obs) == Action.JUMP  # there is no back jump
    held.up, held.back, held.guard, held.down = False, False, True, True
    assert player.command(obs) == Action.GUARD  # guard wins over crouch
    held.guard = False
    assert player.command(obs) == Action.CROUCH
    held.down, held.forward, held.back = False, True, True
    assert player.command(obs) == Action.NO_ACTION  # both directions: neutral


def test_a_press_during_recovery_comes_out_when_free_and_old_presses_expire():
    player = HumanPlayer(buffer_frames=30)
    commands, _ = drive(player, 60, presses={0: Action.HEAVY_ATTACK, 3: Action.LIGHT_ATTACK})
    heavy = GameParams().moves["HEAVY_ATTACK"]
    pressed = np.flatnonzero(commands != Action.NO_ACTION)
    assert commands[0] == Action.HEAVY_ATTACK
    assert commands[pressed[1]] == Action.LIGHT_ATTACK
    assert pressed[1] == heavy.startup + heavy.active + heavy.recovery  # first free frame

    short = HumanPlayer(buffer_frames=2)
    commands, _ = drive(short, 60, presses={0: Action.HEAVY_ATTACK, 3: Action.LIGHT_ATTACK})
    assert (commands == Action.LIGHT_ATTACK).sum() == 0  # expired while the heavy recovered


def test_press_takes_attack_buttons_only():
    with pytest.raises(ValueError, match="press\\(\\) takes an attack button"):
        HumanPlayer().press(Action.WALK_FORWARD)
    with pytest.raises(ValueError, match="buffer_frames must be an int >= 1"):
        HumanPlayer(buffer_frames=0)
