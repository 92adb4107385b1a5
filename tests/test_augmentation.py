"""``max_shift``, ``horizontal_flip`` and ``max_rotation``: shifts, mirrors and rotations of the training images
(augmentation); val and test never change."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

from ram_env.canvas import augment_images
from ram_env.data import load_split

# A 28x28 glimpse of one scale at the centre covers the whole 28x28 image exactly: the observation is the image.
WHOLE = {"glimpse_size": 28, "initial_location": "center"}


def _shift_of(seen: np.ndarray, image: np.ndarray, max_shift: int) -> set[tuple[int, int]]:
    """Every (dx, dy) in range that moves ``image`` to ``seen`` (several where the moved-out border is empty)."""
    s = max_shift
    h, w = image.shape
    found = set()
    for dy in range(-s, s + 1):
        for dx in range(-s, s + 1):
            padded = np.zeros((h + 2 * s, w + 2 * s), image.dtype)
            padded[s + dy : s + dy + h, s + dx : s + dx + w] = image
            if np.array_equal(padded[s : s + h, s : s + w], seen):
                found.add((dx, dy))
    return found


def _seen(obs_glimpse: torch.Tensor | np.ndarray) -> np.ndarray:
    return np.rint(np.asarray(obs_glimpse, dtype=np.float64).reshape(-1, 28, 28) * 255).astype(np.uint8)


def _first_train_views(n: int, **augment):
    """A vector env of ``n`` whole-image glimpses of the first ``n`` MNIST train images, augmented; its first
    observations as uint8 images ``(n, 28, 28)``, and the images themselves."""
    images, _ = load_split("mnist", "train")
    envs = gym.make_vec("GlimpseMNIST-v0", num_envs=n, autoreset_mode="disabled", **augment, **WHOLE)
    obs, _ = envs.reset(seed=0, options={"index": np.arange(n)})
    return envs, _seen(obs["glimpse"]), images


def test_augment_images_moves_right_and_down_with_zero_fill():
    images = torch.arange(1, 2 * 25 + 1, dtype=torch.uint8).view(2, 1, 5, 5)
    index = torch.tensor([0, 1])
    for key in range(20):
        out = augment_images(images, torch.tensor([key, key]), index, 2)
        assert out.shape == images.shape and out.dtype == torch.uint8
        for b in range(2):
            # every pixel is nonzero, so exactly one shift matches
            (dx, dy), = _shift_of(out[b, 0].numpy(), images[b, 0].numpy(), 2)
            assert -2 <= dx <= 2 and -2 <= dy <= 2
    # one at a time gives what the batch gives (the draws are a function of key and index)
    key = torch.tensor([7, 9])
    batch = augment_images(images, key, index, 2)
    for b in range(2):
        assert torch.equal(augment_images(images[b : b + 1], key[b : b + 1], index[b : b + 1], 2), batch[b : b + 1])
    assert torch.equal(augment_images(images, key, index, 0), images)


def test_augment_images_mirrors_half_the_images_and_keeps_the_shifts():
    images = torch.arange(1, 40 * 25 + 1, dtype=torch.int64).view(40, 1, 5, 5)
    index = torch.arange(40)
    key = torch.full((40,), 3)
    mirrored = augment_images(images, key, index, 0, horizontal_flip=True)
    is_mirror = [torch.equal(mirrored[b], images[b].flip(-1)) for b in range(40)]
    assert all(is_mirror[b] or torch.equal(mirrored[b], images[b]) for b in range(40))
    assert 8 < sum(is_mirror) < 32, "about half the images are mirrored"
    # with a shift as well: each result is the shift the same key gives without the mirror, of the mirrored image
    both = augment_images(images, key, index, 2, horizontal_flip=True)
    for b in range(40):
        (dx, dy), = _shift_of(augment_images(images[b : b + 1], key[b : b + 1], index[b : b + 1], 2)[0, 0].numpy(),
                              images[b, 0].numpy(), 2)
        source = images[b, 0].flip(-1) if is_mirror[b] else images[b, 0]
        assert (dx, dy) in _shift_of(both[b, 0].numpy(), source.numpy(), 2)


def test_vector_env_mirrors_train_images():
    n = 100
    envs, seen, images = _first_train_views(n, horizontal_flip=True)
    mirrored = [np.array_equal(seen[j], images[j][:, ::-1]) for j in range(n)]
    assert all(mirrored[j] or np.array_equal(seen[j], images[j]) for j in range(n))
    assert 25 < sum(mirrored) < 75
    again, _ = envs.reset(seed=0, options={"index": np.arange(n)})
    np.testing.assert_array_equal(_seen(again["glimpse"]), seen)
    env = gym.make("GlimpseMNIST-v0", horizontal_flip=True, **WHOLE)
    single = [np.array_equal(_seen(env.reset(seed=s, options={"index": 3})[0]["glimpse"])[0], images[3][:, ::-1])
              for s in range(40)]
    assert 8 < sum(single) < 32, "the single env mirrors too"


def test_vector_env_shifts_train_images_by_every_offset_in_range():
    n = 300
    envs, seen, images = _first_train_views(n, max_shift=2)
    shifts = [_shift_of(seen[j], images[j], 2) for j in range(n)]
    assert all(shifts), "every training glimpse is its image moved by at most 2 pixels"
    unique = {next(iter(s)) for s in shifts if len(s) == 1}
    assert len(unique) == 25, f"all 25 offsets occur over {n} episodes, got {sorted(unique)}"
    assert sum((0, 0) not in s for s in shifts) > n // 2, "most episodes are moved"
    # a new episode of the same image draws a new shift; the same seed repeats them all
    again, _ = envs.reset(seed=0, options={"index": np.arange(n)})
    np.testing.assert_array_equal(_seen(again["glimpse"]), seen)
    other, _ = envs.reset(seed=1, options={"index": np.arange(n)})
    assert not np.array_equal(_seen(other["glimpse"]), seen)


@pytest.mark.parametrize("split", ["val", "test"])
def test_val_and_test_images_never_move(split):
    images, _ = load_split("mnist", split)
    augment = {"max_shift": 3, "horizontal_flip": True}
    envs = gym.make_vec("GlimpseMNIST-v0", num_envs=50, split=split, autoreset_mode="disabled", **augment, **WHOLE)
    obs, _ = envs.reset(seed=0, options={"index": np.arange(50)})
    np.testing.assert_array_equal(_seen(obs["glimpse"]), images[:50])
    single, _ = gym.make("GlimpseMNIST-v0", split=split, **augment, **WHOLE).reset(seed=0, options={"index": 7})
    np.testing.assert_array_equal(_seen(single["glimpse"])[0], images[7])


def test_single_env_shifts_train_images():
    images, _ = load_split("mnist", "train")
    env = gym.make("GlimpseMNIST-v0", max_shift=2, **WHOLE)
    moved = 0
    for episode in range(40):
        obs, _ = env.reset(seed=episode, options={"index": 3})
        shift = _shift_of(_seen(obs["glimpse"])[0], images[3], 2)
        assert shift
        moved += (0, 0) not in shift
    assert moved > 20


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_shift": -1}, "max_shift must be an integer >= 0"),
        ({"max_shift": 1.5}, "max_shift must be an integer >= 0"),
        ({"max_shift": 28}, "max_shift must be below the image size 28"),
        ({"max_shift": 2, "canvas_size": 60}, "max_shift applies to images shown without a canvas"),
        ({"horizontal_flip": "yes"}, "horizontal_flip must be True or False"),
        ({"horizontal_flip": True, "canvas_size": 60}, "horizontal_flip applies to images shown without a canvas"),
        ({"max_rotation": -5}, r"max_rotation must be a number of degrees in \[0, 180\]"),
        ({"max_rotation": 190}, r"max_rotation must be a number of degrees in \[0, 180\]"),
        ({"max_rotation": "10"}, r"max_rotation must be a number of degrees in \[0, 180\]"),
        ({"max_rotation": 10, "canvas_size": 60}, "max_rotation applies to images shown without a canvas"),
    ],
)
def test_bad_augmentation_is_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        gym.make("GlimpseMNIST-v0", **kwargs)
    with pytest.raises(ValueError, match=message):
        gym.make_vec("GlimpseMNIST-v0", num_envs=2, **kwargs)


def test_rotation_turns_clockwise_about_the_centre_without_shear():
    from ram_env.canvas import _rotate

    square = torch.arange(1, 50, dtype=torch.uint8).view(1, 1, 7, 7)
    assert torch.equal(_rotate(square, torch.tensor([90.0])), torch.rot90(square, -1, (-2, -1)))
    assert torch.equal(_rotate(square, torch.tensor([0.0])), square)
    # on a 21 x 31 image, the pixel 3 columns right of the centre moves 3 rows below it: pixel units, no shear
    wide = torch.zeros(1, 1, 21, 31, dtype=torch.uint8)
    wide[0, 0, 10, 18] = 200
    turned = _rotate(wide, torch.tensor([90.0]))
    assert turned[0, 0, 13, 15] == 200 and int(turned.sum()) == 200
    # float images stay float, and are not rounded
    assert _rotate(square.float() / 3, torch.tensor([45.0])).dtype == torch.float32


def test_rotation_is_a_function_of_key_and_index_and_leaves_the_other_draws():
    images, _ = load_split("mnist", "train")
    batch = torch.from_numpy(np.array(images[:32])).unsqueeze(1)
    index = torch.arange(32)
    key = torch.arange(100, 132)
    turned = augment_images(batch, key, index, max_rotation=20.0)
    assert turned.dtype == torch.uint8 and turned.shape == batch.shape
    changed = [not torch.equal(turned[b], batch[b]) for b in range(32)]
    assert sum(changed) >= 30, "almost every digit turns"
    # the ink stays on the image: a digit keeps its mass within a few percent (bilinear, zero fill outside)
    ratio = turned.float().sum((1, 2, 3)) / batch.float().sum((1, 2, 3))
    assert ratio.min() > 0.9 and ratio.max() < 1.1, ratio
    for b in (0, 17):
        assert torch.equal(augment_images(batch[b : b + 1], key[b : b + 1], index[b : b + 1], max_rotation=20.0),
                           turned[b : b + 1])
    # a vanishing angle gives exactly the shifts and mirrors drawn without the rotation
    shifted = augment_images(batch, key, index, 2, horizontal_flip=True)
    assert torch.equal(augment_images(batch, key, index, 2, horizontal_flip=True, max_rotation=1e-6), shifted)


def test_envs_rotate_train_images_only():
    n = 64
    envs, seen, images = _first_train_views(n, max_rotation=15)
    assert sum(not np.array_equal(seen[j], images[j]) for j in range(n)) > n - 4
    again, _ = envs.reset(seed=0, options={"index": np.arange(n)})
    np.testing.assert_array_equal(_seen(again["glimpse"]), seen)
    env = gym.make("GlimpseMNIST-v0", max_rotation=15, **WHOLE)
    single = [_seen(env.reset(seed=s, options={"index": 3})[0]["glimpse"])[0] for s in range(5)]
    assert sum(not np.array_equal(x, images[3]) for x in single) >= 4, "the single env rotates too"
    for split in ("val", "test"):
        fixed, _ = load_split("mnist", split)
        obs, _ = gym.make("GlimpseMNIST-v0", split=split, max_rotation=15, **WHOLE).reset(seed=0, options={"index": 7})
        np.testing.assert_array_equal(_seen(obs["glimpse"])[0], fixed[7])
