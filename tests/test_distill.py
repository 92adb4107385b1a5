"""Knowledge distillation's targets (``agents.distill.teacher_targets``) on real MNIST, from a shipped file."""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import pytest
import torch

import ram_env  # noqa: F401
from agents.distill import teacher_targets
from agents.ram import RAMPolicy, evaluate
from agents.rollout import class_probabilities
from ram_env.data import load_split

TEACHER = Path(__file__).resolve().parents[1] / "agents" / "pretrained" / "mnist-2g.pt"


@pytest.fixture(scope="module")
def teacher() -> RAMPolicy:
    torch.set_num_threads(1)
    return RAMPolicy.load(TEACHER, device="cpu")


def test_targets_are_the_teachers_mc_distribution_of_each_training_image(teacher: RAMPolicy) -> None:
    targets = teacher_targets(teacher, "train", num_samples=4, num_images=300, images_per_batch=64)
    assert targets.shape == (300, 10) and not targets.requires_grad
    torch.testing.assert_close(targets.sum(-1), torch.ones(300))
    _, labels = load_split("mnist", "train")
    accuracy = (targets.argmax(-1).numpy() == labels[:300]).mean()
    assert accuracy > 0.9  # the 2-glimpse file's error is about 6 %: row i is training image i
    assert 0.8 < targets.max(-1).values.mean() < 1.0  # soft: not one-hot
    # Seeded: the same targets in another call (another seed: other paths, nearly the same distributions).
    torch.testing.assert_close(teacher_targets(teacher, "train", num_samples=4, num_images=300, images_per_batch=64),
                               targets, rtol=0, atol=0)
    other = teacher_targets(teacher, "train", num_samples=4, num_images=300, images_per_batch=64, seed=1)
    assert not torch.equal(other, targets) and (other - targets).abs().sum(-1).mean() < 0.2


def test_targets_leave_out_the_training_augmentation(teacher: RAMPolicy) -> None:
    shifted = RAMPolicy(teacher.model, teacher.env_id, {**teacher.env_kwargs, "max_shift": 2, "max_rotation": 10})
    torch.testing.assert_close(teacher_targets(shifted, num_samples=2, num_images=50),
                               teacher_targets(teacher, num_samples=2, num_images=50))


def test_class_probabilities_give_evaluate_its_mc_error(teacher: RAMPolicy) -> None:
    envs = gym.make_vec(teacher.env_id, num_envs=50 * 5, split="val", autoreset_mode="disabled", **teacher.env_kwargs)
    probabilities, labels = class_probabilities(teacher.model, envs, num_samples=5, num_images=120, seed=3)
    assert probabilities.shape == (120, 10) and labels.shape == (120,)
    _, val_labels = load_split("mnist", "val")
    assert (labels.numpy() == val_labels[:120]).all()
    error = (probabilities.argmax(-1) != labels).float().mean().item()
    assert evaluate(teacher.model, envs, num_samples=5, num_images=120, seed=3)["error_mc"] == pytest.approx(error)
    with pytest.raises(ValueError, match="must be a multiple of num_samples"):
        class_probabilities(teacher.model, envs, num_samples=7)
