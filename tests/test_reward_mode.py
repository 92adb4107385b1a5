"""`reward_mode`: the default terminal reward is unchanged; `"cross_entropy"` pays every step, the same in both envs."""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import pytest

from conftest import ENV_IDS
from ram_env.rewards import DEFAULT_LOGIT_SCALE, max_confidence

T = 6
INDEX = np.array([0, 5, 17, 967])  # every val split has at least 968 images (Omniglot's)


def reference_reward(scores: np.ndarray, label: int, logit_scale: float) -> float:
    """-CE(softmax(logit_scale * clip(scores)), label) / log K, in float64 numpy (independent of the env's torch)."""
    z = np.clip(scores.astype(np.float64), -1.0, 1.0) * logit_scale
    log_p = z - z.max() - math.log(np.exp(z - z.max()).sum())
    return float(log_p[label] / math.log(len(scores)))


def rollout_single(env_id: str, actions: np.ndarray, **kwargs) -> list[tuple]:
    """Per image of INDEX: its (observations, rewards, final info) under ``actions[t, j]``."""
    env = gym.make(env_id, split="val", **kwargs)
    out = []
    for j, i in enumerate(INDEX):
        obs, _ = env.reset(options={"index": int(i)})
        observations, rewards = [obs], []
        for t in range(T):
            obs, reward, terminated, truncated, info = env.step(actions[t, j])
            observations.append(obs)
            rewards.append(reward)
            assert terminated is (t == T - 1) and truncated is False and type(reward) is float
        out.append((observations, rewards, info))
    return out


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_cross_entropy_reward_single_and_vector(env_id):
    rng = np.random.default_rng(0)
    n_actions = gym.make(env_id, split="val").action_space.shape[0]
    actions = rng.uniform(-1.5, 1.5, (T, len(INDEX), n_actions)).astype(np.float32)
    terminal = rollout_single(env_id, actions)
    dense = rollout_single(env_id, actions, reward_mode="cross_entropy")
    labels = gym.make(env_id, split="val").unwrapped.config.labels
    for j, ((obs_a, rew_a, info_a), (obs_b, rew_b, info_b)) in enumerate(zip(terminal, dense)):
        # The two modes see identical observations and report the same final info.
        for a, b in zip(obs_a, obs_b):
            np.testing.assert_array_equal(a["glimpse"], b["glimpse"])
            np.testing.assert_array_equal(a["location"], b["location"])
        assert info_a == info_b
        # Terminal: 0 until the last step, then 1 if right (an open set's: -1 for an unknown image named as known).
        missed = bool(info_a.get("is_unknown", False)) and not info_a["is_success"]
        assert rew_a == [0.0] * (T - 1) + [float(info_a["is_success"]) - float(missed)]
        # Cross-entropy: every step, the formula.
        label = int(labels[INDEX[j]])
        expected = [reference_reward(actions[t, j, 2:], label, DEFAULT_LOGIT_SCALE) for t in range(T)]
        np.testing.assert_allclose(rew_b, expected, rtol=1e-5, atol=1e-6)
    # The vector env pays bit for bit what the single env pays.
    envs = gym.make_vec(env_id, num_envs=len(INDEX), split="val", reward_mode="cross_entropy")
    envs.reset(options={"index": INDEX})
    for t in range(T):
        _, reward, terminated, _, info = envs.step(actions[t])
        assert reward.dtype == np.float32 or str(reward.dtype) == "torch.float32"
        assert [float(r) for r in reward] == [dense[j][1][t] for j in range(len(INDEX))]
    assert terminated.all()
    assert info["is_success"].tolist() == [bool(d[2]["is_success"]) for d in dense]


