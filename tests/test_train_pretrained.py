"""The shipped policies in ``agents/pretrained/``: they load, play their env, and classify test digits.

The full 10,000-image figures are in the README (``python train/evaluate.py --checkpoint ...``); here
the first 1,000 test images, deterministic, against a loose bound that a broken file would fail.
"""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import pytest

import ram_env  # noqa: F401
from agents.ram import RAMPolicy, evaluate

PRETRAINED = Path(__file__).resolve().parents[1] / "agents" / "pretrained"
# name -> (glimpses, bound on the error over the first 1,000 test images)
SHIPPED = {"mnist-2g": (2, 0.12), "mnist-4g": (4, 0.03), "mnist-6g": (6, 0.02)}


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_shipped_policy_classifies_test_digits(name: str) -> None:
    path = PRETRAINED / f"{name}.pt"
    if not path.exists():
        pytest.skip(f"{path} not shipped")
    glimpses, bound = SHIPPED[name]
    policy = RAMPolicy.load(path, device="cpu")
    assert policy.env_id == "GlimpseMNIST-v0" and policy.config.num_glimpses == glimpses
    assert path.stat().st_size < 2_000_000
    envs = gym.make_vec(policy.env_id, num_envs=500, split="test", autoreset_mode="disabled", **policy.env_kwargs)
    result = evaluate(policy.model, envs, num_samples=1, num_images=1000)
    assert result["error_deterministic"] <= bound
