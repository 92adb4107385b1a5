"""The retina: multi-scale glimpses of a batch of images, the one implementation every env uses.

Contract (kept bit for bit by the single env and the vector env, which both call :func:`glimpse`):

- A location ``(x, y)`` lies in ``[-1, 1]^2``; ``x`` runs left to right over columns, ``y`` top to
  bottom over rows, ``(0, 0)`` is the centre. For an image ``H x W`` the centre pixel is
  ``cx = floor((x + 1) / 2 * W)``, ``cy = floor((y + 1) / 2 * H)`` (computed in float64).
- Scale ``s = 0 ... k-1`` is the square patch of side ``P = g * 2**s`` whose top-left pixel is
  ``(cx - P // 2, cy - P // 2)``. Pixels outside the image count as 0. The patch is reduced to
  ``g x g`` by the exact mean of its ``2**s x 2**s`` blocks.
- Values are ``pixel / 255`` as float32 in ``[0, 1]``, flattened in (scale, channel, row, col) order:
  length ``k * C * g * g``.

Block means come from a summed-area table (integral image) of the uint8 image, built once per
image (at reset) in int32: every block sum is exact, and a glimpse costs four look-ups per output
value whatever the scale, so the step cost does not grow with the image or the number of scales.

Written once against :mod:`ram_env.array_api`: the single env calls it with numpy arrays (no torch dispatch
in its step), the vector env with torch tensors on CPU or GPU. Both do the same exact integer sums and the
same float32 divisions, so they give the same bits.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch

from ram_env.array_api import NumpyNamespace, namespace

__all__ = [
    "MAX_IMAGE_PIXELS",
    "MAX_PATCH_SIDE",
    "centre_pixels",
    "check_retina",
    "glimpse",
    "glimpse_length",
    "summed_area_table",
]

Array = np.ndarray | torch.Tensor

MAX_PATCH_SIDE = 2**16
"""The largest patch side ``glimpse_size * 2**(num_scales - 1)`` the retina takes. Its block divisors
``4**s * 255`` are exact in int64 and float32 far beyond it (they overflow int64 from ``s = 28`` on, which gave
negative, infinite or NaN glimpses), and it is over 20 times the side of the largest square image
:data:`MAX_IMAGE_PIXELS` allows, so every useful retina fits."""

MAX_IMAGE_PIXELS = 2**31 // 255
"""The most pixels (``H * W``) an image or canvas may have: its int32 summed-area table is exact up to there."""


def check_retina(glimpse_size: int, num_scales: int) -> None:
    """Raise ``ValueError`` unless the largest patch, ``glimpse_size * 2**(num_scales - 1)``, is at most
    :data:`MAX_PATCH_SIDE` pixels a side (both arguments positive integers)."""
    if num_scales > MAX_PATCH_SIDE.bit_length() or glimpse_size << (num_scales - 1) > MAX_PATCH_SIDE:
        raise ValueError(
            f"glimpse_size * 2**(num_scales - 1), the side of the largest patch, must be at most {MAX_PATCH_SIDE} "
            f"pixels (the retina's sums are exact up to there); got glimpse_size={glimpse_size}, "
            f"num_scales={num_scales}"
        )


def glimpse_length(glimpse_size: int, num_scales: int, channels: int) -> int:
    """Length of a flattened glimpse: ``num_scales * channels * glimpse_size**2``."""
    return num_scales * channels * glimpse_size * glimpse_size


def summed_area_table(images: Array) -> Array:
    """Integral image of a uint8 batch ``(B, C, H, W)``: int32 ``(B, C, H + 1, W + 1)``, a numpy array or a tensor
    on the device of ``images`` as ``images`` is.

    ``sat[..., i, j]`` is the sum of ``images[..., :i, :j]`` (so row and column 0 are zero). Exact
    for any image up to 2**31 / 255 pixels (about 8.4 million).
    """
    xp = namespace(images)
    if images.dtype != xp.uint8 or images.ndim != 4:
        raise ValueError(f"expected a uint8 array (B, C, H, W), got {images.dtype} {tuple(images.shape)}")
    b, c, h, w = images.shape
    sat = xp.zeros((b, c, h + 1, w + 1), xp.int32, xp.device(images))
    sat[:, :, 1:, 1:] = images
    return xp.cumsum_(xp.cumsum_(sat, 2), 3)  # integer sums: every order of additions gives the same table


def _centres(locations: Array, one: Array, half_size: Array) -> Array:
    """Centre pixels ``[cx, cy]``, int64 ``(B, 2)``, of locations ``(B, 2)`` on an image of ``half_size`` = float64
    ``[W / 2, H / 2]`` (``one``: float64 1): the one formula of the contract, in float64.

    ``(x + 1) * (W / 2)`` is ``(x + 1) / 2 * W`` bit for bit: halving is exact in binary floating point, so both
    round the same real number once.
    """
    xp = namespace(locations)
    return xp.astype(xp.floor((xp.astype(locations, xp.float64) + one) * half_size), xp.int64)


def centre_pixels(locations: Array, height: int, width: int) -> tuple[Array, Array]:
    """Centre pixel ``(cx, cy)`` of each location ``(B, 2)``, as int64 arrays of shape ``(B,)``."""
    xp = namespace(locations)
    device = xp.device(locations)
    one = xp.asarray(1.0, xp.float64, device)
    centre = _centres(locations, one, xp.asarray([width / 2, height / 2], xp.float64, device))
    return centre[:, 0], centre[:, 1]


@functools.lru_cache(maxsize=64)
def _geometry(
    glimpse_size: int, num_scales: int, batch: int, channels: int, height: int, width: int, xp: type, device: object
) -> dict[str, Array | None]:
    """Constants of a retina on tables ``(batch, channels, height + 1, width + 1)``, arrays of ``xp`` on ``device``.

    ``offsets`` ``(k, g + 1)``: block edges of every scale from the patch's centre pixel; ``low``, ``high``
    ``(1, 2, 1, 1)``: the edges' range ``[0, W] x [0, H]``; ``stride``: ``W + 1``, a row of the table; ``one``
    and ``half_size``: float64 ``1`` and ``[W / 2, H / 2]``; ``base`` ``(B, 1, C, 1, 1)``: where each image's
    channel starts in the flattened tables (``None`` for one image of one channel); ``denom`` ``(1, k, 1, 1, 1)``:
    the float32 block divisors ``4**s * 255``. Operands that are arrays cost numpy less than Python numbers.
    """
    check_retina(glimpse_size, num_scales)  # once per retina (cached): larger patches overflow the divisors
    g = glimpse_size
    blocks = [2**s for s in range(num_scales)]
    planes = xp.arange(batch * channels, xp.int64, device) * ((height + 1) * (width + 1))
    return {
        "offsets": xp.asarray([[e * b - (g * b) // 2 for e in range(g + 1)] for b in blocks], xp.int64, device),
        "low": xp.zeros((1, 2, 1, 1), xp.int64, device),
        "high": xp.asarray([width, height], xp.int64, device).reshape(1, 2, 1, 1),
        "stride": xp.asarray(width + 1, xp.int64, device),
        "one": xp.asarray(1.0, xp.float64, device),
        "half_size": xp.asarray([width / 2, height / 2], xp.float64, device),
        "base": planes.reshape(batch, 1, channels, 1, 1) if batch * channels > 1 else None,
        "denom": xp.asarray([b * b * 255 for b in blocks], xp.float32, device).reshape(1, num_scales, 1, 1, 1),
    }


def _corners(centre: Array, geo: dict[str, Array | None]) -> Array:
    """Flat index in the tables of every block corner of the patches at integer centres ``(B, 2)``: ``(B, k, C, g + 1,
    g + 1)``, already in the output's order. Block edges are clamped into the table: outside pixels add nothing."""
    xp = namespace(centre)
    edges = xp.clip(centre[:, :, None, None] + geo["offsets"], geo["low"], geo["high"])  # (B, 2, k, g + 1)
    corner = (edges[:, 1, :, :, None] * geo["stride"] + edges[:, 0, :, None, :])[:, :, None]
    return corner if geo["base"] is None else corner + geo["base"]


