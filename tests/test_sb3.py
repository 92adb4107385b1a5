"""Third-party agents train on our envs as they are: SB3 PPO and RecurrentPPO, and the SB3 adapter."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from sb3_contrib import RecurrentPPO
from stable_baselines3 import PPO
from stable_baselines3.common.vec_env import VecMonitor

from conftest import ENV_IDS
from ram_env.sb3_vec_env import SB3VecEnv, make_sb3_vec_env

TINY = {"n_steps": 24, "batch_size": 24, "n_epochs": 1, "device": "cpu", "seed": 0}


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_ppo_and_recurrent_ppo_train_on_gym_make_unmodified(env_id):
    for algo, policy in ((PPO, "MultiInputPolicy"), (RecurrentPPO, "MultiInputLstmPolicy")):
        model = algo(policy, gym.make(env_id), **TINY)
        model.learn(total_timesteps=48)
        action, _ = model.predict(model.get_env().reset(), deterministic=True)
        assert action.shape == (1, *gym.make(env_id).action_space.shape)


def test_adapter_contract():
    venv = make_sb3_vec_env("GlimpseMNIST-v0", num_envs=5, split="val")
    assert isinstance(venv, SB3VecEnv) and venv.num_envs == 5
    assert venv.observation_space == gym.make("GlimpseMNIST-v0").observation_space
    venv.seed(3)
    obs = venv.reset()
    assert obs["glimpse"].shape == (5, 64) and obs["glimpse"].dtype == np.float32
    for _ in range(6):
        obs, rewards, dones, infos = venv.step(np.zeros((5, 12), np.float32))
        assert isinstance(rewards, np.ndarray) and dones.dtype == bool and len(infos) == 5
    assert dones.all()
    for info, reward in zip(infos, rewards):
        assert set(info) >= {"terminal_observation", "TimeLimit.truncated", "label", "prediction", "is_success"}
        assert info["terminal_observation"]["glimpse"].shape == (64,)
        assert reward == float(info["is_success"]) and info["prediction"] == 0
    # The returned observation already belongs to the next episode.
    assert not np.array_equal(obs["location"], infos[0]["terminal_observation"]["location"][None].repeat(5, 0))
    with pytest.raises(ValueError, match="same_step"):
        SB3VecEnv(gym.make_vec("GlimpseMNIST-v0", num_envs=2).unwrapped)


def test_ppo_trains_through_the_adapter():
    venv = VecMonitor(make_sb3_vec_env("GlimpseClutteredMNIST-v0", num_envs=32))
    model = PPO("MultiInputPolicy", venv, n_steps=12, batch_size=96, n_epochs=1, device="cpu", seed=0)
    model.learn(total_timesteps=32 * 12 * 2)
    assert len(model.ep_info_buffer) > 0 and model.num_timesteps >= 768


def test_adapter_passes_per_env_image_indices_to_reset():
    venv = make_sb3_vec_env("GlimpseMNIST-v0", num_envs=3, split="val", initial_location="center")
    venv.set_options([{"index": 4}, {"index": 4}, {"index": 9}])
    obs = venv.reset()
    single = gym.make("GlimpseMNIST-v0", split="val", initial_location="center")
    for j, i in enumerate((4, 4, 9)):
        np.testing.assert_array_equal(obs["glimpse"][j], single.reset(options={"index": i})[0]["glimpse"])
    for _ in range(6):
        _, _, _, infos = venv.step(np.zeros((3, 12), np.float32))
    assert [info["index"] for info in infos] == [4, 4, 9]
