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
"""

from __future__ import annotations

import functools

import torch

__all__ = [
    "MAX_IMAGE_PIXELS",
    "MAX_PATCH_SIDE",
    "centre_pixels",
    "check_retina",
    "glimpse",
    "glimpse_length",
    "summed_area_table",
]

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


def summed_area_table(images: torch.Tensor) -> torch.Tensor:
    """Integral image of a uint8 batch ``(B, C, H, W)``: int32 ``(B, C, H + 1, W + 1)``.

    ``sat[..., i, j]`` is the sum of ``images[..., :i, :j]`` (so row and column 0 are zero). Exact
    for any image up to 2**31 / 255 pixels (about 8.4 million).
    """
    if images.dtype != torch.uint8 or images.dim() != 4:
        raise ValueError(f"expected a uint8 tensor (B, C, H, W), got {images.dtype} {tuple(images.shape)}")
    b, c, h, w = images.shape
    sat = torch.zeros((b, c, h + 1, w + 1), dtype=torch.int32, device=images.device)
    sat[:, :, 1:, 1:] = images
    if images.device.type != "cpu":  # on accelerators the scan kernels are the fast way
        return sat.cumsum(2, dtype=torch.int32).cumsum(3, dtype=torch.int32)
    # On CPU, a loop of whole-row additions is several times faster than cumsum along rows.
    for i in range(2, h + 1):
        sat[:, :, i].add_(sat[:, :, i - 1])
    torch.cumsum(sat, 3, out=sat)
    return sat


def centre_pixels(locations: torch.Tensor, height: int, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Centre pixel ``(cx, cy)`` of each location ``(B, 2)``, as int64 tensors of shape ``(B,)``."""
    loc = locations.to(torch.float64)
    cx = torch.floor((loc[:, 0] + 1.0) / 2.0 * width).to(torch.int64)
    cy = torch.floor((loc[:, 1] + 1.0) / 2.0 * height).to(torch.int64)
    return cx, cy


@functools.lru_cache(maxsize=64)
def _geometry(glimpse_size: int, num_scales: int, device: torch.device) -> tuple[torch.Tensor, ...]:
    """Constants of a retina: block edges ``(k, g + 1)``, half patch sides ``(k,)``, block divisors."""
    check_retina(glimpse_size, num_scales)  # once per retina (cached): larger patches overflow the divisors
    block = 2 ** torch.arange(num_scales, device=device, dtype=torch.int64)
    # Block edges for every scale: offsets from the patch's top-left corner.
    edges = torch.arange(glimpse_size + 1, device=device, dtype=torch.int64)[None, :] * block[:, None]
    half = (glimpse_size * block) // 2
    denom = (block * block * 255).to(torch.float32).view(1, 1, num_scales, 1, 1)
    return edges, half, denom


def glimpse(sat: torch.Tensor, locations: torch.Tensor, glimpse_size: int, num_scales: int) -> torch.Tensor:
    """Glimpses at ``locations`` ``(B, 2)`` from summed-area tables ``(B, C, H + 1, W + 1)``.

    Returns float32 ``(B, num_scales * C * glimpse_size**2)`` in (scale, channel, row, col) order.
    """
    b, c, h1, w1 = sat.shape
    h, w = h1 - 1, w1 - 1
    g = glimpse_size
    cx, cy = centre_pixels(locations, h, w)
    edges, half, denom = _geometry(g, num_scales, sat.device)
    # Absolute edge coordinates (B, k, g + 1), clamped into the table: outside pixels add nothing.
    rows = (cy[:, None, None] - half[None, :, None] + edges[None]).clamp_(0, h)
    cols = (cx[:, None, None] - half[None, :, None] + edges[None]).clamp_(0, w)
    # Flat index into each image's table: (B, k, g + 1, g + 1) corner indices.
    corner = rows[:, :, :, None] * w1 + cols[:, :, None, :]
    flat = sat.reshape(b, c, h1 * w1)
    idx = corner.reshape(b, 1, -1).expand(b, c, -1)
    s = torch.gather(flat, 2, idx).reshape(b, c, num_scales, g + 1, g + 1)
    sums = s[..., 1:, 1:] - s[..., :-1, 1:] - s[..., 1:, :-1] + s[..., :-1, :-1]
    out = sums.to(torch.float32) / denom
    return out.permute(0, 2, 1, 3, 4).reshape(b, num_scales * c * g * g)
