"""The single env's numpy path: the same retina and canvas code as the vector env's torch path, bit for bit.

The retina and the canvas generator are written once against :mod:`ram_env.array_api`; the single env calls
them with numpy arrays, the vector env with torch tensors. These tests call every function both ways on the
same inputs (many random locations, borders, several retinas, colour, batches, clutter, every augmentation)
and demand equal bits, and pin the single env's observations on every id to digests computed by the torch
implementation it replaced (issue 40), so the speed-up changed no observation.
"""

from __future__ import annotations

import hashlib

import gymnasium as gym
import numpy as np
import pytest
import torch

from conftest import ENV_IDS
from ram_env import retina
from ram_env.array_api import NumpyNamespace, TorchNamespace, namespace
from ram_env.canvas import CanvasSpec, augment_images, compose, fixed_initial_location, split_key, uniform_draws
from ram_env.retina import centre_pixels, glimpse, summed_area_table

BORDERS = [(-1.0, -1.0), (1.0, 1.0), (-1.0, 1.0), (1.0, -1.0), (0.0, 0.0), (0.999, -0.999), (-0.5, 1.0)]


def _locations(rng: np.random.Generator, batch: int, count: int = 40) -> list[np.ndarray]:
    """Random float32 locations ``(batch, 2)`` in [-1, 1]^2, then every border pair for the whole batch."""
    random = [rng.uniform(-1, 1, (batch, 2)).astype(np.float32) for _ in range(count)]
    return random + [np.tile(np.array(b, np.float32), (batch, 1)) for b in BORDERS]


def test_namespace_dispatch():
    assert namespace(np.zeros(2)) is NumpyNamespace
    assert namespace(torch.zeros(2)) is TorchNamespace


