"""Stable-Baselines3 adapter: the native torch vector env presented as an SB3 ``VecEnv``.

SB3 cannot use Gymnasium vector envs directly: it wants numpy on the host, same-step autoreset and
a list of info dicts with ``terminal_observation``. This adapter gives it exactly that, while every
sub-env still runs batched in :class:`~ram_env.vector_env.GlimpseVectorEnv` (on CPU or GPU)::

    from stable_baselines3 import PPO
    from stable_baselines3.common.vec_env import VecMonitor
    from ram_env.sb3_vec_env import make_sb3_vec_env

    venv = VecMonitor(make_sb3_vec_env("GlimpseMNIST-v0", num_envs=256))
    PPO("MultiInputPolicy", venv).learn(200_000)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium.vector import AutoresetMode
from stable_baselines3.common.vec_env.base_vec_env import VecEnv, VecEnvIndices, VecEnvObs, VecEnvStepReturn

from ram_env.vector_env import GlimpseVectorEnv

__all__ = ["SB3VecEnv", "make_sb3_vec_env"]


def _to_numpy(obs: dict[str, torch.Tensor]) -> dict[str, np.ndarray]:
    return {key: value.cpu().numpy() for key, value in obs.items()}


class SB3VecEnv(VecEnv):
    """A :class:`GlimpseVectorEnv` (constructed with ``autoreset_mode="same_step"``) as an SB3 ``VecEnv``.

    Observations are dicts of numpy arrays ``(num_envs, ...)``; rewards float32, dones bool. When the
    episodes end (all sub-envs end together), each info holds ``terminal_observation``,
    ``TimeLimit.truncated`` (always False), ``label``, ``prediction`` and ``is_success``, so SB3's
    ``EvalCallback`` reports accuracy as its success rate. Wrap it in ``VecMonitor`` for episode
    statistics. Per-sub-env calls (``env_method``, ``get_attr``) reach the one batched env.
    """

    def __init__(self, venv: GlimpseVectorEnv) -> None:
        if not isinstance(venv, GlimpseVectorEnv):
            raise TypeError(f"SB3VecEnv wraps a GlimpseVectorEnv, got {type(venv).__name__}")
        if venv.metadata["autoreset_mode"] != AutoresetMode.SAME_STEP:
            raise ValueError(
                "SB3VecEnv needs the vector env built with autoreset_mode='same_step' (SB3 resets in the same "
                f"step), got {venv.metadata['autoreset_mode'].value}; use make_sb3_vec_env(...)"
            )
        self.venv = venv
        super().__init__(venv.num_envs, venv.single_observation_space, venv.single_action_space)
        self._actions: np.ndarray | None = None

    def reset(self) -> VecEnvObs:
        """Reset every sub-env. ``seed(s)`` seeds the batch's one generator with the first sub-env's seed;
        ``set_options([{"index": i_0}, {"index": i_1}, ...])`` (one per sub-env) picks the images."""
        seed = self._seeds[0]
        indices = [options.get("index") for options in self._options]
        options = {"index": np.asarray(indices, dtype=np.int64)} if all(i is not None for i in indices) else None
        obs, _ = self.venv.reset(seed=seed, options=options)
        self._reset_seeds()
        self._reset_options()
        return _to_numpy(obs)

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = actions

    def step_wait(self) -> VecEnvStepReturn:
        if self._actions is None:
            raise RuntimeError("step_wait() called without step_async(actions)")
        obs, reward, terminated, truncated, info = self.venv.step(self._actions)
        self._actions = None
        dones = (terminated | truncated).cpu().numpy()
        if "final_obs" not in info:
            return _to_numpy(obs), reward.cpu().numpy(), dones, [{} for _ in range(self.num_envs)]
        final = info["final_info"]
        terminal = _to_numpy(info["final_obs"])
        label = final["label"].cpu().numpy()
        prediction = final["prediction"].cpu().numpy()
        index = final["index"].cpu().numpy()
        infos = [
            {
                "terminal_observation": {key: value[j] for key, value in terminal.items()},
                "TimeLimit.truncated": False,
                "index": int(index[j]),
                "label": int(label[j]),
                "prediction": int(prediction[j]),
                "is_success": bool(label[j] == prediction[j]),
            }
            for j in range(self.num_envs)
        ]
        return _to_numpy(obs), reward.cpu().numpy(), dones, infos

    def close(self) -> None:
        self.venv.close()

    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        value = getattr(self.venv, attr_name)
        return [value for _ in self._get_indices(indices)]

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        setattr(self.venv, attr_name, value)

    def env_method(self, method_name: str, *method_args, indices: VecEnvIndices = None, **method_kwargs) -> list[Any]:
        result = getattr(self.venv, method_name)(*method_args, **method_kwargs)
        return [result for _ in self._get_indices(indices)]

    def env_is_wrapped(self, wrapper_class: type[gym.Wrapper], indices: VecEnvIndices = None) -> list[bool]:
        return [False for _ in self._get_indices(indices)]

    def get_images(self) -> Sequence[np.ndarray | None]:
        frames = self.venv.render()
        return list(frames) if frames is not None else [None] * self.num_envs


def make_sb3_vec_env(env_id: str, num_envs: int, device: str | torch.device = "cpu", **kwargs: Any) -> SB3VecEnv:
    """``gym.make_vec(env_id, num_envs, device=device, autoreset_mode="same_step", **kwargs)`` as an SB3 VecEnv."""
    venv = gym.make_vec(env_id, num_envs=num_envs, device=device, autoreset_mode="same_step", **kwargs)
    return SB3VecEnv(venv.unwrapped)
