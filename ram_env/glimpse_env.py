"""The glimpse environment: one class serves every registered id through its keyword arguments."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np
import torch

from ram_env.canvas import augment_images, compose, fixed_initial_location, random_splits, split_key
from ram_env.config import GlimpseConfig, as_real_array, make_config
from ram_env.rendering import draw_glimpses
from ram_env.retina import glimpse, summed_area_table
from ram_env.rewards import DEFAULT_LOGIT_SCALE, cross_entropy_reward, terminal_reward

__all__ = ["GlimpseEnv", "check_action"]


def check_action(action: Any, action_dim: int) -> np.ndarray:
    """Validate one action and return it as float32 ``(action_dim,)``; raise a clear error otherwise.

    Accepted: numpy arrays, sequences and torch tensors (any device) of real numbers, any float or integer
    dtype (bfloat16 and uint64 included), exactly as :class:`ram_env.vector_env.GlimpseVectorEnv` accepts them.
    """
    arr = as_real_array(action, "action", f"({action_dim},) = [x, y, score_0, ...]")
    if arr.shape != (action_dim,):
        raise ValueError(
            f"action must have shape ({action_dim},) = [x, y, score_0 ... score_{action_dim - 3}], got {arr.shape}"
        )
    if not np.isfinite(arr).all():
        raise ValueError(f"action must be finite, got {arr.tolist()}")
    return arr


class GlimpseEnv(gym.Env[dict[str, np.ndarray], np.ndarray]):
    """
    ## Description

    Hard visual attention after Mnih et al. 2014, "Recurrent Models of Visual Attention". An image
    (MNIST, Fashion-MNIST, CIFAR-10, Omniglot, or a digit on a larger canvas, with or without clutter) is never
    shown whole: the agent sees it only through a *retina*, a few small patches of growing size around a
    point it chooses, and is paid for naming the image's class after a fixed number of glimpses.

    Omniglot (`dataset="omniglot"`, Lake et al. 2015): 105x105 handwritten characters of 50 alphabets, inverted
    as in MNIST (strokes 1.0, background 0.0); one class per character of the alphabets chosen by `alphabets`.
    Its **open set** (`GlimpseOmniglotOpenSet-v0`, after dHonerkamp's TensorFlow RAM, which never shows its
    unknown alphabets in training): the characters of the *known* alphabets are the classes `0 ... K-1` and one
    more class, `K` = "unknown", labels every image of the `unknown_alphabets` (in every split) and of the
    `unseen_alphabets` (in `val`/`test` only: never seen in training).

    The retina at location ``(x, y)`` in ``[-1, 1]^2`` (``x`` over columns left to right, ``y`` over
    rows top to bottom, ``(0, 0)`` the centre) takes ``k`` square patches of side ``g * 2**s``,
    ``s = 0 ... k-1``, centred on pixel ``(floor((x+1)/2 * W), floor((y+1)/2 * H))``, each reduced to
    ``g x g`` by exact block means; pixels outside the image are 0 (see :mod:`ram_env.retina`).

    ## Observation Space

    A `Dict`:

    | key        | space                                   | meaning                                         |
    |------------|-----------------------------------------|-------------------------------------------------|
    | `glimpse`  | `Box(0, 1, (k*C*g*g,), float32)`        | pixel/255, in (scale, channel, row, col) order  |
    | `location` | `Box(-1, 1, (2,), float32)`             | the (x, y) where this glimpse was taken         |

    ## Action Space

    `Box(-1, 1, (2 + n_classes,), float32)`: `[x, y, score_0, ..., score_{n-1}]`. The `(x, y)` part
    is clipped to `[-1, 1]` and sets where the next glimpse is taken; on the last step the scores
    classify the image by their argmax (ties go to the lowest class). Scores may be any finite values.
    In the open set, `n_classes` counts the unknown class, the last score.

    ## Rewards

    Set by `reward_mode`; rewards are Python floats.

    - `"terminal"` (the default, the task of Mnih et al. 2014): `1.0` on the last step if the argmax of
      the scores is the image's label, else `0.0`; every other step `0.0`. In the open set it is the reference
      implementation's: `1.0` right, `0.0` wrong, `-1.0` for an unknown image named as a known character (a
      known character named "unknown" is merely wrong).
    - `"cross_entropy"` (a dense reward, as in the Active Perception Gym): every step `t = 1 ... T` pays
      `-CE(softmax(logit_scale * clip(scores_t, -1, 1)), label) / log K`, where `scores_t` are the
      scores of that step's action and `K = n_classes`: a uniform guess costs `1` a step, a sure right
      one nearly `0`, a sure wrong one at most `(2 * logit_scale + log(K - 1)) / log K` (5.3 for
      `K = 10`). The default `logit_scale=5` lets scores in the action box express 99.96 % confidence
      for `K = 10` (at least 99 % for `K <= 223`). Observations, episode length and the final
      `prediction` / `is_success` (argmax of the last step's scores) are the same in both modes.

    ## Starting State

    `reset` picks image `options["index"]` of the split if given, else one uniformly at random, builds
    its canvas (translated and cluttered variants) and returns the first glimpse, taken at
    `initial_location`: uniformly random in `[-1, 1]^2` ("random"), the centre ("center"), or a
    given `[x, y]`. In the `train` and `trainval` splits every episode draws a new canvas and a new
    random initial location; in `val` and `test` image `i` always yields the same canvas and the
    same "random" initial location, whatever the seed, batch size and machine (both are
    counter-based hashes of the split and `i`, see :mod:`ram_env.canvas`). With `max_shift > 0`, each
    `train`/`trainval` episode first moves its image by a random whole number of pixels, with
    `horizontal_flip` mirrors it left-right with probability 1/2, and with `max_rotation > 0` rotates it
    by a random angle (augmentation; rotation, then mirror, then shift).

    ## Episode End

    After `num_glimpses` steps: steps `1 ... T-1` each return the glimpse at the action's `(x, y)`,
    step `T` classifies and ends the episode with `terminated=True`. Never truncated. A step after the
    end (without `reset`) raises. Every `info` holds `index` (the image's index in its split); the
    final one also `label`, `prediction` and `is_success`, and in the open set `is_unknown` (the image is of
    an unknown or unseen alphabet) and `is_unseen` (of an alphabet never shown in training). Info values are
    numpy: `np.int64` scalars and, for `is_success` (`is_unknown`, `is_unseen`), a 0-d bool array, which
    Gymnasium's vector envs, TorchRL and Tianshou all batch.

    ## Arguments

    ```python
    import gymnasium as gym
    import ram_env

    env = gym.make("GlimpseMNIST-v0", split="val", num_glimpses=4, initial_location="center")
    ```

    | argument           | default    | meaning                                                            |
    |--------------------|------------|--------------------------------------------------------------------|
    | `dataset`          | `"mnist"`  | `"mnist"`, `"fashion-mnist"`, `"cifar10"` (32x32 RGB), `"omniglot"` |
    | `split`            | `"train"`  | `train`, `val` (last 5,000 training images), `trainval`, `test`     |
    |                    |            | (Omniglot by drawer: 1-12, 13-16, 1-16, 17-20 of the 20 drawers)   |
    | `num_glimpses`     | 6          | glimpses (= steps) per episode, `T`                                |
    | `glimpse_size`     | 8          | side `g` of each retina patch after reduction                      |
    | `num_scales`       | 1          | number `k` of patches, each twice the side of the previous         |
    | `initial_location` | `"random"` | `"random"` (fixed per image in `val`/`test`), `"center"`, `[x, y]` |
    | `canvas_size`      | `None`     | side of the canvas the image is placed on at a random offset      |
    | `num_clutter`      | 0          | clutter pieces pasted on the canvas (pixels combine by maximum)    |
    | `clutter_size`     | 8          | side of each clutter piece, a crop of another image of the split   |
    | `data_dir`         | `None`     | data root; else `$RAM_ENV_DATA`, else the per-user cache           |
    | `download`         | `True`     | fetch missing files (checksum-verified)                            |
    | `render_mode`      | `None`     | `"rgb_array"` or `None`                                            |
    | `images`, `labels` | `None`     | your own data: uint8 `(N, H, W)` or `(N, H, W, C)` and int labels  |
    | `num_classes`      | `None`     | classes of your own data (default `max(labels) + 1`)               |
    | `max_shift`        | 0          | augmentation, `train`/`trainval` only: move each episode's image   |
    |                    |            | by whole pixels `(dx, dy)` uniform in `[-max_shift, max_shift]^2`  |
    |                    |            | (zero-filled; not with `canvas_size`); `val`/`test` never move     |
    | `horizontal_flip`  | `False`    | augmentation, `train`/`trainval` only: mirror each episode's image |
    |                    |            | left-right with probability 1/2 (for CIFAR-10 and Fashion-MNIST,   |
    |                    |            | not digits; not with `canvas_size`); `val`/`test` never mirror     |
    | `max_rotation`     | 0          | augmentation, `train`/`trainval` only: rotate each episode's image |
    |                    |            | about its centre by an angle uniform in `[-max_rotation,           |
    |                    |            | max_rotation]` degrees (bilinear, zero-filled; not with            |
    |                    |            | `canvas_size`); `val`/`test` never rotate                          |
    | `reward_mode`      | `"terminal"` | `"terminal"` (0/1 on the last step) or `"cross_entropy"` (every  |
    |                    |            | step, see Rewards)                                                 |
    | `logit_scale`      | 5.0        | the `"cross_entropy"` reward's scale on the scores, finite, > 0    |
    | `alphabets`        | `None`     | Omniglot's characters: `"small"` (`None`), `"small1"`, `"small2"`, |
    |                    |            | `"background"`, `"evaluation"`, `"all"` or a list of alphabet names |
    | `unknown_alphabets`| 0          | open set: alphabets labelled "unknown" in every split, a list or a |
    |                    |            | count (the first by name after the unseen ones)                    |
    | `unseen_alphabets` | 0          | open set: alphabets labelled "unknown" only in `val`/`test`, a     |
    |                    |            | list or a count (the first by name)                                |

    Omniglot's retina (both ids): four 12x12 scales, patches of 12, 24, 48 and 96 pixels: the finest sees a
    stroke (2-4 pixels wide) at full resolution, the coarsest nearly the whole 105x105 character at 1/8, so one
    glimpse gives both a detail and the layout to choose the next look from (as `GlimpseClutteredMNIST100-v0`'s
    on 100x100). Observation 576 values; 6 glimpses.

    ## Vectorized environment

    `gym.make_vec(id, num_envs=N, device=...)` returns :class:`ram_env.vector_env.GlimpseVectorEnv`,
    which runs the whole batch as torch tensor operations on CPU or GPU with the same retina.

    ## Version History

    * v0: Initial version.
    * v0, later: with `initial_location="random"`, the initial location in `val` and `test` is a
      fixed function of the image, like its canvas (before, it came from the env's generator, so
      evaluations depended on the seed and on the number of envs in the batch). `train` and
      `trainval` are unchanged.
    * v0, later: `max_shift` (default 0, which changes nothing): random whole-pixel shifts of the
      training images, an augmentation.
    * v0, later: `horizontal_flip` (default `False`, which changes nothing): random left-right mirrors
      of the training images, an augmentation.
    * v0, later: `max_rotation` (default 0, which changes nothing): random rotations of the training
      images, an augmentation.
    * v0, later: `reward_mode` (default `"terminal"`, which changes nothing) and `logit_scale`: a dense
      cross-entropy reward for general-purpose agents. Info values became numpy (same values;
      `is_success` a 0-d bool array).
    * v0, later: `GlimpseOmniglot-v0` and `GlimpseOmniglotOpenSet-v0` (new ids, on the `"small"` set), and the
      kwargs `alphabets`, `unknown_alphabets`, `unseen_alphabets`, which apply to `dataset="omniglot"` only: the
      other ids are unchanged, bit for bit.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 2}

    def __init__(
        self,
        dataset: str = "mnist",
        split: str = "train",
        num_glimpses: int = 6,
        glimpse_size: int = 8,
        num_scales: int = 1,
        initial_location: str | Sequence[float] = "random",
        canvas_size: int | None = None,
        num_clutter: int = 0,
        clutter_size: int = 8,
        data_dir: str | os.PathLike | None = None,
        download: bool = True,
        render_mode: str | None = None,
        images: np.ndarray | None = None,
        labels: np.ndarray | None = None,
        num_classes: int | None = None,
        max_shift: int = 0,
        horizontal_flip: bool = False,
        max_rotation: float = 0.0,
        reward_mode: str = "terminal",
        logit_scale: float = DEFAULT_LOGIT_SCALE,
        alphabets: str | Sequence[str] | None = None,
        unknown_alphabets: int | Sequence[str] = 0,
        unseen_alphabets: int | Sequence[str] = 0,
    ) -> None:
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(
                f"render_mode must be None or one of {self.metadata['render_modes']}, got {render_mode!r}"
            )
        self.config: GlimpseConfig = make_config(
            dataset=dataset,
            split=split,
            num_glimpses=num_glimpses,
            glimpse_size=glimpse_size,
            num_scales=num_scales,
            initial_location=initial_location,
            canvas_size=canvas_size,
            num_clutter=num_clutter,
            clutter_size=clutter_size,
            data_dir=data_dir,
            download=download,
            images=images,
            labels=labels,
            num_classes=num_classes,
            max_shift=max_shift,
            horizontal_flip=horizontal_flip,
            max_rotation=max_rotation,
            reward_mode=reward_mode,
            logit_scale=logit_scale,
            alphabets=alphabets,
            unknown_alphabets=unknown_alphabets,
            unseen_alphabets=unseen_alphabets,
        )
        self.render_mode = render_mode
        self.observation_space = self.config.observation_space()
        self.action_space = self.config.action_space()
        self._index = -1
        self._t = -1  # steps taken in this episode; -1 before the first reset
        self._canvas: torch.Tensor | None = None
        self._sat: np.ndarray | None = None
        self._locations: list[tuple[float, float]] = []

    # -- helpers shared by reset and step --------------------------------------------------------
    # The single env runs the retina and the canvas generator on numpy arrays: the same code as the vector env's
    # torch tensors (ram_env.array_api), without torch's per-call dispatch on a batch of one.
    def _gather(self, index: np.ndarray) -> np.ndarray:
        """Images ``index`` of the split, uint8 ``(len, C, H, W)`` (a copy)."""
        images = self.config.images[index]
        return images[:, None] if images.ndim == 3 else images.transpose(0, 3, 1, 2)

    def _episode_key(self) -> np.ndarray:
        """The key of the episode's random canvas or augmentation: drawn in train/trainval, fixed in val/test."""
        split = self.config.split
        key = int(self.np_random.integers(2**31)) if split in random_splits else split_key(split)
        return np.array([key], dtype=np.int64)

    def _build_canvas(self, index: int) -> np.ndarray:
        cfg = self.config
        idx = np.array([index], dtype=np.int64)
        if cfg.canvas is not None:
            return compose(cfg.canvas, self._gather, cfg.num_images, idx, self._episode_key())
        if cfg.augmented:
            return augment_images(
                self._gather(idx), self._episode_key(), idx, cfg.max_shift, cfg.horizontal_flip, cfg.max_rotation
            )
        return self._gather(idx)

    def _get_obs(self, location: np.ndarray) -> dict[str, np.ndarray]:
        g = glimpse(self._sat, location[None], self.config.glimpse_size, self.config.num_scales)
        self._locations.append(tuple(location.tolist()))
        return {"glimpse": g[0], "location": location}

    def _get_info(self) -> dict[str, Any]:
        return {"index": np.int64(self._index)}

    # -- the Gymnasium API ------------------------------------------------------------------------
    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        super().reset(seed=seed)
        n = self.config.num_images
        options = options or {}
        if "index" in options:
            index = options["index"]
            if isinstance(index, bool) or not isinstance(index, int | np.integer) or not 0 <= index < n:
                raise ValueError(
                    f"options['index'] must be an integer in [0, {n}) for split {self.config.split!r}, "
                    f"got {index!r}"
                )
            self._index = int(index)
        else:
            self._index = int(self.np_random.integers(n))
        canvas = self._build_canvas(self._index)
        self._sat = summed_area_table(canvas)
        # Kept for render() only, as in the vector env; a tensor, as it always was (no copy).
        self._canvas = torch.from_numpy(canvas) if self.render_mode is not None else None
        init = self.config.initial_location
        if init == "random" and self.config.split in random_splits:
            location = self.np_random.uniform(-1.0, 1.0, size=2).astype(np.float32)
        elif init == "random":  # val/test: a function of the image, like its canvas
            location = fixed_initial_location(self.config.split, np.array([self._index]))[0]
        elif init == "center":
            location = np.zeros(2, dtype=np.float32)
        else:
            location = np.asarray(init, dtype=np.float32)
        self._t = 0
        self._locations = []
        return self._get_obs(location), self._get_info()

    def step(
        self, action: np.ndarray
    ) -> tuple[dict[str, np.ndarray], SupportsFloat, bool, bool, dict[str, Any]]:
        if self._t < 0:
            raise RuntimeError("step() called before reset(): call reset() to start an episode")
        if self._t >= self.config.num_glimpses:
            raise RuntimeError(
                f"step() called after the episode ended (it lasts num_glimpses={self.config.num_glimpses} steps): "
                "call reset() to start a new one"
            )
        act = check_action(action, self.action_space.shape[0])
        self._t += 1
        location = np.minimum(np.maximum(act[:2], -1.0), 1.0)  # np.clip, without its Python-level checks
        obs = self._get_obs(location)
        info = self._get_info()
        cfg = self.config
        last = self._t == cfg.num_glimpses
        label = cfg.labels[self._index]
        if last:
            prediction = np.int64(np.argmax(act[2:]))
            # A 0-d bool array, not np.bool_: Gymnasium's SyncVectorEnv batches np.bool_ into an object array.
            info.update(label=np.int64(label), prediction=prediction, is_success=np.array(prediction == label))
            if cfg.open_set:
                info.update(
                    is_unknown=np.array(label == cfg.unknown_class), is_unseen=np.array(bool(cfg.unseen[self._index]))
                )
        if cfg.reward_mode == "cross_entropy":
            scores, labels = torch.from_numpy(act[None, 2:]), torch.tensor([label], dtype=torch.int64)
            reward = float(cross_entropy_reward(scores, labels, cfg.logit_scale)[0])
        else:
            reward = float(terminal_reward(info["prediction"], info["label"], cfg.unknown_class)) if last else 0.0
        return obs, reward, last, False, info

    def render(self) -> np.ndarray | None:
        if self.render_mode is None:
            gym.logger.warn("render() called without a render_mode; pass render_mode='rgb_array' to gym.make")
            return None
        if self._canvas is None:
            raise RuntimeError("render() called before reset()")
        # The final step's glimpse is not used by anyone; show the T glimpses the agent saw.
        seen = self._locations[: self.config.num_glimpses]
        return draw_glimpses(self._canvas[0].numpy(), seen, self.config.glimpse_size, self.config.num_scales)
