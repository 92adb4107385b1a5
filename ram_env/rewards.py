"""The reward of a glimpse episode, written once for the single env and the vector env.

Two modes (the env kwarg ``reward_mode``):

- ``"terminal"``: the last step pays ``1.0`` if the argmax of its scores is the label, else ``0.0``;
  every other step pays ``0.0``. The task of Mnih et al. 2014; a 0/1 payment, so a general-purpose
  agent faces a ``K``-armed bandit per image for the class choice. In an open set (Omniglot's, whose last
  class is "unknown") it is the reference implementation's: ``1.0`` right, ``0.0`` wrong, and ``-1.0`` for an
  unknown image named as a known class (:func:`terminal_reward`).
- ``"cross_entropy"``: every step ``t = 1 ... T`` pays
  ``-CE(softmax(logit_scale * clip(scores_t, -1, 1)), label) / log K``, the negative cross-entropy of
  that step's scores, normalised so that a uniform guess costs ``1`` a step and a sure right one nearly
  ``0`` (the dense reward of the Active Perception Gym). The scores are clipped to the action box first,
  so a step costs at most ``(2 * logit_scale + log(K - 1)) / log K`` (about ``5.3`` for ``K = 10``, default scale).

>>> import torch
>>> scores = torch.tensor([[0.0] * 10, [1.0] + [-1.0] * 9])
>>> [round(r, 6) for r in cross_entropy_reward(scores, torch.tensor([0, 0]), logit_scale=5.0).tolist()]
[-1.0, -0.000177]
>>> round(max_confidence(5.0, 10), 5)
0.99959
>>> terminal_reward(torch.tensor([0, 1, 2, 2, 0]), torch.tensor([0, 2, 2, 0, 2]), unknown_class=2).tolist()
[1.0, -1.0, 1.0, 0.0, -1.0]
"""

from __future__ import annotations

import math
import numbers

import numpy as np
import torch

__all__ = ["REWARD_MODES", "DEFAULT_LOGIT_SCALE", "check_reward_mode", "check_logit_scale", "cross_entropy_reward",
           "max_confidence", "terminal_reward"]

REWARD_MODES = ("terminal", "cross_entropy")
DEFAULT_LOGIT_SCALE = 5.0
"""Scores clipped to ``[-1, 1]`` then express up to ``e^10 / (e^10 + K - 1)`` confidence: 99.96 % for ``K = 10``, at
least 99 % for every ``K <= 223``."""


def check_reward_mode(value: object) -> str:
    if not isinstance(value, str) or value not in REWARD_MODES:
        raise ValueError(f"reward_mode must be one of {list(REWARD_MODES)}, got {value!r}")
    return value


def check_logit_scale(value: object) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not math.isfinite(float(value))
        or float(value) <= 0
    ):
        raise ValueError(f"logit_scale must be a finite number > 0 (default {DEFAULT_LOGIT_SCALE}), got {value!r}")
    return float(value)


def max_confidence(logit_scale: float, num_classes: int) -> float:
    """The largest probability of the right class that scores in ``[-1, 1]`` can express at ``logit_scale``."""
    top = math.exp(2.0 * logit_scale)
    return top / (top + num_classes - 1)


def cross_entropy_reward(scores: torch.Tensor, labels: torch.Tensor, logit_scale: float) -> torch.Tensor:
    """``-CE(softmax(logit_scale * clip(scores, -1, 1)), labels) / log K`` per row, float32 ``(n,)``.

    ``scores`` is ``(n, K)`` float32, ``labels`` ``(n,)`` int64, on any device.
    """
    logits = scores.clamp(-1.0, 1.0) * logit_scale
    ce = torch.nn.functional.cross_entropy(logits, labels, reduction="none")
    return ce.mul_(-1.0 / math.log(scores.shape[-1]))


def terminal_reward(
    prediction: np.ndarray | torch.Tensor, label: np.ndarray | torch.Tensor, unknown_class: int | None = None
) -> np.ndarray | torch.Tensor:
    """The ``"terminal"`` reward of the last step, float32, of numpy's or torch's kind as the arguments are.

    ``1.0`` where ``prediction == label``, else ``0.0``; with an ``unknown_class`` (an open set), ``-1.0`` where the
    image is unknown (``label == unknown_class``) and the prediction names a known class.
    """

    def as_float(mask: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
        return mask.to(torch.float32) if isinstance(mask, torch.Tensor) else np.asarray(mask, np.float32)

    reward = as_float(prediction == label)
    if unknown_class is not None:
        reward = reward - as_float((label == unknown_class) & (prediction != unknown_class))
    return reward
