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
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass

import torch

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


def _hash32(x: torch.Tensor) -> torch.Tensor:
    """A 32-bit integer mixing function on int64 tensors holding values in [0, 2**32)."""
    x = ((x >> 16) ^ x) * _MULT & _MASK32
    x = ((x >> 16) ^ x) * _MULT & _MASK32
    return (x >> 16) ^ x


def split_key(split: str) -> int:
    """The fixed canvas key of a split (used for every split not in :data:`random_splits`)."""
    return zlib.crc32(f"ram_env/canvas/{split}".encode()) & 0x7FFFFFFF


def uniform_draws(
    key: torch.Tensor, index: torch.Tensor, num_draws: int, first_draw: int = 0
) -> torch.Tensor:
    """``num_draws`` 32-bit hashes per episode, int64 ``(B, num_draws)``, from ``key`` and ``index`` ``(B,)``.

    They are the draws numbered ``first_draw ... first_draw + num_draws - 1`` of each episode
    (:func:`compose` takes those from 0).
    """
    base = _hash32((_hash32(key.to(torch.int64) & _MASK32) ^ index.to(torch.int64)) & _MASK32)
    offset = first_draw * _GOLDEN & _MASK32  # a Python int: no int64 overflow for any first_draw
    draw = torch.arange(num_draws, device=index.device, dtype=torch.int64) * _GOLDEN + offset
    return _hash32((base[:, None] + draw[None, :]) & _MASK32)


def fixed_initial_location(split: str, index: torch.Tensor) -> torch.Tensor:
    """The initial location of images ``index`` ``(B,)`` of ``split``, float32 ``(B, 2)`` in ``[-1, 1)^2``.

    What ``initial_location="random"`` gives in every split not in :data:`random_splits`: a pure
    function of ``(split, image index)``, on the device of ``index``, bit for bit the same on every
    machine and device, whatever the seed and batch. Takes draws ``F`` (``x``) and ``F + 1`` (``y``),
    ``F = 0x6A09E667``, of the split's canvas key :func:`split_key`, numbers no canvas uses; the top
    24 bits of each, ``m``, map to ``m / 2**23 - 1`` (exact in float32): uniform on a grid of step
    ``2**-23``.
    """
    index = index.to(torch.int64)
    key = torch.full_like(index, split_key(split))
    u = uniform_draws(key, index, 2, first_draw=_LOCATION_DRAW)
    return (u >> 8).to(torch.float32) * 2.0**-23 - 1.0


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


def _paste_max(canvas: torch.Tensor, pieces: torch.Tensor, top: torch.Tensor, left: torch.Tensor) -> None:
    """Paste ``pieces`` ``(B, C, p, q)`` into ``canvas`` ``(B, C, S, S)`` at ``(top, left)`` by maximum, in place."""
    b, c, side, _ = canvas.shape
    p, q = pieces.shape[2], pieces.shape[3]
    device = canvas.device
    rows = top[:, None] + torch.arange(p, device=device)
    cols = left[:, None] + torch.arange(q, device=device)
    chan = torch.arange(c, device=device) * side * side
    idx = chan[None, :, None, None] + rows[:, None, :, None] * side + cols[:, None, None, :]
    idx = idx.reshape(b, -1)
    flat = canvas.view(b, -1)
    flat.scatter_(1, idx, torch.maximum(flat.gather(1, idx), pieces.reshape(b, -1)))


def compose(
    spec: CanvasSpec,
    gather: Callable[[torch.Tensor], torch.Tensor],
    num_images: int,
    index: torch.Tensor,
    key: torch.Tensor,
) -> torch.Tensor:
    """Canvases for images ``index`` ``(B,)`` of a split of ``num_images``, drawn with ``key`` ``(B,)``.

    ``gather(indices)`` returns those images of the split as a uint8 tensor ``(len, C, h, w)`` on the
    device of ``index`` (the vector env indexes its device tensor; the single env its host array).
    Returns uint8 ``(B, C, S, S)``.
    """
    s, q = spec.canvas_size, spec.clutter_size
    device = index.device
    b = index.shape[0]
    u = uniform_draws(key, index, spec.num_draws)
    digits = gather(index)
    _, c, h, w = digits.shape
    canvas = torch.zeros((b, c, s, s), dtype=torch.uint8, device=device)
    rows_q = torch.arange(q, device=device)
    for j in range(spec.num_clutter):
        d = u[:, 2 + 5 * j : 7 + 5 * j]
        source = gather((index + 1 + d[:, 0] % max(num_images - 1, 1)) % num_images)
        rows = (d[:, 1] % (h - q + 1))[:, None] + rows_q
        cols = (d[:, 2] % (w - q + 1))[:, None] + rows_q
        crop = source[torch.arange(b, device=device)[:, None, None], :, rows[:, :, None], cols[:, None, :]]
        _paste_max(canvas, crop.permute(0, 3, 1, 2), d[:, 3] % (s - q + 1), d[:, 4] % (s - q + 1))
    _paste_max(canvas, digits, u[:, 1] % (s - h + 1), u[:, 0] % (s - w + 1))
    return canvas


def augment_images(
    images: torch.Tensor,
    key: torch.Tensor,
    index: torch.Tensor,
    max_shift: int = 0,
    horizontal_flip: bool = False,
    max_rotation: float = 0.0,
) -> torch.Tensor:
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
    level. Integer images are rounded back to their dtype. Returns a new tensor of the images' dtype and device.
    """
    if not (max_shift or horizontal_flip or max_rotation):
        return images.clone()
    b, _, h, w = images.shape
    device = images.device
    u = uniform_draws(key, index, 4, first_draw=_AUGMENT_DRAW)
    if max_rotation:
        images = _rotate(images, ((u[:, 3] >> 8).to(torch.float32) / 2**23 - 1.0) * max_rotation)
        if not (max_shift or horizontal_flip):
            return images
    dx, dy = (u[:, :2] % (2 * max_shift + 1) - max_shift).unbind(1)
    rows = (max_shift - dy)[:, None] + torch.arange(h, device=device)
    cols = (max_shift - dx)[:, None] + torch.arange(w, device=device)
    if horizontal_flip:  # column c of a mirrored padded image is column (w + 2 s - 1 - c) of the padded image
        mirror = (u[:, 2] % 2 == 1)[:, None]
        cols = torch.where(mirror, w + 2 * max_shift - 1 - cols, cols)
    padded = torch.nn.functional.pad(images, (max_shift,) * 4)
    moved = padded[torch.arange(b, device=device)[:, None, None], :, rows[:, :, None], cols[:, None, :]]
    return moved.permute(0, 3, 1, 2).contiguous()


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
