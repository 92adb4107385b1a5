"""The open-set figures: :func:`ram_train.evaluate.open_set_metrics` on hand-made answers, and ``ram-evaluate`` on an
open-set policy file, whose report holds them beside the error rates."""

from __future__ import annotations

import json
import math
from pathlib import Path

import gymnasium as gym
import torch

from agents import rollout
from agents.networks import RAM, RAMConfig
from agents.policy import RAMPolicy
from conftest import require_dataset
from ram_train import evaluate


def test_open_set_metrics_by_hand() -> None:
    unknown = 3
    labels = torch.tensor([0, 1, 2, 2, 3, 3, 3, 3])
    unseen = torch.tensor([False] * 6 + [True, True])
    prediction = torch.tensor([0, 3, 2, 1, 3, 0, 3, 3])
    got = evaluate.open_set_metrics(prediction, labels, unseen, unknown)
    assert got == {
        "known_accuracy": 0.5,  # images 0 and 2 of the four known ones
        "known_called_unknown": 0.25,  # image 1
        "unknown_detected_seen": 0.5,  # image 4, not 5
        "unknown_detected_unseen": 1.0,
        "mean_reward": (1 + 0 + 1 + 0 + 1 - 1 + 1 + 1) / 8,
        "known_images": 4,
        "unknown_seen_images": 2,
        "unknown_unseen_images": 2,
    }
    empty = evaluate.open_set_metrics(prediction[:4], labels[:4], unseen[:4], unknown)
    assert math.isnan(empty["unknown_detected_unseen"]) and empty["unknown_unseen_images"] == 0


def test_evaluate_reports_open_set_figures(tmp_path: Path) -> None:
    require_dataset("omniglot")
    config = RAMConfig(
        glimpse_size=12,
        num_scales=4,
        num_classes=126,
        num_glimpses=2,
        core_hidden=32,
        glimpse_hidden=16,
        glimpse_features=32,
    )
    torch.manual_seed(0)
    policy = RAMPolicy(RAM(config), "GlimpseOmniglotOpenSet-v0", {"num_glimpses": 2})
    policy.save(tmp_path / "open.pt")
    report = evaluate.main(
        ["--checkpoint", str(tmp_path / "open.pt"), "--split", "val", "--images", "600", "--samples", "2"]
    )
    figures = report["open_set"]
    # val's first 600 images: drawer 13 (242 characters) and 14, then 116 of drawer 15, in class order
    assert figures["known_images"] + figures["unknown_seen_images"] + figures["unknown_unseen_images"] == 600
    assert figures["unknown_unseen_images"] == 2 * (24 + 22) + 46
    wrong = 1 - figures["known_accuracy"]
    assert 0 <= wrong <= 1 and -1 <= figures["mean_reward"] <= 1
    # the deterministic error counts every image whose terminal reward is not +1: the same episodes
    right = (
        figures["known_accuracy"] * figures["known_images"]
        + figures["unknown_detected_seen"] * figures["unknown_seen_images"]
        + figures["unknown_detected_unseen"] * figures["unknown_unseen_images"]
    )
    assert abs((1 - right / 600) - report["error_deterministic"]) < 1e-9
    # ... and the mean reward of agents.rollout.evaluate's episodes (which train/ram_agent.py selects by) is the
    # open-set report's: the env's terminal reward of the same deterministic episodes, in val envs of another size
    envs = gym.make_vec("GlimpseOmniglotOpenSet-v0", num_envs=40, split="val", autoreset_mode="disabled",
                        num_glimpses=2)
    own = rollout.evaluate(policy.model, envs, num_images=600, seed=0, monte_carlo=False)
    assert abs(own["mean_reward"] - figures["mean_reward"]) < 1e-6


def test_image_teacher_reports_open_set_figures(tmp_path: Path) -> None:
    require_dataset("omniglot")
    from ram_train import image_teacher

    flags = "--preset omniglot-openset-6g --max-steps 2 --batch-size 16 --width 4 --val-images 50 --test-images 300"
    image_teacher.main([*flags.split(), "--output-dir", str(tmp_path), "--name", "cnn", "--device", "cpu"])
    results = json.loads((tmp_path / "cnn" / "test_results.json").read_text())
    figures = results["open_set"]
    assert figures["known_images"] + figures["unknown_seen_images"] + figures["unknown_unseen_images"] == 300
    assert 0 <= figures["known_accuracy"] <= 1 and -1 <= figures["mean_reward"] <= 1


def test_a_training_run_reports_open_set_figures(tmp_path: Path) -> None:
    require_dataset("omniglot")
    from ram_train import ram_agent

    flags = (
        "--preset omniglot-openset-6g --max-steps 2 --batch-size 8 --num-samples 2 --val-images 50 --val-samples 2 "
        "--test-images 120 --test-samples 2 --threads 1 --device cpu --no-figures --no-progress-bar"
    )
    ram_agent.main([*flags.split(), "--output-dir", str(tmp_path), "--name", "open"])
    results = json.loads((tmp_path / "open" / "test_results.json").read_text())
    figures = results["test_open_set"]
    assert figures["known_images"] + figures["unknown_seen_images"] + figures["unknown_unseen_images"] == 120
    assert figures["unknown_unseen_images"] == 46  # the test split starts with drawer 17's Balinese, Early_Aramaic
