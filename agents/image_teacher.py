"""A whole-image classifier as a distillation teacher for RAM: it sees every pixel, the student only glimpses.

A RAM policy is limited by what its few glimpses show; a small convolutional network that sees the whole image
learns the same task far more accurately, and its class distribution of each training image (which classes an
image resembles, not only which one it is) is a soft target a glimpse policy can learn from (Hinton et al. 2015).
The teacher is trained on the same training split (``python train/image_teacher.py``; never on val or test) and
is used only while training: the student is evaluated, as always, on its glimpses alone.

:class:`ImageTeacher` is the file: the network with the task it was trained on (``env_id``, ``env_kwargs``), saved
and loaded like :class:`agents.policy.RAMPolicy` (``weights_only=True``). ``python train/ram_agent.py --teacher
FILE`` takes either kind of file.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from agents.networks import eval_mode
from agents.policy import read_model_file, resolve_device, to_plain, write_model_file

__all__ = ["ImageClassifier", "ImageTeacher", "is_image_teacher_file"]

_FORMAT = "image_classifier/1"


def _conv(in_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
                         nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True))


class ImageClassifier(nn.Module):
    """Three stages of two 3x3 convolutions (``width``, 2 ``width``, 4 ``width`` channels, batch norm, ReLU), each
    stage halving the resolution by max pooling, then a global average and a linear layer to class logits.

    Takes uint8 (or 0-255 float) images ``(B, C, H, W)``; any size of at least 8x8.
    """

    def __init__(self, in_channels: int, num_classes: int, width: int = 32) -> None:
        super().__init__()
        if in_channels < 1 or num_classes < 2 or width < 1:
            raise ValueError(f"need in_channels >= 1, num_classes >= 2 and width >= 1, got {in_channels}, "
                             f"{num_classes} and {width}")
        self.in_channels, self.num_classes, self.width = in_channels, num_classes, width
        layers: list[nn.Module] = []
        channels = in_channels
        for stage in range(3):
            out = width * 2**stage
            layers += [_conv(channels, out), _conv(out, out), nn.MaxPool2d(2)]
            channels = out
        self.features = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Linear(channels, num_classes)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(images.float() / 255.0))


class ImageTeacher:
    """An :class:`ImageClassifier` with the task it was trained on: ``env_id`` and ``env_kwargs`` (as a RAM
    policy's; the file is refused as a teacher for any other task)."""

    def __init__(self, model: ImageClassifier, env_id: str, env_kwargs: Mapping[str, Any] | None = None) -> None:
        self.model = model
        self.env_id = env_id
        self.env_kwargs = to_plain(dict(env_kwargs or {}))

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @torch.no_grad()
    def class_probabilities(self, images: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
        """``(N, num_classes)`` float32: the softmax of each of ``images`` ``(N, C, H, W)`` (uint8), in eval mode,
        on the teacher's device."""
        with eval_mode(self.model):
            parts = [torch.softmax(self.model(images[i:i + batch_size].to(self.device)).float(), dim=-1)
                     for i in range(0, images.shape[0], batch_size)]
        return torch.cat(parts)

    def save(self, path: str | os.PathLike) -> None:
        """Write the network's shape, weights, ``env_id`` and ``env_kwargs`` to ``path`` atomically."""
        model = self.model
        config = {"in_channels": model.in_channels, "num_classes": model.num_classes, "width": model.width}
        write_model_file(path, _FORMAT, config, model, self.env_id, self.env_kwargs)

    @classmethod
    def load(cls, path: str | os.PathLike, device: str | torch.device = "auto") -> ImageTeacher:
        """Read a file written by :meth:`save` (with ``weights_only=True``) onto ``device`` ("auto": CUDA if any)."""
        target = resolve_device(device)
        payload = read_model_file(path, _FORMAT, "an image classifier", target)
        model = ImageClassifier(**payload["config"])
        model.load_state_dict(payload["state_dict"])
        model.to(target).eval()
        return cls(model, payload["env_id"], payload["env_kwargs"])


def is_image_teacher_file(path: str | os.PathLike) -> bool:
    """Whether ``path`` holds an :class:`ImageTeacher` (read with ``weights_only=True``; False for other files)."""
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # not a torch file at all: the caller's own loader says what is wrong with it
        return False
    return isinstance(payload, dict) and payload.get("format") == _FORMAT
