"""RL training speed: RLlib and SB3 PPO against a bare torch PPO over the same batched env, same run.

The reference is :func:`bare_ppo`, a CleanRL-style PPO written directly over
:class:`envs.pool_vector_env.PoolVectorEnv` (``num_envs`` matches in one engine, each against an
opponent drawn from the default fine-tuning pool with PFSP): rollout, GAE, clipped-surrogate epochs
over shuffled minibatches, nothing else. Every run uses the same network (the project's
``PolicyNetwork`` 256x256 and a separate 256x256 value MLP), the same batch (``num_envs`` x
``batch / num_envs`` steps), epochs, minibatch size and learning rate, the same opponents, torch on
``--torch-threads`` threads, and counts env steps per second of sampling *and* learning after one
warm-up iteration:

* ``rllib_steps_per_s``: ``train.py agent=ppo``'s path, :func:`agents.rl.rllib_module.ppo_config`
  with RLlib's single-agent env runner over the vector env (``gym_env_vectorize_mode=
  "vector_entry_point"``); ``rllib_ratio_vs_bare_ppo`` is the target (>= 0.5);
* ``sb3_steps_per_s``: ``train.py agent=sb3_ppo``'s path, SB3 PPO over
  :class:`agents.rl.sb3_train.SB3VecEnv` (one vector-env call per step); ``sb3_ratio_vs_bare_ppo``
  (target >= 0.5);
* the old paths, for the record: RLlib on the multi-agent env (one Python env per match, what
  live self-play still uses; ``--old-envs`` matches per runner) and SB3 on a ``DummyVecEnv`` of
  single pool envs.

Writes ``benchmarks/results/rl.json``. A few minutes on 2 cores::

    python benchmarks/bench_rl.py [--iterations 3] [--num-envs 256] [--batch 8192]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
from gymnasium.vector import AutoresetMode
from rich.console import Console
from rich.table import Table
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agents.gym_envs import make_pool_env, make_pool_vector_env  # noqa: E402
from agents.networks import PolicyNetwork  # noqa: E402
from agents.rl.config import DEFAULT_TRAINING_POOL  # noqa: E402
from agents.rl.ray_runtime import init_ray  # noqa: E402
from agents.rl.rllib_module import ppo_config  # noqa: E402
from agents.rl.sb3_train import make_sb3_vec_env  # noqa: E402
from benchmarks.common import write_results  # noqa: E402

TARGETS = {"rllib_ratio_vs_bare_ppo": 0.5, "sb3_ratio_vs_bare_ppo": 0.5}
POOL = {"opponents": list(DEFAULT_TRAINING_POOL), "pfsp_power": 1.0}
HIDDEN = [256, 256]
LR, GAMMA, GAE_LAMBDA, CLIP = 3e-5, 0.997, 0.95, 0.1


def bare_ppo(args: argparse.Namespace) -> float:
    """Env steps per second of a minimal PPO (CleanRL's ``ppo.py`` loop) over the pool vector env."""
    torch.manual_seed(0)
    n, steps = args.num_envs, args.batch // args.num_envs
    env = make_pool_vector_env(n, autoreset_mode=AutoresetMode.SAME_STEP, **POOL)
    actor = PolicyNetwork(hidden_sizes=HIDDEN)
    critic = nn.Sequential(nn.Linear(actor.obs_dim, HIDDEN[0]), nn.ReLU(), nn.Linear(HIDDEN[0], HIDDEN[1]),
                           nn.ReLU(), nn.Linear(HIDDEN[1], 1))
    params = [*actor.parameters(), *critic.parameters()]
    optimizer = torch.optim.Adam(params, lr=LR, eps=1e-5)
    obs_buf = torch.zeros(steps, n, actor.obs_dim)
    act_buf = torch.zeros(steps, n, dtype=torch.long)
    logp_buf, rew_buf, done_buf, val_buf = (torch.zeros(steps, n) for _ in range(4))
    obs, _ = env.reset(seed=0)
    next_obs, next_done = torch.as_tensor(obs), torch.zeros(n)

    def iteration() -> None:
        nonlocal next_obs, next_done
        for t in range(steps):  # rollout
            obs_buf[t], done_buf[t] = next_obs, next_done
            with torch.no_grad():
                dist = torch.distributions.Categorical(logits=actor(next_obs))
                action = dist.sample()
                logp_buf[t], val_buf[t] = dist.log_prob(action), critic(next_obs).squeeze(-1)
            act_buf[t] = action
            obs, reward, terminated, truncated, _ = env.step(action.numpy())
            rew_buf[t] = torch.as_tensor(reward)
            next_obs = torch.as_tensor(obs)
            next_done = torch.as_tensor(terminated | truncated, dtype=torch.float32)
        with torch.no_grad():  # GAE
            advantages, last = torch.zeros(steps, n), torch.zeros(n)
            next_value = critic(next_obs).squeeze(-1)
            for t in reversed(range(steps)):
                alive = 1.0 - (next_done if t == steps - 1 else done_buf[t + 1])
                value_after = next_value if t == steps - 1 else val_buf[t + 1]
                delta = rew_buf[t] + GAMMA * value_after * alive - val_buf[t]
                advantages[t] = last = delta + GAMMA * GAE_LAMBDA * alive * last
            returns = advantages + val_buf
        b_obs, b_act, b_logp = obs_buf.reshape(-1, actor.obs_dim), act_buf.reshape(-1), logp_buf.reshape(-1)
        b_adv, b_ret = advantages.reshape(-1), returns.reshape(-1)
        for _ in range(args.epochs):  # clipped-surrogate epochs over shuffled minibatches
            order = torch.randperm(args.batch)
            for start in range(0, args.batch, args.minibatch):
                mb = order[start:start + args.minibatch]
                dist = torch.distributions.Categorical(logits=actor(b_obs[mb]))
                ratio = (dist.log_prob(b_act[mb]) - b_logp[mb]).exp()
                adv = (b_adv[mb] - b_adv[mb].mean()) / (b_adv[mb].std() + 1e-8)
                policy_loss = torch.max(-adv * ratio, -adv * ratio.clamp(1 - CLIP, 1 + CLIP)).mean()
                value_loss = 0.5 * ((critic(b_obs[mb]).squeeze(-1) - b_ret[mb]) ** 2).mean()
                loss = policy_loss + 0.5 * value_loss - 0.0 * dist.entropy().mean()
                optimizer.zero_grad()
                loss.backward()
                nn.utils.clip_grad_norm_(params, 0.5)
                optimizer.step()

    iteration()  # warm-up
    start = time.perf_counter()
    for _ in range(args.iterations):
        iteration()
    return args.iterations * args.batch / (time.perf_counter() - start)


def rllib(args: argparse.Namespace, env_mode: str, num_envs: int) -> float:
    """Env steps per second of RLlib's ``algo.train()`` (sampling and learning) after a warm-up."""
    config = ppo_config(None, env_config=POOL, env_mode=env_mode, seed=0, device="cpu",
                        num_envs_per_env_runner=num_envs, hidden_sizes=HIDDEN,
                        train_batch_size_per_learner=args.batch, minibatch_size=args.minibatch,
                        num_epochs=args.epochs, lr=LR, gamma=GAMMA, lambda_=GAE_LAMBDA, clip_param=CLIP)
    algo = config.build_algo()
    try:
        algo.train()  # warm-up: env and module construction, first-touch allocations
        start_steps = algo.metrics.peek(("env_runners", "num_env_steps_sampled_lifetime"), default=0)
        start = time.perf_counter()
        for _ in range(args.iterations):
            result = algo.train()
        seconds = time.perf_counter() - start
        return (result["env_runners"]["num_env_steps_sampled_lifetime"] - start_steps) / seconds
    finally:
        algo.stop()


def sb3(args: argparse.Namespace, vector: bool) -> float:
    """Env steps per second of SB3's ``learn`` over the batched VecEnv (or the old DummyVecEnv path)."""
    from stable_baselines3 import PPO
    from stable_baselines3.common.vec_env import DummyVecEnv, VecMonitor

    if vector:
        venv, num_envs = make_sb3_vec_env(args.num_envs, **POOL), args.num_envs
    else:
        num_envs = args.old_envs
        venv = VecMonitor(DummyVecEnv([lambda: make_pool_env(POOL)] * num_envs))
    model = PPO("MlpPolicy", venv, n_steps=args.batch // num_envs, batch_size=args.minibatch,
                n_epochs=args.epochs, learning_rate=LR, gamma=GAMMA, gae_lambda=GAE_LAMBDA, clip_range=CLIP,
                policy_kwargs={"net_arch": {"pi": HIDDEN, "vf": HIDDEN}}, seed=0, device="cpu", verbose=0)
    model.learn(args.batch)  # warm-up
    start = time.perf_counter()
    model.learn(args.iterations * args.batch, reset_num_timesteps=False)
    return args.iterations * args.batch / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=3, help="timed iterations (after one warm-up)")
    parser.add_argument("--num-envs", type=int, default=256, help="matches per vector env")
    parser.add_argument("--batch", type=int, default=8192, help="env steps per iteration")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--minibatch", type=int, default=1024)
    parser.add_argument("--old-envs", type=int, default=4, help="envs per runner on the old paths")
    parser.add_argument("--torch-threads", type=int, default=1,
                        help="torch threads for every run (1: stable on a shared 2-core machine)")
    args = parser.parse_args()
    torch.set_num_threads(args.torch_threads)
    np.random.seed(0)
    bare = bare_ppo(args)
    init_ray(num_cpus=2)
    rates = {"rllib": rllib(args, "vector", args.num_envs), "sb3": sb3(args, vector=True),
             "rllib_old": rllib(args, "multi_agent", args.old_envs), "sb3_old": sb3(args, vector=False)}
    payload = {
        "bare_ppo_steps_per_s": bare,
        "rllib_steps_per_s": rates["rllib"], "rllib_ratio_vs_bare_ppo": rates["rllib"] / bare,
        "sb3_steps_per_s": rates["sb3"], "sb3_ratio_vs_bare_ppo": rates["sb3"] / bare,
        "rllib_multi_agent_steps_per_s": rates["rllib_old"],
        "rllib_multi_agent_ratio_vs_bare_ppo": rates["rllib_old"] / bare,
        "sb3_dummy_vec_env_steps_per_s": rates["sb3_old"],
        "sb3_dummy_vec_env_ratio_vs_bare_ppo": rates["sb3_old"] / bare,
        "targets": TARGETS,
        "meets_targets": rates["rllib"] / bare >= TARGETS["rllib_ratio_vs_bare_ppo"]
        and rates["sb3"] / bare >= TARGETS["sb3_ratio_vs_bare_ppo"],
        "opponents": POOL, "config": vars(args),
    }
    path = write_results("rl", payload)
    table = Table(title=f"PPO training throughput (env steps/s incl. learning; batch {args.batch}, "
                        f"{args.epochs} epochs, minibatch {args.minibatch}, default fine-tuning pool)")
    for column in ("run", "env steps / s", "vs bare PPO", "target"):
        table.add_column(column, justify="right")
    table.add_row(f"bare torch PPO, vector env ({args.num_envs} matches) (reference)", f"{bare:,.0f}",
                  "1.00", "")
    table.add_row(f"RLlib PPO, vector env ({args.num_envs} matches)", f"{rates['rllib']:,.0f}",
                  f"{rates['rllib'] / bare:.2f}", ">= 0.5")
    table.add_row(f"SB3 PPO, vector env ({args.num_envs} matches)", f"{rates['sb3']:,.0f}",
                  f"{rates['sb3'] / bare:.2f}", ">= 0.5")
    table.add_row(f"RLlib PPO, old multi-agent env ({args.old_envs} envs)", f"{rates['rllib_old']:,.0f}",
                  f"{rates['rllib_old'] / bare:.2f}", "")
    table.add_row(f"SB3 PPO, old DummyVecEnv ({args.old_envs} envs)", f"{rates['sb3_old']:,.0f}",
                  f"{rates['sb3_old'] / bare:.2f}", "")
    Console().print(table)
    print(f"targets {'met' if payload['meets_targets'] else 'NOT met'}; wrote {path}")


if __name__ == "__main__":
    main()
