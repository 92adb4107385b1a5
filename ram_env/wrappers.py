"""Wrappers that make the glimpse envs easier for general-purpose RL agents (SB3 PPO, RecurrentPPO, ...).

The envs' action is hybrid: a continuous next location ``(x, y)`` and ``n_classes`` class scores that
only count on the last step (their argmax is the prediction). With that action SB3 PPO and
RecurrentPPO stayed at chance for 200k steps, while a small discrete choice plus a step counter (a
memoryless policy cannot otherwise tell which step is judged) took PPO to 62 % val accuracy in the
same budget (``docs/sb3_results.md``); ``reward_mode="cross_entropy"`` (a dense reward) is the other way
in. Each idea is written once, as a function on batched numpy arrays, and offered twice: as a Gymnasium
wrapper for ``gym.make`` envs and as a Stable-Baselines3 ``VecEnvWrapper`` for the native batched env
(in :mod:`ram_env.sb3_vec_env`, loaded on first use: ``import ram_env.wrappers`` needs no SB3).

- :class:`TorchToNumpy`: the native vector env (``gym.make_vec``, torch tensors) with numpy observations,
  rewards, dones and infos, so Gymnasium's vector wrappers (``gymnasium.wrappers.vector``) apply.
- :class:`DiscreteGlimpseActions`: ``MultiDiscrete([grid, grid, n_classes])`` = (column cell, row
  cell, label); the location is the centre of that cell of a ``grid x grid`` partition of
  ``[-1, 1]^2``, the label becomes a one-hot score vector.
- :class:`FlatDiscreteGlimpseActions`: the same choices as one ``Discrete(grid * grid * n_classes)``.
- :class:`GlimpseStepObservation`: adds ``obs["step"]``, the one-hot number of steps taken so far.
- ``VecDiscreteGlimpseActions``, ``VecFlatDiscreteGlimpseActions``, ``VecGlimpseStepObservation``: the
  same for SB3 vector envs (importable from here too).

>>> import gymnasium as gym, ram_env
>>> env = GlimpseStepObservation(DiscreteGlimpseActions(gym.make("GlimpseMNIST-v0"), grid=5))
>>> env.action_space
MultiDiscrete([ 5  5 10])
>>> obs, info = env.reset(seed=0)
>>> obs["step"].tolist()
[1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]
>>> obs, reward, terminated, truncated, info = env.step([2, 2, 7])   # look at the centre, say "7"
>>> obs["location"].tolist(), obs["step"].tolist()
([0.0, 0.0], [0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0])
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, VectorEnv, VectorWrapper

__all__ = [
    "TorchToNumpy",
    "DiscreteGlimpseActions",
    "FlatDiscreteGlimpseActions",
    "GlimpseStepObservation",
    "cell_centres",
    "discrete_to_box",
    "step_one_hot",
    "to_numpy",
]

_SB3_WRAPPERS = ("VecDiscreteGlimpseActions", "VecFlatDiscreteGlimpseActions", "VecGlimpseStepObservation")


def __getattr__(name: str) -> Any:
    """The SB3 vector-env wrappers live in :mod:`ram_env.sb3_vec_env` (they need SB3); they load on first use."""
    if name in _SB3_WRAPPERS:
        from ram_env import sb3_vec_env

        return getattr(sb3_vec_env, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# -- the ideas, once, on batched numpy arrays ------------------------------------------------------
def cell_centres(grid: int) -> np.ndarray:
    """The ``grid`` cell centres of ``[-1, 1]`` split into equal cells, float32.

    >>> cell_centres(5).tolist()
    [-0.800000011920929, -0.4000000059604645, 0.0, 0.4000000059604645, 0.800000011920929]
    """
    if isinstance(grid, bool) or not isinstance(grid, int | np.integer) or grid < 1:
        raise ValueError(f"grid must be a positive integer, got {grid!r}")
    return ((2 * np.arange(grid) + 1) / grid - 1).astype(np.float32)


def discrete_to_box(actions: Any, grid: int, n_classes: int) -> np.ndarray:
    """Map ``(..., 3)`` integer actions ``(column cell, row cell, label)`` to ``(..., 2 + n_classes)`` env actions.

    The location is the cell's centre; the scores are the one-hot label (its argmax is the label).

    >>> discrete_to_box([0, 4, 2], grid=5, n_classes=3).tolist()
    [-0.800000011920929, 0.800000011920929, 0.0, 0.0, 1.0]
    """
    a = np.asarray(actions).astype(np.int64)
    if a.shape[-1:] != (3,):
        raise ValueError(f"discrete actions must have a last axis of 3 (column, row, label), got shape {a.shape}")
    centres = cell_centres(grid)
    out = np.zeros(a.shape[:-1] + (2 + n_classes,), dtype=np.float32)
    out[..., 0] = centres[a[..., 0]]
    out[..., 1] = centres[a[..., 1]]
    np.put_along_axis(out, 2 + a[..., 2:3], 1.0, axis=-1)
    return out


def step_one_hot(steps: Any, num_glimpses: int) -> np.ndarray:
    """One-hot ``(..., num_glimpses + 1)`` float32 of the steps taken so far (``0 ... num_glimpses``).

    >>> step_one_hot([0, 2], num_glimpses=3).tolist()
    [[1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0]]
    """
    return np.eye(num_glimpses + 1, dtype=np.float32)[np.asarray(steps, dtype=np.int64)]


def to_numpy(value: Any) -> Any:
    """Torch tensors, also inside (nested) dicts, as numpy arrays on the host; anything else as it is."""
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    if isinstance(value, dict):
        return {key: to_numpy(item) for key, item in value.items()}
    return value


def _glimpse_config(env: gym.Env) -> tuple[int, int]:
    """(num_glimpses, n_classes) of a wrapped glimpse env."""
    config = env.unwrapped.config
    return config.num_glimpses, config.num_classes


def _step_space(observation_space: spaces.Dict, num_glimpses: int) -> spaces.Dict:
    if not isinstance(observation_space, spaces.Dict) or "step" in observation_space.spaces:
        raise ValueError(f"expected a Dict observation space without a 'step' key, got {observation_space}")
    step = spaces.Box(0.0, 1.0, (num_glimpses + 1,), dtype=np.float32)
    return spaces.Dict({**observation_space.spaces, "step": step})


# -- Gymnasium wrappers -----------------------------------------------------------------------------
class DiscreteGlimpseActions(gym.ActionWrapper, gym.utils.RecordConstructorArgs):
    """Discrete glimpse locations and a discrete label: ``MultiDiscrete([grid, grid, n_classes])``.

    Action ``(i, j, c)`` looks next at the centre of column cell ``i`` and row cell ``j`` of a
    ``grid x grid`` partition of ``[-1, 1]^2`` (``x = (2i + 1)/grid - 1``, likewise ``y``) and names
    class ``c``; the label only counts on the last step, as the scores do in the env. With an odd
    ``grid`` the centre ``(0, 0)`` is a choice. ``grid=5`` on 28x28 MNIST puts the centres 5.6
    pixels apart, so 8x8 glimpses at neighbouring cells overlap.

    >>> import gymnasium as gym, ram_env
    >>> env = DiscreteGlimpseActions(gym.make("GlimpseMNIST-v0", split="val"), grid=3)
    >>> env.action_space
    MultiDiscrete([ 3  3 10])
    >>> env.action([0, 2, 4]).tolist()
    [-0.6666666865348816, 0.6666666865348816, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0]
    """

    def __init__(self, env: gym.Env, grid: int = 5) -> None:
        gym.utils.RecordConstructorArgs.__init__(self, grid=grid)
        gym.ActionWrapper.__init__(self, env)
        cell_centres(grid)  # validates grid
        self.grid = grid
        self.n_classes = _glimpse_config(env)[1]
        self.action_space = spaces.MultiDiscrete([grid, grid, self.n_classes])

    def action(self, action: Any) -> np.ndarray:
        return discrete_to_box(action, self.grid, self.n_classes)


class FlatDiscreteGlimpseActions(gym.ActionWrapper, gym.utils.RecordConstructorArgs):
    """The choices of :class:`DiscreteGlimpseActions` as one ``Discrete(grid * grid * n_classes)``.

    Action ``a`` is ``(i, j, c) = np.unravel_index(a, (grid, grid, n_classes))``. One categorical
    over every (location, label) pair: simpler for agents without multi-discrete support, but the
    location and the label no longer have separate probabilities.

    >>> import gymnasium as gym, ram_env
    >>> env = FlatDiscreteGlimpseActions(gym.make("GlimpseMNIST-v0", split="val"), grid=5)
    >>> env.action_space
    Discrete(250)
    >>> env.action(2 * 50 + 2 * 10 + 7)[:2].tolist(), int(env.action(127)[2:].argmax())
    ([0.0, 0.0], 7)
    """

    def __init__(self, env: gym.Env, grid: int = 5) -> None:
        gym.utils.RecordConstructorArgs.__init__(self, grid=grid)
        gym.ActionWrapper.__init__(self, env)
        cell_centres(grid)
        self.grid = grid
        self.n_classes = _glimpse_config(env)[1]
        self.action_space = spaces.Discrete(grid * grid * self.n_classes)

    def action(self, action: Any) -> np.ndarray:
        triple = np.stack(np.unravel_index(np.asarray(action, dtype=np.int64), (self.grid, self.grid, self.n_classes)))
        return discrete_to_box(np.moveaxis(triple, 0, -1), self.grid, self.n_classes)


class GlimpseStepObservation(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Add ``obs["step"]``: the one-hot number of steps taken so far, ``Box(0, 1, (T + 1,), float32)``.

    A policy without memory otherwise cannot know which step is the last, the one whose class
    scores are judged: after ``reset`` the index is 0, after step ``t`` it is ``t``; the policy's
    last action is taken on index ``T - 1``, and index ``T`` appears only on the terminal observation.

    >>> import gymnasium as gym, ram_env
    >>> env = GlimpseStepObservation(gym.make("GlimpseMNIST-v0", num_glimpses=2))
    >>> env.observation_space["step"]
    Box(0.0, 1.0, (3,), float32)
    >>> env.reset(seed=0)[0]["step"].tolist()
    [1.0, 0.0, 0.0]
    """

    def __init__(self, env: gym.Env) -> None:
        gym.utils.RecordConstructorArgs.__init__(self)
        gym.Wrapper.__init__(self, env)
        self.num_glimpses = _glimpse_config(env)[0]
        self.observation_space = _step_space(env.observation_space, self.num_glimpses)
        self._t = 0

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        obs, info = self.env.reset(seed=seed, options=options)
        self._t = 0
        return {**obs, "step": step_one_hot(0, self.num_glimpses)}, info

    def step(self, action: Any):
        obs, reward, terminated, truncated, info = self.env.step(action)
        self._t = min(self._t + 1, self.num_glimpses)
        return {**obs, "step": step_one_hot(self._t, self.num_glimpses)}, reward, terminated, truncated, info


