"""Validated settings of a glimpse task, shared by the single env and the vector env.

Both envs take the same keyword arguments; :func:`make_config` checks them once, loads the data
through :mod:`ram_env.data` and builds the spaces, so the two can never disagree on the contract.
Absurd values are refused with the bound they break (the ``MAX_*`` constants here and in
:mod:`ram_env.retina`), and the actions both envs take are converted by one function (:func:`as_real_array`).

The data is held once per process: every env over one ``images=`` array shares one read-only copy of it
(:func:`shared_copy`), and every vector env over one array one tensor per device (:func:`shared_images`).
"""

from __future__ import annotations

import json
import math
import numbers
import os
import threading
import warnings
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from gymnasium import spaces

from ram_env import data
from ram_env.canvas import CanvasSpec, random_splits
from ram_env.retina import MAX_IMAGE_PIXELS, check_retina, glimpse_length
from ram_env.rewards import DEFAULT_LOGIT_SCALE, check_logit_scale, check_reward_mode

__all__ = [
    "DATA_SOURCE_KWARGS",
    "GlimpseConfig",
    "MAX_CHANNELS",
    "MAX_GLIMPSE_LENGTH",
    "MAX_NUM_CLASSES",
    "MAX_NUM_CLUTTER",
    "TRAINING_ONLY_KWARGS",
    "as_real_array",
    "is_real_dtype",
    "make_config",
    "shared_copy",
    "shared_images",
    "to_nchw",
]

MAX_NUM_CLASSES = 2**16
"""The most classes an env may have (the action holds one score per class)."""
MAX_CHANNELS = 4
"""The most channels an image may have (1 grey, 3 RGB, 4 RGBA): more in ``images=`` is taken for channels-first."""
MAX_GLIMPSE_LENGTH = 2**22
"""The longest glimpse (``num_scales * channels * glimpse_size**2`` values) an observation may hold (16 MB)."""
MAX_NUM_CLUTTER = 1024
"""The most clutter pieces a canvas may get (each costs five random draws and a paste per episode)."""

DATA_SOURCE_KWARGS = frozenset({"data_dir", "download"})
"""Env keyword arguments that say where this machine reads the data (and whether it may download it), not what the
task is: a policy file never carries them (they are this machine's choice, not a file's)."""

TRAINING_ONLY_KWARGS = frozenset({"max_shift", "horizontal_flip", "max_rotation"})
"""Env keyword arguments that change only ``train`` and ``trainval`` episodes (augmentation): ``val`` and ``test``
episodes are the same whatever their value, so a model trained with one value is evaluated on the same task."""


