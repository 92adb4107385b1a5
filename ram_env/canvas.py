"""The canvas generator for the translated and cluttered variants, the one implementation every env uses.

A canvas is a ``S x S`` black image holding the ``h x w`` source image at an integer offset drawn
uniformly from ``[0, S - w] x [0, S - h]``, and, for the cluttered variants, ``m`` clutter pieces:
each a random ``q x q`` crop of another random image of the same split, pasted at a random position
(uniform in ``[0, S - q]^2``) before the image. Pixels combine by maximum, so a piece never darkens
the digit or another piece and the order of pasting does not change the result.

Every random choice is a counter-based hash of ``(key, image index, draw number)``: integer
arithmetic that gives the same numbers on every machine and device, in a batch or one at a time.
The single env draws ``key`` from its ``np_random`` and the vector env from its torch generator
for every ``train`` episode, so each episode gets a new canvas; in ``val`` and ``test`` the key is
a constant of the split, so image ``i`` always yields the same canvas, whatever the seed and machine.

:func:`fixed_initial_location` uses the same hash for the first glimpse location of
``initial_location="random"`` in those fixed splits, so it too depends only on ``(split, i)``: not
on the seed, the batch size or the machine. Both envs call it; in ``train`` and ``trainval`` they
draw the initial location from their own generator instead, every episode.

:func:`augment_images` is the training augmentation (``max_rotation``, ``horizontal_flip``, ``max_shift``) of
the canvas-free envs: each episode rotates its image, mirrors it and moves it by a whole number of pixels,
by draws of the same hash; only ``train`` and ``trainval`` episodes are augmented.

Written once against :mod:`ram_env.array_api`: every function takes numpy arrays (the single env) or torch
tensors (the vector env, on any device) and returns the same kind; integer arithmetic, so both give the same bits.
The rotation alone is torch's ``grid_sample``, which numpy arrays go through on the host.
"""

from __future__ import annotations

import functools
import zlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from ram_env.array_api import namespace

__all__ = [
    "CanvasSpec",
    "split_key",
    "random_splits",
    "compose",
    "uniform_draws",
    "fixed_initial_location",
    "augment_images",
]

_MASK32 = 0xFFFFFFFF
_MULT = 0x45D9F3B  # < 2**27, so every product of a 32-bit value stays inside int64
_GOLDEN = 0x9E3779B9

# Splits whose canvases are drawn anew every episode; every other split gets fixed canvases.
random_splits = frozenset({"train", "trainval"})

# First draw number of the initial location (the first 32 bits of the fraction of sqrt(2)). A canvas
# uses draws 0 ... CanvasSpec.num_draws - 1 of the same (key, index), and draw k hashes
# base + k * _GOLDEN (mod 2**32) with _GOLDEN odd, so distinct draw numbers below 2**32 never hash
# the same value: the location's two draws meet a canvas draw only if a canvas had over 1.78e9 draws
# (over 356 million clutter pieces). Not 2**31: those inputs differ from draws 0 and 1 by the top
# bit alone, which this hash mixes poorly (a measurable correlation, ~0.005, with the digit offset).
_LOCATION_DRAW = 0x6A09E667
# First draw number of the augmentation (the first 32 bits of the fraction of sqrt(3)): the shift of ``max_shift``
# takes draws F and F + 1, the mirror of ``horizontal_flip`` draw F + 2, the angle of ``max_rotation`` draw F + 3.
# Only canvas-free envs augment, so these draws never meet a canvas's; the initial location's draws are 0x515DC81E away.
_AUGMENT_DRAW = 0xBB67AE85

Array = np.ndarray | torch.Tensor


@functools.lru_cache(maxsize=16)
def _hash_constants(xp: type, device: object) -> tuple[Array, Array, Array]:
    """The hash's shift, multiplier and mask as 0-d int64 arrays of ``xp`` on ``device``: an array operand costs
    numpy less than a Python int, which it converts on every operation."""
    return tuple(xp.asarray(value, xp.int64, device) for value in (16, _MULT, _MASK32))


