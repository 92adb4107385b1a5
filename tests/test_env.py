"""The single env on every registered id: checkers, episode semantics, determinism, bad input."""

from __future__ import annotations

import json
import pickle
import warnings

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

from conftest import ENV_IDS
from ram_env.canvas import fixed_initial_location
from ram_env.glimpse_env import GlimpseEnv


def _rollout(env: gym.Env, seed: int, actions_seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(actions_seed)
    obs, info = env.reset(seed=seed)
    seen = [obs["glimpse"].copy(), obs["location"].copy(), np.array(info["index"])]
    for _ in range(env.unwrapped.config.num_glimpses):
        obs, reward, terminated, truncated, info = env.step(
            rng.uniform(-1, 1, env.action_space.shape).astype(np.float32)
        )
        seen += [obs["glimpse"].copy(), obs["location"].copy(), np.array(reward)]
    return seen


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_checkers_pass_without_warnings(env_id):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        env = gym.make(env_id, render_mode="rgb_array")  # the passive checker runs inside make
        gym_check_env(env.unwrapped)
        sb3_check_env(gym.make(env_id), warn=True)
        env.reset(seed=0)
        for _ in range(env.unwrapped.config.num_glimpses):
            env.step(env.action_space.sample())
        frame = env.render()
    assert frame.dtype == np.uint8 and frame.ndim == 3 and frame.shape[2] == 3 and frame.shape[0] >= 256


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_episode_semantics(env_id):
    env = gym.make(env_id)
    cfg = env.unwrapped.config
    obs, info = env.reset(seed=3, options={"index": 7})
    assert env.observation_space.contains(obs) and info == {"index": 7}
    assert obs["glimpse"].shape == (cfg.glimpse_length,)
    label = int(cfg.labels[7])
    for t in range(1, cfg.num_glimpses + 1):
        action = np.zeros(env.action_space.shape, np.float32)
        action[:2] = (2.0, -0.25)  # x is clipped to 1
        action[2 + label] = 0.5 if t == cfg.num_glimpses else -0.5
        obs, reward, terminated, truncated, info = env.step(action)
        assert type(reward) is float and type(terminated) is bool and type(truncated) is bool
        assert truncated is False and info["index"] == 7
        np.testing.assert_array_equal(obs["location"], np.array([1.0, -0.25], np.float32))
        if t < cfg.num_glimpses:
            assert reward == 0.0 and terminated is False and "label" not in info
    assert terminated is True and reward == 1.0
    # an open set's final info also says whether the image was unknown (and of an alphabet unseen in training)
    extra = {"is_unknown": label == cfg.unknown_class, "is_unseen": bool(cfg.unseen[7])} if cfg.open_set else {}
    assert info == {"index": 7, "label": label, "prediction": label, "is_success": True, **extra}
    # numpy scalars, as Gymnasium's vector envs and TorchRL's info readers expect
    assert [type(v) for v in info.values()] == [np.int64, np.int64, np.int64, np.ndarray] + [np.ndarray] * len(extra)
    assert info["is_success"].dtype == np.bool_ and info["is_success"].shape == ()
    with pytest.raises(RuntimeError, match="after the episode ended"):
        env.step(action)
    # A wrong class scores 0 (in an open set, an unknown image named as a known class scores -1).
    env.reset(options={"index": 7})
    wrong = np.zeros(env.action_space.shape, np.float32)
    wrong[2 + (label + 1) % 10] = 1.0
    for _ in range(cfg.num_glimpses):
        _, reward, terminated, _, info = env.step(wrong)
    assert reward == (-1.0 if extra.get("is_unknown") else 0.0)
    assert info["is_success"] == np.False_ and info["prediction"] == (label + 1) % 10


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_determinism_pickle_and_spec(env_id):
    a, b = gym.make(env_id), gym.make(env_id)
    for x, y in zip(_rollout(a, 5), _rollout(b, 5)):
        np.testing.assert_array_equal(x, y)
    differs = any(not np.array_equal(x, y) for x, y in zip(_rollout(a, 5), _rollout(b, 6)))
    assert differs, "different seeds gave the same rollout"
    # Pickle round trip: the copy continues exactly like the original.
    a.reset(seed=11)
    c = pickle.loads(pickle.dumps(a))
    act = np.full(a.action_space.shape, 0.3, np.float32)
    for _ in range(a.unwrapped.config.num_glimpses):
        oa, ra, *_ = a.step(act)
        oc, rc, *_ = c.step(act)
        np.testing.assert_array_equal(oa["glimpse"], oc["glimpse"])
        assert ra == rc
    spec = json.loads(a.spec.to_json())
    assert spec["id"] == env_id and spec["vector_entry_point"] == "ram_env.vector_env:GlimpseVectorEnv"
    assert gym.spec(env_id).kwargs == spec["kwargs"]


@pytest.mark.parametrize("env_id", [i for i in ENV_IDS if "Translated" in i or "Cluttered" in i])
def test_val_and_test_canvases_are_fixed_train_canvases_are_not(env_id):
    def first_glimpse(split: str, seed: int, index: int = 4) -> np.ndarray:
        env = gym.make(env_id, split=split, initial_location="center", glimpse_size=100, num_scales=1)
        return env.reset(seed=seed, options={"index": index})[0]["glimpse"]

    for split in ("val", "test"):
        np.testing.assert_array_equal(first_glimpse(split, 0), first_glimpse(split, 123))
    assert not np.array_equal(first_glimpse("train", 0), first_glimpse("train", 123))


def test_fixed_canvas_is_the_same_on_every_machine():
    """A digest of the val canvases: changes only if the canvas generator changes (a new version)."""
    import hashlib

    env = gym.make("GlimpseClutteredMNIST100-v0", split="val", render_mode="rgb_array")
    digest = hashlib.md5()
    for i in range(5):
        env.reset(options={"index": i})
        digest.update(env.unwrapped._canvas.numpy().tobytes())
    assert digest.hexdigest() == GOLDEN_VAL_CANVAS_MD5


GOLDEN_VAL_CANVAS_MD5 = "06d5126e5d445b12b3ab77ba0870a1b3"


def test_val_and_test_random_initial_location_is_fixed_train_is_not():
    """``initial_location="random"``: a function of (split, image) in val/test, whatever the seed."""

    def first_location(split: str, seed: int, index: int, env_id: str = "GlimpseMNIST-v0") -> np.ndarray:
        return gym.make(env_id, split=split).reset(seed=seed, options={"index": index})[0]["location"]

    for split in ("val", "test"):
        for index in (0, 4, 4999):
            loc = first_location(split, 0, index)
            assert loc.dtype == np.float32 and loc.shape == (2,)
            np.testing.assert_array_equal(loc, first_location(split, 123, index))
            np.testing.assert_array_equal(loc, first_location(split, 7, index, "GlimpseClutteredMNIST-v0"))
            np.testing.assert_array_equal(loc, fixed_initial_location(split, torch.tensor([index]))[0].numpy())
        assert not np.array_equal(first_location(split, 0, 4), first_location(split, 0, 5))
    assert not np.array_equal(first_location("val", 0, 4), first_location("test", 0, 4))
    # Without an index, the seed still picks the image (and so the location).
    env = gym.make("GlimpseMNIST-v0", split="val")
    obs, info = env.reset(seed=3)
    np.testing.assert_array_equal(obs["location"], first_location("val", 99, info["index"]))
    # train and trainval: drawn from the env's generator each episode, as before.
    for split in ("train", "trainval"):
        assert not np.array_equal(first_location(split, 0, 4), first_location(split, 123, 4))
        np.testing.assert_array_equal(first_location(split, 5, 4), first_location(split, 5, 4))


def test_fixed_initial_locations_look_uniform():
    for split, n in (("val", 5000), ("test", 10000)):
        loc = fixed_initial_location(split, torch.arange(n))
        assert loc.dtype == torch.float32 and loc.shape == (n, 2)
        assert bool(((loc >= -1.0) & (loc <= 1.0)).all())
        assert torch.equal(loc[1234:1240], fixed_initial_location(split, torch.arange(1234, 1240)))
        # Uniform on [-1, 1]: mean 0 (std of the mean 0.58 / sqrt(n) <= 0.009), std 1 / sqrt(3).
        assert loc.mean(0).abs().max() < 0.05 and (loc.std(0) - 3**-0.5).abs().max() < 0.02
        assert bool((loc.min(0).values < -0.99).all() and (loc.max(0).values > 0.99).all())
        counts = torch.stack([torch.histc(loc[:, d], bins=4, min=-1.0, max=1.0) for d in (0, 1)])
        assert bool(((counts - n / 4).abs() < 0.1 * n / 4).all()), counts
        assert abs(float(torch.corrcoef(loc.T)[0, 1])) < 0.05  # x and y independent


def test_initial_location_and_random_images():
    env = gym.make("GlimpseMNIST-v0", initial_location=[0.5, -0.5])
    obs, _ = env.reset(seed=0)
    np.testing.assert_array_equal(obs["location"], np.array([0.5, -0.5], np.float32))
    env = gym.make("GlimpseMNIST-v0", initial_location="center")
    np.testing.assert_array_equal(env.reset(seed=0)[0]["location"], np.zeros(2, np.float32))
    env = gym.make("GlimpseMNIST-v0")
    locations = {tuple(env.reset(seed=s)[0]["location"]) for s in range(5)}
    indices = {env.reset(seed=s)[1]["index"] for s in range(5)}
    assert len(locations) == 5 and len(indices) > 1


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"split": "training"}, "split must be one of"),
        ({"num_glimpses": 0}, "num_glimpses must be an integer >= 1"),
        ({"glimpse_size": 2.5}, "glimpse_size must be an integer"),
        ({"num_scales": True}, "num_scales must be an integer"),
        ({"initial_location": "corner"}, "initial_location must be"),
        ({"initial_location": [0.0, 2.0]}, "initial_location must be"),
        ({"canvas_size": 20}, "canvas_size must be at least"),
        ({"num_clutter": 2}, "needs a canvas_size"),
        ({"canvas_size": 60, "num_clutter": 2, "clutter_size": 40}, "clutter_size must be at most"),
        ({"dataset": "svhn"}, "dataset"),
        ({"render_mode": "human"}, "render_mode must be"),
    ],
)
def test_invalid_construction_raises(kwargs, match):
    with pytest.raises(ValueError, match=match):
        GlimpseEnv(**kwargs)


