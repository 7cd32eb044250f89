"""Crop transforms for a window: small callables on a typed :class:`Sample`, ONE affine warp for all T frames.

Legend: T frames, K joints, (H, W) input (crop) size, image sizes are (height, width) too.

Random transforms only change the crop parameters (``center``, ``size_wh``, ``rotation``, ``flipped``); one
:class:`TopdownAffine` then warps every frame with the same matrix (flip folded in) and maps the keypoints;
:class:`ColorJitter` is the one photometric step and applies the same jitter to every frame. Inference uses
the same :func:`sample_from_box` + :class:`TopdownAffine`, so the crop is the crop of training.

Pixel convention (see :mod:`vidpose.codec`): pixel centres at integer coordinates; the enlarged box ``[cx -
sw/2, cx + sw/2]`` maps onto the input pixels ``[0, W - 1]`` (ViTPose's UDP), and a flip is ``x -> W - 1 -
x``.

    >>> sample = sample_from_box(frames, box, input_size=(256, 192), bbox_scale=1.25, keypoints=kp, rng=rng)
    >>> sample = build_pipeline(cfg.data, (256, 192), train=True)(sample)
    >>> clip = to_tensor_normalized(sample.images, cfg.data.mean, cfg.data.std)   # [T, 3, H, W]
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np
import torch
from torch import Tensor

from ..config import DataConfig
from ..skeleton import PT18

__all__ = [
    "Sample",
    "box_to_center_scale",
    "get_affine",
    "apply_affine",
    "sample_from_box",
    "RandomFlip",
    "RandomHalfBody",
    "RandomScaleRotate",
    "TopdownAffine",
    "ColorJitter",
    "Compose",
    "build_pipeline",
    "to_tensor_normalized",
]

#: PT18 channels of the upper and lower body (for the half-body crop); their home is :data:`PT18`.
LOWER_BODY: tuple[int, ...] = PT18.lower_body
UPPER_BODY: tuple[int, ...] = PT18.upper_body


@dataclass
class Sample:
    """One window on its way to the model.

    Attributes:
        frames: T source frames, each [h_img, w_img, 3] uint8 RGB (an array repeats at clamped borders).
        keypoints: [K, 3] (x, y, visible) in key-frame image pixels, or None (detected boxes, inference).
        center: [2] crop centre (x, y) in image pixels.
        size_wh: [2] crop size (w, h) in image pixels (the box already enlarged and fitted to the input
            aspect); named (w, h) because every other size in vidpose is (H, W).
        rotation: degrees; positive turns the image content clockwise on screen.
        flipped: mirror the crop horizontally (left/right joints are swapped at warp time).
        rng: the source of randomness for the random transforms.
        images: [T, H, W, 3] uint8, after :class:`TopdownAffine`.
        input_keypoints: [K, 3] (x, y, visible) in input pixels, after :class:`TopdownAffine` (or None).
        affine: [2, 3] image -> input pixels, after :class:`TopdownAffine`.
        inv_affine: [2, 3] input -> image pixels, after :class:`TopdownAffine`.
    """

    frames: list[np.ndarray]
    keypoints: np.ndarray | None
    center: np.ndarray
    size_wh: np.ndarray
    rotation: float = 0.0
    flipped: bool = False
    rng: np.random.Generator = field(default_factory=np.random.default_rng)
    images: np.ndarray | None = None
    input_keypoints: np.ndarray | None = None
    affine: np.ndarray | None = None
    inv_affine: np.ndarray | None = None


Transform = Callable[[Sample], Sample]


# ----------------------------------------------------------------------------------------------- geometry
def _fit_aspect(w: float, h: float, input_size: tuple[int, int]) -> tuple[float, float]:
    """Grow (w, h) so that w / h equals the input's W / H."""
    aspect = input_size[1] / input_size[0]
    if w > aspect * h:
        h = w / aspect
    else:
        w = h * aspect
    return w, h


def box_to_center_scale(
    box: np.ndarray | Sequence[float], input_size: tuple[int, int], bbox_scale: float
) -> tuple[np.ndarray, np.ndarray]:
    """box: [4] xywh -> center [2] (x, y), size_wh [2] (w, h): the box fitted to (H, W)'s aspect, enlarged."""
    x, y, w, h = (float(v) for v in box)
    center = np.array([x + 0.5 * w, y + 0.5 * h], dtype=np.float64)
    w, h = _fit_aspect(w, h, input_size)
    return center, np.array([w, h], dtype=np.float64) * bbox_scale


