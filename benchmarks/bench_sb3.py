"""Stable-Baselines3 PPO's whole ``learn()`` loop on GlimpseMNIST-v0: env-steps/s of three set-ups, in one run.

1. SB3's defaults on ``make_vec_env("GlimpseMNIST-v0", n_envs=64)`` (a ``DummyVecEnv`` of single envs,
   ``n_steps=2048``, ``batch_size=64``, 10 epochs): the update, 20,480 minibatches of 64 per 131k steps, dominates.
2. The same ``DummyVecEnv`` with the batched settings of 3.
3. The README's "SB3 at batched speed" example: the native vector env through
   :func:`ram_env.sb3_vec_env.make_sb3_vec_env` (``num_envs=256``, ``n_steps=12``, ``batch_size=768``,
   4 epochs): one tensor operation steps every sub-env, and a rollout of 3,072 steps costs 16 minibatches.

Prints env-steps/s (one step of one sub-env, updates included) and the ratios 3 / 1 and 3 / 2. Every set-up
learns for at least ``--steps`` env steps (whole rollouts) with the cross-entropy reward and SB3's
``MultiInputPolicy``, on one torch thread.

    python benchmarks/bench_sb3.py              # ~2 min on a 2-core CPU
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import torch
from stable_baselines3 import PPO
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.vec_env import VecEnv, VecMonitor

import ram_env  # noqa: F401  (registers the ids)
from ram_env.sb3_vec_env import make_sb3_vec_env

ENV_ID = "GlimpseMNIST-v0"
ENV_KWARGS = {"reward_mode": "cross_entropy"}
BATCHED = {"n_steps": 12, "batch_size": 768, "n_epochs": 4}


def steps_per_s(venv: VecEnv, steps: int, **ppo_kwargs: Any) -> float:
    """Env-steps/s of ``PPO("MultiInputPolicy", venv, **ppo_kwargs).learn(steps)``, construction excluded."""
    model = PPO("MultiInputPolicy", venv, device="cpu", seed=0, verbose=0, **ppo_kwargs)
    start = time.perf_counter()
    model.learn(total_timesteps=steps)
    seconds = time.perf_counter() - start
    venv.close()
    return model.num_timesteps / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=150_000, help="env steps each set-up learns for (at least)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    sb3_default = steps_per_s(VecMonitor(make_vec_env(ENV_ID, n_envs=64, env_kwargs=ENV_KWARGS)), args.steps)
    dummy_batched = steps_per_s(VecMonitor(make_vec_env(ENV_ID, n_envs=256, env_kwargs=ENV_KWARGS)), args.steps,
                                **BATCHED)
    native = steps_per_s(VecMonitor(make_sb3_vec_env(ENV_ID, num_envs=256, **ENV_KWARGS)), args.steps, **BATCHED)
    print(f"torch {torch.__version__}, 1 thread; PPO('MultiInputPolicy') learn() on {ENV_ID}, env-steps/s:")
    print(f"  1. DummyVecEnv (64), SB3 defaults (n_steps 2048, batch 64, 10 epochs): {sb3_default:10,.0f}")
    print(f"  2. DummyVecEnv (256), n_steps 12, batch 768, 4 epochs:               {dummy_batched:10,.0f}")
    print(f"  3. native (256), n_steps 12, batch 768, 4 epochs (the README's):    {native:10,.0f}")
    print(f"  ratio 3 / 1: {native / sb3_default:.1f}x;  3 / 2: {native / dummy_batched:.1f}x")


if __name__ == "__main__":
    main()
