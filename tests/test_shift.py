"""``max_shift``: whole-pixel shifts of the training images (augmentation); val and test never move."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

from ram_env.canvas import shift_images
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


def test_shift_images_moves_right_and_down_with_zero_fill():
    images = torch.arange(1, 2 * 25 + 1, dtype=torch.uint8).view(2, 1, 5, 5)
    index = torch.tensor([0, 1])
    for key in range(20):
        out = shift_images(images, torch.tensor([key, key]), index, 2)
        assert out.shape == images.shape and out.dtype == torch.uint8
        for b in range(2):
            # every pixel is nonzero, so exactly one shift matches
            (dx, dy), = _shift_of(out[b, 0].numpy(), images[b, 0].numpy(), 2)
            assert -2 <= dx <= 2 and -2 <= dy <= 2
    # one at a time gives what the batch gives (the draws are a function of key and index)
    key = torch.tensor([7, 9])
    batch = shift_images(images, key, index, 2)
    for b in range(2):
        assert torch.equal(shift_images(images[b : b + 1], key[b : b + 1], index[b : b + 1], 2), batch[b : b + 1])
    assert torch.equal(shift_images(images, key, index, 0), images)


def test_vector_env_shifts_train_images_by_every_offset_in_range():
    images, _ = load_split("mnist", "train")
    n = 300
    envs = gym.make_vec("GlimpseMNIST-v0", num_envs=n, max_shift=2, autoreset_mode="disabled", **WHOLE)
    obs, _ = envs.reset(seed=0, options={"index": np.arange(n)})
    seen = _seen(obs["glimpse"])
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
    envs = gym.make_vec("GlimpseMNIST-v0", num_envs=50, split=split, max_shift=3, autoreset_mode="disabled", **WHOLE)
    obs, _ = envs.reset(seed=0, options={"index": np.arange(50)})
    np.testing.assert_array_equal(_seen(obs["glimpse"]), images[:50])
    single, _ = gym.make("GlimpseMNIST-v0", split=split, max_shift=3, **WHOLE).reset(seed=0, options={"index": 7})
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
    ],
)
def test_bad_max_shift_is_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        gym.make("GlimpseMNIST-v0", **kwargs)
    with pytest.raises(ValueError, match=message):
        gym.make_vec("GlimpseMNIST-v0", num_envs=2, **kwargs)