@dataclass(frozen=True)
class GlimpseConfig:
    """Everything an env needs to know about its task, validated."""

    images: np.ndarray  # uint8 (N, H, W) or (N, H, W, C), read-only
    labels: np.ndarray  # int64 (N,)
    num_classes: int
    split: str
    num_glimpses: int
    glimpse_size: int
    num_scales: int
    initial_location: str | tuple[float, float]
    canvas: CanvasSpec | None
    max_shift: int = 0
    horizontal_flip: bool = False
    max_rotation: float = 0.0
    reward_mode: str = "terminal"
    logit_scale: float = DEFAULT_LOGIT_SCALE
    # (dataset, split, data root[, Omniglot's alphabets as JSON]) of a built-in dataset; None: images=
    source: tuple[str, ...] | None = None
    unknown_class: int | None = None  # Omniglot's open set: the class of every unknown image (the last one)
    unseen: np.ndarray | None = None  # open set: bool (N,), the image's alphabet is never shown in train/trainval

    def __getstate__(self) -> dict[str, Any]:
        """A built-in dataset is pickled by name (``source``), not by value: unpickling loads it again (without
        downloading) from the data root it came from, the one shared copy of that process."""
        state = dict(self.__dict__)
        if self.source is not None:
            state["images"] = state["labels"] = state["unseen"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        if state.get("images") is None and state.get("source") is not None:
            state = {**state}
            state["images"], state["labels"], state["unseen"] = _load_source(state["source"], download=False)
        state.setdefault("unknown_class", None)
        state.setdefault("unseen", None)
        self.__dict__.update(state)  # a frozen dataclass sets its fields through __dict__

    @property
    def open_set(self) -> bool:
        """Whether the task has an unknown class (Omniglot's open set): its final infos then say which images were
        unknown, and its terminal reward charges -1 for naming an unknown image as a known class."""
        return self.unknown_class is not None

    @property
    def augmented(self) -> bool:
        """Whether this split's episodes are augmented (max_shift, horizontal_flip, max_rotation): train/trainval."""
        return bool(self.max_shift or self.horizontal_flip or self.max_rotation) and self.split in random_splits

    @property
    def num_images(self) -> int:
        return int(self.images.shape[0])

    @property
    def channels(self) -> int:
        return 1 if self.images.ndim == 3 else int(self.images.shape[3])

    @property
    def image_shape(self) -> tuple[int, int]:
        """``(height, width)`` of what the retina looks at: the canvas if there is one, else the image."""
        if self.canvas is not None:
            return self.canvas.canvas_size, self.canvas.canvas_size
        return int(self.images.shape[1]), int(self.images.shape[2])

    @property
    def glimpse_length(self) -> int:
        return glimpse_length(self.glimpse_size, self.num_scales, self.channels)

    def observation_space(self) -> spaces.Dict:
        return spaces.Dict(
            {
                "glimpse": spaces.Box(0.0, 1.0, (self.glimpse_length,), np.float32),
                "location": spaces.Box(-1.0, 1.0, (2,), np.float32),
            }
        )

    def action_space(self) -> spaces.Box:
        return spaces.Box(-1.0, 1.0, (2 + self.num_classes,), np.float32)


def to_nchw(images: np.ndarray) -> torch.Tensor:
    """uint8 images ``(N, H, W)`` or ``(N, H, W, C)`` as a contiguous torch tensor ``(N, C, H, W)``."""
    arr = images[:, None] if images.ndim == 3 else images.transpose(0, 3, 1, 2)
    # A copy when the view is read-only (the shared dataset arrays are): torch tensors are writable.
    arr = np.ascontiguousarray(arr) if arr.flags.writeable else np.array(arr, order="C")
    return torch.from_numpy(arr)


# id(source array) -> (the source, its read-only copy), both weakly: every env built over an array equal to the one a
# live copy was made of shares that copy; an entry dies with the copy (the last env over it).
_COPIES: dict[tuple[int, str], tuple[weakref.ref, weakref.ref]] = {}
# (id(images), device) -> (the images, their (N, C, H, W) tensor on device), weakly: one per array and device.
_TENSORS: dict[tuple[int, str], tuple[weakref.ref, weakref.ref]] = {}
_SHARED_LOCK = threading.Lock()


def _same_content(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two arrays of one shape hold the same values, compared a megabyte at a time (no full-size temporary)."""
    if a.shape != b.shape:
        return False
    if a.ndim == 0 or a.size == 0:
        return bool(np.array_equal(a, b))
    rows = max(1, (1 << 20) // max(1, a[0].size))  # whole rows along the first axis: views, never a full copy
    return all(np.array_equal(a[i : i + rows], b[i : i + rows]) for i in range(0, len(a), rows))


def _immutable(array: np.ndarray) -> bool:
    """Whether nobody can change ``array``'s values: read-only and viewing immutable bytes or a read-only memory map
    (the built-in datasets, the decoded-image cache)."""
    if array.flags.writeable:
        return False
    base: Any = array
    while isinstance(base, np.ndarray):
        if isinstance(base, np.memmap) and base.mode == "r":
            return True
        base = base.base
    return isinstance(base, bytes)


def shared_copy(source: np.ndarray, dtype: Any = None) -> np.ndarray:
    """A read-only copy of ``source`` (as ``dtype``, default its own), shared by every caller whose array holds the
    same values as the one the copy was made of while that copy lives: sixteen envs over one ``images=`` array hold
    one copy of it, not sixteen. A copy, so that changing ``source`` later changes no env built before; the values
    are compared on each call (a megabyte at a time), so an env built after such a change gets a copy of the new
    values. An array nobody can change (:func:`_immutable`) of the right dtype is used as it is."""
    dtype = np.dtype(source.dtype if dtype is None else dtype)
    if source.dtype == dtype and _immutable(source):
        return source
    key = (id(source), dtype.str)
    with _SHARED_LOCK:
        refs = _COPIES.get(key)
        copy = refs[1]() if refs is not None and refs[0]() is source else None
        if copy is not None and _same_content(copy, source):
            return copy
        copy = np.array(source, dtype=dtype, copy=True)
        copy.flags.writeable = False
        for stale in [k for k, (src, cpy) in _COPIES.items() if src() is None or cpy() is None]:
            del _COPIES[stale]
        _COPIES[key] = (weakref.ref(source), weakref.ref(copy))
        return copy


def shared_images(images: np.ndarray, device: torch.device) -> torch.Tensor:
    """``images`` (read-only, as :class:`GlimpseConfig` holds them) as one uint8 ``(N, C, H, W)`` contiguous tensor on
    ``device``, shared by every vector env over that array: on the CPU, greyscale images are a view of the array (no
    copy at all) and colour ones one channels-first copy; on an accelerator, one copy there. Never write into it."""
    key = (id(images), str(device))
    with _SHARED_LOCK:
        refs = _TENSORS.get(key)
        tensor = refs[1]() if refs is not None and refs[0]() is images else None
        if tensor is not None:
            return tensor
        arr = images[:, None] if images.ndim == 3 else np.ascontiguousarray(images.transpose(0, 3, 1, 2))
        with warnings.catch_warnings():  # torch warns that the array is read-only: the envs only read it
            warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
            tensor = torch.from_numpy(arr).to(device)
        for stale in [k for k, (src, tns) in _TENSORS.items() if src() is None or tns() is None]:
            del _TENSORS[stale]
        _TENSORS[key] = (weakref.ref(images), weakref.ref(tensor))
        return tensor


_TORCH_INTEGERS = tuple(
    getattr(torch, name)
    for name in ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64")
    if hasattr(torch, name)  # uint16 ... uint64 since torch 2.3
)


def is_real_dtype(dtype: torch.dtype) -> bool:
    """Whether tensors of ``dtype`` hold real numbers an action may be made of: any float (bfloat16 included) or
    integer dtype; not bool, complex or quantized ones."""
    return dtype.is_floating_point or dtype in _TORCH_INTEGERS


def as_real_array(value: Any, name: str, shape: str) -> np.ndarray:
    """``value`` (an array, a sequence or a tensor) of any float or integer dtype as float32, which is what both envs
    make of every action; else ``TypeError`` (``ValueError`` for a ragged sequence). ``shape`` says in the message
    what is expected. Values beyond float32's range become infinities (for the caller's finiteness check to refuse),
    without numpy's overflow warning. Tensors come to the host as float32 (numpy has no bfloat16); the actions both
    envs accept are the same (see :func:`is_real_dtype`).
    """
    if type(value) is np.ndarray and value.dtype == np.float32:
        return value.copy()  # the common case (every step of a numpy agent): what the general path makes of it
    expected = f"{name} must be real numbers (a real-valued float or integer dtype) of shape {shape}"
    if isinstance(value, torch.Tensor):
        if not is_real_dtype(value.dtype):
            raise TypeError(f"{expected}, got a tensor of dtype {value.dtype}")
        value = value.detach().to("cpu", torch.float32).numpy()
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError) as err:  # ragged sequences, objects numpy cannot take
        raise ValueError(f"{expected}, got a {type(value).__name__} that is not one array: {err}") from err
    if arr.dtype == np.bool_ or not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        raise TypeError(f"{expected}, got dtype {arr.dtype}")
    with np.errstate(over="ignore"):
        return arr.astype(np.float32)


def _positive_int(name: str, value: object, minimum: int = 1, maximum: int | None = None) -> int:
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(
            f"{name} must be an integer >= {minimum}{'' if maximum is None else f' and <= {maximum}'}, got {value!r}"
        )
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be an integer >= {minimum} and <= {maximum}, got {value!r}")
    return int(value)


def _initial_location(value: object) -> str | tuple[float, float]:
    if isinstance(value, str):
        if value not in ("random", "center"):
            raise ValueError(
                f"initial_location must be 'random', 'center' or [x, y] in [-1, 1], got {value!r}"
            )
        return value
    if isinstance(value, Sequence | np.ndarray) and len(value) == 2:
        try:
            x, y = (float(v) for v in value)
        except (TypeError, ValueError):
            x = y = math.nan
        if all(math.isfinite(v) and -1.0 <= v <= 1.0 for v in (x, y)):
            return (x, y)
    raise ValueError(f"initial_location must be 'random', 'center' or [x, y] in [-1, 1], got {value!r}")


def _user_data(images: object, labels: object, num_classes: int | None) -> tuple[np.ndarray, np.ndarray, int]:
    images = np.asarray(images)
    labels = np.asarray(labels)
    if images.dtype != np.uint8 or images.ndim not in (3, 4) or images.shape[0] == 0:
        raise ValueError(
            f"images must be a non-empty uint8 array (N, H, W) or (N, H, W, C), got {images.dtype} {images.shape}"
        )
    if images.ndim == 4 and not 1 <= images.shape[3] <= MAX_CHANNELS:
        hint = (
            "; it looks channels-first (N, C, H, W): pass images.transpose(0, 2, 3, 1)"
            if 1 <= images.shape[1] <= MAX_CHANNELS
            else ""
        )
        raise ValueError(
            f"images must be channels-last (N, H, W, C) with 1 to {MAX_CHANNELS} channels, got shape "
            f"{images.shape}{hint}"
        )
    if min(images.shape[1:3]) < 1 or images.shape[1] * images.shape[2] > MAX_IMAGE_PIXELS:
        raise ValueError(
            f"images must have between 1 and {MAX_IMAGE_PIXELS} pixels (H * W, what the retina's int32 "
            f"summed-area table sums exactly), got {images.shape[1]} x {images.shape[2]}"
        )
    if labels.shape != (images.shape[0],) or not np.issubdtype(labels.dtype, np.integer) or labels.min() < 0:
        raise ValueError(
            f"labels must be non-negative integers of shape ({images.shape[0]},), got {labels.dtype} {labels.shape}"
        )
    if labels.max() >= MAX_NUM_CLASSES:
        raise ValueError(f"labels must lie in [0, {MAX_NUM_CLASSES}), got a label {int(labels.max())}")
    n_classes = (
        int(labels.max()) + 1 if num_classes is None else _positive_int("num_classes", num_classes, 2, MAX_NUM_CLASSES)
    )
    if labels.max() >= n_classes:
        raise ValueError(f"labels must lie in [0, {n_classes}), got a label {int(labels.max())}")
    return shared_copy(images), shared_copy(labels, np.int64), max(n_classes, 2)


def make_config(
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
) -> GlimpseConfig:
    """Check the env keyword arguments and load the data. Raises ``ValueError`` on any invalid value.

    ``num_classes`` applies to user data (``images``/``labels``) only; it defaults to ``max(labels) + 1``.
    ``alphabets`` (default ``"small"``), ``unknown_alphabets`` and ``unseen_alphabets`` apply to
    ``dataset="omniglot"`` only (:func:`ram_env.data.load_omniglot`).
    """
    reward_mode = check_reward_mode(reward_mode)
    logit_scale = check_logit_scale(logit_scale)
    if not isinstance(split, str) or split not in data.SPLITS:
        raise ValueError(f"split must be one of {data.SPLITS}, got {split!r}")
    if not isinstance(dataset, str):
        raise ValueError(f"dataset must be one of {data.DATASETS}, got {dataset!r}")
    if not isinstance(download, bool | np.bool_):
        raise ValueError(f"download must be True or False, got {download!r}")
    if data_dir is not None and not isinstance(data_dir, str | os.PathLike):
        raise ValueError(f"data_dir must be a folder path (str or os.PathLike) or None, got {data_dir!r}")
    omniglot_kwargs = {"alphabets": alphabets, "unknown_alphabets": unknown_alphabets,
                       "unseen_alphabets": unseen_alphabets}
    if dataset != "omniglot" and omniglot_kwargs != {"alphabets": None, "unknown_alphabets": 0,
                                                     "unseen_alphabets": 0}:
        raise ValueError(f"alphabets, unknown_alphabets and unseen_alphabets apply to dataset='omniglot' only; got "
                         f"{omniglot_kwargs} with dataset={dataset!r}")
    unknown_class = unseen = None
    if images is None and labels is None and dataset == "omniglot":
        if alphabets is None:
            omniglot_kwargs["alphabets"] = "small"
        source = ("omniglot", split, str(data.resolve_data_dir(data_dir)), json.dumps(omniglot_kwargs))
        task = data.load_omniglot(split, **omniglot_kwargs, data_dir=data_dir, download=bool(download))
        images, labels, unseen, unknown_class = task.images, task.labels, task.unseen, task.unknown_class
        n_classes = len(task.class_names)
    elif images is None and labels is None:
        images, labels = data.load_split(dataset, split, data_dir=data_dir, download=bool(download))
        n_classes = 10  # every other built-in dataset has ten classes
        source = (dataset, split, str(data.resolve_data_dir(data_dir)))
    elif images is None or labels is None:
        raise ValueError("images and labels must be given together (or neither, to load `dataset`)")
    else:
        images, labels, n_classes = _user_data(images, labels, num_classes)
        source = None
    num_glimpses = _positive_int("num_glimpses", num_glimpses)
    glimpse_size = _positive_int("glimpse_size", glimpse_size)
    num_scales = _positive_int("num_scales", num_scales)
    check_retina(glimpse_size, num_scales)
    channels = 1 if images.ndim == 3 else int(images.shape[3])
    if glimpse_length(glimpse_size, num_scales, channels) > MAX_GLIMPSE_LENGTH:
        raise ValueError(
            f"a glimpse must hold at most {MAX_GLIMPSE_LENGTH} values (num_scales * channels * glimpse_size**2), "
            f"got {num_scales} * {channels} * {glimpse_size}**2"
        )
    num_clutter = _positive_int("num_clutter", num_clutter, 0, MAX_NUM_CLUTTER)
    h, w = images.shape[1], images.shape[2]
    canvas = None
    if canvas_size is not None:
        canvas_size = _positive_int("canvas_size", canvas_size)
        if canvas_size < max(h, w):
            raise ValueError(f"canvas_size must be at least the image size {max(h, w)}, got {canvas_size}")
        if canvas_size * canvas_size > MAX_IMAGE_PIXELS:
            raise ValueError(
                f"canvas_size must be at most {math.isqrt(MAX_IMAGE_PIXELS)} (a canvas of at most {MAX_IMAGE_PIXELS} "
                f"pixels, what the retina's int32 summed-area table sums exactly), got {canvas_size}"
            )
        clutter_size = _positive_int("clutter_size", clutter_size)
        if num_clutter and clutter_size > min(h, w):
            raise ValueError(f"clutter_size must be at most the image size {min(h, w)}, got {clutter_size}")
        canvas = CanvasSpec(canvas_size, num_clutter, clutter_size)
    elif num_clutter:
        raise ValueError("num_clutter > 0 needs a canvas_size (clutter is pasted on a canvas)")
    max_shift = _positive_int("max_shift", max_shift, 0)
    if max_shift and canvas is not None:
        raise ValueError(
            f"max_shift applies to images shown without a canvas; got max_shift={max_shift} with canvas_size="
            f"{canvas.canvas_size}, where every train episode already places the image at a random offset"
        )
    if max_shift >= min(h, w):
        raise ValueError(f"max_shift must be below the image size {min(h, w)} (0: no shift), got {max_shift}")
    if not isinstance(horizontal_flip, (bool, np.bool_)):
        raise ValueError(f"horizontal_flip must be True or False, got {horizontal_flip!r}")
    if horizontal_flip and canvas is not None:
        raise ValueError(
            f"horizontal_flip applies to images shown without a canvas; got it with canvas_size={canvas.canvas_size}"
        )
    if (
        isinstance(max_rotation, (bool, np.bool_))
        or not isinstance(max_rotation, numbers.Real)
        or not 0 <= max_rotation <= 180
    ):
        raise ValueError(f"max_rotation must be a number of degrees in [0, 180] (0: no rotation), got {max_rotation!r}")
    if max_rotation and canvas is not None:
        raise ValueError(
            f"max_rotation applies to images shown without a canvas; got max_rotation={max_rotation} with canvas_size="
            f"{canvas.canvas_size}"
        )
    return GlimpseConfig(
        images=images,
        labels=labels,
        num_classes=n_classes,
        split=split,
        num_glimpses=num_glimpses,
        glimpse_size=glimpse_size,
        num_scales=num_scales,
        initial_location=_initial_location(initial_location),
        canvas=canvas,
        max_shift=max_shift,
        horizontal_flip=bool(horizontal_flip),
        max_rotation=float(max_rotation),
        reward_mode=reward_mode,
        logit_scale=logit_scale,
        source=source,
        unknown_class=unknown_class,
        unseen=unseen,
    )


def _load_source(source: tuple[str, ...], download: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Images, labels and (open set) the unseen mask of a built-in dataset named by a config's ``source``."""
    dataset, split, root = source[:3]
    if dataset == "omniglot":
        task = data.load_omniglot(split, **json.loads(source[3]), data_dir=root, download=download)
        return task.images, task.labels, task.unseen
    images, labels = data.load_split(dataset, split, data_dir=root, download=download)
    return images, labels, None
