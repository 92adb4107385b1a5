"""Knowledge distillation for RAM (Hinton et al. 2015): a teacher's class distributions as soft targets.

The teacher is a trained RAM policy (:class:`agents.policy.RAMPolicy`) or a whole-image classifier
(:class:`agents.image_teacher.ImageTeacher`, ``python train/image_teacher.py``); :func:`load_teacher` reads either
file.

:func:`teacher_targets` plays every image of a split through the env the teacher was trained on (its own
number of glimpses, without the training-only augmentation) and averages the teacher's class distribution over
``num_samples`` sampled location paths per image: the Monte Carlo ensemble, which on every row of the results
table is more accurate than one path. The result, one distribution per image of the split, is what
:func:`agents.loss.hybrid_loss` pulls each of a student's paths towards (``soft_targets``, weighted by
``config.distill_weight``), beside the label. The student plays the same task (env id and task kwargs) through its
own episodes; its network, glimpse count and training augmentation may differ from the teacher's.

An image teacher sees each image whole (without the training augmentation) and gives its softmax.
:func:`soften` raises the targets to a temperature (Hinton's ``T``) before a run uses them.

``python train/ram_agent.py --teacher FILE`` does this for a run.
"""

from __future__ import annotations

import os
from typing import Any

import gymnasium as gym
import torch

from agents.image_teacher import ImageTeacher, is_image_teacher_file
from agents.policy import RAMPolicy, resolve_checkpoint
from agents.rollout import class_probabilities
from ram_env.config import TRAINING_ONLY_KWARGS, to_nchw

__all__ = ["load_teacher", "soften", "teacher_targets"]

Teacher = RAMPolicy | ImageTeacher


def load_teacher(path: str | os.PathLike, device: str | torch.device = "auto") -> Teacher:
    """The teacher in ``path`` (or the shipped file of that name, e.g. ``teachers/cifar10``): an image classifier
    file (``train/image_teacher.py``) or a RAM policy file."""
    path = resolve_checkpoint(path)
    if is_image_teacher_file(path):
        return ImageTeacher.load(path, device=device)
    return RAMPolicy.load(path, device=device)


def soften(targets: torch.Tensor, temperature: float) -> torch.Tensor:
    """Class distributions ``(N, C)`` at ``temperature``: ``q_i^(1/T)`` renormalised, the softmax of the logits over
    ``T`` (> 1 flattens, 1 keeps them as they are)."""
    if not (temperature > 0 and temperature < float("inf")):
        raise ValueError(f"temperature must be a positive number, got {temperature}")
    if temperature == 1:
        return targets
    return torch.softmax(targets.clamp_min(1e-12).log() / temperature, dim=-1)


def teacher_targets(
    teacher: Teacher,
    split: str = "train",
    num_samples: int = 10,
    num_images: int | None = None,
    images_per_batch: int = 100,
    seed: int = 0,
    **env_overrides: Any,
) -> torch.Tensor:
    """``(num_images, C)``: the teacher's class distribution of each of the first ``num_images`` images (default:
    all) of ``split``, on the teacher's device: a RAM policy's averaged over ``num_samples`` sampled location paths,
    an image teacher's from the whole image (``num_samples`` unused).

    The env is the teacher's (``teacher.env_id``, ``teacher.env_kwargs`` without the training-only augmentation,
    so each image is seen as it is) with ``env_overrides`` on top (e.g. ``data_dir``); row ``i`` is the image the
    env's ``split`` has at index ``i``, the index a training episode's info carries. Seeded by ``seed``: the same
    teacher gives the same targets in any process.
    """
    if num_samples < 1:
        raise ValueError(f"num_samples must be at least 1, got {num_samples}")
    kwargs = {k: v for k, v in teacher.env_kwargs.items() if k not in TRAINING_ONLY_KWARGS} | env_overrides
    if isinstance(teacher, ImageTeacher):  # the split's images as the env serves them, in its index order
        envs = gym.make_vec(teacher.env_id, num_envs=1, split=split, autoreset_mode="disabled", **kwargs)
        images = envs.config.images[:num_images]
        envs.close()
        return teacher.class_probabilities(to_nchw(images), batch_size=images_per_batch)
    envs = gym.make_vec(teacher.env_id, num_envs=images_per_batch * num_samples, split=split, device=teacher.device,
                        autoreset_mode="disabled", **kwargs)
    try:
        probabilities, _labels = class_probabilities(teacher.model, envs, num_samples, num_images, seed)
    finally:
        envs.close()
    return probabilities