def _hash32(x: Array, shift: Array, mult: Array, mask: Array) -> Array:
    """A 32-bit integer mixing function on int64 arrays holding values in [0, 2**32) (constants: _hash_constants)."""
    x = ((x >> shift) ^ x) * mult & mask
    x = ((x >> shift) ^ x) * mult & mask
    return (x >> shift) ^ x


@functools.lru_cache(maxsize=64)
def _draw_numbers(num_draws: int, first_draw: int, xp: type, device: object) -> Array:
    """``first_draw + d`` times the golden-ratio step, mod 2**32, for ``d < num_draws``: int64 ``(1, num_draws)``."""
    offset = first_draw * _GOLDEN & _MASK32  # a Python int: no int64 overflow for any first_draw
    return (xp.arange(num_draws, xp.int64, device) * _GOLDEN + offset).reshape(1, num_draws)


def split_key(split: str) -> int:
    """The fixed canvas key of a split (used for every split not in :data:`random_splits`)."""
    return zlib.crc32(f"ram_env/canvas/{split}".encode()) & 0x7FFFFFFF


def uniform_draws(key: Array, index: Array, num_draws: int, first_draw: int = 0) -> Array:
    """``num_draws`` 32-bit hashes per episode, int64 ``(B, num_draws)``, from ``key`` and ``index`` ``(B,)``.

    They are the draws numbered ``first_draw ... first_draw + num_draws - 1`` of each episode
    (:func:`compose` takes those from 0).
    """
    xp = namespace(index)
    device = xp.device(index)
    constants = _hash_constants(xp, device)
    mask = constants[2]
    base = _hash32(xp.astype(key, xp.int64) & mask, *constants) ^ xp.astype(index, xp.int64)
    base = _hash32(base & mask, *constants)
    return _hash32((base[:, None] + _draw_numbers(num_draws, first_draw, xp, device)) & mask, *constants)


def fixed_initial_location(split: str, index: Array) -> Array:
    """The initial location of images ``index`` ``(B,)`` of ``split``, float32 ``(B, 2)`` in ``[-1, 1)^2``.

    What ``initial_location="random"`` gives in every split not in :data:`random_splits`: a pure
    function of ``(split, image index)``, a numpy array or a tensor on the device of ``index`` as ``index`` is,
    bit for bit the same on every machine and device, whatever the seed and batch. Takes draws ``F`` (``x``)
    and ``F + 1`` (``y``), ``F = 0x6A09E667``, of the split's canvas key :func:`split_key`, numbers no canvas
    uses; the top 24 bits of each, ``m``, map to ``m / 2**23 - 1`` (exact in float32): uniform on a grid of
    step ``2**-23``.
    """
    xp = namespace(index)
    key = xp.full(tuple(index.shape), split_key(split), xp.int64, xp.device(index))
    u = uniform_draws(key, index, 2, first_draw=_LOCATION_DRAW)
    return xp.astype(u >> 8, xp.float32) * 2.0**-23 - 1.0


@dataclass(frozen=True)
class CanvasSpec:
    """Geometry of a canvas variant: canvas side, clutter count and clutter piece side."""

    canvas_size: int
    num_clutter: int = 0
    clutter_size: int = 8

    @property
    def num_draws(self) -> int:
        """Hash draws per episode: 2 for the offset, 5 per clutter piece (source, crop, position)."""
        return 2 + 5 * self.num_clutter


@functools.lru_cache(maxsize=64)
def _arange(n: int, xp: type, device: object) -> Array:
    """``0 ... n - 1`` as int64 on ``device`` (cached: callers never write to it)."""
    return xp.arange(n, xp.int64, device)


@functools.lru_cache(maxsize=64)
def _plane_starts(batch: int, channels: int, plane: int, xp: type, device: object) -> Array:
    """Where each image's channel starts in a flattened ``(batch, channels, ...)`` array of ``plane`` values per
    channel: int64 ``(batch, 1, channels, 1, 1)``."""
    return (xp.arange(batch * channels, xp.int64, device) * plane).reshape(batch, 1, channels, 1, 1)


