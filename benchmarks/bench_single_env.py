"""Single-env steps/s of every registered id beside Gymnasium's CartPole-v1, measured in the same run.

    python benchmarks/bench_single_env.py [--seconds 3] [--sync-envs 64] [--profile]

Each env runs random actions through ``gym.make(id)`` (so the passive checker and wrappers are in the loop, as a
user has them), resetting when an episode ends; every reset is inside the timing. Construction and the first
data load (``gym.make`` and the first ``reset``: reading and checking the dataset the first time an id needs it)
are timed apart and printed beside the rate, never inside it. ``--sync-envs N`` also times Gymnasium's
``SyncVectorEnv`` of N copies of each env (env-steps/s, same-step autoreset), beside one of CartPole-v1.
``--profile`` prints where the time of a step goes (cProfile over the same loop, resets included).
"""

from __future__ import annotations

import argparse
import cProfile
import os
import platform
import pstats
import time
from collections.abc import Callable

import gymnasium as gym
import numpy as np

import ram_env


def _loop(env: gym.Env, pool: list[np.ndarray], steps: int) -> None:
    """``steps`` steps (a multiple of ``len(pool)``) of ``env``, resetting when an episode ends."""
    for _ in range(steps // len(pool)):
        for action in pool:
            *_, terminated, truncated, _ = env.step(action)
            if terminated or truncated:
                env.reset()


def _timed(run: Callable[[int], None], chunk: int, seconds: float) -> float:
    """Calls of ``run(chunk)`` for about ``seconds``: the number of calls times ``chunk`` per second."""
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        run(chunk)
        done += chunk
    return done / (time.perf_counter() - start)


def make_single(env_id: str) -> tuple[gym.Env, list[np.ndarray], float]:
    """The env after its first reset, a pool of 64 random actions, and the seconds construction took."""
    start = time.perf_counter()
    env = gym.make(env_id)
    env.reset(seed=0)
    setup = time.perf_counter() - start
    env.action_space.seed(0)
    return env, [env.action_space.sample() for _ in range(64)], setup


def single_steps_per_s(env_id: str, seconds: float) -> tuple[float, float]:
    """Steps/s of ``gym.make(env_id)`` (resets inside), and the seconds of its construction and first reset."""
    env, pool, setup = make_single(env_id)
    _loop(env, pool, len(pool))  # warm-up: caches of the retina's constants, first allocations
    return _timed(lambda n: _loop(env, pool, n), len(pool), seconds), setup


def sync_steps_per_s(env_id: str, num_envs: int, seconds: float) -> float:
    """Env-steps/s of Gymnasium's ``SyncVectorEnv`` of ``num_envs`` copies of ``env_id`` (same-step autoreset)."""
    envs = gym.make_vec(
        env_id, num_envs=num_envs, vectorization_mode="sync", vector_kwargs={"autoreset_mode": "SameStep"}
    )
    envs.action_space.seed(0)
    pool = [envs.action_space.sample() for _ in range(8)]
    envs.reset(seed=0)

    def run(n: int) -> None:
        for action in pool[:n]:
            envs.step(action)

    run(len(pool))  # warm-up
    return _timed(run, len(pool), seconds) * num_envs


# Where a step's time goes: (label, file suffix, function name) of the env's own parts; the rest is reported as
# the step's and the reset's other work, and the wrappers of gym.make with the loop.
_PARTS = (
    ("action check (check_action)", "glimpse_env.py", "check_action"),
    ("retina: glimpse", "retina.py", "glimpse"),
    ("retina: summed-area table (reset)", "retina.py", "summed_area_table"),
    ("canvas / augmentation / image (reset)", "glimpse_env.py", "_build_canvas"),
    ("reward (cross_entropy mode)", "rewards.py", "cross_entropy_reward"),
)


def profile(env_id: str, steps: int) -> None:
    """Print the share of a single env's step time in each part (cProfile cumulative times, resets included)."""
    env, pool, _ = make_single(env_id)
    _loop(env, pool, len(pool))
    profiler = cProfile.Profile()
    profiler.runcall(_loop, env, pool, steps)
    stats = pstats.Stats(profiler).stats  # (file, line, name) -> (calls, primitive calls, tottime, cumtime, ...)

    def cumtime(suffix: str, name: str) -> float:
        return sum(v[3] for (file, _, func), v in stats.items() if func == name and file.endswith(suffix))

    total = cumtime("bench_single_env.py", "_loop")
    rows = [(label, cumtime(suffix, name)) for label, suffix, name in _PARTS]
    env_time = cumtime("glimpse_env.py", "step") + cumtime("glimpse_env.py", "reset")
    rows.append(("step and reset, the rest (Python, numpy/torch glue)", env_time - sum(t for _, t in rows)))
    rows.append(("gym.make's wrappers and the loop", total - env_time))
    print(f"profile of {env_id}: {steps:,} steps, resets included (cProfile; its overhead inflates small calls)")
    for label, t in rows:
        if t > 0:
            print(f"  {label:52s} {100 * t / total:5.1f} %")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="time per env")
    parser.add_argument("--ids", nargs="+", default=list(ram_env.ENV_IDS), help="ids to time (default: all)")
    parser.add_argument("--sync-envs", type=int, default=0, help="also time SyncVectorEnv of this many envs (0: no)")
    parser.add_argument("--profile", action="store_true", help="print where the time of a step goes, per id")
    args = parser.parse_args()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, gymnasium {gym.__version__}")
    baseline, _ = single_steps_per_s("CartPole-v1", args.seconds)
    print(f"{'env':32s} {'steps/s':>10s} {'/ CartPole-v1':>14s} {'make + first reset, s':>22s}")
    print(f"{'CartPole-v1':32s} {baseline:10,.0f} {1.0:14.3f}")
    for env_id in args.ids:
        rate, setup = single_steps_per_s(env_id, args.seconds)
        print(f"{env_id:32s} {rate:10,.0f} {rate / baseline:14.3f} {setup:22.2f}")
    if args.sync_envs:
        n = args.sync_envs
        sync_baseline = sync_steps_per_s("CartPole-v1", n, args.seconds)
        print(f"\nSyncVectorEnv of {n} envs, env-steps/s")
        print(f"{'CartPole-v1':32s} {sync_baseline:10,.0f} {1.0:14.3f}")
        for env_id in args.ids:
            rate = sync_steps_per_s(env_id, n, args.seconds)
            print(f"{env_id:32s} {rate:10,.0f} {rate / sync_baseline:14.3f}")
    if args.profile:
        for env_id in args.ids:
            print()
            profile(env_id, 6 * 64 * 20)


if __name__ == "__main__":
    main()
