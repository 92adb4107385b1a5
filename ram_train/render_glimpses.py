"""Draw one episode of every registered env (or of one id) as the env renders it, into a PNG grid.

    python train/render_glimpses.py --out docs/glimpses.png
    python train/render_glimpses.py --env-id GlimpseClutteredMNIST100-v0 --episodes 4 --out clutter.png

The glimpse path is a fixed, hand-written spiral around the centre (not a trained policy): the
picture shows what the retina sees and how the env draws it. For a trained agent's paths, see the
figures the training run writes.
"""

from __future__ import annotations

import argparse
import math

import cv2
import gymnasium as gym
import numpy as np

import ram_env
from ram_env.atomic import atomic_path


def spiral_episode(env_id: str, index: int, side: int) -> np.ndarray:
    env = gym.make(env_id, split="val", initial_location="center", render_mode="rgb_array")
    env.reset(options={"index": index})
    scores = np.zeros(env.action_space.shape[0] - 2, np.float32)
    for t in range(env.unwrapped.config.num_glimpses - 1):
        radius = 0.12 * (t + 1)
        location = np.array([radius * math.cos(1.3 * t), radius * math.sin(1.3 * t)], np.float32)
        env.step(np.concatenate([location, scores]))
    frame = env.render()
    frame = cv2.resize(frame, (side, side), interpolation=cv2.INTER_AREA)
    cv2.rectangle(frame, (0, side - 18), (side - 1, side - 1), (0, 0, 0), -1)
    cv2.putText(
        frame, env_id.removesuffix("-v0"), (4, side - 6), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1, cv2.LINE_AA
    )
    return frame


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--env-id", default=None, help="one registered id (default: every id)")
    parser.add_argument("--episodes", type=int, default=1, help="episodes (val images 0, 1, ...) per id")
    parser.add_argument("--side", type=int, default=256, help="pixels per frame side")
    parser.add_argument("--out", default="glimpses.png", help="PNG to write")
    args = parser.parse_args()
    ids = [args.env_id] if args.env_id else list(ram_env.ENV_IDS)
    rows = [np.concatenate([spiral_episode(i, e, args.side) for e in range(args.episodes)], axis=1) for i in ids]
    grid = np.concatenate(rows, axis=0) if args.episodes > 1 else np.concatenate(rows, axis=1)
    ok, png = cv2.imencode(".png", grid[:, :, ::-1])
    if not ok:
        raise OSError(f"could not encode {args.out} as PNG")
    with atomic_path(args.out) as tmp:
        tmp.write_bytes(png.tobytes())
    print(f"wrote {args.out} ({grid.shape[1]}x{grid.shape[0]})")


if __name__ == "__main__":
    main()