def test_bad_steps_and_resets_raise():
    env = GlimpseEnv(split="val")
    with pytest.raises(RuntimeError, match="before reset"):
        env.step(np.zeros(12, np.float32))
    for index in (-1, 5000, 1.0, "3", True):
        with pytest.raises(ValueError, match=r"options\['index'\] must be an integer in \[0, 5000\)"):
            env.reset(options={"index": index})
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"shape \(12,\)"):
        env.step(np.zeros(11, np.float32))
    with pytest.raises(ValueError, match="finite"):
        env.step(np.array([np.nan] + [0.0] * 11, np.float32))
    with pytest.raises(TypeError, match="real-valued"):
        env.step(np.array(["a"] * 12))
    with pytest.raises(TypeError, match="real-valued"):
        env.step(np.zeros(12, bool))
    # Bad actions do not consume a step: the episode still lasts num_glimpses valid steps.
    for _ in range(6):
        *_, terminated, _, _ = env.step(np.zeros(12, np.float32))
    assert terminated


@pytest.mark.filterwarnings("ignore:.*alternative render modes")
def test_user_images_and_labels(mnist_val):
    images, labels = mnist_val
    rgb = np.repeat(images[:20, :, :, None], 3, axis=3)
    env = GlimpseEnv(images=rgb, labels=labels[:20], glimpse_size=6, num_scales=2)
    assert env.observation_space["glimpse"].shape == (2 * 3 * 6 * 6,)
    assert env.action_space.shape == (2 + int(labels[:20].max()) + 1,)
    gym_check_env(env)
    with pytest.raises(ValueError, match="uint8"):
        GlimpseEnv(images=images[:5].astype(np.float32), labels=labels[:5])
    with pytest.raises(ValueError, match="labels must be"):
        GlimpseEnv(images=images[:5], labels=labels[:4])
    with pytest.raises(ValueError, match="together"):
        GlimpseEnv(images=images[:5])