@functools.lru_cache(maxsize=64)
def _moduli(spec: CanvasSpec, num_images: int, height: int, width: int, xp: type, device: object) -> Array:
    """The range of every draw of :func:`compose`, int64 ``(1, num_draws)``: the image's column and row, then for
    each clutter piece its source image (counted after the image itself), its crop's row and column, its row and
    column."""
    s, q = spec.canvas_size, spec.clutter_size
    piece = [max(num_images - 1, 1), height - q + 1, width - q + 1, s - q + 1, s - q + 1]
    return xp.asarray([[s - width + 1, s - height + 1] + piece * spec.num_clutter], xp.int64, device)


def _window(images: Array, rows: Array, cols: Array) -> Array:
    """``images[n, c, rows[n, i], cols[n, j]]``: one window ``(C, p, q)`` of each image ``(N, C, H, W)``, at rows
    ``(N, p)`` and columns ``(N, q)``; returns ``(N, C, p, q)``."""
    xp = namespace(images)
    n, c, h, w = images.shape
    index = rows[:, None, :, None] * w + cols[:, None, None, :]
    return xp.take(images, index + _plane_starts(n, c, h * w, xp, xp.device(images)).reshape(n, c, 1, 1))


def _paste_max(canvas: Array, pieces: Array, top: Array, left: Array) -> None:
    """Paste ``pieces`` ``(B, m, C, p, q)`` into ``canvas`` ``(B, C, S, S)`` (contiguous) by maximum, in place: piece
    ``j`` of canvas ``i`` with its top-left pixel at ``(top[i, j], left[i, j])``. Pieces may overlap: the maximum
    does not depend on the order."""
    xp = namespace(canvas)
    b, c, side, _ = canvas.shape
    p, q = pieces.shape[3], pieces.shape[4]
    device = xp.device(canvas)
    rows = top[:, :, None] + _arange(p, xp, device)
    cols = left[:, :, None] + _arange(q, xp, device)
    index = rows[:, :, None, :, None] * side + cols[:, :, None, None, :]  # (B, m, C, p, q) in `canvas.reshape(-1)`
    index = index + _plane_starts(b, c, side * side, xp, device)
    xp.maximum_at(canvas.reshape(-1), index.reshape(-1), pieces.reshape(-1))  # reshape(-1): a view of `canvas`


def compose(
    spec: CanvasSpec,
    gather: Callable[[Array], Array],
    num_images: int,
    index: Array,
    key: Array,
) -> Array:
    """Canvases for images ``index`` ``(B,)`` of a split of ``num_images``, drawn with ``key`` ``(B,)``.

    ``gather(indices)`` returns those images of the split as uint8 ``(len, C, h, w)``, of the kind and on the
    device of ``index`` (the vector env indexes its device tensor; the single env its host array).
    Returns uint8 ``(B, C, S, S)``.
    """
    xp = namespace(index)
    s, q, m = spec.canvas_size, spec.clutter_size, spec.num_clutter
    device = xp.device(index)
    b = index.shape[0]
    digits = gather(index)
    _, c, h, w = digits.shape
    # Draws 0 and 1 place the image (column, row); piece j takes draws 2 + 5 j ... 6 + 5 j (see _moduli).
    draws = uniform_draws(key, index, spec.num_draws) % _moduli(spec, num_images, h, w, xp, device)
    canvas = xp.zeros((b, c, s, s), xp.uint8, device)
    if m:
        d = draws[:, 2:].reshape(b, m, 5)
        sources = gather(((index[:, None] + 1 + d[:, :, 0]) % num_images).reshape(-1))
        span = _arange(q, xp, device)
        crops = _window(sources, d[:, :, 1].reshape(-1, 1) + span, d[:, :, 2].reshape(-1, 1) + span)
        _paste_max(canvas, crops.reshape(b, m, c, q, q), d[:, :, 3], d[:, :, 4])
    _paste_max(canvas, digits[:, None], draws[:, 1:2], draws[:, 0:1])
    return canvas


