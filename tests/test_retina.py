"""The retina against a slow, obviously-correct reference, on real MNIST and on canvases."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ram_env.canvas import CanvasSpec, compose, split_key
from ram_env.config import to_nchw
from ram_env.retina import glimpse, summed_area_table


def reference_glimpse(image: np.ndarray, x: float, y: float, g: int, k: int) -> np.ndarray:
    """Pixel loops straight from the contract: (C, H, W) uint8 -> (k*C*g*g,) float."""
    c, h, w = image.shape
    cx = int(np.floor((x + 1.0) / 2.0 * w))
    cy = int(np.floor((y + 1.0) / 2.0 * h))
    out = []
    for s in range(k):
        side, block = g * 2**s, 2**s
        top, left = cy - side // 2, cx - side // 2
        patch = np.zeros((c, side, side))
        for r in range(side):
            for q in range(side):
                if 0 <= top + r < h and 0 <= left + q < w:
                    patch[:, r, q] = image[:, top + r, left + q] / 255.0
        small = np.zeros((c, g, g))
        for i in range(g):
            for j in range(g):
                small[:, i, j] = patch[:, i * block : (i + 1) * block, j * block : (j + 1) * block].mean(
                    axis=(1, 2)
                )
        out.append(small)
    return np.stack(out).reshape(-1)


BORDERS = [(-1.0, -1.0), (1.0, 1.0), (-1.0, 1.0), (1.0, -1.0), (0.0, 0.0), (0.999, -0.999), (-0.5, 1.0)]


def _check(images: torch.Tensor, g: int, k: int, rng: np.random.Generator) -> None:
    """Both paths against the reference: torch tensors (the vector env) and numpy arrays (the single env)."""
    sat, sat_np = summed_area_table(images), summed_area_table(images.numpy())
    locs = [tuple(rng.uniform(-1, 1, 2)) for _ in range(12)] + BORDERS
    for x, y in locs:
        loc = torch.tensor([[x, y]] * images.shape[0], dtype=torch.float32)
        got = glimpse(sat, loc, g, k).numpy()
        assert glimpse(sat_np, loc.numpy(), g, k).tobytes() == got.tobytes()
        for b in range(images.shape[0]):
            xf, yf = float(loc[b, 0]), float(loc[b, 1])
            want = reference_glimpse(images[b].numpy(), xf, yf, g, k)
            np.testing.assert_allclose(
                got[b], want, rtol=0, atol=1e-6, err_msg=f"at ({xf}, {yf}), g={g}, k={k}"
            )


@pytest.mark.parametrize("g,k", [(8, 1), (12, 3), (5, 2), (3, 4)])
def test_retina_matches_reference_on_mnist(mnist_val, g, k):
    images = to_nchw(mnist_val[0][:3])
    _check(images, g, k, np.random.default_rng(g * 10 + k))


def test_retina_matches_reference_on_cluttered_canvas(mnist_val):
    images = to_nchw(mnist_val[0])
    spec = CanvasSpec(100, 8, 8)
    index = torch.arange(2)
    canvas = compose(spec, images.__getitem__, images.shape[0], index, torch.full((2,), split_key("val")))
    _check(canvas, 12, 4, np.random.default_rng(0))


def test_retina_keeps_colour_channels_in_scale_channel_row_col_order():
    rng = np.random.default_rng(1)
    images = torch.from_numpy(rng.integers(0, 256, (2, 3, 32, 32), dtype=np.uint8))
    _check(images, 8, 2, rng)


def test_glimpse_values_and_dtype(mnist_val):
    images = to_nchw(mnist_val[0][:4])
    out = glimpse(summed_area_table(images), torch.zeros(4, 2), 8, 1)
    assert out.dtype == torch.float32 and out.shape == (4, 64)
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0
    # The centre 8x8 of an MNIST digit is not empty, and a glimpse far off the image is all zeros.
    assert float(out.sum()) > 0
    far = glimpse(summed_area_table(images), torch.full((4, 2), 1.0), 2, 1)
    assert float(far.sum()) == 0.0


def test_summed_area_table_rejects_bad_input():
    with pytest.raises(ValueError, match="uint8"):
        summed_area_table(torch.zeros(1, 1, 4, 4))
    with pytest.raises(ValueError, match="uint8"):
        summed_area_table(np.zeros((1, 1, 4, 4)))
