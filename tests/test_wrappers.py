"""The wrappers for general-purpose agents (ram_env/wrappers.py), on real MNIST."""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env
from stable_baselines3.common.vec_env import DummyVecEnv

from ram_env.sb3_vec_env import make_sb3_vec_env
from ram_env.wrappers import (
    DiscreteGlimpseActions,
    FlatDiscreteGlimpseActions,
    GlimpseStepObservation,
    VecDiscreteGlimpseActions,
    VecFlatDiscreteGlimpseActions,
    VecGlimpseStepObservation,
    cell_centres,
    discrete_to_box,
    step_one_hot,
)

WRAPPINGS = {
    "discrete": lambda env: DiscreteGlimpseActions(env, grid=5),
    "flat": lambda env: FlatDiscreteGlimpseActions(env, grid=3),
    "step": GlimpseStepObservation,
    "discrete+step": lambda env: GlimpseStepObservation(DiscreteGlimpseActions(env, grid=4)),
}


def test_cell_centres_and_discrete_to_box():
    np.testing.assert_allclose(cell_centres(4), [-0.75, -0.25, 0.25, 0.75])
    np.testing.assert_allclose(cell_centres(1), [0.0])
    with pytest.raises(ValueError, match="grid"):
        cell_centres(0)
    batch = discrete_to_box(np.array([[0, 2, 9], [1, 0, 0]]), grid=3, n_classes=10)
    assert batch.shape == (2, 12) and batch.dtype == np.float32
    np.testing.assert_allclose(batch[:, :2], [[-2 / 3, 2 / 3], [0.0, -2 / 3]], atol=1e-6)
    assert batch[:, 2:].argmax(1).tolist() == [9, 0] and batch[:, 2:].sum(1).tolist() == [1.0, 1.0]
    with pytest.raises(ValueError, match="last axis of 3"):
        discrete_to_box([1, 2], grid=3, n_classes=10)
    np.testing.assert_array_equal(step_one_hot([[0], [6]], 6)[:, 0], np.eye(7, dtype=np.float32)[[0, 6]])


@pytest.mark.parametrize("name", sorted(WRAPPINGS))
def test_checkers_pass_without_warnings(name):
    """Gymnasium's and SB3's checkers pass; the only warning is gymnasium's notice that a wrapper is applied."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(WRAPPINGS[name](gym.make("GlimpseMNIST-v0", split="val", render_mode="rgb_array")))
        sb3_check_env(WRAPPINGS[name](gym.make("GlimpseMNIST-v0", split="val")))
    messages = [str(w.message) for w in caught if "is different from the unwrapped version" not in str(w.message)]
    assert messages == []


def test_discrete_actions_look_at_cell_centres_and_name_the_label(mnist_val):
    _, labels = mnist_val
    env = DiscreteGlimpseActions(gym.make("GlimpseMNIST-v0", split="val"), grid=5)
    reference = gym.make("GlimpseMNIST-v0", split="val")
    centres = cell_centres(5)
    for index in (0, 1, 2):
        obs, _ = env.reset(seed=index, options={"index": index})
        reference.reset(seed=index, options={"index": index})
        for t, (i, j) in enumerate([(0, 4), (2, 2), (4, 1), (3, 0), (1, 3), (2, 2)]):
            label = int(labels[index]) if t == 5 else (int(labels[index]) + 1) % 10
            obs, reward, terminated, _, info = env.step(np.array([i, j, label]))
            scores = np.eye(10, dtype=np.float32)[label]
            expected = reference.step(np.concatenate([[centres[i], centres[j]], scores]))[0]
            np.testing.assert_array_equal(obs["location"], [centres[i], centres[j]])
            np.testing.assert_array_equal(obs["glimpse"], expected["glimpse"])
        assert terminated and reward == 1.0 and info["prediction"] == info["label"] == labels[index]


def test_flat_discrete_is_the_multi_discrete_choice_unravelled():
    flat = FlatDiscreteGlimpseActions(gym.make("GlimpseMNIST-v0", split="val"), grid=5)
    multi = DiscreteGlimpseActions(gym.make("GlimpseMNIST-v0", split="val"), grid=5)
    assert flat.action_space == gym.spaces.Discrete(250)
    for a in (0, 7, 123, 249):
        np.testing.assert_array_equal(flat.action(a), multi.action(np.unravel_index(a, (5, 5, 10))))


def test_step_observation_counts_steps_and_resets():
    env = GlimpseStepObservation(gym.make("GlimpseMNIST-v0", split="val", num_glimpses=3))
    for _ in range(2):
        obs, _ = env.reset(seed=0)
        steps = [int(obs["step"].argmax())]
        terminated = False
        while not terminated:
            obs, _, terminated, _, _ = env.step(env.action_space.sample())
            steps.append(int(obs["step"].argmax()))
            assert obs in env.observation_space
        assert steps == [0, 1, 2, 3]


def test_vec_wrappers_match_the_gym_wrappers():
    """Native batched env + VecEnv wrappers: same spaces as DummyVecEnv + gym wrappers, same behaviour."""
    n = 4
    native = VecGlimpseStepObservation(VecDiscreteGlimpseActions(make_sb3_vec_env("GlimpseMNIST-v0", n, split="val")))
    dummy = DummyVecEnv([lambda: GlimpseStepObservation(DiscreteGlimpseActions(gym.make("GlimpseMNIST-v0")))] * n)
    assert native.observation_space == dummy.observation_space and native.action_space == dummy.action_space
    flat = VecFlatDiscreteGlimpseActions(make_sb3_vec_env("GlimpseMNIST-v0", n, split="val"), grid=5)
    assert flat.action_space == gym.spaces.Discrete(250)
    for venv in (native, dummy):
        venv.seed(0)
        obs = venv.reset()
        assert obs["step"].argmax(1).tolist() == [0] * n
        actions = np.array([[0, 4, 3]] * n)
        for t in range(1, 7):
            obs, rewards, dones, infos = venv.step(actions)
            if t < 6:
                assert obs["step"].argmax(1).tolist() == [t] * n and not dones.any()
                np.testing.assert_allclose(obs["location"], [[-0.8, 0.8]] * n, atol=1e-6)
        assert dones.all() and obs["step"].argmax(1).tolist() == [0] * n
        for info, reward in zip(infos, rewards):
            assert info["terminal_observation"]["step"].argmax() == 6
            assert info["prediction"] == 3 and reward == float(info["label"] == 3)
