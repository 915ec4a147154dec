"""``python train.py agent=sb3_ppo agent.init_from=<BC checkpoint>``: stable-baselines3 PPO fine-tuning.

The single-machine path, next to RLlib's: SB3 PPO (``MlpPolicy``) on the batched opponent-pool
env (:class:`envs.pool_vector_env.PoolVectorEnv`: ``agent.num_envs`` matches in one engine, each
against an opponent drawn with the same sampling, PFSP weighting and league as RLlib's, without
importing Ray), seen by SB3 through :class:`SB3VecEnv`, a ``VecEnv`` whose ``step`` is one call of
the vector env for all matches (SB3's ``DummyVecEnv`` would loop over Python envs). The actor is
initialised from the BC network (:func:`agents.rl.sb3_init.make_sb3_ppo`, logits checked), the
value output at zero. The run is scored, checkpointed and reported by the same
:class:`agents.tracker.RunTracker` as an RLlib run, from an SB3 callback after every rollout; the
artifacts (``best/``, ``last/``, ``league/``) are the BC checkpoint format. SB3's own ``.zip`` is
not written: it is not needed to play the bot, and ``train.resume`` is RLlib's (``agent=ppo``).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import gymnasium
import numpy as np
from gymnasium.vector import AutoresetMode
from stable_baselines3.common.vec_env import VecEnv

from agents.bc import resolve_device
from agents.gym_envs import make_pool_vector_env
from agents.networks import ACTIVATIONS
from agents.registry import resolve_pool
from agents.rl.league import SELF
from agents.rl.sb3_init import make_sb3_ppo, sb3_to_policy_network
from agents.tracker import RunTracker


class SB3VecEnv(VecEnv):
    """stable-baselines3's ``VecEnv`` API over one Gymnasium vector env with ``SAME_STEP`` autoreset.

    SB3 wants the next episode's first observation in the step that ended an episode, and the
    last one in ``infos[i]["terminal_observation"]``: that is Gymnasium's ``SAME_STEP`` mode
    (``info["final_obs"]``), so the vector env is built in that mode and this class only renames.
    Every match is stepped by the one ``env.step`` call; the only per-match Python work is SB3's
    list of info dicts (empty except for matches that just ended, which also carry ``result`` and
    ``opponent``). ``seed(s)`` seeds the next ``reset`` with ``s`` (the vector env derives every
    match from it). Attribute and method calls go to the one vector env, answered once per index.
    """

    def __init__(self, env: gymnasium.vector.VectorEnv) -> None:
        if env.metadata.get("autoreset_mode") != AutoresetMode.SAME_STEP:
            raise ValueError("SB3VecEnv needs a vector env with autoreset_mode=SAME_STEP (SB3 resets an "
                             f"ended episode in the same step), got {env.metadata.get('autoreset_mode')}")
        self.env = env
        super().__init__(env.num_envs, env.single_observation_space, env.single_action_space)
        self._actions = np.zeros(env.num_envs, dtype=np.int64)

    def reset(self) -> np.ndarray:
        obs, _ = self.env.reset(seed=self._seeds[0])
        self._reset_seeds()
        self.reset_infos = [{} for _ in range(self.num_envs)]
        return obs

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = np.asarray(actions, dtype=np.int64).reshape(self.num_envs)

    def step_wait(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[dict[str, Any]]]:
        obs, rewards, terminated, truncated, info = self.env.step(self._actions)
        dones = terminated | truncated
        infos: list[dict[str, Any]] = [{} for _ in range(self.num_envs)]
        for i in np.flatnonzero(dones):
            final = info["final_info"]
            infos[i] = {"terminal_observation": info["final_obs"][i],
                        "TimeLimit.truncated": bool(truncated[i] and not terminated[i]),
                        "result": str(final["result"][i]), "opponent": str(final["opponent"][i])}
        return obs, rewards, dones, infos

    def close(self) -> None:
        self.env.close()

    def get_attr(self, attr_name: str, indices: Any = None) -> list[Any]:
        return [getattr(self.env, attr_name)] * len(self._indices(indices))

    def set_attr(self, attr_name: str, value: Any, indices: Any = None) -> None:
        setattr(self.env, attr_name, value)

    def env_method(self, method_name: str, *method_args: Any, indices: Any = None,
                   **method_kwargs: Any) -> list[Any]:
        result = getattr(self.env, method_name)(*method_args, **method_kwargs)
        return [result] * len(self._indices(indices))

    def env_is_wrapped(self, wrapper_class: type[gymnasium.Wrapper], indices: Any = None) -> list[bool]:
        return [False] * len(self._indices(indices))  # one vector env, no per-match wrappers

    def _indices(self, indices: Any) -> Sequence[int]:
        return list(self._get_indices(indices))


def make_sb3_vec_env(num_envs: int, **env_config: Any) -> VecEnv:
    """SB3's view of ``FightLab/PoolDuel-v0``: :class:`SB3VecEnv` over a
    :class:`~envs.pool_vector_env.PoolVectorEnv` in ``SAME_STEP`` mode, in a ``VecMonitor`` (episode
    returns for the curves). ``env_config`` names the pool as :func:`agents.gym_envs.make_pool_vector_env`."""
    from stable_baselines3.common.vec_env import VecMonitor

    env = make_pool_vector_env(num_envs, autoreset_mode=AutoresetMode.SAME_STEP, **env_config)
    return VecMonitor(SB3VecEnv(env))


def build_model(cfg: Any, run_dir: Path) -> Any:
    from stable_baselines3 import PPO

    agent = cfg.agent
    opponents = list(resolve_pool(agent.opponents))
    if not opponents or SELF in opponents:
        raise ValueError(f"agent=sb3_ppo needs a pool of bots without {SELF!r} (self-play needs "
                         f"both sides learning: use agent=ppo); got opponents={opponents}")
    league_dir = run_dir / "league" if agent.snapshot_every > 0 else None
    venv = make_sb3_vec_env(agent.num_envs, opponents=opponents, league_share=agent.league_share,
                            league_size=agent.league_size, pfsp_power=agent.pfsp_power,
                            league_dir=None if league_dir is None else str(league_dir))
    venv.seed(agent.seed)
    kwargs = dict(learning_rate=agent.lr, n_steps=agent.n_steps, batch_size=agent.minibatch_size,
                  n_epochs=agent.num_epochs, gamma=agent.gamma, gae_lambda=agent.gae_lambda,
                  clip_range=agent.clip_param, ent_coef=agent.entropy_coeff, vf_coef=agent.vf_loss_coeff,
                  seed=agent.seed, device=str(resolve_device(agent.device)), verbose=0)
    if agent.init_from is not None:
        return make_sb3_ppo(venv, agent.init_from, **kwargs)
    hidden = list(agent.hidden_sizes)
    return PPO("MlpPolicy", venv, policy_kwargs={"net_arch": {"pi": hidden, "vf": hidden},
                                                  "activation_fn": ACTIVATIONS[agent.activation]}, **kwargs)


def train_sb3(cfg: Any, run_dir: Path, tracker: RunTracker) -> tuple[int, dict[str, Any]]:
    """SB3 PPO for ``cfg.agent.total_timesteps``, reporting to ``tracker`` from a callback.

    Returns the env steps and extra result fields; ``tracker.finish`` scores the best checkpoint.
    """
    from stable_baselines3.common.callbacks import BaseCallback

    agent = cfg.agent
    model = build_model(cfg, run_dir)
    tracker.evaluate(sb3_to_policy_network(model), 0)  # the start of every curve: the BC bot

    class TrackerCallback(BaseCallback):
        """After each rollout: training curves, league snapshots, evaluations (as ``agent=ppo``)."""

        def __init__(self) -> None:
            super().__init__()
            self.rollouts, self.started, self.last_steps = 0, time.perf_counter(), 0

        def _on_step(self) -> bool:
            return True

        def _on_rollout_end(self) -> None:
            self.rollouts += 1
            steps, now = self.num_timesteps, time.perf_counter()
            values = self.model.logger.name_to_value  # the previous update's losses, not yet dumped
            returns = [info["r"] for info in self.model.ep_info_buffer]
            tracker.log_scalars({
                "charts/episode_return": float(np.mean(returns)) if returns else None,
                "charts/env_steps_per_second": (steps - self.last_steps) / max(now - self.started, 1e-9),
                "losses/policy_loss": values.get("train/policy_gradient_loss"),
                "losses/value_loss": values.get("train/value_loss"),
                "losses/entropy": -values["train/entropy_loss"] if "train/entropy_loss" in values else None,
                "losses/kl": values.get("train/approx_kl"),
                "losses/explained_variance": values.get("train/explained_variance")}, steps)
            self.started, self.last_steps = now, steps
            network = sb3_to_policy_network(self.model)
            if agent.snapshot_every and self.rollouts % agent.snapshot_every == 0:
                tracker.snapshot(network, self.rollouts)
            if agent.eval_every and self.rollouts % agent.eval_every == 0:
                tracker.evaluate(network, steps)
                tracker.save_last(network, steps, {"rollouts": self.rollouts})

    callback = TrackerCallback()
    model.learn(total_timesteps=agent.total_timesteps, callback=callback)
    network = sb3_to_policy_network(model)
    if tracker.last_eval_step != model.num_timesteps:  # the last rollout was not evaluated yet
        tracker.evaluate(network, model.num_timesteps)
        tracker.save_last(network, model.num_timesteps, {"rollouts": callback.rollouts})
    model.get_env().close()
    return int(model.num_timesteps), {}
