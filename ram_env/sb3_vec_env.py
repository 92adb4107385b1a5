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
from gymnasium import spaces
from gymnasium.vector import AutoresetMode
from stable_baselines3.common.vec_env import VecEnvWrapper
from stable_baselines3.common.vec_env.base_vec_env import VecEnv, VecEnvIndices, VecEnvObs, VecEnvStepReturn

from ram_env.vector_env import GlimpseVectorEnv
from ram_env.wrappers import _step_space, cell_centres, discrete_to_box, step_one_hot, to_numpy

__all__ = [
    "SB3VecEnv",
    "make_sb3_vec_env",
    "VecDiscreteGlimpseActions",
    "VecFlatDiscreteGlimpseActions",
    "VecGlimpseStepObservation",
]


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
        return to_numpy(obs)

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = actions

    def step_wait(self) -> VecEnvStepReturn:
        if self._actions is None:
            raise RuntimeError("step_wait() called without step_async(actions)")
        obs, reward, terminated, truncated, info = self.venv.step(self._actions)
        self._actions = None
        dones = (terminated | truncated).cpu().numpy()
        if "final_obs" not in info:
            return to_numpy(obs), reward.cpu().numpy(), dones, [{} for _ in range(self.num_envs)]
        final = info["final_info"]
        terminal = to_numpy(info["final_obs"])
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
        return to_numpy(obs), reward.cpu().numpy(), dones, infos

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


# -- the wrappers of ram_env.wrappers as SB3 VecEnv wrappers -----------------------------------------
def _vec_glimpse_config(venv: VecEnv) -> tuple[int, int]:
    config = venv.get_attr("config", indices=[0])[0]
    return config.num_glimpses, config.num_classes


class VecDiscreteGlimpseActions(VecEnvWrapper):
    """:class:`DiscreteGlimpseActions` for an SB3 ``VecEnv`` (e.g. the native batched env).

    >>> from ram_env.sb3_vec_env import make_sb3_vec_env
    >>> venv = VecDiscreteGlimpseActions(make_sb3_vec_env("GlimpseMNIST-v0", num_envs=4, split="val"), grid=5)
    >>> venv.action_space
    MultiDiscrete([ 5  5 10])
    """

    def __init__(self, venv: VecEnv, grid: int = 5) -> None:
        cell_centres(grid)
        self.grid = grid
        self.n_classes = _vec_glimpse_config(venv)[1]
        super().__init__(venv, action_space=spaces.MultiDiscrete([grid, grid, self.n_classes]))

    def step_async(self, actions: np.ndarray) -> None:
        self.venv.step_async(discrete_to_box(actions, self.grid, self.n_classes))

    def reset(self) -> VecEnvObs:
        return self.venv.reset()

    def step_wait(self) -> VecEnvStepReturn:
        return self.venv.step_wait()


class VecFlatDiscreteGlimpseActions(VecDiscreteGlimpseActions):
    """:class:`FlatDiscreteGlimpseActions` for an SB3 ``VecEnv``."""

    def __init__(self, venv: VecEnv, grid: int = 5) -> None:
        super().__init__(venv, grid)
        self.action_space = spaces.Discrete(grid * grid * self.n_classes)

    def step_async(self, actions: np.ndarray) -> None:
        flat = np.asarray(actions, dtype=np.int64).reshape(-1)
        triple = np.stack(np.unravel_index(flat, (self.grid, self.grid, self.n_classes)), axis=-1)
        self.venv.step_async(discrete_to_box(triple, self.grid, self.n_classes))


class VecGlimpseStepObservation(VecEnvWrapper):
    """:class:`GlimpseStepObservation` for an SB3 ``VecEnv``: one step counter per sub-env.

    The ``terminal_observation`` in a finished sub-env's info gets index ``T``.

    >>> from ram_env.sb3_vec_env import make_sb3_vec_env
    >>> venv = VecGlimpseStepObservation(make_sb3_vec_env("GlimpseMNIST-v0", num_envs=2, split="val"))
    >>> venv.reset()["step"].tolist()
    [[1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]]
    """

    def __init__(self, venv: VecEnv) -> None:
        self.num_glimpses = _vec_glimpse_config(venv)[0]
        super().__init__(venv, observation_space=_step_space(venv.observation_space, self.num_glimpses))
        self._t = np.zeros(self.num_envs, dtype=np.int64)

    def reset(self) -> VecEnvObs:
        obs = self.venv.reset()
        self._t[:] = 0
        return {**obs, "step": step_one_hot(self._t, self.num_glimpses)}

    def step_wait(self) -> VecEnvStepReturn:
        obs, rewards, dones, infos = self.venv.step_wait()
        self._t = np.minimum(self._t + 1, self.num_glimpses)
        for j in np.flatnonzero(dones):
            terminal = infos[j].get("terminal_observation")
            if terminal is not None:
                infos[j]["terminal_observation"] = {**terminal, "step": step_one_hot(self._t[j], self.num_glimpses)}
        self._t[dones] = 0
        return {**obs, "step": step_one_hot(self._t, self.num_glimpses)}, rewards, dones, infos
