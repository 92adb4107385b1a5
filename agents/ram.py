"""The RAM agent in one import: ``from agents.ram import RAM, RAMConfig, RAMPolicy, hybrid_loss, ...``.

The pieces live in small modules: :mod:`agents.networks` (config, glimpse network, core, heads),
:mod:`agents.rollout` (episodes against the vector env, evaluation), :mod:`agents.loss` (the hybrid
loss and its routing), :mod:`agents.policy` (save, load, SB3-style ``predict``) and :mod:`agents.distill` (a
teacher's soft targets).
"""

from __future__ import annotations

from agents.distill import teacher_targets
from agents.loss import EpisodeObjective, distillation, hybrid_loss, path_consistency
from agents.networks import (
    CORE_TYPES,
    NETWORK_FIELDS,
    POLICY_REWARDS,
    RAM,
    WIDENABLE,
    Baseline,
    Core,
    GlimpseNetwork,
    LocationPolicy,
    RAMConfig,
    load_widened,
)
from agents.policy import RAMPolicy
from agents.rollout import (
    EpisodeBatch,
    class_probabilities,
    class_scores,
    env_seed,
    evaluate,
    make_action,
    run_episodes,
    substream_seed,
)

__all__ = [
    "CORE_TYPES",
    "NETWORK_FIELDS",
    "POLICY_REWARDS",
    "RAM",
    "RAMConfig",
    "WIDENABLE",
    "load_widened",
    "GlimpseNetwork",
    "Core",
    "LocationPolicy",
    "Baseline",
    "EpisodeBatch",
    "class_scores",
    "make_action",
    "run_episodes",
    "env_seed",
    "substream_seed",
    "evaluate",
    "class_probabilities",
    "hybrid_loss",
    "EpisodeObjective",
    "path_consistency",
    "distillation",
    "teacher_targets",
    "RAMPolicy",
]