def get_affine(
    center: np.ndarray | Sequence[float],
    size_wh: np.ndarray | Sequence[float],
    rotation: float,
    out_size: tuple[int, int],
    flip: bool = False,
    inverse: bool = False,
) -> np.ndarray:
    """The crop's affine [2, 3]: image -> input pixels (``inverse``: input -> image).

    ``center`` maps to ((W - 1) / 2, (H - 1) / 2), the box of size ``size_wh`` (w, h) onto [0, W - 1] x
    [0, H - 1], rotated by ``rotation`` degrees (clockwise on screen) about the centre, then mirrored
    (``x -> W - 1 - x``) if ``flip``. ``out_size`` is (H, W).
    """
    out_h, out_w = out_size
    theta = np.deg2rad(rotation)
    cos, sin = np.cos(theta), np.sin(theta)
    sx, sy = (out_w - 1) / float(size_wh[0]), (out_h - 1) / float(size_wh[1])
    lin = np.array([[sx * cos, -sx * sin], [sy * sin, sy * cos]], dtype=np.float64)
    t = np.array([(out_w - 1) / 2, (out_h - 1) / 2], dtype=np.float64) - lin @ np.asarray(center, np.float64)
    if flip:
        lin[0] = -lin[0]
        t[0] = (out_w - 1) - t[0]
    if inverse:
        lin_inv = np.linalg.inv(lin)
        return np.concatenate([lin_inv, (-lin_inv @ t)[:, None]], axis=1)
    return np.concatenate([lin, t[:, None]], axis=1)


def apply_affine(points: np.ndarray, affine: np.ndarray) -> np.ndarray:
    """points: [..., 2] -> [..., 2] mapped by affine [2, 3]."""
    pts = np.asarray(points, dtype=np.float64)
    return pts @ affine[:, :2].T + affine[:, 2]


def sample_from_box(
    frames: list[np.ndarray],
    box: np.ndarray | Sequence[float],
    input_size: tuple[int, int],
    bbox_scale: float,
    keypoints: np.ndarray | None = None,
    rng: np.random.Generator | None = None,
) -> Sample:
    """A :class:`Sample` of T ``frames`` cropped around ``box`` [4] xywh (training and inference alike)."""
    center, size_wh = box_to_center_scale(box, input_size, bbox_scale)
    kp = None if keypoints is None else np.array(keypoints, dtype=np.float64).reshape(-1, 3)
    return Sample(
        frames=list(frames),
        keypoints=kp,
        center=center,
        size_wh=size_wh,
        rng=rng if rng is not None else np.random.default_rng(),
    )


# ----------------------------------------------------------------------------------------------- random crops
class RandomFlip:
    """With probability ``prob``, toggle ``sample.flipped`` (the flip itself is folded into the warp)."""

    def __init__(self, prob: float):
        self.prob = prob

    def __call__(self, sample: Sample) -> Sample:
        if sample.rng.random() < self.prob:
            sample.flipped = not sample.flipped
        return sample


class RandomHalfBody:
    """With probability ``prob``, re-centre the crop on the visible upper or lower body (MMPose's half-body).

    Needs at least ``min_joints`` visible joints; the chosen half must have more than two. The new crop is the
    extent of that half, fitted to the input aspect (H, W) and enlarged by ``padding``.
    """

    def __init__(self, prob: float, min_joints: int, padding: float, input_size: tuple[int, int]):
        self.prob = prob
        self.min_joints = min_joints
        self.padding = padding
        self.input_size = input_size

    def __call__(self, sample: Sample) -> Sample:
        if sample.keypoints is None or sample.rng.random() >= self.prob:
            return sample
        vis = sample.keypoints[:, 2] > 0
        if vis.sum() < self.min_joints:
            return sample
        upper = [i for i in UPPER_BODY if vis[i]]
        lower = [i for i in LOWER_BODY if vis[i]]
        if sample.rng.random() < 0.5 and len(upper) > 2:
            chosen = upper
        else:
            chosen = lower if len(lower) > 2 else upper
        if len(chosen) < 2:
            return sample
        pts = sample.keypoints[chosen, :2]
        lo, hi = pts.min(axis=0), pts.max(axis=0)
        w, h = _fit_aspect(float(hi[0] - lo[0]), float(hi[1] - lo[1]), self.input_size)
        sample.center = pts.mean(axis=0)
        sample.size_wh = np.array([w, h], dtype=np.float64) * self.padding
        return sample


class RandomScaleRotate:
    """Scale the crop by ``clip(1 + N(0, scale_sigma), 1 -/+ scale_sigma)``; with probability ``rot_prob`` add
    a rotation ``clip(N(0, rot_sigma), -rot_clip, rot_clip)`` degrees."""

    def __init__(self, scale_sigma: float, rot_sigma: float, rot_prob: float, rot_clip: float):
        self.scale_sigma = scale_sigma
        self.rot_sigma = rot_sigma
        self.rot_prob = rot_prob
        self.rot_clip = rot_clip

    def __call__(self, sample: Sample) -> Sample:
        s = self.scale_sigma
        factor = float(np.clip(1.0 + s * sample.rng.standard_normal(), 1.0 - s, 1.0 + s))
        sample.size_wh = np.asarray(sample.size_wh, dtype=np.float64) * factor
        if sample.rng.random() < self.rot_prob:
            angle = float(
                np.clip(self.rot_sigma * sample.rng.standard_normal(), -self.rot_clip, self.rot_clip)
            )
            sample.rotation = float(sample.rotation) + angle
        return sample


