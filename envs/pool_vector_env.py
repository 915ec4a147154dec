"""N matches in one engine against an opponent pool: the vector env RL fine-tuning samples through.

:class:`~envs.vector_env.FightingVectorEnv` plays ``num_envs`` matches against *one* opponent;
:class:`~envs.pool_env.PoolFighterEnv` draws a new opponent every episode but plays one match at a
time. :class:`PoolVectorEnv` is both: ``num_envs`` slots stepped as one batch by one
:class:`~envs.engine.DuelEngine`, each slot with its own opponent, drawn from the opponent sampler
(``sample(rng)`` / ``record(name, result)``, see :mod:`envs.pool_env`) whenever that slot starts an
episode. So PFSP weights and league snapshots work exactly as in the single env: the sampler
decides, the env asks it once per episode and tells it every result.

**One act call per opponent per frame.** However many slots a bot plays, it is asked once per
frame. A bot that declares ``deterministic = True`` (same observation, same command, no memory:
a network's argmax such as BC snapshots) gets only the rows of the slots it plays, as in the
tournament. Every other bot may keep per-row memory (a pro's reaction-delay queue, a difficulty
wrapper's APM bucket), and the Policy protocol ties that memory to the row's position in the
batch, so it gets every slot's row each frame, in slot order, and only its own slots' commands are
used: row ``i`` is always slot ``i``. A bot is ``reset(num_envs, seed)`` when it is first drawn,
and ``reset(num_envs, env_ids=slots)`` when slots start an episode against it; a bot no slot plays
any more is forgotten (drawn again, it starts afresh with a new seed).

**Autoreset.** The default is Gymnasium's ``NEXT_STEP`` mode, as :class:`FightingVectorEnv`
(RLlib's ``SingleAgentEnvRunner`` expects it): the step that ends an episode returns its final
observation with ``terminated=True``; the next step restarts that slot (its action is ignored),
drawing a new opponent and side, and returns reward 0 and ``terminated=False``.
``autoreset_mode=AutoresetMode.SAME_STEP`` (what stable-baselines3's ``VecEnv`` wants) restarts the
slot in the step that ended it: that step returns the new episode's first observation, and
``info["final_obs"]`` / ``info["final_info"]`` (masked by ``"_final_obs"`` / ``"_final_info"``)
hold the last observation and info of the episode that ended.

Rewards, observations and ``info`` (``frame``, ``hp``, ``opponent_hp``, ``side``, ``result``
masked by ``_result``) are those of :class:`FightingVectorEnv`; ``info["opponent"]`` names each
slot's opponent. A sampler that draws self-play (``"self"``) raises: both sides learning needs the
multi-agent env (:class:`envs.rllib_env.FightingMultiAgentEnv`). Nothing here imports Ray or
:mod:`agents`: ``gymnasium.make_vec("FightLab/PoolDuel-v0", num_envs=N, opponents=[...])`` builds
it from bot names once :mod:`agents` is imported (:func:`agents.gym_envs.make_pool_vector_env`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv

from envs.actions import InvalidActionError, check_action_batch
from envs.options import build_params, check_reset_options, check_seed, check_side
from envs.params import GameParams
from envs.policy import Policy, check_policy
from envs.pool_env import POOL_KEY, OpponentPoolFactory, make_sampler, reject_named_pool
from envs.vector_env import learner_info, learner_obs, setup_duel_vector

POOL_ENV_ID = "FightLab/PoolDuel-v0"  # registered by agents.gym_envs (names -> the sampler factory)


class PoolVectorEnv(VectorEnv):
    """``num_envs`` matches stepped as one batch, each against an opponent drawn from a pool.

    Arguments: ``num_envs``; ``opponent_pool`` (required), a factory of an opponent sampler called
    once as ``opponent_pool(params=...)`` (:func:`agents.gym_envs.pool_factory` builds one from bot
    names); ``agent_side`` (0, 1 or "random", drawn per slot and episode; ``reset(options=
    {"agent_side": ...})`` overrides it); ``observation_delay``; ``autoreset_mode`` (NEXT_STEP or
    SAME_STEP, see the module docstring); ``params`` and any game option (``round_seconds=30``).
    """

    metadata = {"render_modes": [], "autoreset_mode": AutoresetMode.NEXT_STEP}

    def __init__(self, num_envs: int = 1, opponent_pool: OpponentPoolFactory | None = None,
                 agent_side: int | str = "random", observation_delay: int = 0,
                 autoreset_mode: AutoresetMode | str = AutoresetMode.NEXT_STEP,
                 params: GameParams | None = None, render_mode: str | None = None,
                 **game_options: Any) -> None:
        if render_mode is not None:
            raise ValueError("PoolVectorEnv does not render; watch a match with the single env")
        reject_named_pool(game_options)
        if opponent_pool is None:
            raise TypeError(f"PoolVectorEnv needs {POOL_KEY}=, a factory of an opponent sampler "
                            "(agents.gym_envs.pool_factory(opponents, ...) builds it from bot names)")
        autoreset_mode = AutoresetMode(autoreset_mode)
        if autoreset_mode not in (AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP):
            raise ValueError(f"autoreset_mode must be NEXT_STEP or SAME_STEP, got {autoreset_mode}")
        self.metadata = {**self.metadata, "autoreset_mode": autoreset_mode}
        setup_duel_vector(self, num_envs, build_params(params, game_options), observation_delay, agent_side)
        self.sampler = make_sampler(opponent_pool, self.params)
        # the opponents now playing: index k -> bot, its name, whether it gets only its own rows
        self._bots: list[Policy | None] = []
        self._bot_names: list[str | None] = []
        self._rows_only: list[bool] = []
        self._slots_of: list[np.ndarray] = []  # per index k, the slots k plays (refreshed on restarts)
        self.opponent_index = np.full(self.num_envs, -1, dtype=np.int64)  # slot -> index k
        self.opponent_name = np.full(self.num_envs, "", dtype=object)  # slot -> the sampler's name
        self._opponent_actions = np.zeros(self.num_envs, dtype=np.int64)
        self._side_mode: int | str = self.default_agent_side

    # ---- Gymnasium API ---------------------------------------------------------------------------
    def reset(self, *, seed: int | None = None,
              options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=check_seed(seed))
        options = check_reset_options(options, ("agent_side",))
        self._side_mode = check_side(options.get("agent_side", self.default_agent_side))
        self._bots, self._bot_names, self._rows_only, self._slots_of = [], [], [], []
        self.opponent_index[:] = -1
        self._restart(self._rows)
        self._prev_done[:] = False
        return self._agent_obs(), self._info()

    def step(self, actions: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray,
                                          dict[str, Any]]:
        actions = check_action_batch(actions, (self.num_envs,))
        side = self.agent_side
        self._actions[self._rows, side] = actions
        self._actions[self._rows, 1 - side] = self._opponents_act()
        dealt = self.engine.step(self._actions, validate=False)  # finished slots stay frozen
        rewards = (dealt[self._rows, side] - dealt[self._rows, 1 - side]) / self.params.max_hp
        winner = self.engine.winner
        terminated = self.engine.done.copy()
        if self.metadata["autoreset_mode"] == AutoresetMode.NEXT_STEP:
            terminated &= ~self._prev_done  # slots that ended last step restart below
        rewards = rewards + (np.where(winner == side, 1.0, 0.0) - np.where(winner == 1 - side, 1.0, 0.0)) \
            * terminated
        ended = np.flatnonzero(terminated)
        info = self._info()
        for slot, result in zip(ended, info["result"][ended], strict=True):
            self.sampler.record(self.opponent_name[slot], str(result))

        if self.metadata["autoreset_mode"] == AutoresetMode.NEXT_STEP:
            restarting = np.flatnonzero(self._prev_done)
            if restarting.size:
                self._restart(restarting)
                rewards[restarting] = 0.0
                info = self._info()
            self._prev_done = terminated
        elif ended.size:  # SAME_STEP: the slots that just ended start again now
            final_obs = np.full(self.num_envs, None, dtype=object)
            last_obs = self._agent_obs()
            for slot in ended:
                final_obs[slot] = last_obs[slot].copy()
            final_info, mask = info, terminated.copy()
            self._restart(ended)
            info = self._info() | {"final_obs": final_obs, "_final_obs": mask,
                                   "final_info": final_info, "_final_info": mask}
        truncated = np.zeros(self.num_envs, dtype=np.bool_)
        return self._agent_obs(), rewards.astype(np.float32), terminated, truncated, info

    # ---- opponents -------------------------------------------------------------------------------
    def _restart(self, slots: np.ndarray) -> None:
        """New episodes in ``slots``: sides, opponents (from the sampler), starting spots, bot resets.

        The order of draws from ``np_random`` is :class:`FightingVectorEnv`'s (sides, then the
        bot's seed if it is new, then the starting spots), so against a sampler that always returns
        one bot and draws nothing, both envs play the same matches.
        """
        if self._side_mode == "random":
            self.agent_side[slots] = self.np_random.integers(2, size=slots.shape[0])
        else:
            self.agent_side[slots] = self._side_mode
        for slot in slots:
            name, policy = self.sampler.sample(self.np_random)
            self.opponent_index[slot] = self._index_of(name, policy)
            self.opponent_name[slot] = name
        self.engine.reset(slots, rng=self.np_random)
        counts = np.bincount(self.opponent_index, minlength=len(self._bots))
        self._slots_of = [np.flatnonzero(self.opponent_index == k) for k in range(len(self._bots))]
        for k, bot in enumerate(self._bots):
            if bot is None:
                continue
            if counts[k] == 0:  # nobody plays it any more (a retired snapshot, say): forget it
                self._bots[k], self._bot_names[k] = None, None
                continue
            restarted = slots[self.opponent_index[slots] == k]
            if restarted.size:
                bot.reset(self.num_envs, env_ids=restarted)

    def _index_of(self, name: str, policy: Policy | None) -> int:
        """The index of ``policy`` among the bots now playing; a bot new to the env is checked,
        reset for ``num_envs`` rows with a seed from ``np_random``, and takes a free index."""
        if policy is None:
            raise ValueError(f"the opponent pool drew {name!r} (self-play), which needs both sides "
                             "learning: a vector env with in-env opponents cannot play it (use the "
                             "RLlib multi-agent env, envs.rllib_env.FightingMultiAgentEnv)")
        for k, bot in enumerate(self._bots):
            if bot is policy:
                return k
        policy = check_policy(policy, f"the pool's opponent {name!r}")
        policy.reset(self.num_envs, seed=int(self.np_random.integers(2**31)))
        entry = (policy, name, getattr(policy, "deterministic", False) is True)
        if None in self._bots:
            k = self._bots.index(None)
            self._bots[k], self._bot_names[k], self._rows_only[k] = entry
        else:
            k = len(self._bots)
            self._bots.append(entry[0])
            self._bot_names.append(entry[1])
            self._rows_only.append(entry[2])
            self._slots_of.append(np.zeros(0, dtype=np.int64))
        return k

    def _opponents_act(self) -> np.ndarray:
        """Every opponent's commands for this frame: one ``act`` call per bot (see the module docstring)."""
        opponent_obs = self.engine.observe()[self._rows, 1 - self.agent_side]
        for k, bot in enumerate(self._bots):
            slots = self._slots_of[k]
            if bot is None or slots.size == 0:
                continue
            if self._rows_only[k]:
                self._opponent_actions[slots] = self._checked(bot.act(opponent_obs[slots]), slots.size, k)
            else:
                self._opponent_actions[slots] = self._checked(bot.act(opponent_obs), self.num_envs, k)[slots]
        return self._opponent_actions

    def _checked(self, actions: Any, n: int, k: int) -> np.ndarray:
        try:
            return check_action_batch(actions, (n,))
        except InvalidActionError as err:
            raise InvalidActionError(f"the pool's opponent {self._bot_names[k]!r} returned invalid "
                                     f"actions: {err}") from err

    # ---- what the learner sees -------------------------------------------------------------------
    def _agent_obs(self) -> np.ndarray:
        return learner_obs(self.engine, self._rows, self.agent_side)

    def _info(self) -> dict[str, Any]:
        info = learner_info(self.engine, self._rows, self.agent_side)
        return {**info, "opponent": self.opponent_name.copy()}


__all__ = ["POOL_ENV_ID", "PoolVectorEnv"]
