"""Reproduce a checkpoint's test figures: its error on a split, deterministic and Monte Carlo, as JSON.

    python train/evaluate.py --checkpoint mnist-6g          # a shipped policy by name (installed: ram-evaluate)
    python train/evaluate.py --checkpoint runs/NAME/best.pt --split val --figures runs/NAME/eval

Loads any file written by ``RAMPolicy.save`` (a run's ``best.pt``/``latest.pt`` or a shipped policy),
builds the env it was trained for (``env_id`` and ``env_kwargs`` are in the file, checked as data: a file never says
where the data is read or whether it is downloaded; ``--data-dir`` does) and runs
:func:`agents.rollout.evaluate` with the same settings as the end of ``train/ram_agent.py``, so the
numbers match the run's ``test_results.json``.

For an open-set task (``GlimpseOmniglotOpenSet-v0``: the last class is "unknown") the report also holds
``open_set`` (:func:`open_set_metrics` of the deterministic episodes): the accuracy on images of known characters,
the detection rate of unknown images, for the alphabets labelled unknown in training and for those never seen in
training apart, and the mean terminal reward (+1 right, 0 wrong, -1 an unknown image named as a known character).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
import torch

import ram_env  # noqa: F401  (registers the env ids)
from agents.networks import eval_mode
from agents.ram import RAMPolicy, evaluate
from agents.rollout import run_episodes
from ram_env.rewards import terminal_reward
from ram_train.artifacts import hardware, save_glimpse_figures
from ram_train.cli import parse


@dataclass
class Args:
    checkpoint: str = "mnist-6g"
    """Policy to evaluate: a file written by RAMPolicy.save (runs/NAME/best.pt) or a shipped policy's name
    (mnist-6g, cluttered60-8g, ...)."""
    split: str = "test"
    """Split to evaluate on: "test" (the reported figure), "val", "train" or "trainval"."""
    images: int = 0
    """Evaluate on the first this many images of the split (0: all of them)."""
    samples: int = 10
    """Monte Carlo location paths per image for the MC error, M."""
    seed: int = 0
    """Seed of the env resets (initial locations) and of the MC location noise; the training script's final
    evaluation uses 0."""
    device: str = "auto"
    """Torch device: "auto" (CUDA if available, else CPU), "cpu", "cuda", ..."""
    threads: int = 1
    """CPU threads for torch (0: torch's default; one is the safe choice on a shared machine)."""
    figures: str = ""
    """Folder to draw glimpses.png and episode.gif into, on this split's first images (empty: no figures)."""
    data_dir: str = ""
    """Data root (empty: $RAM_ENV_DATA, else the per-user cache). Where the data lives is this machine's choice: a
    checkpoint's own data_dir or download is ignored."""


def open_set_metrics(
    prediction: torch.Tensor, labels: torch.Tensor, unseen: torch.Tensor, unknown_class: int
) -> dict[str, float]:
    """The open-set figures of one split from each image's predicted class, label and unseen flag (``(N,)`` each):

    - ``known_accuracy``: right answers on images of known characters; ``known_called_unknown``: of those, the
      fraction called "unknown";
    - ``unknown_detected_seen``: images of the alphabets labelled unknown in training that are called "unknown";
      ``unknown_detected_unseen``: the same for alphabets never shown in training (``nan`` where a group is empty);
    - ``mean_reward``: the terminal reward (:func:`ram_env.rewards.terminal_reward`) averaged over all images;
    - the image count of each group.
    """
    prediction, labels, unseen = (torch.as_tensor(np.asarray(x)) for x in (prediction, labels, unseen))
    known = labels != unknown_class
    seen = ~known & ~unseen
    called_unknown = prediction == unknown_class

    def rate(hit: torch.Tensor, group: torch.Tensor) -> float:
        return float(hit[group].float().mean()) if bool(group.any()) else float("nan")

    return {
        "known_accuracy": rate(prediction == labels, known),
        "known_called_unknown": rate(called_unknown, known),
        "unknown_detected_seen": rate(called_unknown, seen),
        "unknown_detected_unseen": rate(called_unknown, unseen),
        "mean_reward": float(terminal_reward(prediction, labels, unknown_class).mean()),
        "known_images": int(known.sum()),
        "unknown_seen_images": int(seen.sum()),
        "unknown_unseen_images": int(unseen.sum()),
    }


@torch.no_grad()
def deterministic_logits(policy: RAMPolicy, split: str, images: int, seed: int = 0) -> tuple[torch.Tensor, Any]:
    """The classifier's logits after the last glimpse of ``policy``'s deterministic episodes (its mean path) on the
    first ``images`` images of ``split`` under the terminal reward, seeded as :func:`agents.rollout.evaluate`'s
    deterministic episodes, on the CPU; with the env's config (labels, open-set facts)."""
    kwargs = {**policy.env_kwargs, "split": split, "reward_mode": "terminal"}
    envs = gym.make_vec(policy.env_id, num_envs=max(1, min(100, images)), device=policy.device,
                        autoreset_mode="disabled", **kwargs)
    n, model, chunks = envs.num_envs, policy.model, []
    with eval_mode(model):
        for start in range(0, images, n):
            index = torch.arange(start, start + n, device=policy.device).clamp_(max=images - 1)
            episodes = run_episodes(model, envs, index, 1, deterministic=True, seed=seed + start,
                                    generator=torch.Generator(device=policy.device).manual_seed(seed + start))
            chunks.append(model.classifier(episodes.features[: min(n, images - start), -1]).cpu())
    return torch.cat(chunks), envs.config


def open_set_report(policy: RAMPolicy, split: str, images: int, seed: int = 0) -> dict[str, float]:
    """:func:`open_set_metrics` of ``policy``'s deterministic episodes (its mean path) on the first ``images`` images
    of ``split``, seeded as :func:`agents.rollout.evaluate`'s deterministic episodes."""
    logits, config = deterministic_logits(policy, split, images, seed)
    if not config.open_set:
        raise ValueError(f"{policy.env_id} with {policy.env_kwargs} is not an open-set task")
    labels = torch.from_numpy(np.asarray(config.labels[:images]))
    return open_set_metrics(logits.argmax(-1), labels, torch.from_numpy(config.unseen[:images]),
                            config.unknown_class)


def main(argv: list[str] | None = None) -> dict:
    args, _ = parse(Args, argv, description=__doc__)
    for name, minimum in (("images", 0), ("samples", 1), ("threads", 0)):
        if getattr(args, name) < minimum:
            raise SystemExit(f"--{name} must be at least {minimum}, got {getattr(args, name)}")
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    try:
        policy = RAMPolicy.load(args.checkpoint, device=args.device)  # the file's task; never its data_dir or download
    except FileNotFoundError as error:
        raise SystemExit(f"--checkpoint: {error}") from None
    if args.data_dir:
        policy.env_kwargs["data_dir"] = args.data_dir  # the user's, for the envs below and the figures
    total = policy.make_env(split=args.split).unwrapped.config.num_images
    images = min(args.images, total) if args.images > 0 else total
    envs = gym.make_vec(policy.env_id, num_envs=max(1, min(100, images)) * args.samples, device=policy.device,
                        autoreset_mode="disabled", **{**policy.env_kwargs, "split": args.split})
    start = time.time()
    torch.manual_seed(args.seed)  # the MC paths' location noise
    result = evaluate(policy.model, envs, num_samples=args.samples, num_images=images, seed=args.seed)
    report = {
        "checkpoint": args.checkpoint,
        "env_id": policy.env_id,
        "env_kwargs": policy.env_kwargs,
        "split": args.split,
        "images": int(result["num_images"]),
        "error_deterministic": result["error_deterministic"],
        "error_mc": result["error_mc"],
        "samples": args.samples,
        "seconds": round(time.time() - start, 1),
        "hardware": hardware(policy.device),
        "torch": torch.__version__,
    }
    if envs.config.open_set:
        report["open_set"] = open_set_report(policy, args.split, images, args.seed)
    if args.figures:
        save_glimpse_figures(policy, f"{args.figures}/glimpses.png", f"{args.figures}/episode.gif", split=args.split)
    print(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
