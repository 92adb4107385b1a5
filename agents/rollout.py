"""Episodes of the RAM agent against the native vector env, for training and for evaluation.

Everything the agent learns from comes through the env's ``reset``/``step``: the glimpses and
locations in the observations, the reward of the last step and the label in the final info. The
rollout keeps the core outputs with their autograd graph and the raw location samples, so that
:func:`agents.loss.hybrid_loss` decides in one place which loss term reaches which parameters.

Monte Carlo paths tile the batch: with ``B`` images and ``M`` samples, row ``m * B + b`` of every
tensor is sample ``m`` of image ``b`` (``index.repeat(M)``), so ``x.view(M, B, ...)`` groups them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from agents.networks import RAM, eval_mode

__all__ = ["EpisodeBatch", "check_terminal_reward", "class_probabilities", "class_scores", "env_seed", "make_action",
           "run_episodes", "substream_seed", "evaluate"]


@dataclass
class EpisodeBatch:
    """One batch of finished episodes, ``N = B * M`` rows, ``T`` glimpses each."""

    features: torch.Tensor
    """Core outputs after each glimpse, ``(N, T, core_hidden)``, with their autograd graph."""
    locations: torch.Tensor
    """Raw (unclipped) location samples chosen after glimpses ``1 ... T-1``, ``(N, T-1, 2)``; the env
    saw them clipped to [-1, 1]. The location of the last action is ignored by the env and not kept."""
    reward: torch.Tensor
    """Reward of the last step, ``(N,)`` float32: 1 for a correct classification."""
    label: torch.Tensor
    """True class from the final info, ``(N,)`` int64."""
    index: torch.Tensor
    """Image index in the split from the info, ``(N,)`` int64."""
    num_samples: int
    """``M``, the location paths per image (``mean_paths`` of them first, then the sampled ones)."""
    mean_paths: int = 0
    """How many of the ``M`` paths (the first ``mean_paths * B`` rows) followed the policy's mean rather than
    samples of it: no log-probability to learn from, so REINFORCE and the baseline skip them."""


def class_scores(logits: torch.Tensor) -> torch.Tensor:
    """Class scores inside the action space: ``2 * softmax(logits) - 1`` in [-1, 1], same argmax."""
    return 2.0 * torch.softmax(logits, dim=-1) - 1.0


def substream_seed(seed: int, name: str) -> int:
    """The seed of the random stream ``name`` (``"env"``, ``"dropout"``, ...) that goes with ``seed``.

    The training loop seeds the location noise's generator with one number per step (a function of the run's
    seed, the step and the rank) and passes the same number to :func:`run_episodes`. Two torch generators
    seeded alike draw the same uniform numbers, so whatever else is seeded from that step must draw from a
    stream of its own: a hash of ``seed`` and ``name`` (numpy's ``SeedSequence``), 63 bits.
    """
    tag = int.from_bytes(name.encode(), "little")
    state = np.random.SeedSequence([int(seed) % 2**64, tag]).generate_state(2, np.uint32)
    return int(state[0]) << 31 | int(state[1]) >> 1


def env_seed(seed: int) -> int:
    """The env's reset seed that :func:`run_episodes` derives from its ``seed`` argument.

    Seeded with ``seed`` itself, the env's random initial locations (``initial_location="random"`` on a
    train split) would fix the location noise drawn from a generator seeded alike: for the Gaussian policy
    the first noise would be a function of (correlated with) the location the agent has just seen; for the
    random-location control the second glimpse would look exactly where the first had. On ``val`` and
    ``test`` the env draws nothing (canvases and first locations are fixed per image), so the evaluation
    figures do not depend on this.
    """
    return substream_seed(seed, "env")


def make_action(location: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """The env action ``[x, y, score_0 ... score_{n-1}]`` ``(N, 2 + n)``, detached and in the action box."""
    return torch.cat([location.clamp(-1.0, 1.0), class_scores(logits)], dim=-1).detach()


def check_terminal_reward(reward_mode: str) -> None:
    """ValueError unless ``reward_mode`` is ``"terminal"``: RAM's training and its error rates read an episode's last
    reward as the env's terminal payment (1 right, 0 wrong; -1 an unknown image named as a known character)."""
    if reward_mode != "terminal":
        raise ValueError(f"RAM needs the env's reward_mode='terminal' (its training and errors read the last step's "
                         f"reward as 1 right, 0 wrong), got {reward_mode!r}: 'cross_entropy' is for general-purpose "
                         f"agents")