def test_cross_entropy_reward_scale_and_bounds():
    env = gym.make("GlimpseMNIST-v0", split="val", reward_mode="cross_entropy")
    env.reset(options={"index": 3})
    label = int(env.unwrapped.config.labels[3])
    uniform = np.zeros(12, np.float32)
    sure_right = np.full(12, -1.0, np.float32)
    sure_right[2 + label] = 1.0
    worst = np.full(12, 1.0, np.float32)
    worst[2 + label] = -1.0
    beyond_box = sure_right * 100.0  # scores are clipped to the action box for the reward
    rewards = [env.step(a)[1] for a in (uniform, sure_right, worst, beyond_box)]
    assert rewards[0] == pytest.approx(-1.0, abs=1e-6)  # a uniform guess costs 1 a step
    assert -0.001 < rewards[1] < 0.0  # a sure right one nearly 0
    assert rewards[2] == pytest.approx(-(10.0 + math.log(9.0)) / math.log(10.0), rel=1e-5)  # the worst case
    assert rewards[3] == rewards[1]
    # The default scale lets the box express at least 99 % confidence.
    assert max_confidence(DEFAULT_LOGIT_SCALE, 10) >= 0.99
    assert max_confidence(DEFAULT_LOGIT_SCALE, 223) >= 0.99
    # A smaller scale pays a sure right answer less.
    small = gym.make("GlimpseMNIST-v0", split="val", reward_mode="cross_entropy", logit_scale=1.0)
    small.reset(options={"index": 3})
    assert small.step(sure_right)[1] == pytest.approx(reference_reward(sure_right[2:], label, 1.0), rel=1e-5)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"reward_mode": "xent"}, r"reward_mode must be one of \['terminal', 'cross_entropy'\]"),
        ({"reward_mode": None}, "reward_mode must be one of"),
        ({"reward_mode": "Terminal"}, "reward_mode must be one of"),
        ({"logit_scale": 0}, "logit_scale must be a finite number > 0"),
        ({"logit_scale": -2.0}, "logit_scale must be a finite number > 0"),
        ({"logit_scale": float("nan")}, "logit_scale must be a finite number > 0"),
        ({"logit_scale": float("inf")}, "logit_scale must be a finite number > 0"),
        ({"logit_scale": True}, "logit_scale must be a finite number > 0"),
        ({"logit_scale": "5"}, "logit_scale must be a finite number > 0"),
    ],
)
def test_bad_reward_settings_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        gym.make("GlimpseMNIST-v0", split="val", **kwargs)
    with pytest.raises(ValueError, match=match):
        gym.make_vec("GlimpseMNIST-v0", num_envs=2, split="val", **kwargs)


def test_reward_mode_is_part_of_the_spec():
    env = gym.make("GlimpseMNIST-v0", reward_mode="cross_entropy", logit_scale=3.0)
    assert env.spec.kwargs["reward_mode"] == "cross_entropy" and env.spec.kwargs["logit_scale"] == 3.0
    again = gym.make(env.spec)
    assert again.unwrapped.config.reward_mode == "cross_entropy" and again.unwrapped.config.logit_scale == 3.0
    assert gym.make("GlimpseMNIST-v0").unwrapped.config.reward_mode == "terminal"


def test_ram_refuses_the_cross_entropy_reward():
    """RAM reads an episode's last reward as the terminal 1 / 0 payment: an env paying the cross-entropy would turn
    its errors into 100 % and its REINFORCE into something else, so run_episodes refuses it (the terminal env runs)."""
    import torch

    from agents.networks import RAM, RAMConfig
    from agents.rollout import run_episodes

    for mode in ("terminal", "cross_entropy"):
        envs = gym.make_vec("GlimpseMNIST-v0", num_envs=2, split="val", autoreset_mode="disabled", reward_mode=mode)
        model = RAM(RAMConfig.from_env(envs))
        if mode == "terminal":
            assert set(run_episodes(model, envs, torch.arange(2)).reward.tolist()) <= {0.0, 1.0}
        else:
            with pytest.raises(ValueError, match="RAM needs the env's reward_mode='terminal'"):
                run_episodes(model, envs, torch.arange(2))