# ----------------------------------------------------------------------------------------------- the warp
class TopdownAffine:
    """Warp every frame with the SAME affine (bilinear, zero border) to ``out_size`` (H, W); map keypoints.

    Keypoints that leave the crop (outside [-0.5, W - 0.5] x [-0.5, H - 0.5]) become invisible; after a flip
    the left/right rows are swapped with ``flip_perm`` (default ``PT18.flip_permutation()``).
    """

    def __init__(self, out_size: tuple[int, int], flip_perm: Sequence[int] | None = None):
        self.out_size = (int(out_size[0]), int(out_size[1]))
        self.flip_perm = list(flip_perm) if flip_perm is not None else PT18.flip_permutation()

    def __call__(self, sample: Sample) -> Sample:
        out_h, out_w = self.out_size
        args = (sample.center, sample.size_wh, sample.rotation, self.out_size, sample.flipped)
        affine = get_affine(*args)
        sample.affine = affine
        sample.inv_affine = get_affine(*args, inverse=True)
        warped: dict[int, np.ndarray] = {}  # clamped windows repeat a frame: warp it once
        images = []
        for frame in sample.frames:
            key = id(frame)
            if key not in warped:
                warped[key] = cv2.warpAffine(
                    frame,
                    affine,
                    (out_w, out_h),
                    flags=cv2.INTER_LINEAR,
                    borderMode=cv2.BORDER_CONSTANT,
                    borderValue=(0, 0, 0),
                )
            images.append(warped[key])
        sample.images = np.stack(images, axis=0)
        if sample.keypoints is not None:
            kp = np.array(sample.keypoints, dtype=np.float64)
            if sample.flipped and kp.shape[0] != len(self.flip_perm):
                raise ValueError(f"{kp.shape[0]} keypoints but a flip permutation of {len(self.flip_perm)}")
            xy = apply_affine(kp[:, :2], affine)
            inside = (
                (xy[:, 0] >= -0.5)
                & (xy[:, 0] <= out_w - 0.5)
                & (xy[:, 1] >= -0.5)
                & (xy[:, 1] <= out_h - 0.5)
            )
            vis = np.where(inside, kp[:, 2], 0.0)
            out = np.concatenate([xy, vis[:, None]], axis=1)
            sample.input_keypoints = out[self.flip_perm] if sample.flipped else out
        return sample


class ColorJitter:
    """Random brightness, contrast and saturation in [1 - strength, 1 + strength], the same for all frames.

    Runs after :class:`TopdownAffine` (on ``sample.images``); the contrast pivot is the clip's mean grey.
    """

    _LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)

    def __init__(self, strength: float):
        self.strength = strength

    def __call__(self, sample: Sample) -> Sample:
        if self.strength <= 0:
            return sample
        if sample.images is None:
            raise ValueError("ColorJitter runs after TopdownAffine (sample.images is not set)")
        lo, hi = 1.0 - self.strength, 1.0 + self.strength
        brightness, contrast, saturation = (float(sample.rng.uniform(lo, hi)) for _ in range(3))
        x = sample.images.astype(np.float32) * brightness
        mean = float((x @ self._LUMA).mean())
        x = (x - mean) * contrast + mean
        grey = (x @ self._LUMA)[..., None]
        x = grey + (x - grey) * saturation
        sample.images = np.clip(np.rint(x), 0, 255).astype(np.uint8)
        return sample


class Compose:
    """Apply transforms in order."""

    def __init__(self, transforms: Sequence[Transform]):
        self.transforms = list(transforms)

    def __call__(self, sample: Sample) -> Sample:
        for t in self.transforms:
            sample = t(sample)
        return sample


def build_pipeline(cfg: DataConfig, input_size: tuple[int, int], train: bool) -> Compose:
    """Training: flip, half-body, scale/rotate, warp, colour jitter (``cfg.augment``); evaluation: warp."""
    warp = TopdownAffine(input_size)
    if not train:
        return Compose([warp])
    a = cfg.augment
    return Compose(
        [
            RandomFlip(a.flip_prob),
            RandomHalfBody(a.half_body_prob, a.half_body_min_joints, a.half_body_padding, input_size),
            RandomScaleRotate(a.scale_sigma, a.rot_sigma, a.rot_prob, a.rot_clip),
            warp,
            ColorJitter(a.color_jitter),
        ]
    )


def to_tensor_normalized(images: np.ndarray, mean: Sequence[float], std: Sequence[float]) -> Tensor:
    """images: [T, H, W, 3] uint8 RGB -> [T, 3, H, W] float32, ``(x / 255 - mean) / std`` per channel."""
    x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float().div_(255.0)
    m = torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1)
    s = torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1)
    return (x - m) / s