def run_episodes(
    model: RAM,
    envs: Any,
    index: torch.Tensor,
    num_samples: int = 1,
    deterministic: bool = False,
    seed: int | None = None,
    generator: torch.Generator | None = None,
    mean_paths: int = 0,
) -> EpisodeBatch:
    """Run one episode per row of a native glimpse vector env (``autoreset_mode="disabled"``).

    ``index`` ``(B,)`` names the images of the env's split; each is shown ``num_samples`` times, so
    ``B * num_samples`` must equal ``envs.num_envs``. Locations are sampled from the Gaussian policy
    (``deterministic``: its mean; ``mean_paths``: the mean in the first ``mean_paths`` of each image's
    ``num_samples`` paths only). ``seed`` seeds the env's reset (initial locations, canvases) through
    :func:`env_seed`, a stream of its own, so ``generator``, the location noise, may be seeded with the same
    number. Gradients flow through ``features`` only when grad is enabled.
    """
    num_glimpses = model.config.num_glimpses
    if int(envs.num_glimpses) != num_glimpses:
        raise ValueError(f"the model expects {num_glimpses} glimpses per episode, the env has {envs.num_glimpses}")
    check_terminal_reward(getattr(getattr(envs, "config", None), "reward_mode", "terminal"))
    if not 0 <= mean_paths < num_samples:
        raise ValueError(f"mean_paths must be in [0, num_samples = {num_samples}): at least one path per image is "
                         f"sampled, got {mean_paths}")
    tiled = torch.as_tensor(index, dtype=torch.int64).repeat(num_samples)
    if tiled.shape != (envs.num_envs,):
        raise ValueError(f"len(index) * num_samples must equal envs.num_envs = {envs.num_envs}, "
                         f"got {tuple(torch.as_tensor(index).shape)} * {num_samples}")
    obs, _ = envs.reset(seed=None if seed is None else env_seed(seed), options={"index": tiled})
    n = envs.num_envs
    mean_rows = mean_paths * (n // num_samples)
    device = obs["glimpse"].device
    state = model.initial_state(n, device)
    no_scores = torch.zeros(n, model.config.num_classes, device=device)
    features, locations = [], []
    info: dict[str, Any] = {}
    reward = torch.zeros(n, device=device)
    for t in range(num_glimpses):
        state, h = model.step(obs["glimpse"], obs["location"], state)
        features.append(h)
        with torch.no_grad():
            if t < num_glimpses - 1:  # choose where to look next; the scores are ignored
                sample = model.next_location(h, deterministic, generator)
                if mean_rows and not deterministic:  # the mean paths: the sample minus its noise
                    sample[:mean_rows] = model.location_policy(h[:mean_rows])[0]
                locations.append(sample)
                action = make_action(sample, no_scores)
            else:  # classify; the location is ignored
                action = make_action(torch.zeros(n, 2, device=device), model.classifier(h))
        obs, reward, _terminated, _truncated, info = envs.step(action)
    if "label" not in info:
        raise RuntimeError(f"the env did not end its episodes after num_glimpses={num_glimpses} steps")
    empty = torch.zeros(n, 0, 2, device=device)
    return EpisodeBatch(
        features=torch.stack(features, dim=1),
        locations=torch.stack(locations, dim=1) if locations else empty,
        reward=reward.to(torch.float32),
        label=info["label"],
        index=info["index"],
        num_samples=num_samples,
        mean_paths=mean_paths,
    )


@torch.no_grad()
def class_probabilities(
    model: RAM,
    envs: Any,
    num_samples: int = 10,
    num_images: int | None = None,
    seed: int = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The Monte Carlo class distribution of each of the first ``num_images`` images (default: all) of the env's
    split, and their labels from the env: ``(num_images, C)`` softmax averaged over ``num_samples`` sampled location
    paths per image, and ``(num_images,)`` int64.

    ``envs.num_envs`` must be a multiple of ``num_samples``; each batch of ``envs.num_envs // num_samples`` images
    draws its paths (and its initial locations, canvases) from ``seed`` and its first image's position, so the same
    model gives the same figures in any process. Batches that would run past the split are padded with the last
    image, and the padding is dropped. It runs in eval mode and in the parameters' precision (a
    ``model.compute_dtype`` set for training is cleared while it runs).
    """
    total = int(envs.num_images) if num_images is None else min(int(num_images), int(envs.num_images))
    n = envs.num_envs
    if num_samples < 1 or n % num_samples:
        raise ValueError(f"envs.num_envs = {n} must be a multiple of num_samples = {num_samples}")
    batch = n // num_samples
    device = model.classifier.weight.device
    probabilities, labels = [], []
    with _evaluation(model):
        for start in range(0, total, batch):
            count = min(batch, total - start)
            index = torch.arange(start, start + batch, device=device).clamp_(max=total - 1)
            noise = torch.Generator(device=device).manual_seed(seed + start)  # MC paths repeat, whatever ran before
            episodes = run_episodes(model, envs, index, num_samples, seed=seed + start, generator=noise)
            logits = model.classifier(episodes.features[:, -1])
            probabilities.append(torch.softmax(logits, dim=-1).view(num_samples, batch, -1).mean(0)[:count])
            labels.append(episodes.label.view(num_samples, batch)[0, :count].to(device))
    return torch.cat(probabilities), torch.cat(labels)


@contextlib.contextmanager
def _evaluation(model: RAM) -> Iterator[None]:
    """:func:`agents.networks.eval_mode` (no dropout) and the parameters' precision for the block, then both as
    they were."""
    compute_dtype = model.compute_dtype
    model.compute_dtype = None  # figures in the parameters' precision, whatever a training loop set
    try:
        with eval_mode(model):
            yield
    finally:
        model.compute_dtype = compute_dtype


@torch.no_grad()
def evaluate(
    model: RAM,
    envs: Any,
    num_samples: int = 10,
    num_images: int | None = None,
    seed: int = 0,
    monte_carlo: bool = True,
) -> dict[str, float]:
    """Error rates over the first ``num_images`` images (default: all) of the env's split.

    - ``"error_deterministic"``: one episode per image with the mean locations, judged by the env
      (its reward); ``"mean_reward"``: the mean of those episodes' rewards (under the terminal reward, 1 - the error,
      or for Omniglot's open set its +1 / 0 / -1 score).
    - ``"error_mc"``: ``num_samples`` sampled location paths per image; the class is the argmax of
      the softmax averaged over the paths (:func:`class_probabilities`). ``envs.num_envs`` must be a multiple of
      ``num_samples``. Left out with ``monte_carlo=False``, which runs the deterministic episodes only (and ignores
      ``num_samples``).

    Also returns ``"num_images"``. Batches that would run past the split are padded with the last
    image and the padding is not counted. Everything random (initial locations, canvases, the MC
    paths) is drawn from ``seed``, so the same model gives the same figures in any process. It runs in the
    parameters' precision: a ``model.compute_dtype`` set for training is cleared while it runs.
    """
    total = int(envs.num_images) if num_images is None else min(int(num_images), int(envs.num_images))
    n = envs.num_envs
    if monte_carlo and (num_samples < 1 or n % num_samples):
        raise ValueError(f"envs.num_envs = {n} must be a multiple of num_samples = {num_samples}")
    device = model.classifier.weight.device
    wrong_det = torch.zeros((), dtype=torch.int64, device=device)
    total_reward = torch.zeros((), dtype=torch.float64, device=device)
    with _evaluation(model):
        for start in range(0, total, n):
            count = min(n, total - start)
            index = torch.arange(start, start + n, device=device).clamp_(max=total - 1)
            episodes = run_episodes(model, envs, index, 1, deterministic=True, seed=seed + start,
                                    generator=torch.Generator(device=device).manual_seed(seed + start))
            wrong_det += (episodes.reward[:count] < 0.5).sum().to(device)
            total_reward += episodes.reward[:count].sum().to(device)
    result = {"error_deterministic": wrong_det.item() / total, "mean_reward": total_reward.item() / total,
              "num_images": float(total)}
    if monte_carlo:
        probabilities, labels = class_probabilities(model, envs, num_samples, total, seed)
        result["error_mc"] = (probabilities.argmax(-1) != labels).sum().item() / total
    return result
