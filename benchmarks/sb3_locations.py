"""Where a trained SB3 RecurrentPPO policy looks: its deterministic glimpse locations and per-step accuracy on val.

    python benchmarks/sb3_locations.py runs/GlimpseMNIST-v0__main-recurrent-ppo__2__<time>

Loads ``best_model.zip`` of a ``train/sb3_agent.py`` run (continuous actions, ``--location-range 1``), plays the
first ``--images`` val images of ``--env`` with the deterministic policy, and prints per step: the mean and the
spread across images of the chosen ``(x, y)``, the accuracy of that step's class scores, and the policy's std.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from sb3_contrib import RecurrentPPO

import ram_env  # noqa: F401  (registers the ids)
from ram_env.sb3_vec_env import make_sb3_vec_env


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", type=Path, help="a run folder holding best_model.zip")
    parser.add_argument("--env", default="GlimpseMNIST-v0")
    parser.add_argument("--images", type=int, default=2000)
    args = parser.parse_args()
    torch.set_num_threads(1)
    model = RecurrentPPO.load(args.run / "best_model.zip", device="cpu")
    venv = make_sb3_vec_env(args.env, num_envs=args.images, split="val", reward_mode="cross_entropy")
    venv.seed(0)
    obs, state, starts = venv.reset(), None, np.ones(args.images, dtype=bool)
    actions = []
    for _ in range(venv.venv.num_glimpses):
        action, state = model.predict(obs, state=state, episode_start=starts, deterministic=True)
        starts = np.zeros(args.images, dtype=bool)
        actions.append(np.asarray(action))
        obs, _, _, infos = venv.step(action)
    acts = np.stack(actions)  # (T, images, 2 + K)
    labels = np.array([info["label"] for info in infos])
    where = np.clip(acts[..., :2], -1.0, 1.0)
    for t in range(len(acts)):
        accuracy = float((acts[t, :, 2:].argmax(1) == labels).mean())
        print(f"step {t + 1}: location mean ({where[t, :, 0].mean():+.2f}, {where[t, :, 1].mean():+.2f}), "
              f"spread across images ({where[t, :, 0].std():.3f}, {where[t, :, 1].std():.3f}); "
              f"accuracy of its scores {accuracy:.3f}")
    if model.policy.use_sde:  # gSDE: log_std weighs the policy's features, so the std differs from state to state
        print("policy std: state-dependent (gSDE), not a single figure")
    else:
        print("policy std (x, y, scores):", np.exp(model.policy.log_std.detach().numpy()).round(3).tolist())


if __name__ == "__main__":
    main()
