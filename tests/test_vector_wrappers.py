"""`ram_env.wrappers.TorchToNumpy`: the native vector env under every applicable `gymnasium.wrappers.vector` wrapper."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.vector import AutoresetMode
from gymnasium.wrappers import vector as vw

from ram_env.vector_env import GlimpseVectorEnv
from ram_env.wrappers import TorchToNumpy

N, T = 4, 6


def make(autoreset_mode: str = "next_step", **kwargs) -> TorchToNumpy:
    return TorchToNumpy(gym.make_vec("GlimpseMNIST-v0", num_envs=N, split="val", autoreset_mode=autoreset_mode,
                                     **kwargs))


def actions(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-1, 1, (N, 12)).astype(np.float32)


def test_numpy_everywhere_and_same_values_as_the_native_env():
    native = gym.make_vec("GlimpseMNIST-v0", num_envs=N, split="val", autoreset_mode="same_step",
                          reward_mode="cross_entropy")
    wrapped = make("same_step", reward_mode="cross_entropy")
    assert isinstance(native, GlimpseVectorEnv) and native.autoreset_mode == AutoresetMode.SAME_STEP
    assert wrapped.autoreset_mode == AutoresetMode.SAME_STEP == wrapped.metadata["autoreset_mode"]
    assert wrapped.observation_space == native.observation_space
    a, info_a = native.reset(seed=1)
    b, info_b = wrapped.reset(seed=1)
    assert all(isinstance(v, np.ndarray) for v in (*b.values(), *info_b.values()))
    for t in range(T):
        act = actions(t)
        a, ra, ta, _, info_a = native.step(torch.from_numpy(act))
        b, rb, tb, trb, info_b = wrapped.step(act)
        for key in a:
            np.testing.assert_array_equal(a[key].numpy(), b[key])
        assert rb.dtype == np.float32 and tb.dtype == np.bool_ and trb.dtype == np.bool_
        np.testing.assert_array_equal(ra.numpy(), rb)
    assert tb.all()
    final = info_b["final_info"]
    assert isinstance(final["label"], np.ndarray) and final["label"].dtype == np.int64
    assert isinstance(info_b["final_obs"]["glimpse"], np.ndarray)
    np.testing.assert_array_equal(final["is_success"], final["label"] == final["prediction"])
    # Torch actions are accepted too.
    wrapped.step(torch.from_numpy(actions()))


@pytest.mark.parametrize("autoreset_mode", ["next_step", "same_step"])
def test_record_episode_statistics(autoreset_mode):
    envs = vw.RecordEpisodeStatistics(make(autoreset_mode, reward_mode="cross_entropy"))
    envs.reset(seed=0)
    total = np.zeros(N)
    for t in range(T):
        _, reward, terminated, _, info = envs.step(actions(t))
        total += reward
    assert terminated.all() and info["_episode"].all()
    np.testing.assert_allclose(info["episode"]["r"], total, rtol=1e-6)
    assert info["episode"]["l"].tolist() == [T] * N
    # A second episode is counted from zero.
    if autoreset_mode == "next_step":
        envs.step(actions())
    total[:] = 0
    for t in range(T):
        _, reward, terminated, _, info = envs.step(actions(t + 10))
        total += reward
    np.testing.assert_allclose(info["episode"]["r"], total, rtol=1e-6)
    assert len(envs.return_queue) == 2 * N


def test_reward_wrappers():
    normalized = vw.NormalizeReward(make(reward_mode="cross_entropy"), gamma=1.0)
    clipped = vw.ClipReward(make(reward_mode="cross_entropy"), min_reward=-0.5, max_reward=0.0)
    transformed = vw.TransformReward(make(), lambda r: 2.0 * r - 1.0)
    raw = make(reward_mode="cross_entropy")
    for env in (normalized, clipped, transformed, raw):
        env.reset(seed=0)
    for t in range(T):
        _, r_raw, *_ = raw.step(actions(t))
        _, r_norm, *_ = normalized.step(actions(t))
        _, r_clip, *_ = clipped.step(actions(t))
        _, r_tr, *_ = transformed.step(actions(t))
        assert np.all(r_raw < 0) and np.isfinite(r_norm).all()
        np.testing.assert_allclose(r_clip, np.clip(r_raw, -0.5, 0.0))
    assert normalized.return_rms.count > 1
    assert set(np.unique(r_tr).tolist()) <= {-1.0, 1.0}  # terminal reward 0/1 mapped to -1/1


def test_dict_info_to_list():
    envs = vw.DictInfoToList(make())
    _, infos = envs.reset(seed=0)
    assert isinstance(infos, list) and len(infos) == N and set(infos[0]) == {"index"}
    for t in range(T):
        *_, infos = envs.step(actions(t))
    assert set(infos[0]) == {"index", "label", "prediction", "is_success"}
    assert all(info["is_success"] == (info["label"] == info["prediction"]) for info in infos)


def test_observation_wrappers():
    flat = vw.FlattenObservation(make())
    obs, _ = flat.reset(seed=0)
    assert obs.shape == (N, 66) and obs.dtype == np.float32 and isinstance(obs, np.ndarray)
    assert flat.single_observation_space.shape == (66,)
    normalized = vw.NormalizeObservation(vw.FlattenObservation(make()))
    normalized.reset(seed=0)
    for t in range(T):
        obs, *_ = normalized.step(actions(t))
    assert obs.shape == (N, 66) and np.isfinite(obs).all() and abs(float(obs.mean())) < 1.0


def test_action_wrappers():
    clipped = vw.ClipAction(make())
    clipped.reset(seed=0)
    obs, *_ = clipped.step(np.full((N, 12), 5.0, np.float32))
    np.testing.assert_array_equal(obs["location"], np.ones((N, 2), np.float32))
    rescaled = vw.RescaleAction(make(), min_action=np.float32(0.0), max_action=np.float32(1.0))
    rescaled.reset(seed=0)
    obs, *_ = rescaled.step(np.full((N, 12), 0.5, np.float32))  # 0.5 in [0, 1] is 0 in [-1, 1]
    np.testing.assert_allclose(obs["location"], np.zeros((N, 2)), atol=1e-6)


def test_a_whole_stack_runs_episodes():
    base = vw.ClipAction(make(reward_mode="cross_entropy"))
    envs = vw.RecordEpisodeStatistics(vw.NormalizeReward(vw.NormalizeObservation(vw.FlattenObservation(base))))
    envs.reset(seed=0)
    for _ in range(3 * (T + 1)):
        envs.step(envs.action_space.sample())
    assert len(envs.return_queue) == 3 * N and all(length == T for length in envs.length_queue)


def test_gymnasium_sync_vector_env_batches_the_single_env_infos_as_numbers():
    envs = gym.make_vec("GlimpseMNIST-v0", num_envs=2, vectorization_mode="sync", split="val",
                        reward_mode="cross_entropy")
    envs.reset(seed=0)
    for t in range(T):
        _, reward, terminated, _, info = envs.step(actions(t)[:2])
    assert terminated.all() and reward.dtype == np.float64 and (reward < 0).all()
    assert info["is_success"].dtype == np.bool_ and info["label"].dtype == np.int64
    assert info["index"].dtype == np.int64 and info["prediction"].dtype == np.int64
