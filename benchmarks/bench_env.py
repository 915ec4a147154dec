"""Environment speed against Gymnasium's CartPole, measured in the same run.

References: CartPole-v1 single-env steps/s (``gymnasium.make``, default wrappers) and CartPole's
numpy vector env (``vector_entry_point``, 1024 envs). Ours: the single Gymnasium env against the idle
opponent (``gymnasium.make``, same wrappers), and the batched engine's frames/s at N = 1, 64, 1024,
4096 with random commands (a frame of one match is one unit; frozen finished matches don't count).

Targets: ``single_env_ratio_vs_cartpole`` >= 0.2, ``batched_ratio_vs_cartpole_vector`` (N=4096 vs
CartPole vector at 1024) >= 0.5. Writes ``benchmarks/results/env.json``.

    python benchmarks/bench_env.py [--seconds 2]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import agents  # noqa: E402, F401  (registers the env id, resolving opponent names)
import envs  # noqa: E402
from benchmarks.common import rate, write_results  # noqa: E402
from envs.actions import NUM_ACTIONS  # noqa: E402
from envs.engine import DuelEngine  # noqa: E402

BATCH_SIZES = (1, 64, 1024, 4096)


def single_env_rate(env: gym.Env, num_actions: int, seconds: float) -> float:
    actions = [int(a) for a in np.random.default_rng(0).integers(num_actions, size=4096)]
    env.reset(seed=0)

    def chunk() -> int:
        for a in actions:
            _, _, terminated, truncated, _ = env.step(a)
            if terminated or truncated:
                env.reset()
        return len(actions)

    return rate(chunk, seconds)


def vector_env_rate(env: gym.vector.VectorEnv, seconds: float, steps: int = 100) -> float:
    env.reset(seed=0)
    n = env.num_envs
    actions = [env.action_space.sample() for _ in range(8)]

    def chunk() -> int:
        for k in range(steps):
            env.step(actions[k % 8])
        return steps * n

    return rate(chunk, seconds)


def engine_rate(n: int, seconds: float) -> float:
    engine = DuelEngine(n)
    engine.reset(rng=np.random.default_rng(0))
    pool = [np.random.default_rng(k).integers(0, NUM_ACTIONS, size=(n, 2)) for k in range(16)]
    steps = 100  # then finished matches restart, so few frozen steps are wasted

    def chunk() -> int:
        before = int(engine.frame.sum())
        for k in range(steps):
            engine.step(pool[k % 16], validate=False)
        played = int(engine.frame.sum()) - before
        finished = np.flatnonzero(engine.done)
        if finished.size:
            engine.reset(finished)
        return played

    return rate(chunk, seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="time per measurement")
    args = parser.parse_args()

    cartpole = single_env_rate(gym.make("CartPole-v1"), 2, args.seconds)
    cartpole_vec = vector_env_rate(
        gym.make_vec("CartPole-v1", num_envs=1024, vectorization_mode="vector_entry_point"),
        args.seconds)
    ours_single = single_env_rate(gym.make(envs.ENV_ID, opponent="idle"), NUM_ACTIONS, args.seconds)
    engine = {n: engine_rate(n, args.seconds) for n in BATCH_SIZES}
    payload = {
        "cartpole_single_steps_per_s": cartpole,
        "cartpole_vector_1024_steps_per_s": cartpole_vec,
        "single_env_steps_per_s": ours_single,
        "engine_frames_per_s": {str(n): v for n, v in engine.items()},
        "single_env_ratio_vs_cartpole": ours_single / cartpole,
        "batched_ratio_vs_cartpole_vector": engine[4096] / cartpole_vec,
        "targets": {"single_env_ratio_vs_cartpole": 0.2, "batched_ratio_vs_cartpole_vector": 0.5},
    }
    path = write_results("env", payload)

    table = Table(title="env speed (same run)")
    for column in ("what", "units / s", "ratio", "target"):
        table.add_column(column, justify="right" if column != "what" else "left")
    table.add_row("CartPole-v1 single (reference)", f"{cartpole:,.0f}", "", "")
    table.add_row("CartPole vector x1024 (reference)", f"{cartpole_vec:,.0f}", "", "")
    table.add_row("FightLab single env vs idle", f"{ours_single:,.0f}",
                  f"{payload['single_env_ratio_vs_cartpole']:.2f}", ">= 0.2")
    for n, value in engine.items():
        ratio = f"{payload['batched_ratio_vs_cartpole_vector']:.2f}" if n == 4096 else ""
        table.add_row(f"engine N={n} frames", f"{value:,.0f}", ratio, ">= 0.5" if n == 4096 else "")
    Console().print(table)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
