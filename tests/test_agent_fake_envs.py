"""Tiny stand-ins for the glimpse envs, for the agent's unit tests, and a check that they keep the contract.

The agent tests import :class:`FakeGlimpseVectorEnv` and :class:`FakeGlimpseEnv` from here. They
follow the env contract (spaces, reset with ``options["index"]``, ``T`` steps, final info with
``label``/``prediction``/``is_success``) on random uint8 images through the project's own retina,
and are strict where the agent could cheat: the vector fake refuses actions that carry autograd
history or leave the action box. When the real vector env can be built, the last test checks the
fake against it, so the two cannot drift apart.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium import spaces

from ram_env.retina import glimpse, summed_area_table


class FakeGlimpseVectorEnv:
    """The native vector env's interface (``autoreset_mode="disabled"``) on ``num_images`` random images."""

    def __init__(
        self,
        num_envs: int,
        num_images: int = 10,
        num_classes: int = 4,
        num_glimpses: int = 3,
        glimpse_size: int = 4,
        num_scales: int = 2,
        image_size: int = 12,
        initial_location: str = "random",
        seed: int = 0,
    ) -> None:
        rng = np.random.default_rng(seed)
        self.images_np = rng.integers(0, 256, (num_images, image_size, image_size), dtype=np.uint8)
        self.labels_np = rng.integers(0, num_classes, num_images).astype(np.int64)
        self.images = torch.from_numpy(self.images_np)[:, None]
        self.labels = torch.from_numpy(self.labels_np)
        self.num_envs, self.num_images = num_envs, num_images
        self.num_classes, self.num_glimpses = num_classes, num_glimpses
        self.initial_location = initial_location
        self.config = SimpleNamespace(glimpse_size=glimpse_size, num_scales=num_scales, channels=1,
                                      num_classes=num_classes, num_glimpses=num_glimpses)
        length = num_scales * glimpse_size * glimpse_size
        self.single_observation_space = spaces.Dict({
            "glimpse": spaces.Box(0.0, 1.0, (length,), np.float32),
            "location": spaces.Box(-1.0, 1.0, (2,), np.float32),
        })
        self.single_action_space = spaces.Box(-1.0, 1.0, (2 + num_classes,), np.float32)
        self.actions: list[torch.Tensor] = []
        self._t = -1

    def _obs(self, location: torch.Tensor) -> dict[str, torch.Tensor]:
        g = glimpse(self._sat, location, self.config.glimpse_size, self.config.num_scales)
        return {"glimpse": g, "location": location}

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        gen = torch.Generator().manual_seed(0 if seed is None else seed)
        index = torch.as_tensor((options or {})["index"]).to(torch.int64)
        assert index.shape == (self.num_envs,)
        self._index = index
        self._sat = summed_area_table(self.images[index])
        if self.initial_location == "center":
            location = torch.zeros(self.num_envs, 2)
        else:
            location = torch.rand((self.num_envs, 2), generator=gen) * 2 - 1
        self._t, self.actions = 0, []
        return self._obs(location), {"index": index}

    def step(self, actions: torch.Tensor):
        assert isinstance(actions, torch.Tensor) and not actions.requires_grad, "actions must be detached tensors"
        assert actions.shape == (self.num_envs, 2 + self.num_classes)
        assert bool((actions.abs() <= 1.0).all()), "actions must lie in the action space"
        assert 0 <= self._t < self.num_glimpses, "step outside an episode"
        self.actions.append(actions.clone())
        self._t += 1
        obs = self._obs(actions[:, :2].clamp(-1, 1))
        info: dict[str, torch.Tensor] = {"index": self._index}
        done = self._t == self.num_glimpses
        terminated = torch.full((self.num_envs,), done)
        if not done:
            return obs, torch.zeros(self.num_envs), terminated, torch.zeros_like(terminated), info
        label = self.labels[self._index]
        prediction = actions[:, 2:].argmax(1)
        info.update(label=label, prediction=prediction, is_success=prediction == label)
        return obs, (prediction == label).float(), terminated, torch.zeros_like(terminated), info


class FakeGlimpseEnv(gym.Env):
    """The single env's interface: one row of a :class:`FakeGlimpseVectorEnv`, with numpy observations."""

    def __init__(self, **kwargs: Any) -> None:
        self.vec = FakeGlimpseVectorEnv(num_envs=1, **kwargs)
        self.config = self.vec.config
        self.observation_space = self.vec.single_observation_space
        self.action_space = self.vec.single_action_space

    @staticmethod
    def _single(obs: dict[str, torch.Tensor]) -> dict[str, np.ndarray]:
        return {k: v[0].numpy() for k, v in obs.items()}

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        index = (options or {}).get("index", int(self.np_random.integers(self.vec.num_images)))
        obs, _ = self.vec.reset(seed=int(self.np_random.integers(2**31)), options={"index": [index]})
        return self._single(obs), {"index": int(index)}

    def step(self, action: np.ndarray):
        action = torch.as_tensor(np.asarray(action, dtype=np.float32))[None].clamp(-1, 1)
        obs, reward, terminated, truncated, info = self.vec.step(action)
        return (self._single(obs), float(reward[0]), bool(terminated[0]), bool(truncated[0]),
                {k: v[0].item() for k, v in info.items()})


def test_fake_vector_env_matches_the_real_one() -> None:
    """Same spaces, info keys and glimpses as ``ram_env``'s vector env on the same images (once it builds)."""
    fake = FakeGlimpseVectorEnv(num_envs=3, initial_location="center")
    try:
        real = gym.make_vec(
            "GlimpseMNIST-v0", num_envs=3, device="cpu", autoreset_mode="disabled", images=fake.images_np,
            labels=fake.labels_np, num_classes=fake.num_classes, num_glimpses=fake.num_glimpses,
            glimpse_size=fake.config.glimpse_size, num_scales=fake.config.num_scales, initial_location="center",
        )
    except ImportError as err:  # ram_env is still being written
        pytest.skip(f"the real vector env does not build yet: {err}")
    assert real.single_observation_space == fake.single_observation_space
    assert real.single_action_space == fake.single_action_space
    index = torch.tensor([0, 5, 9])
    (obs_r, info_r), (obs_f, info_f) = (e.reset(seed=1, options={"index": index}) for e in (real, fake))
    torch.testing.assert_close(obs_r["glimpse"], obs_f["glimpse"])
    assert {k for k in info_r if not k.startswith("_")} == set(info_f)
    action = torch.tensor([[0.3, -0.2, 0.1, 0.9, -1.0, 0.0]]).repeat(3, 1)
    for _ in range(fake.num_glimpses):
        step_r, step_f = real.step(action), fake.step(action)
    torch.testing.assert_close(step_r[0]["glimpse"], step_f[0]["glimpse"])
    torch.testing.assert_close(step_r[1], step_f[1])
    assert {k for k in step_r[4] if not k.startswith("_")} == set(step_f[4])
    torch.testing.assert_close(step_r[4]["label"], step_f[4]["label"])
