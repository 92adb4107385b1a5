"""Pictures of an episode: the image, enlarged, with each glimpse's squares and the path so far."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from ram_env.retina import centre_pixels

__all__ = ["draw_glimpses"]

_TARGET_SIDE = 256
_PATH = (255, 200, 0)
_OLD = (255, 140, 0)
_NEW = (0, 255, 0)


def draw_glimpses(
    image: np.ndarray,
    locations: Sequence[tuple[float, float]],
    glimpse_size: int,
    num_scales: int,
    label: str | None = None,
) -> np.ndarray:
    """Draw glimpses on ``image`` (uint8 ``(C, H, W)``, C = 1 or 3): uint8 ``(H', W', 3)`` RGB.

    The image is enlarged by an integer factor to at least 256 pixels a side. Every glimpse taken
    so far is drawn as its ``num_scales`` squares (the latest in green, earlier ones in orange),
    joined by the path of glimpse centres; ``label`` is written in the top-left corner.
    """
    c, h, w = image.shape
    factor = max(1, -(-_TARGET_SIDE // max(h, w)))
    rgb = np.repeat(image, 3, axis=0) if c == 1 else image
    canvas = np.ascontiguousarray(rgb.transpose(1, 2, 0))
    canvas = cv2.resize(canvas, (w * factor, h * factor), interpolation=cv2.INTER_NEAREST)
    centres = []
    if len(locations):  # the retina's own centre pixels, so the picture shows exactly what was seen
        xs, ys = centre_pixels(np.asarray(locations, dtype=np.float64).reshape(-1, 2), h, w)
        for cx, cy in zip(xs.tolist(), ys.tolist()):
            centres.append((cx * factor + factor // 2, cy * factor + factor // 2, cx, cy))
    for (ax, ay, _, _), (bx, by, _, _) in zip(centres, centres[1:]):
        cv2.line(canvas, (ax, ay), (bx, by), _PATH, 1, cv2.LINE_AA)
    for t, (_, _, cx, cy) in enumerate(centres):
        colour = _NEW if t == len(centres) - 1 else _OLD
        for s in range(num_scales):
            side = glimpse_size * 2**s
            top, left = cy - side // 2, cx - side // 2
            cv2.rectangle(
                canvas,
                (left * factor, top * factor),
                ((left + side) * factor - 1, (top + side) * factor - 1),
                colour,
                1,
            )
    if label is not None:
        cv2.putText(canvas, label, (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
    return canvas