# -- Gymnasium vector wrappers ----------------------------------------------------------------------
class TorchToNumpy(VectorWrapper):
    """The native vector env with numpy arrays: Gymnasium's vector wrappers and numpy-based agents apply.

    :class:`~ram_env.vector_env.GlimpseVectorEnv` returns torch tensors on its ``device``; this wrapper
    hands out numpy arrays on the host instead: observations, rewards (float32), ``terminated`` and
    ``truncated`` (bool), and every info value, nested ``final_obs`` / ``final_info`` included.
    Actions may be numpy arrays or torch tensors. Named after Gymnasium's ``JaxToNumpy`` and the
    reverse of its ``NumpyToTorch``. Wrap it, then stack Gymnasium's wrappers on top:

    >>> import gymnasium as gym, ram_env
    >>> from gymnasium.wrappers.vector import FlattenObservation, RecordEpisodeStatistics
    >>> envs = RecordEpisodeStatistics(FlattenObservation(TorchToNumpy(gym.make_vec("GlimpseMNIST-v0", 4))))
    >>> obs, info = envs.reset(seed=0)
    >>> type(obs).__name__, obs.shape, envs.metadata["autoreset_mode"].value
    ('ndarray', (4, 66), 'NextStep')
    """

    def __init__(self, env: VectorEnv) -> None:
        super().__init__(env)

    @property
    def autoreset_mode(self) -> AutoresetMode:
        """The wrapped env's autoreset mode (also ``metadata["autoreset_mode"]``), as on ``SyncVectorEnv``."""
        return self.env.metadata["autoreset_mode"]

    def reset(
        self, *, seed: int | list[int] | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        obs, info = self.env.reset(seed=seed, options=options)
        return to_numpy(obs), to_numpy(info)

    def step(self, actions: Any) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(actions)
        return to_numpy(obs), to_numpy(reward), to_numpy(terminated), to_numpy(truncated), to_numpy(info)
