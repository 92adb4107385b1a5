"""The native vector env: same glimpses as the single env, bit for bit, on every id; modes; bad input."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.vector import AutoresetMode

from conftest import ENV_IDS
from ram_env.canvas import fixed_initial_location
from ram_env.vector_env import GlimpseVectorEnv


@pytest.mark.parametrize("env_id", ENV_IDS)
@pytest.mark.parametrize("split", ["val", "train"])
def test_sub_env_matches_single_env_bit_for_bit(env_id, split):
    n = 6
    index = np.array([0, 5, 17, 17, 300, 4999])
    envs = gym.make_vec(env_id, num_envs=n, split=split, initial_location=[0.1, -0.2])
    index %= envs.num_images  # Omniglot's splits are smaller
    assert isinstance(envs, GlimpseVectorEnv)
    assert envs.single_observation_space == gym.make(env_id).observation_space
    assert envs.single_action_space == gym.make(env_id).action_space
    rng = np.random.default_rng(0)
    actions = rng.uniform(-1.3, 1.3, (envs.num_glimpses, n, envs.single_action_space.shape[0])).astype(
        np.float32
    )
    obs, info = envs.reset(seed=0, options={"index": index})
    batch = [obs]
    for t in range(envs.num_glimpses):
        obs, reward, terminated, truncated, info = envs.step(actions[t])
        batch.append(obs)
    if split == "train" and envs.config.canvas is not None:
        return  # train canvases are drawn per episode: only val/test ones are comparable
    for j, i in enumerate(index):
        env = gym.make(env_id, split=split, initial_location=[0.1, -0.2])
        single, sinfo = env.reset(seed=1, options={"index": int(i)})
        assert int(info["index"][j]) == i
        for t in range(envs.num_glimpses + 1):
            for key in ("glimpse", "location"):
                np.testing.assert_array_equal(
                    batch[t][key][j].numpy(), single[key], err_msg=f"{key} t={t} j={j}"
                )
            if t < envs.num_glimpses:
                single, r, term, _, sinfo = env.step(actions[t, j])
        assert float(reward[j]) == r and bool(terminated[j]) is term is True
        assert int(info["label"][j]) == sinfo["label"] and int(info["prediction"][j]) == sinfo["prediction"]
        assert bool(info["is_success"][j]) == sinfo["is_success"]


@pytest.mark.parametrize("env_id", ENV_IDS)
@pytest.mark.parametrize("split", ["val", "test"])
def test_random_initial_glimpse_matches_single_env_on_fixed_splits(env_id, split):
    """``initial_location="random"`` in val/test: sub-env j sees what the single env sees, any seed."""
    index = np.array([0, 5, 17, 17, 300, 4999])
    envs = gym.make_vec(env_id, num_envs=len(index), split=split)
    index %= envs.num_images  # Omniglot's splits are smaller
    obs, _ = envs.reset(seed=0, options={"index": index})
    for j, i in enumerate(index):
        single, _ = gym.make(env_id, split=split).reset(seed=j + 1, options={"index": int(i)})
        for key in ("glimpse", "location"):
            np.testing.assert_array_equal(obs[key][j].numpy(), single[key], err_msg=f"{key} j={j}")
    assert torch.equal(obs["location"][2], obs["location"][3])


@pytest.mark.parametrize("split", ["val", "test"])
def test_fixed_initial_location_is_independent_of_seed_and_num_envs(split):
    num_images = gym.make_vec("GlimpseMNIST-v0", num_envs=1, split=split).num_images
    reference = fixed_initial_location(split, torch.arange(num_images))
    for n, seed in ((1, 0), (7, 1), (7, 2), (1000, 3)):
        envs = gym.make_vec("GlimpseMNIST-v0", num_envs=n, split=split)
        idx = (torch.arange(n) * 37 + seed) % num_images
        obs, info = envs.reset(seed=seed, options={"index": idx})
        assert obs["location"].dtype == torch.float32
        assert torch.equal(obs["location"], reference[idx]), f"num_envs={n} seed={seed}"
        obs, info = envs.reset(seed=seed + 10)  # random images: still their fixed locations
        assert torch.equal(obs["location"], reference[info["index"]])
        for _ in range(envs.num_glimpses + 1):  # through the next_step autoreset too
            obs, *_, info = envs.step(torch.zeros(n, 12))
        assert torch.equal(obs["location"], reference[info["index"]])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_fixed_initial_location_is_the_same_on_cuda():
    index = torch.arange(5000)
    envs = gym.make_vec("GlimpseMNIST-v0", num_envs=5000, split="val", device="cuda")
    obs, _ = envs.reset(seed=0, options={"index": index})
    assert torch.equal(obs["location"].cpu(), fixed_initial_location("val", index))


def test_train_random_initial_location_still_depends_on_the_seed():
    envs = gym.make_vec("GlimpseMNIST-v0", num_envs=7, split="train")
    idx = torch.arange(7)
    first = envs.reset(seed=0, options={"index": idx})[0]["location"]
    assert torch.equal(first, envs.reset(seed=0, options={"index": idx})[0]["location"])
    assert not torch.equal(first, envs.reset(seed=1, options={"index": idx})[0]["location"])
    assert bool(((first >= -1.0) & (first <= 1.0)).all())


def test_types_spaces_and_seeding():
    envs = gym.make_vec("GlimpseClutteredMNIST-v0", num_envs=16)
    assert envs.metadata["autoreset_mode"] == AutoresetMode.NEXT_STEP
    assert envs.observation_space["glimpse"].shape == (16, 3 * 144)
    assert envs.action_space.shape == (16, 12)

    def rollout(seed: int) -> list[torch.Tensor]:
        obs, info = envs.reset(seed=seed)
        out = [obs["glimpse"], obs["location"], info["index"]]
        gen = torch.Generator().manual_seed(0)
        for _ in range(6):
            obs, reward, terminated, truncated, info = envs.step(torch.rand(16, 12, generator=gen) * 2 - 1)
            out += [obs["glimpse"], reward]
        return out

    first = rollout(3)
    assert all(isinstance(x, torch.Tensor) for x in first)
    assert first[0].dtype == torch.float32 and first[-1].dtype == torch.float32
    assert all(torch.equal(a, b) for a, b in zip(first, rollout(3)))
    assert not all(torch.equal(a, b) for a, b in zip(first, rollout(4)))


def test_autoreset_modes():
    actions = torch.zeros(4, 12)
    # next_step: the step after the end resets with zero rewards.
    envs = gym.make_vec("GlimpseMNIST-v0", num_envs=4)
    envs.reset(seed=0)
    for _ in range(6):
        _, reward, terminated, truncated, info = envs.step(actions)
    assert bool(terminated.all()) and "label" in info
    obs, reward, terminated, truncated, info = envs.step(actions)
    assert not bool(terminated.any()) and float(reward.abs().sum()) == 0.0 and "label" not in info
    for _ in range(6):
        _, _, terminated, _, _ = envs.step(actions)
    assert bool(terminated.all())
    # same_step: the last step returns the next episode's first observation.
    envs = gym.make_vec("GlimpseMNIST-v0", num_envs=4, autoreset_mode="same_step")
    assert envs.metadata["autoreset_mode"] == AutoresetMode.SAME_STEP
    envs.reset(seed=0)
    for _ in range(6):
        obs, reward, terminated, truncated, info = envs.step(actions)
    assert bool(terminated.all()) and "final_obs" in info and "label" in info["final_info"]
    assert torch.equal(info["final_obs"]["location"], torch.zeros(4, 2))
    assert not torch.equal(obs["location"], torch.zeros(4, 2))
    obs, *_ = envs.step(actions)
    # disabled: a step after the end is an error.
    envs = gym.make_vec("GlimpseMNIST-v0", num_envs=4, autoreset_mode=AutoresetMode.DISABLED)
    envs.reset(seed=0)
    for _ in range(6):
        envs.step(actions)
    with pytest.raises(RuntimeError, match="after the episodes ended"):
        envs.step(actions)


def test_index_sweep_and_monte_carlo_tiling():
    envs = gym.make_vec("GlimpseMNIST-v0", num_envs=8, split="test", initial_location="center")
    idx = torch.arange(4).repeat(2)
    obs, info = envs.reset(options={"index": idx})
    assert torch.equal(info["index"], idx)
    assert torch.equal(obs["glimpse"][:4], obs["glimpse"][4:])


def test_bad_input_raises():
    with pytest.raises(ValueError, match="num_envs must be a positive integer"):
        GlimpseVectorEnv(0)
    with pytest.raises(ValueError, match="autoreset_mode must be one of"):
        GlimpseVectorEnv(2, autoreset_mode="sometimes")
    with pytest.raises(ValueError, match="device must be"):
        GlimpseVectorEnv(2, device="tpu-7")
    with pytest.raises(ValueError, match="num_glimpses must be"):
        GlimpseVectorEnv(2, num_glimpses=-1)
    envs = GlimpseVectorEnv(2, split="val")
    with pytest.raises(RuntimeError, match="before reset"):
        envs.step(np.zeros((2, 12), np.float32))
    with pytest.raises(ValueError, match=r"must be 2 integers"):
        envs.reset(options={"index": [1, 2, 3]})
    with pytest.raises(ValueError, match=r"must be 2 integers"):
        envs.reset(options={"index": [0.5, 1.5]})
    with pytest.raises(ValueError, match=r"must lie in \[0, 5000\)"):
        envs.reset(options={"index": [0, 5000]})
    with pytest.raises(ValueError, match="one torch generator"):
        envs.reset(seed=[1, 2])
    envs.reset(seed=0)
    with pytest.raises(ValueError, match=r"shape \(2, 12\)"):
        envs.step(np.zeros((2, 11), np.float32))
    with pytest.raises(ValueError, match="finite"):
        envs.step(np.full((2, 12), np.inf, np.float32))
    with pytest.raises(TypeError, match="real numbers"):
        envs.step(torch.zeros((2, 12), dtype=torch.bool))
    envs.step(np.zeros((2, 12), np.float64))  # numpy actions of any real dtype are fine


def test_render_frames():
    envs = gym.make_vec("GlimpseTranslatedMNIST-v0", num_envs=3, render_mode="rgb_array")
    envs.reset(seed=0)
    envs.step(np.zeros((3, 12), np.float32))
    frames = envs.render()
    assert len(frames) == 3 and all(f.dtype == np.uint8 and f.shape[2] == 3 for f in frames)
