"""Checked clients: other libraries' usual entry points run on our envs unmodified and see whole, correct episodes.

SB3 ``make_vec_env`` + ``SubprocVecEnv``; the CleanRL-style PPO of ``benchmarks/cleanrl_ppo.py`` on Gymnasium's
vector stack; TorchRL's ``GymEnv`` / ``GymWrapper`` with ``check_env_specs``; Tianshou's ``Collector``. TorchRL and
Tianshou are optional: their tests skip where they are not installed. Every episode lasts 6 steps; with
``reward_mode="cross_entropy"`` every step pays a negative reward, with the default ``"terminal"`` the last step pays
``is_success`` (0 or 1) and the others 0.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from stable_baselines3 import PPO
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.vec_env import SubprocVecEnv

from conftest import import_script
from ram_env.wrappers import TorchToNumpy

ENV_ID = "GlimpseMNIST-v0"
T = 6  # steps per episode
DENSE = {"reward_mode": "cross_entropy"}


def test_sb3_make_vec_env_subproc_ppo():
    # "ram_env:<id>": the workers (SB3's default start method is forkserver) import ram_env, which registers the ids;
    # the bare id works only where the main script imports ram_env itself
    venv = make_vec_env(f"ram_env:{ENV_ID}", n_envs=2, seed=0, vec_env_cls=SubprocVecEnv, env_kwargs=DENSE)
    try:
        single = gym.make(ENV_ID)
        assert venv.observation_space == single.observation_space and venv.action_space == single.action_space
        assert venv.get_attr("spec")[0].kwargs["reward_mode"] == "cross_entropy"
        model = PPO("MultiInputPolicy", venv, n_steps=12, batch_size=24, n_epochs=1, device="cpu", seed=0)
        model.learn(total_timesteps=48)  # two rollouts of 2 x 12 steps: 8 whole episodes
    finally:
        venv.close()
    episodes = list(model.ep_info_buffer)
    assert model.num_timesteps == 48 and len(episodes) == 8
    assert all(e["l"] == T and np.isfinite(e["r"]) and e["r"] < 0 for e in episodes)


@pytest.mark.parametrize("env_kwargs", [DENSE, {}], ids=["cross_entropy", "terminal"])
def test_cleanrl_ppo_on_gymnasium_vector_wrappers(tmp_path, env_kwargs):
    cleanrl = import_script("cleanrl_ppo", "benchmarks")
    args = cleanrl.Args(env_kwargs=env_kwargs, total_timesteps=336, num_envs=4, num_steps=42, eval_episodes=8,
                        output_dir=str(tmp_path))
    envs = cleanrl.make_envs(args)
    assert envs.single_observation_space.shape == (T * (64 + 2),)  # six stacked glimpses and locations
    envs.close()
    result = cleanrl.train(args)
    # 2 iterations x 4 envs x 42 steps; each sub-env runs 6 episodes of 6 steps plus a reset step per iteration
    assert result["global_step"] == 336
    assert len(result["returns"]) == 48 and set(result["lengths"]) == {T}
    returns = np.array(result["returns"])
    assert np.isfinite(returns).all()
    if env_kwargs:
        assert (returns < 0).all()
    else:
        np.testing.assert_array_equal(returns, np.array(result["successes"], dtype=float))
    assert 0.0 <= result["val_accuracy"] <= 1.0
    (run_dir,) = tmp_path.iterdir()
    assert any(p.name.startswith("events.out.tfevents") for p in run_dir.iterdir())
    assert (run_dir / "cleanrl_ppo.cleanrl_model").is_file()


def test_torchrl_gym_env_and_gym_wrapper():
    pytest.importorskip("torchrl")
    from torchrl.envs import GymEnv, GymWrapper
    from torchrl.envs.libs.gym import default_info_dict_reader
    from torchrl.envs.utils import check_env_specs

    env = GymEnv(ENV_ID, **DENSE)
    assert env.observation_spec["glimpse"].shape == (64,) and env.observation_spec["location"].shape == (2,)
    assert env.action_spec.shape == (12,) and env.action_spec.space.low.eq(-1).all()
    check_env_specs(env, seed=0)
    td = env.rollout(2 * T, break_when_any_done=False)
    assert td["next", "done"].squeeze(-1).nonzero().flatten().tolist() == [T - 1, 2 * T - 1]
    assert (td["next", "reward"] < 0).all()

    env = GymEnv(ENV_ID)  # terminal reward: paid on the last step, equal to the info's is_success
    env.set_info_dict_reader(default_info_dict_reader(["is_success"]))
    check_env_specs(env, seed=0)
    td = env.rollout(4 * T, break_when_any_done=False)
    reward, success = td["next", "reward"].squeeze(-1), td["next", "is_success"].squeeze(-1).float()
    done = td["next", "done"].squeeze(-1)
    assert reward[~done].eq(0).all() and torch.equal(reward[done], success[done])

    # the native vector env, torch tensors or numpy: TorchRL takes same-step or disabled autoreset only
    with pytest.raises(RuntimeError, match="auto-reset mode must be one of SAME_STEP or DISABLED"):
        GymWrapper(gym.make_vec(ENV_ID, num_envs=4))
    for make in (gym.make_vec, lambda *a, **k: TorchToNumpy(gym.make_vec(*a, **k))):
        for mode in ("disabled", "same_step"):
            venv = GymWrapper(make(ENV_ID, num_envs=4, autoreset_mode=mode, **DENSE))
            assert venv.batch_size == (4,) and venv.observation_spec["glimpse"].shape == (4, 64)
            check_env_specs(venv, seed=0)
            td = venv.rollout(2 * T, break_when_any_done=False)
            assert td.batch_size == (4, 2 * T) and (td["next", "reward"] < 0).all()
            assert td["next", "done"].squeeze(-1).sum(1).tolist() == [2] * 4


@pytest.mark.parametrize("vector_env", ["DummyVectorEnv", "SubprocVectorEnv"])
@pytest.mark.parametrize("env_kwargs", [DENSE, {}], ids=["cross_entropy", "terminal"])
def test_tianshou_collector(vector_env, env_kwargs):
    pytest.importorskip("tianshou")
    import tianshou.env
    from tianshou.algorithm.algorithm_base import RandomActionPolicy
    from tianshou.data import Collector, VectorReplayBuffer

    venv = getattr(tianshou.env, vector_env)([lambda: gym.make(ENV_ID, **env_kwargs) for _ in range(2)])
    try:
        venv.seed(0)
        buffer = VectorReplayBuffer(total_size=120, buffer_num=2)
        collector = Collector(RandomActionPolicy(venv.action_space[0]), venv, buffer)
        stats = collector.collect(n_episode=6, reset_before_collect=True)
    finally:
        venv.close()
    assert stats.n_collected_episodes == 6 and stats.n_collected_steps == 6 * T and len(buffer) == 6 * T
    assert (stats.lens == T).all() and np.isfinite(stats.returns).all()
    assert buffer.terminated.sum() == 6
    if env_kwargs:
        assert (stats.returns < 0).all()
    else:  # the return is the last step's is_success
        ends = buffer.terminated.astype(bool)
        np.testing.assert_array_equal(buffer.rew[ends], buffer.info["is_success"][ends].astype(float))
        assert set(stats.returns.tolist()) <= {0.0, 1.0}
