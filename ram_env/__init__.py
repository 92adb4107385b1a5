"""Hard visual attention as a Gymnasium benchmark: environments that show an image only through glimpses.

``import ram_env`` registers every environment id; ``gym.make(id)`` gives the single env
(:class:`ram_env.glimpse_env.GlimpseEnv`) and ``gym.make_vec(id, num_envs=N, device=...)`` the native
batched torch env (:class:`ram_env.vector_env.GlimpseVectorEnv`).
"""

from __future__ import annotations

from gymnasium.envs.registration import register

__version__ = "0.1.0"

_ENTRY_POINT = "ram_env.glimpse_env:GlimpseEnv"
_VECTOR_ENTRY_POINT = "ram_env.vector_env:GlimpseVectorEnv"

# id -> kwargs; every value is JSON-friendly so `env.spec.to_json()` round-trips.
ENV_IDS: dict[str, dict[str, object]] = {
    "GlimpseMNIST-v0": {"dataset": "mnist", "glimpse_size": 8, "num_scales": 1, "num_glimpses": 6},
    "GlimpseTranslatedMNIST-v0": {
        "dataset": "mnist",
        "canvas_size": 60,
        "glimpse_size": 12,
        "num_scales": 3,
        "num_glimpses": 6,
    },
    "GlimpseClutteredMNIST-v0": {
        "dataset": "mnist",
        "canvas_size": 60,
        "num_clutter": 4,
        "clutter_size": 8,
        "glimpse_size": 12,
        "num_scales": 3,
        "num_glimpses": 6,
    },
    "GlimpseClutteredMNIST100-v0": {
        "dataset": "mnist",
        "canvas_size": 100,
        "num_clutter": 8,
        "clutter_size": 8,
        "glimpse_size": 12,
        "num_scales": 4,
        "num_glimpses": 6,
    },
    "GlimpseFashionMNIST-v0": {
        "dataset": "fashion-mnist",
        "glimpse_size": 8,
        "num_scales": 1,
        "num_glimpses": 6,
    },
    "GlimpseCIFAR10-v0": {"dataset": "cifar10", "glimpse_size": 8, "num_scales": 1, "num_glimpses": 6},
    # Omniglot's 105x105 characters: four 12x12 scales (12 to 96 pixels, the last nearly the whole image) on the
    # "small" set, the one set a fresh machine may lack the least of; other sets by alphabets= (docs/environments.md).
    "GlimpseOmniglot-v0": {
        "dataset": "omniglot",
        "alphabets": "small",
        "glimpse_size": 12,
        "num_scales": 4,
        "num_glimpses": 6,
    },
    # The open set: the first two alphabets by name never seen in training, the next two "unknown" in training.
    "GlimpseOmniglotOpenSet-v0": {
        "dataset": "omniglot",
        "alphabets": "small",
        "unseen_alphabets": 2,
        "unknown_alphabets": 2,
        "glimpse_size": 12,
        "num_scales": 4,
        "num_glimpses": 6,
    },
}

for _id, _kwargs in ENV_IDS.items():
    register(id=_id, entry_point=_ENTRY_POINT, vector_entry_point=_VECTOR_ENTRY_POINT, kwargs=dict(_kwargs))
