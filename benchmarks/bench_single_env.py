"""Single-env steps/s of every registered id beside Gymnasium's CartPole-v1, measured in the same run.

    python benchmarks/bench_single_env.py [--seconds 3]

Each env runs random actions through ``gym.make(id)`` (so the passive checker and wrappers are in
the loop, as a user has them), resetting when an episode ends; resets are inside the timing.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import gymnasium as gym

import ram_env


def steps_per_s(env_id: str, seconds: float) -> float:
    env = gym.make(env_id)
    env.action_space.seed(0)
    pool = [env.action_space.sample() for _ in range(64)]
    env.reset(seed=0)
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for action in pool:
            *_, terminated, truncated, _ = env.step(action)
            if terminated or truncated:
                env.reset()
        steps += len(pool)
    return steps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="time per env")
    args = parser.parse_args()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, gymnasium {gym.__version__}")
    baseline = steps_per_s("CartPole-v1", args.seconds)
    print(f"{'env':32s} {'steps/s':>10s} {'/ CartPole-v1':>14s}")
    print(f"{'CartPole-v1':32s} {baseline:10,.0f} {1.0:14.3f}")
    for env_id in ram_env.ENV_IDS:
        rate = steps_per_s(env_id, args.seconds)
        print(f"{env_id:32s} {rate:10,.0f} {rate / baseline:14.3f}")


if __name__ == "__main__":
    main()
