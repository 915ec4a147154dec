"""The single-agent Gymnasium env: you against a configurable opponent policy."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from envs.actions import NUM_ACTIONS, check_action
from envs.duel import Duel
from envs.observation import observation_space
from envs.options import build_params, check_reset_options, check_seed, check_side
from envs.params import GameParams
from envs.policy import Policy, check_policy


class FightingEnv(gym.Env):
    """
    ## Description

    A 1v1 side-view fighting game at 60 frames per second. Two fighters with the same character
    sheet (:class:`envs.params.GameParams`) walk, jump, crouch, guard and attack with frame data
    (startup, active and recovery frames, damage, reach, hit-stun, block-stun); a projectile has a
    cooldown; a throw beats guard; an anti-air beats jumps. While a fighter is busy (in an attack,
    in the air, stunned) its inputs are ignored, so timing and spacing decide the match: spammed
    attacks get punished in their recovery, and standing idle never wins. You control one fighter;
    the other is played by ``opponent``, any :class:`envs.policy.Policy` object (a scripted bot, a
    trained bot, ...; ``gymnasium.make`` also takes bot names, resolved by :mod:`agents`).

    ## Action Space

    ``Discrete(12)``: one command per frame, :class:`envs.actions.Action`. Directions are
    egocentric (``WALK_FORWARD`` walks toward the opponent). A command starts a move that plays out
    over several frames; on frames where you press nothing new, send ``NO_ACTION`` (0).

    | id | command | id | command |
    |----|---------|----|---------|
    | 0 | NO_ACTION | 6 | GUARD |
    | 1 | WALK_FORWARD | 7 | LIGHT_ATTACK |
    | 2 | WALK_BACK | 8 | HEAVY_ATTACK |
    | 3 | JUMP | 9 | SPECIAL (projectile) |
    | 4 | JUMP_FORWARD | 10 | THROW |
    | 5 | CROUCH | 11 | ANTI_AIR |

    ## Observation Space

    ``Box(42,)`` float32, the egocentric encoding of :mod:`envs.observation` (version "1"): you
    are always "me" and distances are measured along your facing. Fields 0-1 are match-wide
    (``time_left``, ``distance``), 2-21 describe you (``me_*``) and 22-41 the opponent (``opp_*``):
    HP, space behind, height, jump direction, busy and stun time, guarding, crouching, walking,
    which attack and which phase of it, projectile cooldown, projectile on screen and its distance.
    ``envs.observation.observation_field_table()`` lists every field with its unit and bounds.

    ## Rewards

    Each frame: (damage dealt - damage taken) / max HP. On the final frame also +1 for a win,
    -1 for a loss, 0 for a draw.

    ## Starting State

    Both fighters at full HP, ``start_distance`` px apart, facing each other, the pair shifted by a
    seeded uniform offset of up to ``start_jitter`` px. Your side (left = 0, right = 1) is drawn per
    episode when ``agent_side="random"``.

    ## Episode End

    The episode terminates on a KO (a fighter's HP reaches 0) or when the round timer runs out
    (``round_seconds``, 60 s = 3600 frames by default): higher HP wins, equal HP is a draw.
    ``info["result"]`` is then "win", "loss" or "draw". There is no truncation: the timer is in the
    observation, so time-up is a true end of the game.

    ## Arguments

    ```python
    import gymnasium, agents  # importing agents registers the ids (agents.gym_envs resolves names)
    env = gymnasium.make("FightLab/Duel-v0", opponent="footsies", agent_side="random",
                         observation_delay=0, render_mode=None, round_seconds=60)
    env = FightingEnv(opponent=agents.make_policy("footsies"))  # the class itself takes a Policy
    ```

    * ``opponent``: a Policy object (required). Through ``gymnasium.make`` also a registered bot
      name (``agents.available_bots()``) or a checkpoint / bundle path; the default there is
      ``"footsies"``.
    * ``agent_side``: 0, 1 or "random"; can be overridden per episode with
      ``reset(options={"agent_side": 1})``.
    * ``observation_delay``: frames of reaction time; both players see the state this many frames
      late (default 0).
    * ``render_mode``: "ansi" (text), "rgb_array" (frames) or "human" (a pygame window).
    * ``params``: a :class:`GameParams`; any of its fields can also be passed directly as a game
      option (``round_seconds=30``, ``max_hp=150``, ...). Unknown options raise ``TypeError``.
    """

    metadata = {"render_modes": ["human", "rgb_array", "ansi"], "render_fps": 60}

    def __init__(self, opponent: Policy | None = None, agent_side: int | str = "random",
                 observation_delay: int = 0, render_mode: str | None = None,
                 params: GameParams | None = None, **game_options: Any) -> None:
        self.params = build_params(params, game_options)
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be one of {self.metadata['render_modes']} or None, "
                             f"got {render_mode!r}")
        self.render_mode = render_mode
        self.opponent = check_policy(opponent)
        self.default_agent_side = check_side(agent_side)
        self.duel = Duel(self.params, observation_delay)
        self.observation_space = observation_space()
        self.action_space = gym.spaces.Discrete(NUM_ACTIONS)
        self.agent_side = 0
        self._obs = np.zeros((2, self.observation_space.shape[0]), dtype=np.float32)
        self._renderer: Any = None

    def reset(self, *, seed: int | None = None,
              options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=check_seed(seed))
        options = check_reset_options(options, ("agent_side",))
        side = check_side(options.get("agent_side", self.default_agent_side))
        self.agent_side = int(self.np_random.integers(2)) if side == "random" else side
        self.opponent.reset(1, seed=int(self.np_random.integers(2**31)))
        self._obs = self.duel.reset(self.np_random)
        if self.render_mode == "human":
            self.render()
        return self._obs[self.agent_side].copy(), self.duel.info(self.agent_side)

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        action = check_action(action)
        me = self.agent_side
        opponent_action = int(self.opponent.act(self._obs[1 - me][None])[0])
        actions = (action, opponent_action) if me == 0 else (opponent_action, action)
        self._obs, rewards, done = self.duel.step(*actions)
        if self.render_mode == "human":
            self.render()
        return self._obs[me].copy(), float(rewards[me]), done, False, self.duel.info(me)

    def render(self) -> Any:
        if self.render_mode is None:
            gym.logger.warn("render() called without a render_mode; pass render_mode= to the env")
            return None
        from envs.rendering import PygameRenderer, render_ansi

        names = ("YOU", "CPU") if self.agent_side == 0 else ("CPU", "YOU")
        if self.render_mode == "ansi":
            return render_ansi(self.duel.engine.state, 0, self.params, names)
        if self._renderer is None:
            self._renderer = PygameRenderer(self.params, self.render_mode, names)
        self._renderer.names = names
        return self._renderer.render(self.duel.engine.state, 0)

    def close(self) -> None:
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None
