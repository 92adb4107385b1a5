"""The rows of the results table: each preset is an env and the hyperparameters that train RAM on it.

``python train/ram_agent.py --preset mnist-4g`` starts from a row; any flag given on the command line
overrides the row's value. A new row (translated or cluttered MNIST, later) is one more entry here.
"""

from __future__ import annotations

from typing import Any

__all__ = ["PRESETS", "DEFAULT_PRESET"]

DEFAULT_PRESET = "mnist-6g"

_MNIST: dict[str, Any] = {
    "env_id": "GlimpseMNIST-v0",
    "batch_size": 64,
    "num_samples": 2,
    "learning_rate": 1e-3,
    "lr_schedule": "cosine",
    "location_std": 0.1,
    "core_type": "rnn",
    "reinforce_weight": 1.0,
}

PRESETS: dict[str, dict[str, Any]] = {
    # Table 1a of Mnih et al. 2014: 28x28 MNIST, one 8x8 scale, T glimpses (6.27 / 1.73 / 1.29 % test error).
    "mnist-2g": {**_MNIST, "env_kwargs": {"num_glimpses": 2}, "epochs": 30},
    "mnist-4g": {**_MNIST, "env_kwargs": {"num_glimpses": 4}, "epochs": 60},
    "mnist-6g": {**_MNIST, "env_kwargs": {"num_glimpses": 6}, "epochs": 60},
}
"""name -> the :class:`Args` fields it sets (the rest keep their defaults)."""
