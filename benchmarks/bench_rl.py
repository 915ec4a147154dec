"""RL training speed: RLlib PPO on our env against RLlib PPO on CartPole-v1, same config, same run.

Both runs use :func:`agents.rl.rllib_module.ppo_config`: the same PPO settings, the same RLModule
(the project's ``PolicyNetwork``, 256x256, plus its value head), the same multi-agent EnvRunner
path (CartPole through RLlib's ``make_multi_agent`` with one agent), the same number of envs per
runner, sampling in the driver. So the ratio of env steps per second isolates what our env costs
on top of the cheapest env there is: the engine step, the observation encoding and the in-env
opponent. ``rllib_ratio_vs_cartpole`` uses an opponent that costs nothing to decide (``idle``);
``rllib_ratio_vs_cartpole_pro_pool`` trains against the default fine-tuning pool, where the pros'
rule-based decisions are part of every frame. Target: ``rllib_ratio_vs_cartpole`` >= 0.8 (our env
must not be the bottleneck of RL training).

Also stable-baselines3 PPO on our env (``sb3_steps_per_s``, the same pool view SB3 fine-tuning
uses, against ``idle``; 4 envs, ``n_steps=1024``). Writes ``benchmarks/results/rl.json``.

    python benchmarks/bench_rl.py [--iterations 3] [--batch 4096]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agents.rl.config import DEFAULT_TRAINING_POOL  # noqa: E402
from agents.rl.ray_runtime import init_ray  # noqa: E402
from agents.rl.rllib_module import ppo_config  # noqa: E402
from benchmarks.common import write_results  # noqa: E402

TARGET = 0.8


def rllib_steps_per_s(env: str, iterations: int, batch: int, envs_per_runner: int) -> float:
    """Env steps per second of ``algo.train()`` (sampling and learning), after one warm-up iteration."""
    from ray.rllib.env.multi_agent_env import make_multi_agent

    opponents = {"ours_idle": ["idle"], "ours_pool": list(DEFAULT_TRAINING_POOL)}.get(env)
    config = ppo_config(None, env_config={"opponents": opponents} if opponents else None, seed=0,
                        device="cpu", num_envs_per_env_runner=envs_per_runner,
                        train_batch_size_per_learner=batch, minibatch_size=min(1024, batch), num_epochs=4,
                        lr=3e-5)
    if env == "cartpole":
        config = config.environment(make_multi_agent("CartPole-v1"), env_config={"num_agents": 1})
    algo = config.build_algo()
    try:
        algo.train()  # warm-up: env and module construction, first-touch allocations
        start_steps = algo.metrics.peek(("env_runners", "num_env_steps_sampled_lifetime"), default=0)
        start = time.perf_counter()
        for _ in range(iterations):
            result = algo.train()
        seconds = time.perf_counter() - start
        steps = result["env_runners"]["num_env_steps_sampled_lifetime"] - start_steps
        return steps / seconds
    finally:
        algo.stop()


def sb3_steps_per_s(timesteps: int) -> float:
    from stable_baselines3 import PPO
    from stable_baselines3.common.vec_env import DummyVecEnv

    from agents.gym_envs import make_pool_env

    venv = DummyVecEnv([lambda: make_pool_env({"opponents": ["idle"]})] * 4)
    model = PPO("MlpPolicy", venv, n_steps=1024, batch_size=1024, n_epochs=4, learning_rate=3e-5,
                policy_kwargs={"net_arch": [256, 256]}, seed=0, device="cpu", verbose=0)
    model.learn(4096)  # warm-up
    start = time.perf_counter()
    model.learn(timesteps, reset_num_timesteps=False)
    return timesteps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=3)
    parser.add_argument("--batch", type=int, default=4096)
    parser.add_argument("--envs-per-runner", type=int, default=4)
    parser.add_argument("--sb3-timesteps", type=int, default=16384)
    args = parser.parse_args()
    torch.set_num_threads(2)
    init_ray(num_cpus=2)
    rates = {env: rllib_steps_per_s(env, args.iterations, args.batch, args.envs_per_runner)
             for env in ("cartpole", "ours_idle", "ours_pool")}
    sb3 = sb3_steps_per_s(args.sb3_timesteps)
    ratio = rates["ours_idle"] / rates["cartpole"]
    payload = {"rllib_cartpole_steps_per_s": rates["cartpole"], "rllib_steps_per_s": rates["ours_idle"],
               "rllib_pool_steps_per_s": rates["ours_pool"], "rllib_ratio_vs_cartpole": ratio,
               "rllib_ratio_vs_cartpole_pro_pool": rates["ours_pool"] / rates["cartpole"],
               "sb3_steps_per_s": sb3, "target_ratio": TARGET, "meets_target": ratio >= TARGET,
               "config": vars(args)}
    path = write_results("rl", payload)
    table = Table(title=f"RL training throughput (env steps/s, train_batch_size {args.batch})")
    for column in ("run", "env steps/s", "vs CartPole"):
        table.add_column(column, justify="right")
    table.add_row("RLlib PPO, CartPole-v1", f"{rates['cartpole']:,.0f}", "1.00")
    table.add_row("RLlib PPO, ours vs idle", f"{rates['ours_idle']:,.0f}", f"{ratio:.2f}")
    table.add_row("RLlib PPO, ours vs the pro pool", f"{rates['ours_pool']:,.0f}",
                  f"{payload['rllib_ratio_vs_cartpole_pro_pool']:.2f}")
    table.add_row("SB3 PPO, ours vs idle", f"{sb3:,.0f}", "")
    Console().print(table)
    print(f"rllib_ratio_vs_cartpole {ratio:.2f} (target >= {TARGET}: "
          f"{'met' if ratio >= TARGET else 'NOT met'}); wrote {path}")


if __name__ == "__main__":
    main()
