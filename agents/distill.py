"""Knowledge distillation for RAM (Hinton et al. 2015): a trained policy's class distributions as soft targets.

:func:`teacher_targets` plays every image of a split through the env the teacher was trained on (its own
number of glimpses, without the training-only augmentation) and averages the teacher's class distribution over
``num_samples`` sampled location paths per image: the Monte Carlo ensemble, which on every row of the results
table is more accurate than one path. The result, one distribution per image of the split, is what
:func:`agents.loss.hybrid_loss` pulls each of a student's paths towards (``soft_targets``, weighted by
``config.distill_weight``), beside the label. The student plays the same task (env id and task kwargs) through its
own episodes; its network, glimpse count and training augmentation may differ from the teacher's.

``python train/ram_agent.py --teacher FILE`` does this for a run.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import torch

from agents.policy import RAMPolicy
from agents.rollout import class_probabilities
from ram_env.config import TRAINING_ONLY_KWARGS

__all__ = ["teacher_targets"]


def teacher_targets(
    teacher: RAMPolicy,
    split: str = "train",
    num_samples: int = 10,
    num_images: int | None = None,
    images_per_batch: int = 100,
    seed: int = 0,
    **env_overrides: Any,
) -> torch.Tensor:
    """``(num_images, C)``: the teacher's class distribution of each of the first ``num_images`` images (default:
    all) of ``split``, averaged over ``num_samples`` sampled location paths, on the teacher's device.

    The env is the teacher's (``teacher.env_id``, ``teacher.env_kwargs`` without the training-only augmentation,
    so each image is seen as it is) with ``env_overrides`` on top (e.g. ``data_dir``); row ``i`` is the image the
    env's ``split`` has at index ``i``, the index a training episode's info carries. Seeded by ``seed``: the same
    teacher gives the same targets in any process.
    """
    if num_samples < 1:
        raise ValueError(f"num_samples must be at least 1, got {num_samples}")
    kwargs = {k: v for k, v in teacher.env_kwargs.items() if k not in TRAINING_ONLY_KWARGS} | env_overrides
    envs = gym.make_vec(teacher.env_id, num_envs=images_per_batch * num_samples, split=split, device=teacher.device,
                        autoreset_mode="disabled", **kwargs)
    try:
        probabilities, _labels = class_probabilities(teacher.model, envs, num_samples, num_images, seed)
    finally:
        envs.close()
    return probabilities
