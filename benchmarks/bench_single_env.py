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


Runner = tuple[Callable[[], None], int]
"""A callable that runs a fixed number of env-steps, and that number."""


def paired_rates(a: Runner, b: Runner, seconds: float, slice_s: float = 0.1) -> tuple[float, float]:
    """Steps/s of runners ``a`` and ``b`` timed in alternating slices of ``slice_s`` for ``seconds`` each, so that
    both see the same load on a busy machine (their ratio is what a run reports)."""
    done, spent = [0, 0], [0.0, 0.0]
    while min(spent) < seconds:
        for i, (run, chunk) in enumerate((a, b)):
            start = time.perf_counter()
            while time.perf_counter() - start < slice_s:
                run()
                done[i] += chunk
            spent[i] += time.perf_counter() - start
    return done[0] / spent[0], done[1] / spent[1]


def single_env(env_id: str) -> tuple[Runner, float]:
    """A runner of ``gym.make(env_id)`` with random actions (resets inside), and the seconds its construction and
    first reset took (the first data load of a dataset happens there)."""
    start = time.perf_counter()
    env = gym.make(env_id)
    env.reset(seed=0)
    setup = time.perf_counter() - start
    env.action_space.seed(0)
    pool = [env.action_space.sample() for _ in range(64)]
    _loop(env, pool, len(pool))  # warm-up: caches of the retina's constants, first allocations
    return (lambda: _loop(env, pool, len(pool)), len(pool)), setup


def sync_env(env_id: str, num_envs: int) -> Runner:
    """A runner of Gymnasium's ``SyncVectorEnv`` of ``num_envs`` copies of ``env_id`` (same-step autoreset)."""
    envs = gym.make_vec(
        env_id, num_envs=num_envs, vectorization_mode="sync", vector_kwargs={"autoreset_mode": "SameStep"}
    )
    envs.action_space.seed(0)
    pool = [envs.action_space.sample() for _ in range(8)]
    envs.reset(seed=0)

    def run() -> None:
        for action in pool:
            envs.step(action)

    run()  # warm-up
    return run, len(pool) * num_envs


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
    (run, chunk), _ = single_env(env_id)
    profiler = cProfile.Profile()
    for _ in range(steps // chunk):
        profiler.runcall(run)
    stats = pstats.Stats(profiler).stats  # (file, line, name) -> (calls, primitive calls, tottime, cumtime, ...)

    def cumtime(suffix: str, name: str) -> float:
        return sum(v[3] for (file, _, func), v in stats.items() if func == name and file.endswith(suffix))

    total = cumtime("bench_single_env.py", "_loop")
    steps = steps // chunk * chunk
    rows = [(label, cumtime(suffix, name)) for label, suffix, name in _PARTS]
    env_time = cumtime("glimpse_env.py", "step") + cumtime("glimpse_env.py", "reset")
    rows.append(("step and reset, the rest (Python, numpy/torch glue)", env_time - sum(t for _, t in rows)))
    rows.append(("gym.make's wrappers and the loop", total - env_time))
    start, done = time.perf_counter(), 0
    while time.perf_counter() - start < 1.0:  # the step's time without the profiler, to scale the shares
        run()
        done += chunk
    step_us = 1e6 * (time.perf_counter() - start) / done
    print(f"profile of {env_id}: {steps:,} steps, resets included; {step_us:.1f} us a step unprofiled")
    print("  (shares of cProfile's cumulative times, which its overhead on small calls inflates)")
    for label, t in rows:
        if t > 0:
            print(f"  {label:52s} {100 * t / total:5.1f} %  {step_us * t / total:6.1f} us")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="time per env (and as much for CartPole-v1)")
    parser.add_argument("--ids", nargs="+", default=list(ram_env.ENV_IDS), help="ids to time (default: all)")
    parser.add_argument("--sync-envs", type=int, default=0, help="also time SyncVectorEnv of this many envs (0: no)")
    parser.add_argument("--profile", action="store_true", help="print where the time of a step goes, per id")
    args = parser.parse_args()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, gymnasium {gym.__version__}")
    print("each id is timed in alternating slices with CartPole-v1; the ratio is to that CartPole-v1 figure")
    cartpole, _ = single_env("CartPole-v1")
    print(f"{'env':32s} {'steps/s':>10s} {'CartPole-v1':>12s} {'/ CartPole-v1':>14s} {'make + first reset, s':>22s}")
    for env_id in args.ids:
        runner, setup = single_env(env_id)
        rate, baseline = paired_rates(runner, cartpole, args.seconds)
        print(f"{env_id:32s} {rate:10,.0f} {baseline:12,.0f} {rate / baseline:14.3f} {setup:22.2f}")
    if args.sync_envs:
        n = args.sync_envs
        print(f"\nSyncVectorEnv of {n} envs (same-step autoreset), env-steps/s")
        sync_cartpole = sync_env("CartPole-v1", n)
        for env_id in args.ids:
            rate, baseline = paired_rates(sync_env(env_id, n), sync_cartpole, args.seconds)
            print(f"{env_id:32s} {rate:10,.0f} {baseline:12,.0f} {rate / baseline:14.3f}")
    if args.profile:
        for env_id in args.ids:
            print()
            profile(env_id, 6 * 64 * 20)


if __name__ == "__main__":
    main()
