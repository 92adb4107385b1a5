"""The open set's class-balanced recipe: ``--unknown-weight`` (the "unknown" class's weight in RAM's cross-entropy) on
real Omniglot labels, ``--select-by reward`` (best.pt by the val mean reward), and the clear errors for bad input."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import gymnasium as gym
import pytest
import torch
import torch.nn.functional as F

import ram_env  # noqa: F401  (registers the env ids)
from agents.loss import hybrid_loss, unknown_class_weight
from agents.ram import RAM, RAMConfig
from agents.rollout import run_episodes
from conftest import require_dataset
from ram_train import ram_agent


def test_unknown_class_weight_and_its_errors() -> None:
    weight = unknown_class_weight(126, 125, 0.25)
    assert weight.shape == (126,) and weight[125] == 0.25 and bool((weight[:125] == 1).all())
    for bad in (0.0, -0.5, math.nan, math.inf):
        with pytest.raises(ValueError, match="finite number > 0"):
            unknown_class_weight(126, 125, bad)
    with pytest.raises(ValueError, match="open-set task"):
        unknown_class_weight(242, None, 0.5)  # a closed set has no unknown class to weigh
    with pytest.raises(ValueError, match="not one of the 10 classes"):
        unknown_class_weight(10, 10, 0.5)


def test_the_weight_scales_the_unknown_images_cross_entropy_on_real_labels() -> None:
    require_dataset("omniglot")
    envs = gym.make_vec("GlimpseOmniglotOpenSet-v0", num_envs=24, split="train", autoreset_mode="disabled",
                        num_glimpses=2)
    unknown = envs.config.unknown_class
    torch.manual_seed(0)
    model = RAM(RAMConfig.from_env(envs))
    # 24 training images, known characters and "unknown" (the training split is 36 % unknown images)
    index = torch.arange(0, 2352, 98)
    episodes = run_episodes(model, envs, index, num_samples=1, seed=0, generator=torch.Generator().manual_seed(0))
    is_unknown = episodes.label == unknown
    assert 0 < int(is_unknown.sum()) < len(index)
    per_image = F.cross_entropy(model.classifier(episodes.features[:, -1]), episodes.label, reduction="none")

    plain = hybrid_loss(model, episodes)
    assert torch.equal(plain["cross_entropy"], per_image.mean())
    ones = hybrid_loss(model, episodes, class_weight=unknown_class_weight(126, unknown, 1.0))
    torch.testing.assert_close(ones["cross_entropy"], plain["cross_entropy"])
    for w in (0.1, 3.0):
        weighted = hybrid_loss(model, episodes, class_weight=unknown_class_weight(126, unknown, w))
        weights = torch.where(is_unknown, w, 1.0)
        torch.testing.assert_close(weighted["cross_entropy"], (weights * per_image).sum() / weights.sum())
        # only the cross-entropy is weighted: the location and baseline terms are the same
        for term in ("baseline_mse", "reinforce", "consistency"):
            assert torch.equal(weighted[term], plain[term])
    with pytest.raises(ValueError, match="one weight per class"):
        hybrid_loss(model, episodes, class_weight=torch.ones(125))


def test_bad_flags_are_refused(tmp_path: Path) -> None:
    for flags, message in (("--unknown-weight -1", "finite number > 0"), ("--unknown-weight nan", "finite number"),
                           ("--unknown-weight 0", "> 0"), ("--select-by accuracy", "--select-by must be one of")):
        with pytest.raises(SystemExit, match=message):
            ram_agent.resolve_args(["--preset", "omniglot-openset-6g", *flags.split()])
    require_dataset("omniglot")
    for flag in ("--unknown-weight 0.5", "--select-by reward"):  # a closed set: no unknown class
        with pytest.raises(SystemExit, match="is for open-set tasks"):
            ram_agent.main(["--preset", "omniglot-6g", *flag.split(), "--output-dir", str(tmp_path), "--name",
                            flag.split()[0][2:], "--device", "cpu", "--max-steps", "1"])


def test_a_weighted_run_selects_by_the_val_reward(tmp_path: Path) -> None:
    require_dataset("omniglot")
    flags = ("--preset omniglot-openset-6g --unknown-weight 0.3 --select-by reward --max-steps 2 --val-every 1 "
             "--batch-size 4 --num-samples 2 --val-images 40 --val-samples 2 --test-images 20 --test-samples 2 "
             "--threads 1 --device cpu --no-figures --no-progress-bar")
    ram_agent.main([*flags.split(), "--output-dir", str(tmp_path), "--name", "weighted"])
    results = json.loads((tmp_path / "weighted" / "test_results.json").read_text())
    with open(tmp_path / "weighted" / "progress.csv", newline="") as f:
        rewards = [float(r["charts/val_reward"]) for r in csv.DictReader(f) if r["charts/val_reward"]]
    assert len(rewards) == 2 and results["select_by"] == "reward" and "best_val_error" not in results
    assert results["best_val_reward"] == pytest.approx(max(rewards))
    assert results["best_step"] == 1 + rewards.index(max(rewards))
