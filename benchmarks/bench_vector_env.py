"""Native vector env throughput against Gymnasium's SyncVectorEnv and the single env, in one run.

Prints env-steps/s (one step of one sub-env) for the native torch env at several batch sizes,
``SyncVectorEnv`` of 64 single envs and the single env, for GlimpseMNIST-v0 and
GlimpseClutteredMNIST100-v0; the ratio native (4,096) / SyncVectorEnv (64); the per-step cost of a
100x100 canvas relative to a 60x60 one with the same glimpse and clutter settings; and a soak of
1,000,000 steps with the growth of resident memory. Every env runs with same-step autoreset, so
every counted step is a real step and every episode's reset is inside the timing.

    python benchmarks/bench_vector_env.py                # CPU
    python benchmarks/bench_vector_env.py --device cuda  # GPU, where there is one
"""

from __future__ import annotations

import argparse
import os
import resource
import time

import gymnasium as gym
import numpy as np
import torch

import ram_env  # noqa: F401  (registers the ids)

IDS = ("GlimpseMNIST-v0", "GlimpseClutteredMNIST100-v0")


def rss_mib() -> float:
    """Current resident memory of this process in MiB (peak where /proc is missing)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def native_steps_per_s(env_id: str, n: int, device: torch.device, seconds: float, **kwargs) -> float:
    envs = gym.make_vec(env_id, num_envs=n, device=device, autoreset_mode="same_step", **kwargs)
    dim = envs.single_action_space.shape[0]
    gen = torch.Generator(device=device).manual_seed(0)
    pool = [torch.rand((n, dim), generator=gen, device=device) * 2 - 1 for _ in range(7)]
    envs.reset(seed=0)
    for a in pool:  # warm-up: one episode and a reset
        envs.step(a)
    _sync(device)
    steps, start = 0, time.perf_counter()
    while True:
        for a in pool:
            envs.step(a)
        steps += len(pool)
        _sync(device)
        if time.perf_counter() - start >= seconds:
            break
    return steps * n / (time.perf_counter() - start)


def glimpse_step_seconds(device: torch.device, n: int, seconds: float, **kwargs) -> float:
    """Seconds per step of the glimpse steps alone (resets, which build the canvases, untimed)."""
    envs = gym.make_vec("GlimpseClutteredMNIST-v0", num_envs=n, device=device, autoreset_mode="disabled", **kwargs)
    action = torch.rand((n, envs.single_action_space.shape[0]), device=device) * 2 - 1
    envs.reset(seed=0)  # warm-up: one untimed episode (allocations, cached retina constants)
    for _ in range(envs.num_glimpses):
        envs.step(action)
    elapsed, steps = 0.0, 0
    while elapsed < seconds:
        envs.reset(seed=steps)
        _sync(device)
        start = time.perf_counter()
        for _ in range(envs.num_glimpses - 1):
            envs.step(action)
        _sync(device)
        elapsed += time.perf_counter() - start
        steps += envs.num_glimpses - 1
    return elapsed / steps


def sync_steps_per_s(env_id: str, n: int, seconds: float) -> float:
    envs = gym.make_vec(env_id, num_envs=n, vectorization_mode="sync", vector_kwargs={"autoreset_mode": "SameStep"})
    rng = np.random.default_rng(0)
    pool = [rng.uniform(-1, 1, envs.action_space.shape).astype(np.float32) for _ in range(7)]
    envs.reset(seed=0)
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for a in pool:
            envs.step(a)
        steps += len(pool)
    return steps * n / (time.perf_counter() - start)


def single_steps_per_s(env_id: str, seconds: float) -> float:
    env = gym.make(env_id)
    rng = np.random.default_rng(0)
    pool = [rng.uniform(-1, 1, env.action_space.shape).astype(np.float32) for _ in range(7)]
    env.reset(seed=0)
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for a in pool:
            *_, terminated, truncated, _ = env.step(a)
            if terminated or truncated:
                env.reset()
        steps += len(pool)
    return steps / (time.perf_counter() - start)


def soak(device: torch.device, total: int = 1_000_000, n: int = 4096) -> None:
    envs = gym.make_vec("GlimpseClutteredMNIST100-v0", num_envs=n, device=device, autoreset_mode="same_step")
    action = torch.zeros((n, envs.single_action_space.shape[0]), device=device)
    envs.reset(seed=0)
    for _ in range(14):  # reach the steady state before the first reading
        envs.step(action)
    before = rss_mib()
    steps, start = 0, time.perf_counter()
    while steps < total:
        envs.step(action)
        steps += n
    _sync(device)
    after = rss_mib()
    print(
        f"soak: {steps:,} steps of GlimpseClutteredMNIST100-v0 (N={n}) in {time.perf_counter() - start:.1f} s; "
        f"resident memory {before:.0f} -> {after:.0f} MiB (growth {after - before:+.1f} MiB)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu", help="torch device of the native env (cpu, cuda)")
    parser.add_argument("--seconds", type=float, default=3.0, help="time per measurement")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1024, 4096, 16384], help="native batch sizes")
    parser.add_argument("--soak-steps", type=int, default=1_000_000, help="steps of the memory soak (0: skip)")
    args = parser.parse_args()
    device = torch.device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {os.cpu_count()} cores"
    print(f"device: {name}; torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"{'env':32s} {'mode':24s} {'env-steps/s':>14s}")
    for env_id in IDS:
        native = {}
        for n in args.sizes:
            native[n] = native_steps_per_s(env_id, n, device, args.seconds)
            print(f"{env_id:32s} {f'native N={n:,}':24s} {native[n]:14,.0f}")
        sync = sync_steps_per_s(env_id, 64, args.seconds)
        print(f"{env_id:32s} {'SyncVectorEnv N=64':24s} {sync:14,.0f}")
        single = single_steps_per_s(env_id, args.seconds)
        print(f"{env_id:32s} {'single env':24s} {single:14,.0f}")
        if 4096 in native:
            print(f"{env_id:32s} ratio native (4,096) / SyncVectorEnv (64): {native[4096] / sync:.1f}x")
    # Cost against image size: the same retina (g=12, k=4) and clutter (8 pieces) on 60x60 and 100x100.
    same = {"glimpse_size": 12, "num_scales": 4, "num_clutter": 8}
    glimpse_cost, episode_cost = {}, {}
    for side in (60, 100):
        glimpse_cost[side] = glimpse_step_seconds(device, 4096, args.seconds, canvas_size=side, **same)
        episode_cost[side] = 1.0 / native_steps_per_s(
            "GlimpseClutteredMNIST-v0", 4096, device, args.seconds, canvas_size=side, **same
        )
    glimpse_ratio = glimpse_cost[100] / glimpse_cost[60]
    episode_ratio = episode_cost[100] / episode_cost[60]
    print(
        f"cost 100x100 / 60x60 canvas (g=12, k=4, 8 clutter, N=4,096): glimpse step {glimpse_ratio:.2f}x, "
        f"step with the episode's canvas generation amortised {episode_ratio:.2f}x"
    )
    if args.soak_steps:
        soak(device, args.soak_steps)


if __name__ == "__main__":
    main()
