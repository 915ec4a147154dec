"""``python train.py agent=sb3_ppo agent.init_from=<BC checkpoint>``: stable-baselines3 PPO fine-tuning.

The single-machine path, next to RLlib's: SB3 PPO (``MlpPolicy``) on the single-agent opponent-pool
env (:class:`envs.pool_env.PoolFighterEnv`: the same sampling, PFSP weighting and league as RLlib's
multi-agent env, without importing Ray), the actor initialised from the BC
network (:func:`agents.rl.sb3_init.make_sb3_ppo`, logits checked), the value output at zero. The
run is scored, checkpointed and reported by the same :class:`agents.tracker.RunTracker`
as an RLlib run, from an SB3 callback after every rollout; the artifacts (``best/``, ``last/``,
``league/``) are the BC checkpoint format. SB3's own ``.zip`` is not written: it is not needed to
play the bot, and ``train.resume`` is RLlib's (``agent=ppo``).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from agents.bc import resolve_device
from agents.gym_envs import pool_env_config
from agents.networks import ACTIVATIONS
from agents.registry import resolve_pool
from agents.rl.league import SELF
from agents.rl.sb3_init import make_sb3_ppo, sb3_to_policy_network
from agents.tracker import RunTracker
from envs.pool_env import PoolFighterEnv


def build_model(cfg: Any, run_dir: Path) -> Any:
    from stable_baselines3 import PPO
    from stable_baselines3.common.vec_env import DummyVecEnv, VecMonitor

    agent = cfg.agent
    opponents = list(resolve_pool(agent.opponents))
    if not opponents or SELF in opponents:
        raise ValueError(f"agent=sb3_ppo needs a pool of bots without {SELF!r} (self-play needs "
                         f"both sides learning: use agent=ppo); got opponents={opponents}")
    env_config = pool_env_config(opponents, league_share=agent.league_share, league_size=agent.league_size,
                                 pfsp_power=agent.pfsp_power,
                                 league_dir=run_dir / "league" if agent.snapshot_every > 0 else None)
    venv = VecMonitor(DummyVecEnv([lambda: PoolFighterEnv(env_config)] * agent.num_envs))
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
