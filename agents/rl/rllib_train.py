"""``python train.py agent=ppo agent.init_from=<BC checkpoint>``: RLlib PPO fine-tuning, top to bottom.

1. Ray: a local instance (``ray.num_cpus``) or an existing cluster (``ray.address``).
2. The algorithm: :func:`agents.rl.rllib_module.ppo_config` (the BC network inside an RLModule,
   weights verified after loading; a zero value head; a low learning rate) on the multi-agent env
   with an opponent pool (:mod:`agents.rl.league`): the reference pros and scripted bots, the
   perfect-skill pros, ``"self"`` if asked, and frozen snapshots of the learner as it improves.
3. Iterations of ``algo.train()``; every ``agent.eval_every`` the learner's policy is scored like a
   BC epoch (:class:`agents.tracker.RunTracker`), every ``agent.snapshot_every`` it joins
   the league, every ``agent.rllib_checkpoint_every`` an RLlib checkpoint is written for resuming.
4. The best policy (by ``eval.best_metric``) on the test split and in fresh matches.

Runs land in ``runs/<experiment>/ppo_<start>_seed<seed>/`` next to the BC runs: ``best/`` and
``last/`` in the BC checkpoint format (so the tournament, export and play.py load them like any
bot), ``league/``, ``rllib/`` (RLlib's own checkpoint), TensorBoard events, ``results.json``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from rich.console import Console
from tqdm.auto import tqdm

from agents.artifacts import RLLIB_CHECKPOINT, write_folder
from agents.gym_envs import pool_env_config
from agents.networks import PolicyNetwork
from agents.rl.ray_runtime import init_ray
from agents.rl.rllib_module import DEFAULT_MODULE_ID, policy_network_from_algo, ppo_config
from agents.tracker import RunTracker


def build_algo(cfg: Any, run_dir: Path) -> Any:
    agent = cfg.agent
    env_config = pool_env_config(agent.opponents, league_share=agent.league_share,
                                 league_size=agent.league_size, pfsp_power=agent.pfsp_power,
                                 league_dir=run_dir / "league" if agent.snapshot_every > 0 else None)
    config = ppo_config(agent.init_from, env_config=env_config, num_env_runners=agent.num_env_runners,
                        num_envs_per_env_runner=agent.num_envs_per_env_runner,
                        num_learners=agent.num_learners, device=agent.device,
                        hidden_sizes=agent.hidden_sizes, activation=agent.activation, seed=agent.seed,
                        lr=agent.lr, gamma=agent.gamma, lambda_=agent.gae_lambda,
                        clip_param=agent.clip_param, entropy_coeff=agent.entropy_coeff,
                        vf_loss_coeff=agent.vf_loss_coeff, num_epochs=agent.num_epochs,
                        minibatch_size=agent.minibatch_size,
                        train_batch_size_per_learner=agent.train_batch_size)
    return config.build_algo()


def env_steps(result: dict[str, Any]) -> int:
    """Lifetime env steps sampled (RLlib's counter), the x-axis of every RL curve."""
    return int(result.get("num_env_steps_sampled_lifetime")
               or result["env_runners"].get("num_env_steps_sampled_lifetime", 0))


def training_scalars(result: dict[str, Any], seconds: float, steps_this_iter: int) -> dict[str, float]:
    """RLlib's result dict -> CleanRL-style tags: ``charts/`` (returns, speed) and ``losses/``."""
    runners = result.get("env_runners", {})
    returns = runners.get("module_episode_returns_mean", {}).get(DEFAULT_MODULE_ID)
    learner = result.get("learners", {}).get(DEFAULT_MODULE_ID, {})
    return {"charts/episode_return": returns, "charts/episode_length": runners.get("episode_len_mean"),
            "charts/env_steps_per_second": steps_this_iter / max(seconds, 1e-9),
            "losses/policy_loss": learner.get("policy_loss"), "losses/value_loss": learner.get("vf_loss"),
            "losses/entropy": learner.get("entropy"), "losses/kl": learner.get("mean_kl_loss"),
            "losses/explained_variance": learner.get("vf_explained_var")}


def save_rllib_checkpoint(algo: Any, run_dir: Path) -> None:
    """``algo.save_to_path`` into a fresh temp folder, then swap it in whole
    (:func:`agents.artifacts.publish_folder`): a crash never leaves half a checkpoint, and only an
    RLlib checkpoint is ever replaced."""
    with write_folder(run_dir / "rllib", kind=RLLIB_CHECKPOINT, overwrite=True) as tmp:
        algo.save_to_path(str(tmp.absolute()))  # pyarrow's filesystem wants an absolute path


def train_rllib(cfg: Any, run_dir: Path, tracker: RunTracker,
                state: dict[str, Any] | None = None) -> tuple[int, dict[str, Any]]:
    """RLlib PPO for ``cfg.agent.iterations``, reporting to ``tracker``; ``state`` resumes from ``last/``.

    Returns the env steps sampled and extra result fields; ``tracker.finish`` scores the best checkpoint.
    """
    agent = cfg.agent
    console = Console(stderr=True)
    init_ray(cfg.ray.address, cfg.ray.num_cpus)
    algo = build_algo(cfg, run_dir)
    try:
        if state is not None:
            if not (run_dir / "rllib").is_dir():
                raise FileNotFoundError(f"train.resume=true but {run_dir / 'rllib'} holds no RLlib "
                                        "checkpoint")
            algo.restore_from_path(str((run_dir / "rllib").absolute()))
            console.print(f"resuming {run_dir} after iteration {state['iteration']}", soft_wrap=True)
        start_iteration, steps = (state["iteration"], state["step"]) if state else (0, 0)
        network: PolicyNetwork = policy_network_from_algo(algo)
        if state is None:
            tracker.evaluate(network, 0)  # the starting point of every curve: the BC bot (or random init)
        iterations = tqdm(range(start_iteration, agent.iterations), desc=run_dir.name, unit="iter",
                          disable=not cfg.train.progress, initial=start_iteration, total=agent.iterations)
        for iteration in iterations:
            start = time.perf_counter()
            result = algo.train()
            seconds = time.perf_counter() - start
            previous, steps = steps, env_steps(result)
            tracker.log_scalars(training_scalars(result, seconds, steps - previous), steps)
            number = iteration + 1
            last = number == agent.iterations
            network = policy_network_from_algo(algo)
            if agent.snapshot_every and number % agent.snapshot_every == 0:
                tracker.snapshot(network, number)
            if last or (agent.eval_every and number % agent.eval_every == 0):
                logged = tracker.evaluate(network, steps)
                iterations.set_postfix(win=f"{logged['online/win_rate']:.2f}",
                                       acc=f"{logged['offline/accuracy']:.3f}")
            if last or (agent.rllib_checkpoint_every and number % agent.rllib_checkpoint_every == 0):
                save_rllib_checkpoint(algo, run_dir)
                tracker.save_last(network, steps, {"iteration": number})
        return steps, {}
    finally:
        algo.stop()