MAX_CORNER_TABLE = 2**22
"""The most entries of the single image's corner table (16 MiB of int32), :func:`_corner_table`; larger retinas on
larger images take the general path."""


@functools.lru_cache(maxsize=16)
def _corner_table(glimpse_size: int, num_scales: int, channels: int, height: int, width: int) -> np.ndarray | None:
    """:func:`_corners` of one numpy image at every centre pixel ``(cx, cy)`` in ``[0, W] x [0, H]``, as int32
    ``((H + 1) * (W + 1), k, C, g + 1, g + 1)`` indexed by ``cy * (W + 1) + cx`` (``None`` above
    :data:`MAX_CORNER_TABLE` entries). The same integers as the general path, computed once per retina, so the
    single env's glimpse is a look-up, a take and three subtractions."""
    points = (height + 1) * (width + 1)
    if points * num_scales * channels * (glimpse_size + 1) ** 2 > MAX_CORNER_TABLE:
        return None
    geo = _geometry(glimpse_size, num_scales, 1, channels, height, width, NumpyNamespace, None)
    cy, cx = np.divmod(np.arange(points, dtype=np.int64), width + 1)
    table = _corners(np.stack([cx, cy], axis=1), geo).astype(np.int32)
    table.flags.writeable = False
    return table


def glimpse(sat: Array, locations: Array, glimpse_size: int, num_scales: int) -> Array:
    """Glimpses at ``locations`` ``(B, 2)`` from summed-area tables ``(B, C, H + 1, W + 1)``, both numpy arrays
    or both torch tensors.

    Returns float32 ``(B, num_scales * C * glimpse_size**2)`` in (scale, channel, row, col) order.
    """
    xp = namespace(sat)
    b, c, h1, w1 = sat.shape
    geo = _geometry(glimpse_size, num_scales, b, c, h1 - 1, w1 - 1, xp, xp.device(sat))
    corner = None
    if b == 1 and xp is NumpyNamespace:  # the single env: its corners are a look-up (the same integers)
        table = _corner_table(glimpse_size, num_scales, c, h1 - 1, w1 - 1)
        x, y = float(locations[0, 0]), float(locations[0, 1])
        if table is not None and -1.0 <= x <= 1.0 and -1.0 <= y <= 1.0:  # NaN and outside take the general path
            # The contract's formula in float64, as _centres: Python floats are IEEE doubles.
            cx, cy = math.floor((x + 1.0) * ((w1 - 1) / 2)), math.floor((y + 1.0) * ((h1 - 1) / 2))
            corner = table[cy * w1 + cx]
    if corner is None:
        corner = _corners(_centres(locations, geo["one"], geo["half_size"]), geo)
    s = xp.take(sat, corner)
    rows = s[..., 1:, :] - s[..., :-1, :]  # exact int32: sums over the blocks' rows
    return xp.divide(rows[..., 1:] - rows[..., :-1], geo["denom"]).reshape(b, -1)
