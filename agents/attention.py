"""What the location policy learned: where it looks, and how much that depends on the input.

Two numbers per glimpse step ``t`` (over the policy's own choices ``l_1 ... l_{T-1}``; the first
glimpse is at the env's initial location and says nothing about the policy):

- ``mean_pairwise_distance``: the mean Euclidean distance between the locations two different
  images get at step ``t`` (in location units; the image spans [-1, 1]). 0 means the same place for
  every input ("the same strategy for each input"); uniform random locations give about 1.04.
- ``mutual_information_bits``: the mutual information between the location (binned on a
  ``bins x bins`` grid) and the class, in bits (the class entropy, log2(10) = 3.32 bits for ten
  balanced classes, is its ceiling). It is the plug-in estimate, biased upward by about
  ``(cells - 1)(classes - 1) / (2 N ln 2)`` bits, which is reported beside it as ``mi_bias_bits``.
"""

from __future__ import annotations

import math
from typing import Any

import gymnasium as gym
import torch

from agents.networks import RAM, eval_mode
from agents.rollout import run_episodes

__all__ = ["collect_locations", "policy_diversity", "location_heatmaps", "attention_report"]


@torch.no_grad()
def collect_locations(
    model: RAM, envs: Any, num_images: int | None = None, deterministic: bool = True, seed: int = 0
) -> dict[str, torch.Tensor]:
    """Run the policy on the first ``num_images`` images of the env's split (default: all).

    Returns ``locations`` ``(N, T-1, 2)`` (the chosen locations, clipped as the env applies them),
    ``label`` ``(N,)`` and ``correct`` ``(N,)`` bool. ``envs`` is a vector env with
    ``autoreset_mode="disabled"``.
    """
    total = int(envs.num_images) if num_images is None else min(int(num_images), int(envs.num_images))
    n = envs.num_envs
    device = model.classifier.weight.device
    locations, labels, correct = [], [], []
    with eval_mode(model):
        for start in range(0, total, n):
            count = min(n, total - start)
            index = torch.arange(start, start + n, device=device).clamp_(max=total - 1)
            noise = torch.Generator(device=device).manual_seed(seed + start)  # as evaluate() seeds its paths
            episodes = run_episodes(model, envs, index, 1, deterministic=deterministic, seed=seed + start,
                                    generator=noise)
            locations.append(episodes.locations[:count].clamp(-1.0, 1.0).float().cpu())
            labels.append(episodes.label[:count].cpu())
            correct.append(episodes.reward[:count].cpu() > 0.5)
    return {"locations": torch.cat(locations), "label": torch.cat(labels), "correct": torch.cat(correct)}


def _bin(locations: torch.Tensor, bins: int) -> torch.Tensor:
    """Grid cell of each location ``(..., 2)`` in ``[-1, 1]^2``: int64 in ``[0, bins**2)``."""
    cell = ((locations + 1.0) / 2.0 * bins).floor().clamp_(0, bins - 1).to(torch.int64)
    return cell[..., 1] * bins + cell[..., 0]


def policy_diversity(
    locations: torch.Tensor, labels: torch.Tensor, num_classes: int, bins: int = 8, max_pairs_images: int = 2000
) -> list[dict[str, float]]:
    """Per step: mean pairwise distance, location-class mutual information (bits) and its bias.

    ``locations`` ``(N, T-1, 2)``, ``labels`` ``(N,)``. The pairwise distance uses the first
    ``max_pairs_images`` images (all pairs of them).
    """
    n, steps, _ = locations.shape
    labels = labels.to(torch.int64)
    cells = bins * bins
    bias = (cells - 1) * (num_classes - 1) / (2 * n * math.log(2))
    out = []
    for t in range(steps):
        loc = locations[:, t].double()
        sub = loc[:max_pairs_images]
        m = sub.shape[0]
        distance = torch.cdist(sub, sub).sum() / max(m * (m - 1), 1)
        joint = torch.zeros(cells, num_classes, dtype=torch.float64)
        joint.index_put_((_bin(loc, bins), labels), torch.ones(n, dtype=torch.float64), accumulate=True)
        joint /= n
        p_loc, p_class = joint.sum(1, keepdim=True), joint.sum(0, keepdim=True)
        nz = joint > 0
        mi = (joint[nz] * (joint[nz] / (p_loc @ p_class)[nz]).log2()).sum()
        out.append({"step": t + 1, "mean_pairwise_distance": float(distance), "mutual_information_bits": float(mi),
                    "mi_bias_bits": bias})
    return out


def location_heatmaps(locations: torch.Tensor, labels: torch.Tensor, num_classes: int, bins: int = 16) -> torch.Tensor:
    """Where each class is looked at, per step: ``(num_classes, T-1, bins, bins)`` frequencies (rows = y)."""
    n, steps, _ = locations.shape
    maps = torch.zeros(num_classes, steps, bins * bins, dtype=torch.float64)
    step_index = torch.arange(steps).expand(n, steps)
    cls = labels.to(torch.int64)[:, None].expand(n, steps)
    maps.index_put_((cls, step_index, _bin(locations, bins)), torch.ones(n, steps, dtype=torch.float64),
                    accumulate=True)
    counts = torch.bincount(labels.to(torch.int64), minlength=num_classes).clamp(min=1).double()
    return (maps / counts[:, None, None]).view(num_classes, steps, bins, bins)


def attention_report(
    policy: Any, split: str = "test", num_images: int | None = None, batch: int = 1000
) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """Where a :class:`~agents.policy.RAMPolicy` looks on ``split`` and how input-dependent that is.

    Runs the deterministic policy on the first ``num_images`` images (default: all), ``batch`` episodes
    at a time, in the env the policy was trained for. Returns the report (``images``,
    ``error_deterministic``, and :func:`policy_diversity` for the ``learned`` locations and for
    ``uniform_random`` ones on the same images) and the raw :func:`collect_locations` output.
    """
    import ram_env  # noqa: F401  (registers the env ids)

    envs = gym.make_vec(policy.env_id, num_envs=batch, split=split, device=policy.device,
                        autoreset_mode="disabled", **policy.env_kwargs)
    seen = collect_locations(policy.model, envs, num_images)
    classes = policy.config.num_classes
    random_locations = torch.rand(seen["locations"].shape, generator=torch.Generator().manual_seed(0)) * 2 - 1
    report = {
        "split": split,
        "images": int(seen["label"].shape[0]),
        "error_deterministic": float(1 - seen["correct"].float().mean()),
        "learned": policy_diversity(seen["locations"], seen["label"], classes),
        "uniform_random": policy_diversity(random_locations, seen["label"], classes),
    }
    return report, seen
