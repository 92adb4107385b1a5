"""The presets: each is an env and the flags that train RAM on it (``python train/ram_agent.py --preset mnist-4g``).

A flag given on the command line overrides the preset's value. One entry per preset, with a one-line comment;
how each shipped file was trained, stage by stage, is in docs/results.md.
"""

from __future__ import annotations

from typing import Any

__all__ = ["PRESETS", "DEFAULT_PRESET"]

DEFAULT_PRESET = "mnist-6g"

# The paper's training setup (Mnih et al. 2014): 64 images per step, 2 location paths each, Adam.
_BASE: dict[str, Any] = {"batch_size": 64, "num_samples": 2, "learning_rate": 1e-3, "lr_schedule": "cosine",
                         "location_std": 0.1, "core_type": "rnn", "reinforce_weight": 1.0, "consistency_weight": 0.0}
# This project's recipe: LSTM core, conv glimpse network, 4 paths, the path-consistency term, the weight average.
_CONV_LSTM: dict[str, Any] = {**_BASE, "core_type": "lstm", "conv_glimpse": True, "num_samples": 4,
                              "consistency_weight": 1.0, "ema_decay": 0.999}
# The CIFAR-10 training augmentation: shifts of up to 4 pixels, mirrored half the time.
_CIFAR_AUGMENT: dict[str, Any] = {"initial_location": "center", "max_shift": 4, "horizontal_flip": True}
_CENTER = {"initial_location": "center"}
# Omniglot's training augmentation: a few training images a character, so shifts and small rotations.
_OMNIGLOT_AUGMENT: dict[str, Any] = {"initial_location": "center", "max_shift": 5, "max_rotation": 10.0}

PRESETS: dict[str, dict[str, Any]] = {
    # MNIST, 2 glimpses (paper's Table 1a); ReLU RNN, the first glimpse at the centre.
    "mnist-2g": {**_BASE, "env_id": "GlimpseMNIST-v0", "epochs": 30, "dropout": 0.2,
                 "env_kwargs": {**_CENTER, "num_glimpses": 2}},
    # MNIST, 4 glimpses (Table 1a), the first at a random place; REINFORCE into the core, probability as return.
    "mnist-4g": {**_CONV_LSTM, "env_id": "GlimpseMNIST-v0", "epochs": 40, "reinforce_into_core": True,
                 "policy_reward": "probability", "env_kwargs": {"num_glimpses": 4}},
    # MNIST, 6 glimpses (Table 1a), the default preset; as mnist-4g.
    "mnist-6g": {**_CONV_LSTM, "env_id": "GlimpseMNIST-v0", "epochs": 40, "reinforce_into_core": True,
                 "policy_reward": "probability", "env_kwargs": {"num_glimpses": 6}},
    # The digit anywhere on a 60x60 canvas, 4 glimpses of three 12x12 scales (Table 1b).
    "translated-4g": {**_CONV_LSTM, "env_id": "GlimpseTranslatedMNIST-v0", "epochs": 40,
                      "env_kwargs": {**_CENTER, "num_glimpses": 4}},
    # The same, 6 glimpses (Table 1b).
    "translated-6g": {**_CONV_LSTM, "env_id": "GlimpseTranslatedMNIST-v0", "epochs": 40,
                      "env_kwargs": {**_CENTER, "num_glimpses": 6}},
    # 60x60 canvas with 4 pieces of clutter, 8 glimpses (Table 2).
    "cluttered60-8g": {**_CONV_LSTM, "env_id": "GlimpseClutteredMNIST-v0", "epochs": 40,
                       "env_kwargs": {**_CENTER, "num_glimpses": 8}},
    # 100x100 canvas with 8 pieces of clutter and a fourth scale, 4 glimpses (Table 2).
    "cluttered100-4g": {**_CONV_LSTM, "env_id": "GlimpseClutteredMNIST100-v0", "epochs": 40,
                        "env_kwargs": {**_CENTER, "num_glimpses": 4}},
    # The same, 6 glimpses (Table 2).
    "cluttered100-6g": {**_CONV_LSTM, "env_id": "GlimpseClutteredMNIST100-v0", "epochs": 40,
                        "env_kwargs": {**_CENTER, "num_glimpses": 6}},
    # Fashion-MNIST, 6 glimpses; as mnist-6g, 25 epochs.
    "fashion-6g": {**_CONV_LSTM, "env_id": "GlimpseFashionMNIST-v0", "epochs": 25, "reinforce_into_core": True,
                   "policy_reward": "probability", "env_kwargs": {**_CENTER, "num_glimpses": 6}},
    # CIFAR-10 (32x32 RGB, one 8x8 scale), 4 glimpses; LSTM core, linear glimpse network, dropout 0.3.
    "cifar10-4g": {**_BASE, "env_id": "GlimpseCIFAR10-v0", "epochs": 40, "core_type": "lstm", "dropout": 0.3,
                   "env_kwargs": {**_CIFAR_AUGMENT, "num_glimpses": 4}},
    # The same with the conv glimpse network.
    "cifar10-4g-conv": {**_BASE, "env_id": "GlimpseCIFAR10-v0", "epochs": 40, "core_type": "lstm",
                        "conv_glimpse": True, "dropout": 0.3, "env_kwargs": {**_CIFAR_AUGMENT, "num_glimpses": 4}},
    # CIFAR-10, 6 glimpses; LSTM core, linear glimpse network, no dropout.
    "cifar10-6g": {**_BASE, "env_id": "GlimpseCIFAR10-v0", "epochs": 40, "core_type": "lstm",
                   "env_kwargs": {**_CIFAR_AUGMENT, "num_glimpses": 6}},
    # Omniglot's "small" set (242 characters, 12 drawers each to train on), 6 glimpses of four 12x12 scales; as
    # fashion-6g, with shifts of up to 5 pixels and rotations of up to 10 degrees (few images a class), 25 epochs of
    # 45 steps: a weight average of decay 0.99, as 0.999's (a 1,000-step memory) stays near the first weights.
    "omniglot-6g": {**_CONV_LSTM, "env_id": "GlimpseOmniglot-v0", "epochs": 25, "ema_decay": 0.99,
                    "reinforce_into_core": True, "policy_reward": "probability",
                    "env_kwargs": {**_OMNIGLOT_AUGMENT, "num_glimpses": 6}},
    # The open set on the "small" set: 125 known characters and "unknown" (2 alphabets in training, 2 never seen).
    # REINFORCE trains the location head only: into the core (omniglot-6g's way) its return, large on the unknown
    # images (36 % of them) from the first step, held the classifier at "always unknown" for 25 epochs.
    "omniglot-openset-6g": {**_CONV_LSTM, "env_id": "GlimpseOmniglotOpenSet-v0", "epochs": 25, "ema_decay": 0.99,
                            "env_kwargs": {**_OMNIGLOT_AUGMENT, "num_glimpses": 6}},
}
"""name -> the :class:`Args` fields it sets (the rest keep their defaults)."""
