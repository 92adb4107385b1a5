"""The attention metrics on cases whose answers are known."""

from __future__ import annotations

import math

import torch

from agents.attention import location_heatmaps, policy_diversity


def _labels(n: int = 2000) -> torch.Tensor:
    return torch.arange(n) % 10


def test_same_place_for_every_input_has_no_diversity():
    labels = _labels()
    locations = torch.full((labels.shape[0], 3, 2), 0.25)
    for row in policy_diversity(locations, labels, 10):
        assert row["mean_pairwise_distance"] == 0.0 and row["mutual_information_bits"] == 0.0


def test_class_dependent_locations_carry_all_the_class_information():
    labels = _labels()
    # Class c looks at its own cell of the 8x8 grid at every step.
    x = ((labels % 8).double() + 0.5) / 8 * 2 - 1
    y = ((labels // 8).double() + 0.5) / 8 * 2 - 1
    locations = torch.stack([x, y], dim=-1)[:, None].repeat(1, 2, 1)
    for row in policy_diversity(locations, labels, 10):
        assert abs(row["mutual_information_bits"] - math.log2(10)) < 1e-9
        assert row["mean_pairwise_distance"] > 0.5


def test_uniform_random_locations_match_the_known_mean_distance_and_the_bias():
    labels = _labels(20000)
    locations = torch.rand((20000, 1, 2), generator=torch.Generator().manual_seed(0)) * 2 - 1
    (row,) = policy_diversity(locations, labels, 10)
    # Mean distance of two uniform points in a square of side 2: 2 * 0.5214.
    assert abs(row["mean_pairwise_distance"] - 1.0428) < 0.02
    assert row["mutual_information_bits"] < 2 * row["mi_bias_bits"]


def test_heatmaps_are_per_class_distributions():
    labels = _labels(500)
    locations = torch.rand((500, 4, 2), generator=torch.Generator().manual_seed(1)) * 2 - 1
    maps = location_heatmaps(locations, labels, 10, bins=6)
    assert maps.shape == (10, 4, 6, 6)
    assert torch.allclose(maps.sum((2, 3)), torch.ones(10, 4, dtype=torch.float64))