@pytest.mark.parametrize(
    "shape", [(1, 1, 28, 28), (3, 1, 28, 28), (1, 3, 32, 32), (2, 3, 32, 32), (1, 1, 100, 100), (2, 1, 17, 23)]
)
@pytest.mark.parametrize("g,k", [(8, 1), (12, 3), (12, 4), (5, 2), (3, 5)])
def test_retina_numpy_equals_torch(shape, g, k):
    rng = np.random.default_rng(sum(shape) * 100 + g * 10 + k)
    images = rng.integers(0, 256, shape, dtype=np.uint8)
    images[:, :, : shape[2] // 3] = 255  # saturated rows: the largest block sums
    sat_np = summed_area_table(images)
    sat_t = summed_area_table(torch.from_numpy(images))
    assert sat_np.dtype == np.int32 and np.array_equal(sat_np, sat_t.numpy())
    for loc in _locations(rng, shape[0]):
        got = glimpse(sat_np, loc, g, k)
        want = glimpse(sat_t, torch.from_numpy(loc), g, k).numpy()
        assert got.dtype == np.float32 and got.shape == want.shape
        assert got.tobytes() == want.tobytes(), f"at {loc.tolist()}, g={g}, k={k}"


@pytest.mark.parametrize("shape,g,k", [((1, 1, 28, 28), 8, 1), ((1, 3, 32, 32), 8, 1), ((1, 1, 60, 60), 12, 3),
                                       ((1, 1, 17, 23), 5, 2)])
def test_single_image_corner_table_is_the_general_path(shape, g, k):
    """The single env's look-up table holds, at every centre pixel, exactly the general path's corner indices; a
    location on every pixel edge, and outside [-1, 1] (the general path), glimpse the same as torch."""
    _, c, h, w = shape
    table = retina._corner_table(g, k, c, h, w)
    assert table is not None and not table.flags.writeable
    geo = retina._geometry(g, k, 1, c, h, w, NumpyNamespace, None)
    cy, cx = np.divmod(np.arange((h + 1) * (w + 1)), w + 1)
    for i in range(0, len(cx), 7):
        general = retina._corners(np.array([[cx[i], cy[i]]], np.int64), geo)
        np.testing.assert_array_equal(table[i], general[0])
    images = np.random.default_rng(g).integers(0, 256, shape, dtype=np.uint8)
    sat_np, sat_t = summed_area_table(images), summed_area_table(torch.from_numpy(images))
    edges = np.float32(np.arange(w + 1) / w * 2 - 1)  # x on each pixel edge: floor lands exactly on a column
    odd = [[1.5, 0.0], [0.0, -1.25], [-1.0, 1.0], [1.0, -1.0]]
    for loc in [np.array([[x, -x]], np.float32) for x in edges] + [np.array([o], np.float32) for o in odd]:
        got, want = glimpse(sat_np, loc, g, k), glimpse(sat_t, torch.from_numpy(loc), g, k).numpy()
        assert got.tobytes() == want.tobytes(), loc


def test_corner_table_is_bounded():
    """Retinas on large images whose table would pass MAX_CORNER_TABLE entries take the general path."""
    assert retina._corner_table(12, 4, 1, 100, 100) is None
    assert retina.MAX_CORNER_TABLE * 4 <= 16 * 2**20


def test_centre_pixels_formula_is_exact():
    """``(x + 1) * (W / 2)`` (the retina's form) floors to the contract's ``floor((x + 1) / 2 * W)`` for float32 x."""
    rng = np.random.default_rng(0)
    x = np.concatenate(
        [rng.uniform(-1, 1, 200_000), np.linspace(-1, 1, 20_001), [-1.0, 1.0, 0.0, -0.0, np.nextafter(-1, 0)]]
    ).astype(np.float32)
    for size in (1, 2, 3, 28, 32, 60, 61, 100, 101, 4097, 2**20 + 1):
        contract = np.floor((x.astype(np.float64) + 1.0) / 2.0 * size).astype(np.int64)
        locations = np.stack([x, x[::-1]], axis=1)
        cx, cy = centre_pixels(locations, size, size)
        np.testing.assert_array_equal(cx, contract)
        np.testing.assert_array_equal(cy, contract[::-1])
        tx, _ = centre_pixels(torch.from_numpy(locations), size, size)
        np.testing.assert_array_equal(tx.numpy(), contract)


def test_draws_and_fixed_locations_numpy_equal_torch():
    index = np.arange(0, 60_000, 7, dtype=np.int64)
    key = (index * 2654435761 + 12345) % 2**31
    for first in (0, 0x6A09E667, 0xBB67AE85, 2**40 + 3):
        got = uniform_draws(key, index, 12, first_draw=first)
        want = uniform_draws(torch.from_numpy(key), torch.from_numpy(index), 12, first_draw=first).numpy()
        assert got.dtype == np.int64 and np.array_equal(got, want)
    for split in ("val", "test", "train"):
        got = fixed_initial_location(split, index)
        assert got.dtype == np.float32
        assert got.tobytes() == fixed_initial_location(split, torch.from_numpy(index)).numpy().tobytes()


@pytest.mark.parametrize(
    "spec", [CanvasSpec(60), CanvasSpec(60, 4, 8), CanvasSpec(100, 8, 8), CanvasSpec(45, 9, 5), CanvasSpec(28, 3, 28)]
)
def test_compose_numpy_equals_torch(mnist_val, spec):
    images = mnist_val[0][:, None]  # (N, 1, 28, 28)
    tensors = torch.from_numpy(np.array(images))  # a writable copy
    index = np.array([0, 1, 17, 17, 4999], dtype=np.int64)
    for key in (np.full(5, split_key("val")), np.array([3, 1 << 30, 77, 77, 2**31 - 1])):
        got = compose(spec, lambda i: images[i], len(images), index, key)
        want = compose(spec, tensors.__getitem__, len(images), torch.from_numpy(index), torch.from_numpy(key))
        assert got.dtype == np.uint8 and np.array_equal(got, want.numpy())
        # one at a time (the single env) is the batch (the vector env)
        for j in range(len(index)):
            one = compose(spec, lambda i: images[i], len(images), index[j : j + 1], key[j : j + 1])
            assert np.array_equal(one[0], got[j])


def test_compose_colour_numpy_equals_torch():
    rng = np.random.default_rng(3)
    images = rng.integers(0, 256, (40, 3, 17, 23), dtype=np.uint8)
    index, key = np.arange(0, 40, 3), np.arange(14) * 999
    got = compose(CanvasSpec(50, 5, 6), lambda i: images[i], 40, index, key)
    want = compose(CanvasSpec(50, 5, 6), torch.from_numpy(images).__getitem__, 40, torch.from_numpy(index),
                   torch.from_numpy(key))
    assert np.array_equal(got, want.numpy())


@pytest.mark.parametrize(
    "shift,flip,rotation", [(0, False, 0.0), (3, False, 0.0), (0, True, 0.0), (2, True, 0.0), (0, False, 25.0),
                            (2, True, 15.0)]
)
@pytest.mark.parametrize("channels", [1, 3])
def test_augment_numpy_equals_torch(shift, flip, rotation, channels):
    rng = np.random.default_rng(channels)
    images = rng.integers(0, 256, (64, channels, 28, 32), dtype=np.uint8)
    index = np.arange(64, dtype=np.int64)
    key = rng.integers(0, 2**31, 64)
    got = augment_images(images, key, index, shift, flip, rotation)
    want = augment_images(torch.from_numpy(images), torch.from_numpy(key), torch.from_numpy(index), shift, flip,
                          rotation)
    assert isinstance(got, np.ndarray) and got.dtype == np.uint8
    assert np.array_equal(got, want.numpy())
    if not (shift or flip or rotation):
        assert got is not images and np.array_equal(got, images)


def test_single_env_works_in_numpy():
    env = gym.make("GlimpseClutteredMNIST-v0", split="val")
    obs, _ = env.reset(seed=0, options={"index": 3})
    assert isinstance(env.unwrapped._sat, np.ndarray)
    assert obs["glimpse"].dtype == np.float32 and obs["glimpse"].flags.c_contiguous
    assert obs["location"].dtype == np.float32 and obs["location"].shape == (2,)


# Digests of the single env's observations (and rewards) computed by the implementation before issue 40 (the
# retina and canvas generator on torch tensors of one image): the numpy path must reproduce them bit for bit.
GOLDEN = [
    ("GlimpseCIFAR10-v0", {"split": "val"}, "be28439a6df937a9c6fb769682750d1e"),
    ("GlimpseCIFAR10-v0", {"split": "train"}, "0a8235120f078ea1b1ab9737a0c897be"),
    ("GlimpseClutteredMNIST-v0", {"split": "val"}, "04aade91ad556db3785c70bc285373c5"),
    ("GlimpseClutteredMNIST-v0", {"split": "train"}, "cac9db2085e7634a30440f24d5ea4d46"),
    ("GlimpseClutteredMNIST100-v0", {"split": "val"}, "88df445ffcfc1584bc978dc2eec8bb45"),
    ("GlimpseClutteredMNIST100-v0", {"split": "train"}, "67d4fe00c53a40c1d158594d6b524100"),
    ("GlimpseFashionMNIST-v0", {"split": "val"}, "f2accb267b9eddc28c9440eb39354256"),
    ("GlimpseFashionMNIST-v0", {"split": "train"}, "e5c907d85e1c61a9c253303dce50681b"),
    ("GlimpseMNIST-v0", {"split": "val"}, "8ae574325c76f140a6655f669011b1de"),
    ("GlimpseMNIST-v0", {"split": "train"}, "1d286b89acd68513adc512f042fe99c3"),
    ("GlimpseTranslatedMNIST-v0", {"split": "val"}, "44dd47d57861c302da97dcb66e02e154"),
    ("GlimpseTranslatedMNIST-v0", {"split": "train"}, "8ee5a198a8c610d53e6d41eec65eb81d"),
    ("GlimpseMNIST-v0", {"split": "train", "max_shift": 3, "horizontal_flip": True},
     "d294960156fec3cd9eb1dfc80c932caf"),
    ("GlimpseCIFAR10-v0", {"split": "trainval", "max_shift": 2, "horizontal_flip": True, "num_scales": 2},
     "55aeb2f10b484c03547aaf232f11a588"),
    ("GlimpseFashionMNIST-v0", {"split": "test", "glimpse_size": 5, "num_scales": 3, "reward_mode": "cross_entropy"},
     "a74b6610837e8d9fdf612ee1fed8f1f9"),
    ("GlimpseMNIST-v0", {"split": "test", "glimpse_size": 40, "num_scales": 2, "initial_location": "center"},
     "4c1b1e47440c2343da3c026fb5b2d57a"),
    # Omniglot came after issue 40: these pin its observations and rewards (the open set's -1 included) as first
    # released; the numpy path's equality with the torch one is tested on it by tests/test_vector_env.py.
    ("GlimpseOmniglot-v0", {"split": "val"}, "0c90ab9fd751f8aed984befe5b032483"),
    ("GlimpseOmniglot-v0", {"split": "train", "max_shift": 5}, "e418da3befce02c6c7a496cd99af52d6"),
    ("GlimpseOmniglotOpenSet-v0", {"split": "val"}, "994ac87af86bedbc034f804dd523d656"),
    ("GlimpseOmniglotOpenSet-v0", {"split": "train", "max_shift": 5}, "d57aa9133132a4c0a6f5c6785fbb5a21"),
]


def _digest(env_id: str, kwargs: dict, episodes: int = 4) -> str:
    env = gym.make(env_id, **kwargs)
    dim = env.action_space.shape[0]
    h = hashlib.md5()
    obs, _ = env.reset(seed=7, options={"index": 11})
    for e in range(episodes):
        for t in range(env.unwrapped.config.num_glimpses):
            h.update(obs["glimpse"].tobytes() + obs["location"].tobytes())
            # actions that reach every border: x and y run past [-1, 1] and are clipped
            action = (1.3 * np.sin(np.arange(dim) * 0.7 + 1.9 * t + 0.6 * e)).astype(np.float32)
            obs, reward, *_ = env.step(action)
            h.update(np.float64(reward).tobytes())
        h.update(obs["glimpse"].tobytes())
        obs, _ = env.reset(options={"index": (11 + 1000 * (e + 1)) % env.unwrapped.config.num_images})
    return h.hexdigest()


@pytest.mark.parametrize("env_id,kwargs,expected", GOLDEN, ids=[f"{i}-{k}" for i, k, _ in GOLDEN])
def test_observations_are_those_of_the_torch_single_env(env_id, kwargs, expected):
    assert _digest(env_id, kwargs) == expected


def test_golden_covers_every_id():
    assert {env_id for env_id, _, _ in GOLDEN} == set(ENV_IDS)
