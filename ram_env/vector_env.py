"""The native batched glimpse env: every sub-env at once as torch tensor operations, on CPU or GPU.

It shares :mod:`ram_env.config` (kwargs, spaces, data), :mod:`ram_env.canvas` and
:mod:`ram_env.retina` with :class:`ram_env.glimpse_env.GlimpseEnv`, so sub-env ``j`` shown image
``i`` with the same actions sees exactly the glimpses the single env shows.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from ram_env.canvas import augment_images, compose, fixed_initial_location, random_splits, split_key
from ram_env.config import GlimpseConfig, as_real_array, is_real_dtype, make_config, shared_images
from ram_env.rendering import draw_glimpses
from ram_env.retina import glimpse, summed_area_table
from ram_env.rewards import cross_entropy_reward, terminal_reward

__all__ = ["GlimpseVectorEnv"]

_AUTORESET = {
    "next_step": AutoresetMode.NEXT_STEP,
    "same_step": AutoresetMode.SAME_STEP,
    "disabled": AutoresetMode.DISABLED,
}

TensorDict = dict[str, torch.Tensor]


class GlimpseVectorEnv(VectorEnv):
    """``num_envs`` glimpse episodes run in lockstep as batched torch operations.

    ```python
    envs = gym.make_vec("GlimpseMNIST-v0", num_envs=4096, device="cuda")
    obs, info = envs.reset(seed=0)                 # obs["glimpse"]: (4096, 64) float32 on cuda
    obs, reward, terminated, truncated, info = envs.step(actions)   # actions: (4096, 12)
    ```

    Takes every keyword argument of :class:`~ram_env.glimpse_env.GlimpseEnv` (``dataset``, ``split``,
    ``num_glimpses``, ``glimpse_size``, ``num_scales``, ``initial_location``, ``canvas_size``,
    ``num_clutter``, ``clutter_size``, ``data_dir``, ``download``, ``render_mode``, ``images``,
    ``labels``, ``num_classes``, ``max_shift``, ``horizontal_flip``, ``max_rotation``, ``reward_mode``,
    ``logit_scale``, ``alphabets``, ``unknown_alphabets``, ``unseen_alphabets``), plus:

    - ``device``: where images, canvases and every returned tensor live ("cpu", "cuda", a
      ``torch.device``). Images are copied there once, as uint8, and shared by every vector env over the same
      data on that device (on the CPU, greyscale images are not copied at all).
    - ``autoreset_mode``: ``"next_step"`` (Gymnasium's default: the step after the last one resets
      every sub-env with random images and returns zero rewards), ``"same_step"`` (the last step
      returns the new episode's first observation; the finished episode's last observation and info
      are in ``info["final_obs"]`` and ``info["final_info"]``, batched), or ``"disabled"`` (call
      ``reset`` yourself: how a trainer draws its minibatches). An ``AutoresetMode`` works too.
      The mode is also the attribute ``autoreset_mode``, as on Gymnasium's ``SyncVectorEnv``.
    - ``check_finite``: check that actions are finite (one device-to-host sync per step). Default:
      on for CPU, off for CUDA so a step makes no host-device copy at all.

    Observations, rewards (float32), ``terminated`` and ``truncated`` (bool) and every info value are
    torch tensors on ``device``, with ``_key`` masks as Gymnasium's vector infos have them. Actions
    may be numpy arrays or tensors of shape ``(num_envs, 2 + n_classes)``. All sub-envs start
    together, so all episodes end on the same step. ``reset(options={"index": idx})``, with ``idx``
    of length ``num_envs``, shows those images of the split: tile it to run Monte Carlo samples of
    the same images, or sweep a whole test set. Randomness comes from a torch generator on
    ``device`` seeded by ``reset(seed=...)``, except in ``val`` and ``test``, where both the canvas
    and the ``initial_location="random"`` location of image ``i`` are fixed functions of the split
    and ``i`` (:mod:`ram_env.canvas`), the same for any seed and ``num_envs`` as in the single env.
    The env keeps its own copy of ``idx``, and every info tensor it hands out is a fresh one: changing
    them changes nothing in the env. For numpy arrays and Gymnasium's vector wrappers, wrap it in
    :class:`ram_env.wrappers.TorchToNumpy`.
    """

    metadata: dict[str, Any] = {"render_modes": ["rgb_array"], "render_fps": 2}

    def __init__(
        self,
        num_envs: int,
        device: str | torch.device = "cpu",
        autoreset_mode: str | AutoresetMode = AutoresetMode.NEXT_STEP,
        check_finite: bool | None = None,
        render_mode: str | None = None,
        **kwargs: Any,
    ) -> None:
        if isinstance(num_envs, bool) or not isinstance(num_envs, int | np.integer) or num_envs < 1:
            raise ValueError(f"num_envs must be a positive integer, got {num_envs!r}")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(
                f"render_mode must be None or one of {self.metadata['render_modes']}, got {render_mode!r}"
            )
        if isinstance(autoreset_mode, str):
            if autoreset_mode.lower() not in _AUTORESET:
                raise ValueError(
                    f"autoreset_mode must be one of {sorted(_AUTORESET)}, got {autoreset_mode!r}"
                )
            autoreset_mode = _AUTORESET[autoreset_mode.lower()]
        elif not isinstance(autoreset_mode, AutoresetMode):
            raise ValueError(
                f"autoreset_mode must be one of {sorted(_AUTORESET)} or an AutoresetMode, "
                f"got {autoreset_mode!r}"
            )
        try:
            self.device = torch.device(device)
        except (RuntimeError, TypeError) as err:
            raise ValueError(
                f"device must be 'cpu', 'cuda', 'cuda:N' or a torch.device, got {device!r}"
            ) from err
        if check_finite is not None and not isinstance(check_finite, bool | np.bool_):
            raise ValueError(f"check_finite must be True, False or None (the device's default), got {check_finite!r}")
        self.config: GlimpseConfig = make_config(**kwargs)  # GlimpseEnv's arguments, checked once for both
        cfg = self.config
        self.num_envs = int(num_envs)
        self.render_mode = render_mode
        self.metadata = {**self.metadata, "autoreset_mode": autoreset_mode}
        self.autoreset_mode = autoreset_mode
        self.check_finite = self.device.type == "cpu" if check_finite is None else bool(check_finite)
        self.single_observation_space = cfg.observation_space()
        self.single_action_space = cfg.action_space()
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self.num_images = cfg.num_images
        self.num_classes = cfg.num_classes
        self.num_glimpses = cfg.num_glimpses

        self._images = shared_images(cfg.images, self.device)  # one copy per array and device, for every env
        self._labels = torch.from_numpy(np.array(cfg.labels)).to(self.device)
        self._unseen = None if cfg.unseen is None else torch.from_numpy(np.array(cfg.unseen)).to(self.device)
        self._generator = torch.Generator(device=self.device)
        self._generator.seed()
        self._ones = torch.ones(self.num_envs, dtype=torch.bool, device=self.device)
        self._falses = torch.zeros(self.num_envs, dtype=torch.bool, device=self.device)
        self._zeros_reward = torch.zeros(self.num_envs, dtype=torch.float32, device=self.device)
        self._t = -1  # steps taken in the current episodes; -1 before the first reset
        self._index = torch.zeros(self.num_envs, dtype=torch.int64, device=self.device)
        self._sat: torch.Tensor | None = None
        self._canvas: torch.Tensor | None = None
        self._locations: list[torch.Tensor] = []

    # -- helpers shared by reset and step --------------------------------------------------------
    def _as_index(self, index: Any) -> torch.Tensor:
        n = self.num_images
        idx = torch.as_tensor(np.asarray(index) if isinstance(index, list | tuple) else index)
        if idx.shape != (self.num_envs,) or idx.dtype.is_floating_point or idx.dtype == torch.bool:
            raise ValueError(
                f"options['index'] must be {self.num_envs} integers (one per sub-env), "
                f"got {idx.dtype} of shape {tuple(idx.shape)}"
            )
        idx = idx.to(self.device, torch.int64, copy=True)  # never the caller's memory
        if bool(((idx < 0) | (idx >= n)).any()):
            raise ValueError(
                f"options['index'] must lie in [0, {n}) for split {self.config.split!r}, "
                f"got values in [{int(idx.min())}, {int(idx.max())}]"
            )
        return idx

    def _as_actions(self, actions: Any) -> torch.Tensor:
        dim = self.single_action_space.shape[0]
        expected = f"({self.num_envs}, {dim})"
        if isinstance(actions, torch.Tensor):  # stays on its device: no host round trip
            if not is_real_dtype(actions.dtype):
                raise TypeError(
                    f"actions must be real numbers (a real-valued float or integer dtype) of shape {expected}, "
                    f"got dtype {actions.dtype}"
                )
            act = actions
        else:  # the single env's conversion (check_action), so both accept and round the same actions
            act = torch.from_numpy(as_real_array(actions, "actions", expected))
        if tuple(act.shape) != (self.num_envs, dim):
            raise ValueError(
                f"actions must have shape ({self.num_envs}, {dim}) = one [x, y, score_0 ... "
                f"score_{dim - 3}] per sub-env, got {tuple(act.shape)}"
            )
        act = act.detach().to(self.device, torch.float32)
        if self.check_finite and not bool(torch.isfinite(act).all()):
            raise ValueError("actions must be finite; got NaN or infinity")
        return act

    def _get_obs(self, location: torch.Tensor) -> TensorDict:
        self._locations.append(location)
        g = glimpse(self._sat, location, self.config.glimpse_size, self.config.num_scales)
        return {"glimpse": g, "location": location}

    def _get_info(self) -> dict[str, torch.Tensor]:
        return {"index": self._index.clone(), "_index": self._ones.clone()}

    def _episode_keys(self) -> torch.Tensor:
        """One key per env for the episode's random canvas or augmentation: drawn in train/trainval, else fixed."""
        if self.config.split in random_splits:
            return torch.randint(2**31, (self.num_envs,), generator=self._generator, device=self.device)
        return torch.full((self.num_envs,), split_key(self.config.split), dtype=torch.int64, device=self.device)

    def _start(self, index: torch.Tensor) -> TensorDict:
        cfg = self.config
        n = self.num_envs
        self._index = index
        if cfg.canvas is not None:
            canvas = compose(cfg.canvas, self._images.__getitem__, cfg.num_images, index, self._episode_keys())
        elif cfg.augmented:
            keys = self._episode_keys()
            canvas = augment_images(
                self._images[index], keys, index, cfg.max_shift, cfg.horizontal_flip, cfg.max_rotation
            )
        else:
            canvas = self._images[index]
        self._sat = summed_area_table(canvas)
        self._canvas = canvas if self.render_mode is not None else None
        init = cfg.initial_location
        if init == "random" and cfg.split in random_splits:
            location = torch.rand((n, 2), generator=self._generator, device=self.device) * 2.0 - 1.0
        elif init == "random":  # val/test: a function of the image, as in the single env
            location = fixed_initial_location(cfg.split, index)
        elif init == "center":
            location = torch.zeros((n, 2), dtype=torch.float32, device=self.device)
        else:
            location = torch.tensor(init, dtype=torch.float32, device=self.device).expand(n, 2).clone()
        self._t = 0
        self._locations = []
        return self._get_obs(location)

    def _random_index(self) -> torch.Tensor:
        return torch.randint(self.num_images, (self.num_envs,), generator=self._generator, device=self.device)

    # -- the Gymnasium vector API -----------------------------------------------------------------
    def reset(
        self, *, seed: int | list[int] | None = None, options: dict[str, Any] | None = None
    ) -> tuple[TensorDict, dict[str, torch.Tensor]]:
        """Start ``num_envs`` new episodes; ``options={"index": idx}`` picks the images."""
        if isinstance(seed, list | tuple):
            raise ValueError(
                "seed must be one integer or None for GlimpseVectorEnv (it has one torch generator)"
            )
        super().reset(seed=seed)
        if seed is not None:
            self._generator.manual_seed(int(seed))
        options = options or {}
        index = self._as_index(options["index"]) if "index" in options else self._random_index()
        return self._start(index), self._get_info()

    def step(
        self, actions: Any
    ) -> tuple[TensorDict, torch.Tensor, torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
        """One step of every sub-env; see the class docstring for the autoreset modes."""
        if self._t < 0:
            raise RuntimeError("step() called before reset(): call reset() to start the episodes")
        act = self._as_actions(actions)
        done = self._t >= self.config.num_glimpses
        mode = self.metadata["autoreset_mode"]
        if done:
            if mode != AutoresetMode.NEXT_STEP:
                raise RuntimeError(
                    f"step() called after the episodes ended (they last num_glimpses={self.config.num_glimpses} "
                    f"steps) with autoreset_mode={mode.value}: call reset() to start new ones"
                )
            obs = self._start(self._random_index())
            return (
                obs,
                self._zeros_reward.clone(),
                self._falses.clone(),
                self._falses.clone(),
                self._get_info(),
            )
        self._t += 1
        cfg = self.config
        obs = self._get_obs(act[:, :2].clamp(-1.0, 1.0))
        info = self._get_info()
        label = self._labels[self._index]
        dense = cfg.reward_mode == "cross_entropy"
        reward = cross_entropy_reward(act[:, 2:], label, cfg.logit_scale) if dense else self._zeros_reward.clone()
        if self._t < cfg.num_glimpses:
            return obs, reward, self._falses.clone(), self._falses.clone(), info
        prediction = act[:, 2:].argmax(dim=1)
        success = prediction == label
        info.update(
            label=label,
            _label=self._ones.clone(),
            prediction=prediction,
            _prediction=self._ones.clone(),
            is_success=success,
            _is_success=self._ones.clone(),
        )
        if cfg.open_set:
            info.update(
                is_unknown=label == cfg.unknown_class,
                _is_unknown=self._ones.clone(),
                is_unseen=self._unseen[self._index],
                _is_unseen=self._ones.clone(),
            )
        if not dense:
            reward = terminal_reward(prediction, label, cfg.unknown_class)
        if mode == AutoresetMode.SAME_STEP:
            final_obs = obs
            obs = self._start(self._random_index())
            info = {
                **self._get_info(),
                "final_obs": final_obs,
                "_final_obs": self._ones.clone(),
                "final_info": info,
                "_final_info": self._ones.clone(),
            }
        return obs, reward, self._ones.clone(), self._falses.clone(), info

    def render(self) -> tuple[np.ndarray, ...] | None:
        """One RGB frame per sub-env (costly for large batches: it copies every canvas to the host)."""
        if self.render_mode is None:
            return None
        if self._canvas is None:
            raise RuntimeError("render() called before reset()")
        canvases = self._canvas.cpu().numpy()
        path = torch.stack(self._locations[: self.config.num_glimpses], dim=1).cpu().numpy()
        return tuple(
            draw_glimpses(
                canvases[j], [tuple(p) for p in path[j]], self.config.glimpse_size, self.config.num_scales
            )
            for j in range(self.num_envs)
        )
