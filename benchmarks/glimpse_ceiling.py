"""How well a fixed way of looking can classify: a supervised LSTM trained on episodes of fixed glimpse locations.

    python benchmarks/glimpse_ceiling.py --locations centre   # the SB3 agents' way: after the random first, the centre
    python benchmarks/glimpse_ceiling.py --locations random   # after the random first, uniformly random places

The SB3 baselines of docs/baselines.md look at the centre after the env's random first glimpse. This trains a
classifier on exactly such episodes of ``--env`` (with ``reward_mode="cross_entropy"``; the observations are those an
SB3 policy gets) by backpropagation: an LSTM of the width of the SB3 policy's (128) over each step's glimpse and
location, a linear read-out, cross-entropy at every step (as the env's reward pays), Adam, on ``train``. It then prints
the accuracy after each glimpse on the first ``--images`` val images (each once). That is about what the best
classifier of those glimpses reaches, so it splits the gap between an SB3 agent and RAM into the looking and the
classifier that policy gradients train.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from stable_baselines3.common.vec_env import VecEnv
from torch import nn

import ram_env  # noqa: F401  (registers the ids)
from ram_env.sb3_vec_env import make_sb3_vec_env
from ram_train.sb3_agent import IndexedReset


class Classifier(nn.Module):
    """LSTM over (glimpse, location), a linear read-out of the classes at every step."""

    def __init__(self, obs_size: int, num_classes: int, width: int = 128) -> None:
        super().__init__()
        self.lstm = nn.LSTM(obs_size, width, batch_first=True)
        self.head = nn.Linear(width, num_classes)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:  # (B, T, obs) -> (B, T, classes)
        return self.head(self.lstm(obs)[0])


def episodes(venv: VecEnv, glimpses: int, locations: str, rng: np.random.Generator
             ) -> tuple[torch.Tensor, torch.Tensor]:
    """One episode in every sub-env from a fresh reset: (observations (B, T, obs), labels (B,))."""
    n, num_classes = venv.num_envs, venv.action_space.shape[0] - 2
    obs, seq = venv.reset(), []
    for _ in range(glimpses):
        seq.append(np.concatenate([obs["glimpse"], obs["location"]], axis=1))
        action = np.zeros((n, 2 + num_classes), dtype=np.float32)
        if locations == "random":
            action[:, :2] = rng.uniform(-1, 1, size=(n, 2))
        obs, _, done, infos = venv.step(action)
    assert done.all()
    labels = np.array([info["label"] for info in infos])
    return torch.from_numpy(np.stack(seq, axis=1)), torch.from_numpy(labels).long()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--env", default="GlimpseMNIST-v0")
    parser.add_argument("--locations", choices=("centre", "random"), default="centre")
    parser.add_argument("--updates", type=int, default=3000, help="Adam steps, each on a fresh batch of episodes")
    parser.add_argument("--batch", type=int, default=512, help="episodes (train images) per update")
    parser.add_argument("--images", type=int, default=5000, help="val images to test on, the first N, each once")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    train = make_sb3_vec_env(args.env, num_envs=args.batch, split="train", reward_mode="cross_entropy")
    train.seed(args.seed)
    num_classes, glimpses = train.action_space.shape[0] - 2, train.venv.num_glimpses
    model = Classifier(train.observation_space["glimpse"].shape[0] + 2, num_classes)
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-3)
    start = time.perf_counter()
    for update in range(args.updates):
        obs, labels = episodes(train, glimpses, args.locations, rng)
        logits = model(obs)
        loss = nn.functional.cross_entropy(logits.flatten(0, 1), labels.repeat_interleave(logits.shape[1]))
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        if (update + 1) % 500 == 0:
            print(f"update {update + 1}: train loss {loss.item():.3f}", flush=True)
    val = IndexedReset(make_sb3_vec_env(args.env, num_envs=args.images, split="val", reward_mode="cross_entropy"),
                       np.arange(args.images))  # image i in sub-env i, each once, as train/sb3_agent.py evaluates
    obs, labels = episodes(val, glimpses, args.locations, rng)
    with torch.no_grad():
        accuracy = (model(obs).argmax(-1) == labels[:, None]).float().mean(0)
    print(f"{args.env}, locations {args.locations} after the random first glimpse, {args.updates} updates of "
          f"{args.batch} episodes ({time.perf_counter() - start:.0f} s)")
    print("val accuracy after glimpse 1 ... T: " + " / ".join(f"{100 * a:.1f}" for a in accuracy.tolist()) + " %")


if __name__ == "__main__":
    main()
