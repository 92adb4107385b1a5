"""Regression tests of issue 39: no silent wrong results, one copy of the data, no lost logs, untrusted files
kept in their place. Every test here reproduces a defect a probe of bad inputs and faults found, on real data."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

import ram_env  # noqa: F401  (registers the ids)
from ram_env.data import load_split


def _right_actions(labels: np.ndarray, num_classes: int = 10) -> np.ndarray:
    """One action per label that names it (score 1 for the label, -1 elsewhere), looking at the centre."""
    actions = -np.ones((len(labels), 2 + num_classes), dtype=np.float32)
    actions[:, :2] = 0.0
    actions[np.arange(len(labels)), 2 + labels] = 1.0
    return actions


def _run_to_end(envs, actions):
    out = None
    for _ in range(envs.num_glimpses):
        out = envs.step(actions)
    return out


# ------------------------------------------------------------------- 1. the vector env never aliases caller memory
@pytest.mark.parametrize("kind", ["numpy", "torch", "list"])
def test_vector_env_keeps_its_own_copy_of_the_index(kind):
    _, labels = load_split("mnist", "val")
    index = np.array([0, 1, 2, 3])
    other = int(np.flatnonzero(labels != labels[0])[0])  # an image of another class than image 0
    envs = gym.make_vec("GlimpseMNIST-v0", num_envs=4, split="val", autoreset_mode="disabled")
    given = {"numpy": index.copy(), "torch": torch.from_numpy(index.copy()), "list": list(index)}[kind]
    _, info = envs.reset(seed=0, options={"index": given})
    given[0] = other  # the caller reuses its array: the running episodes must not notice
    if kind != "list":
        given[1:] = other
    _, reward, terminated, _, info = _run_to_end(envs, _right_actions(labels[index]))
    assert info["index"].tolist() == index.tolist()
    assert info["label"].tolist() == labels[index].tolist()
    assert reward.tolist() == [1.0] * 4 and terminated.all()


def test_vector_env_info_tensors_are_not_its_state():
    _, labels = load_split("mnist", "val")
    index = np.array([4, 5, 6, 7])
    envs = gym.make_vec("GlimpseMNIST-v0", num_envs=4, split="val", autoreset_mode="disabled")
    _, info = envs.reset(seed=0, options={"index": index})
    info["_index"][:] = False  # a caller that reuses the mask and the values it was handed
    info["index"][:] = 0
    actions = _right_actions(labels[index])
    for _ in range(envs.num_glimpses - 1):
        _, _, terminated, truncated, step_info = envs.step(actions)
        assert not terminated.any() and not truncated.any()
        terminated[:] = True  # writing into what a step returned changes nothing either
        step_info["_index"][:] = False
    _, reward, terminated, _, info = envs.step(actions)
    assert terminated.tolist() == [True] * 4
    assert info["_index"].tolist() == [True] * 4 and info["index"].tolist() == index.tolist()
    assert reward.tolist() == [1.0] * 4
    for key in ("_label", "_prediction", "_is_success"):
        info[key][:] = False
    envs.reset(seed=0, options={"index": index})
    _, _, terminated, _, info = _run_to_end(envs, actions)
    assert terminated.all() and info["_label"].all() and info["_is_success"].all()