def augment_images(
    images: Array,
    key: Array,
    index: Array,
    max_shift: int = 0,
    horizontal_flip: bool = False,
    max_rotation: float = 0.0,
) -> Array:
    """Images ``(B, C, H, W)`` rotated about their centre by an angle uniform in ``[-max_rotation, max_rotation]``
    degrees (bilinear, zero-filled), then mirrored left-right with probability 1/2 (``horizontal_flip``), then moved
    by whole pixels ``(dx, dy)`` uniform in ``[-max_shift, max_shift]^2``, zero-filled.

    ``dx`` moves the image right and ``dy`` down: pixel ``(r, c)`` of the result is pixel ``(r - dy, c - dx)``
    of the (rotated, mirrored) image, or 0 where that lies outside it. ``(dx, dy)`` are draws ``F`` and ``F + 1``,
    ``F = 0xBB67AE85``, of ``(key, index)`` ``(B,)`` (:func:`uniform_draws`), an image is mirrored where draw
    ``F + 2`` is odd, and its angle is ``(2 m / 2**24 - 1) * max_rotation`` with ``m`` the top 24 bits of draw
    ``F + 3``. So the same key and index give the same result in a batch or one at a time, and turning the mirror
    or the rotation on leaves every other draw as it was. Shifts and mirrors are the same bit for bit on every
    machine and device; a rotation interpolates in float32, so two devices may round a pixel apart by one grey
    level. Integer images are rounded back to their dtype. Returns a new array of the images' kind, dtype and
    device.
    """
    xp = namespace(images)
    if not (max_shift or horizontal_flip or max_rotation):
        return xp.copy(images)
    b, c, h, w = images.shape
    device = xp.device(images)
    u = uniform_draws(key, index, 4, first_draw=_AUGMENT_DRAW)
    if max_rotation:
        degrees = (xp.astype(u[:, 3] >> 8, xp.float32) / 2**23 - 1.0) * max_rotation
        images = xp.from_torch(_rotate(xp.to_torch(images), xp.to_torch(degrees)))
        if not (max_shift or horizontal_flip):
            return images
    shift = u[:, :2] % (2 * max_shift + 1) - max_shift
    rows = (max_shift - shift[:, 1])[:, None] + _arange(h, xp, device)
    cols = (max_shift - shift[:, 0])[:, None] + _arange(w, xp, device)
    if horizontal_flip:  # column c of a mirrored padded image is column (w + 2 s - 1 - c) of the padded image
        mirror = (u[:, 2] % 2 == 1)[:, None]
        cols = xp.where(mirror, w + 2 * max_shift - 1 - cols, cols)
    padded = xp.zeros((b, c, h + 2 * max_shift, w + 2 * max_shift), images.dtype, device)
    padded[:, :, max_shift : max_shift + h, max_shift : max_shift + w] = images
    return _window(padded, rows, cols)


def _rotate(images: torch.Tensor, degrees: torch.Tensor) -> torch.Tensor:
    """Images ``(B, C, H, W)`` rotated clockwise (as displayed, rows down) about their centre by ``degrees`` ``(B,)``.

    Bilinear, zero outside the image; the sampling grid is built in pixel units, so non-square images rotate
    without shear. Integer images are rounded and clamped back to their dtype's range.
    """
    _, _, h, w = images.shape
    a = torch.deg2rad(degrees)
    cos, sin = torch.cos(a), torch.sin(a)
    # output pixel (x, y) from the centre samples the source at (cos x + sin y, -sin x + cos y), in units of the
    # half-width (x) and half-height (y) that affine_grid normalises by
    zero = torch.zeros_like(a)
    theta = torch.stack([torch.stack([cos, sin * h / w, zero], 1), torch.stack([-sin * w / h, cos, zero], 1)], 1)
    theta = theta.to(torch.float32)
    grid = torch.nn.functional.affine_grid(theta, list(images.shape), align_corners=False)
    out = torch.nn.functional.grid_sample(
        images.to(torch.float32), grid, mode="bilinear", padding_mode="zeros", align_corners=False
    )
    if images.dtype.is_floating_point:
        return out.to(images.dtype)
    info = torch.iinfo(images.dtype)
    return out.round_().clamp_(info.min, info.max).to(images.dtype)
