"""Key-frame corruptions for training: an occluder pasted on the crop, a linear motion blur.

They act on one model-input crop (after the affine warp), so their sizes are fractions of the crop and do not
depend on the source resolution. Both are pure functions of the image and the generator, which keeps a
dataset item a function of (seed, epoch, rank, index). Used by :class:`vidpose.data.dataset.PoseTrackWindows`
with ``data.augment.key_frame_occlude_prob`` / ``key_frame_blur_prob``.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

__all__ = ["occlude", "motion_blur"]

#: Occluder area as a fraction of the crop's area, drawn uniformly.
OCCLUDER_AREA = (0.10, 0.35)
#: Blur length as a fraction of the crop's height, drawn uniformly.
BLUR_LENGTH = (0.04, 0.12)


def occlude(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``image`` [H, W, 3] uint8 with a textured rectangle pasted over it -> a new [H, W, 3] uint8 array.

    The rectangle covers ``OCCLUDER_AREA`` of the crop, has an aspect ratio in [1/2, 2], and its centre lies
    in the middle 60 % (width) / 70 % (height) of the crop, where the person is; its fill is a random colour
    with per-pixel noise (standard deviation 25 grey levels).
    """
    H, W = image.shape[:2]
    area = rng.uniform(*OCCLUDER_AREA) * H * W
    aspect = math.exp(rng.uniform(math.log(0.5), math.log(2.0)))  # height / width
    h = int(round(min(math.sqrt(area * aspect), H)))
    w = int(round(min(area / max(h, 1), W)))
    cy = rng.uniform(0.15, 0.85) * H
    cx = rng.uniform(0.20, 0.80) * W
    y0 = int(np.clip(round(cy - h / 2), 0, H - h))
    x0 = int(np.clip(round(cx - w / 2), 0, W - w))
    colour = rng.integers(0, 256, size=3).astype(np.float32)
    noise = rng.normal(0.0, 25.0, size=(h, w, 1)).astype(np.float32)
    out = image.copy()
    out[y0 : y0 + h, x0 : x0 + w] = np.clip(colour + noise, 0, 255).astype(np.uint8)
    return out


def motion_blur(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``image`` [H, W, 3] uint8 averaged along a line of ``BLUR_LENGTH`` x H pixels at a random angle ->
    a new [H, W, 3] uint8 array (borders reflected)."""
    H = image.shape[0]
    length = max(int(round(rng.uniform(*BLUR_LENGTH) * H)), 2)
    angle = rng.uniform(0.0, math.pi)
    size = length if length % 2 == 1 else length + 1
    kernel = np.zeros((size, size), dtype=np.float32)
    c = size // 2
    dx, dy = math.cos(angle) * (length - 1) / 2, math.sin(angle) * (length - 1) / 2
    p0 = (int(round(c - dx)), int(round(c - dy)))
    p1 = (int(round(c + dx)), int(round(c + dy)))
    cv2.line(kernel, p0, p1, 1.0, thickness=1)
    kernel /= kernel.sum()
    return cv2.filter2D(image, -1, kernel, borderType=cv2.BORDER_REFLECT)
