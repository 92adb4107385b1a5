"""What a training run leaves on disk besides the logs: atomic files, glimpse figures, the machine it ran on.

Shared by ``train/ram_agent.py`` (refreshed at each validation) and ``train/evaluate.py`` (on demand).
Every file is written to a temporary name in its folder and renamed into place, so a reader (or a
``kill -9``) never sees half a file.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from matplotlib.animation import PillowWriter  # noqa: E402

from agents.policy import RAMPolicy  # noqa: E402
from ram_env.atomic import atomic_path  # noqa: E402

__all__ = ["atomic_path", "atomic_torch_save", "write_json", "hardware", "episode_frames", "save_glimpse_figures",
           "save_episode_gif"]


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> None:
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def write_json(obj: Any, path: str | os.PathLike) -> None:
    with atomic_path(path) as tmp, open(tmp, "w") as f:
        json.dump(obj, f, indent=2)
        f.write("\n")


def hardware(device: torch.device | str) -> str:
    """The machine in words: CPU model and cores (and torch threads), or the GPU's name."""
    device = torch.device(device)
    if device.type == "cuda":
        return f"GPU {torch.cuda.get_device_name(device)}"
    model = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return f"CPU {model}, {os.cpu_count()} cores, {torch.get_num_threads()} torch threads"


def episode_frames(policy: RAMPolicy, index: int, split: str = "val", seed: int = 0) -> tuple[list[np.ndarray], dict]:
    """One deterministic episode of ``policy`` on image ``index`` of ``split``, as the env renders it.

    Returns the frame after each glimpse (``T`` RGB arrays) and the final info (label, prediction).
    """
    env = policy.make_env(split=split, render_mode="rgb_array")
    obs, _ = env.reset(seed=seed + index, options={"index": index})
    state, frames, info = None, [], {}
    terminated = False
    while not terminated:
        frames.append(env.render())
        action, state = policy.predict(obs, state, deterministic=True)
        obs, _, terminated, _, info = env.step(action)
    env.close()
    return frames, info


def save_glimpse_figures(policy: RAMPolicy, png: str | os.PathLike | None, gif: str | os.PathLike | None,
                         split: str = "val", num_images: int = 8, seed: int = 0) -> None:
    """A PNG of the glimpse paths on the first ``num_images`` images of ``split`` and a GIF of image 0's episode."""
    episodes = [episode_frames(policy, i, split, seed) for i in range(num_images)]  # predict runs in eval mode

    if png is not None:
        cols = min(4, num_images)
        rows = -(-num_images // cols)
        fig, axes = plt.subplots(rows, cols, figsize=(2.6 * cols, 3.0 * rows), squeeze=False)
        for ax in axes.flat:
            ax.axis("off")
        for ax, (frames, info) in zip(axes.flat, episodes):
            ax.imshow(frames[-1])
            ax.set_title(_title(info), fontsize=8)
        fig.suptitle(f"{policy.env_id} {split}: glimpse paths (deterministic), latest glimpse in green", fontsize=9)
        fig.tight_layout()
        with atomic_path(png) as tmp:
            fig.savefig(tmp, format="png", dpi=80)
        plt.close(fig)

    if gif is not None:
        save_episode_gif(*episodes[0], gif)


def _title(info: dict) -> str:
    mark = "right" if info["prediction"] == info["label"] else "WRONG"
    return f"label {info['label']}, said {info['prediction']} ({mark})"


def save_episode_gif(frames: list[np.ndarray], info: dict, path: str | os.PathLike) -> None:
    """An animated GIF of one episode's frames (matplotlib's Pillow writer, 2 frames/s), written atomically."""
    fig, ax = plt.subplots(figsize=(3, 3.2))
    ax.axis("off")
    shown = ax.imshow(frames[0])
    writer = PillowWriter(fps=2)
    with atomic_path(path) as tmp:
        with writer.saving(fig, tmp, dpi=80):
            for t, frame in enumerate(frames):
                shown.set_data(frame)
                last = t == len(frames) - 1
                ax.set_title(f"glimpse {t + 1}/{len(frames)}" + (f": {_title(info)}" if last else ""), fontsize=8)
                writer.grab_frame()
    plt.close(fig)
