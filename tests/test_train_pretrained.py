"""The shipped policies in ``agents/pretrained/``: one per preset row, each loads, plays its env and classifies.

The full-test-split figures are in docs/results.md (``python train/evaluate.py --checkpoint <preset>``); here the first
1,000 test images, deterministic, against a loose bound (about 1.5x the file's measured error on them) that a
broken file, loader or env change would fail.
"""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import pytest

import ram_env  # noqa: F401
from agents.ram import RAMPolicy, evaluate
from conftest import import_script

ROOT = Path(__file__).resolve().parents[1]
PRETRAINED = ROOT / "agents" / "pretrained"
# preset -> bound on the deterministic error over the first 1,000 test images
SHIPPED = {
    "mnist-2g": 0.08, "mnist-4g": 0.015, "mnist-6g": 0.017,
    "translated-4g": 0.017, "translated-6g": 0.02,
    "cluttered60-8g": 0.045, "cluttered100-4g": 0.09, "cluttered100-6g": 0.09, "fashion-6g": 0.125,
    "cifar10-4g": 0.45, "cifar10-4g-conv": 0.40, "cifar10-6g": 0.44,
    "omniglot-6g": 0.90,  # all 968 test images (85.1 %); an untrained or broken file errs on 99.6 %
    "omniglot-openset-6g": 0.53,  # 50.9 %, barely below answering "unknown" always (51.7 %); broken: about 99 %
}


def presets() -> dict:
    return import_script("presets").PRESETS


def test_every_shipped_file_is_a_preset_with_a_bound() -> None:
    files = {p.stem for p in PRETRAINED.glob("*.pt")}
    assert files == set(SHIPPED), f"shipped {sorted(files)}, tested {sorted(SHIPPED)}"
    assert set(SHIPPED) <= set(presets())


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_shipped_policy_classifies_test_images(name: str) -> None:
    path = PRETRAINED / f"{name}.pt"
    row = presets()[name]
    policy = RAMPolicy.load(path, device="cpu")
    assert policy.env_id == row["env_id"] and policy.config.num_glimpses == row["env_kwargs"]["num_glimpses"]
    assert policy.env_kwargs.get("initial_location", "random") == row["env_kwargs"].get("initial_location", "random")
    assert path.stat().st_size < 9_000_000  # small: float32 weights only (largest: cifar10-4g-conv, 0.9 M parameters)
    envs = gym.make_vec(policy.env_id, num_envs=500, split="test", autoreset_mode="disabled", **policy.env_kwargs)
    result = evaluate(policy.model, envs, num_samples=1, num_images=1000)
    assert result["error_deterministic"] <= SHIPPED[name]
