"""Resident memory of 1, 4 and 16 envs over the same data: every env shares one read-only copy of it.

Each row is measured in a fresh process: the data is loaded (or, for ``images=``, a 94 MB user array of 120,000
MNIST digits is made) and the env code warmed up on ten images, then ``N`` envs are built over the data and each
takes one reset and one step. Printed: the resident memory with the data alone ("data"), with the ``N`` envs, what
they added, and the growth per extra env from 1 to 16 envs, which
should be a few MB at most (before issue 39 a single env over ``images=`` held its own copy, +95 MB each, a vector
env two, and a vector env over a built-in dataset its own copy of it, +47 MB each). Also the size of a pickled single
env over a built-in dataset, which names its data instead of carrying it.

    python benchmarks/bench_memory.py
"""

from __future__ import annotations

import argparse
import json
import pickle
import subprocess
import sys

import gymnasium as gym
import numpy as np
from bench_vector_env import rss_mib  # the benchmarks' one reader of resident memory (benchmarks/ is on sys.path)

import ram_env  # noqa: F401  (registers the ids)
from ram_env.data import load_split

COUNTS = (1, 4, 16)
SCENARIOS = {
    "single, images= (94 MB)": "single-user",
    "vector x64, images= (94 MB)": "vector-user",
    "single, GlimpseMNIST-v0 train": "single-builtin",
    "vector x64, GlimpseMNIST-v0 train": "vector-builtin",
}


def child(scenario: str, count: int) -> dict[str, float]:
    """Build ``count`` envs of ``scenario`` in this process; resident memory before and after."""
    images, labels = load_split("mnist", "train")
    warm = gym.make_vec("GlimpseMNIST-v0", num_envs=2, images=images[:10], labels=labels[:10])  # imports, kernels
    warm.reset(seed=0)
    warm.step(warm.action_space.sample())
    gym.make("GlimpseMNIST-v0", images=images[:10], labels=labels[:10]).reset(seed=0)
    kwargs = {}
    if scenario.endswith("user"):  # a user's own writable array, as a program would make it
        kwargs = {"images": np.concatenate([images, images[::-1]]), "labels": np.concatenate([labels, labels[::-1]])}
    before = rss_mib()
    envs = []
    for _ in range(count):
        if scenario.startswith("single"):
            env = gym.make("GlimpseMNIST-v0", **kwargs)
            env.reset(seed=0)
            env.step(env.action_space.sample())
        else:
            env = gym.make_vec("GlimpseMNIST-v0", num_envs=64, autoreset_mode="disabled", **kwargs)
            env.reset(seed=0)
            env.step(env.action_space.sample())
        envs.append(env)
    return {"data_mib": before, "envs_mib": rss_mib()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--child", nargs=2, metavar=("SCENARIO", "COUNT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child[0], int(args.child[1]))))
        return
    print(f"{'resident memory, MiB':36s} {'N':>3s} {'data':>7s} {'N envs':>7s} {'added':>7s}")
    for title, scenario in SCENARIOS.items():
        rows = {}
        for count in COUNTS:
            out = subprocess.run([sys.executable, __file__, "--child", scenario, str(count)], capture_output=True,
                                 text=True, check=True)
            rows[count] = json.loads(out.stdout.strip().splitlines()[-1])
            row = rows[count]
            print(f"{title:36s} {count:3d} {row['data_mib']:7.1f} {row['envs_mib']:7.1f} "
                  f"{row['envs_mib'] - row['data_mib']:7.1f}")
        growth = (rows[COUNTS[-1]]["envs_mib"] - rows[COUNTS[0]]["envs_mib"]) / (COUNTS[-1] - COUNTS[0])
        print(f"{'':36s} growth per extra env from {COUNTS[0]} to {COUNTS[-1]}: {growth:.2f} MiB")
    env = gym.make("GlimpseMNIST-v0").unwrapped
    print(f"pickled single env over GlimpseMNIST-v0 train: {len(pickle.dumps(env)) / 2**10:.1f} KiB "
          f"(the split's images: {env.config.images.nbytes / 2**20:.1f} MiB)")


if __name__ == "__main__":
    main()
