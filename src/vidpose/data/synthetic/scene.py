"""Scene pieces: cluttered backgrounds, the camera (pan and shake), foreground occluders, polygon clipping.

Coordinates: "world pixels" are the frame coordinates of an unmoved camera; a frame at time t shows world
pixel ``p`` at ``p - camera(t)``. The background canvas covers the world pixels ``[-pad_x, W + pad_x) x
[-pad_y, H + pad_y)``. Colours are BGR float32 in 0..255. Sizes are (H, W).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

__all__ = [
    "Camera",
    "Background",
    "Occluder",
    "make_background",
    "sample_camera",
    "sample_occluder",
    "clip_polygon",
]


# ---------------------------------------------------------------------------------------- camera
@dataclass(frozen=True)
class Camera:
    """Camera offset in pixels as a function of time (frames): a pan, a slow drift and bursts of shake.

    Attributes:
        pan: (vx, vy) pan velocity in pixels per frame (zero at the middle of the clip).
        mid: the clip's middle time; the offset is 0 there.
        drift_amp, drift_freq, drift_phase: [2, 2] slow sinusoidal drift per axis.
        shake_amp: [T] shake amplitude per frame (0 outside bursts), interpolated in time.
        shake_period: [2] shake periods (frames) for x and y.
        shake_phase: [2] shake phases.
    """

    pan: tuple[float, float]
    mid: float
    drift_amp: np.ndarray
    drift_freq: np.ndarray
    drift_phase: np.ndarray
    shake_amp: np.ndarray
    shake_period: np.ndarray
    shake_phase: np.ndarray

    def offset(self, t: float) -> np.ndarray:
        """[2] (dx, dy) at time t."""
        dt = t - self.mid
        off = np.array(self.pan) * dt
        off = off + (
            self.drift_amp
            * (
                np.sin(self.drift_freq * t + self.drift_phase)
                - np.sin(self.drift_freq * self.mid + self.drift_phase)
            )
        ).sum(axis=1)
        n = len(self.shake_amp)
        amp = float(np.interp(t, np.arange(n), self.shake_amp)) if n else 0.0
        if amp > 0.0:
            off = off + amp * np.sin(2.0 * math.pi * t / self.shake_period + self.shake_phase) * np.array(
                [1.0, 0.6]
            )
        return off

    def extent(self, num_frames: int) -> tuple[float, float]:
        """Largest |dx|, |dy| over the clip (sampled at quarter frames)."""
        ts = np.linspace(-1.0, num_frames, 4 * (num_frames + 1) + 1)
        offs = np.stack([self.offset(float(t)) for t in ts])
        return float(np.abs(offs[:, 0]).max()), float(np.abs(offs[:, 1]).max())


def sample_camera(
    rng: np.random.Generator, num_frames: int, p_pan: float, max_speed: float, shake_amp: np.ndarray
) -> Camera:
    """A camera that pans with probability ``p_pan`` (speed up to ``max_speed`` px/frame) and drifts a little.

    Args:
        shake_amp: [T] shake amplitude per frame, from the degradation schedule.
    """
    pan = (0.0, 0.0)
    if rng.uniform() < p_pan:
        speed = rng.uniform(0.3, 1.0) * max_speed
        ang = rng.uniform(-0.35, 0.35) + (0.0 if rng.uniform() < 0.5 else math.pi)
        pan = (float(speed * math.cos(ang)), float(speed * math.sin(ang)))
    drift_amp = rng.uniform(0.0, 2.0, (2, 2))
    drift_freq = 2.0 * math.pi / rng.uniform(15.0, 60.0, (2, 2))
    return Camera(
        pan=pan,
        mid=0.5 * (num_frames - 1),
        drift_amp=drift_amp,
        drift_freq=drift_freq,
        drift_phase=rng.uniform(0.0, 2.0 * math.pi, (2, 2)),
        shake_amp=np.asarray(shake_amp, np.float64),
        shake_period=rng.uniform(2.2, 4.5, 2),
        shake_phase=rng.uniform(0.0, 2.0 * math.pi, 2),
    )


# ---------------------------------------------------------------------------------------- background
@dataclass
class Background:
    """A static canvas larger than the frame.

    Attributes:
        image: [H + 2 pad_y, W + 2 pad_x, 3] float32.
        pad: (pad_y, pad_x).
    """

    image: np.ndarray
    pad: tuple[int, int]

    def view(self, offset: np.ndarray, frame_hw: tuple[int, int]) -> np.ndarray:
        """The frame-sized crop seen by a camera at ``offset`` (sub-pixel: bilinear): [H, W, 3] float32."""
        H, W = frame_hw
        ox, oy = float(offset[0]) + self.pad[1], float(offset[1]) + self.pad[0]
        if ox == int(ox) and oy == int(oy):
            return self.image[int(oy) : int(oy) + H, int(ox) : int(ox) + W].copy()
        return cv2.getRectSubPix(self.image, (W, H), (ox + 0.5 * (W - 1), oy + 0.5 * (H - 1)))


def _random_colour(rng: np.random.Generator, lo: float = 20, hi: float = 235) -> tuple[float, float, float]:
    c = rng.uniform(lo, hi, 3)
    grey = c.mean()
    c = grey + (c - grey) * rng.uniform(0.2, 1.0)  # mostly muted
    return (float(c[0]), float(c[1]), float(c[2]))


def _noise_field(
    rng: np.random.Generator, cells: tuple[int, int], hw: tuple[int, int], ch: int
) -> np.ndarray:
    small = rng.standard_normal((cells[0], cells[1], ch)).astype(np.float32)
    out = cv2.resize(small, (hw[1], hw[0]), interpolation=cv2.INTER_CUBIC)
    return out.reshape(hw[0], hw[1], ch)


def make_background(
    rng: np.random.Generator, frame_hw: tuple[int, int], pad: tuple[int, int], horizon: float
) -> Background:
    """A cluttered scene: two-tone gradient split at ``horizon`` (world y), blotchy noise, random shapes,
    lines, window grids and limb-like distractors (skin- and cloth-coloured tapered bars), plus fine grain."""
    H, W = frame_hw[0] + 2 * pad[0], frame_hw[1] + 2 * pad[1]
    hy = int(round(horizon + pad[0]))
    top0, top1 = np.array(_random_colour(rng, 60, 240)), np.array(_random_colour(rng, 40, 220))
    bot0, bot1 = np.array(_random_colour(rng, 30, 200)), np.array(_random_colour(rng, 20, 180))
    img = np.empty((H, W, 3), np.float32)
    ys = np.arange(H, dtype=np.float32)[:, None]
    u_top = np.clip(ys / max(hy, 1), 0, 1)
    u_bot = np.clip((ys - hy) / max(H - hy, 1), 0, 1)
    sky = top0 + (top1 - top0) * u_top[:, :, None]  # [H, 1, 3]
    ground = bot0 + (bot1 - bot0) * u_bot[:, :, None]
    img[:] = np.where((ys < hy)[:, :, None], sky, ground)
    # Large soft blotches: mostly brightness, a little colour.
    cells = (int(rng.integers(3, 7)), int(rng.integers(4, 9)))
    img += rng.uniform(8, 25) * _noise_field(rng, cells, (H, W), 1)
    img += rng.uniform(2, 8) * _noise_field(rng, cells, (H, W), 3)

    scale = frame_hw[0]
    for _ in range(int(rng.integers(4, 12))):  # blocks, some with window grids
        x, y = rng.uniform(-0.1 * W, W), rng.uniform(-0.1 * H, H)
        w, h = rng.uniform(0.05, 0.45) * scale, rng.uniform(0.05, 0.6) * scale
        col = _random_colour(rng)
        cv2.rectangle(img, (int(x), int(y)), (int(x + w), int(y + h)), col, -1)
        if rng.uniform() < 0.4:
            step = rng.uniform(0.03, 0.08) * scale
            dark = tuple(0.6 * c for c in col)
            for gx in np.arange(x + step / 2, x + w - step / 2, step):
                for gy in np.arange(y + step / 2, y + h - step / 2, step):
                    cv2.rectangle(
                        img, (int(gx), int(gy)), (int(gx + step * 0.5), int(gy + step * 0.6)), dark, -1
                    )
    for _ in range(int(rng.integers(3, 10))):  # discs and rings
        c = (int(rng.uniform(0, W)), int(rng.uniform(0, H)))
        r = int(rng.uniform(0.02, 0.15) * scale)
        cv2.circle(
            img,
            c,
            max(r, 1),
            _random_colour(rng),
            -1 if rng.uniform() < 0.6 else int(rng.integers(1, 5)),
            cv2.LINE_AA,
        )
    for _ in range(int(rng.integers(2, 6))):  # irregular polygons
        n = int(rng.integers(3, 7))
        c = rng.uniform([0, 0], [W, H])
        pts = c + rng.uniform(-0.12, 0.12, (n, 2)) * scale
        cv2.fillPoly(img, [pts.astype(np.int32)], _random_colour(rng), cv2.LINE_AA)
    for _ in range(int(rng.integers(4, 14))):  # lines: poles, wires, edges
        p0 = rng.uniform([0, 0], [W, H])
        p1 = p0 + rng.uniform(-0.5, 0.5, 2) * scale
        cv2.line(
            img,
            tuple(int(v) for v in p0),
            tuple(int(v) for v in p1),
            _random_colour(rng),
            int(rng.integers(1, 5)),
            cv2.LINE_AA,
        )
    skin = np.array([[196, 214, 241], [128, 160, 205], [70, 95, 140]], np.float32)
    for _ in range(int(rng.integers(3, 9))):  # limb-like distractors, sometimes two jointed segments
        col = skin[rng.integers(3)] if rng.uniform() < 0.5 else np.array(_random_colour(rng))
        p0 = rng.uniform([0, 0], [W, H])
        length = rng.uniform(0.08, 0.22) * scale
        width = rng.uniform(0.025, 0.06) * scale
        ang = rng.uniform(0, 2 * math.pi)
        for _seg in range(1 if rng.uniform() < 0.5 else 2):
            p1 = p0 + length * np.array([math.cos(ang), math.sin(ang)])
            _tapered_bar(
                img, p0, p1, width / 2, width * rng.uniform(0.6, 0.9) / 2, tuple(float(v) for v in col)
            )
            p0, ang, width = p1, ang + rng.uniform(-1.6, 1.6), width * 0.8
    img += rng.uniform(3, 10) * _noise_field(rng, (H // 6 + 1, W // 6 + 1), (H, W), 1)
    img += rng.uniform(1.5, 4.0) * rng.standard_normal((H, W, 1), dtype=np.float32)
    return Background(np.clip(img, 0, 255), pad)


def _tapered_bar(img: np.ndarray, a: np.ndarray, b: np.ndarray, ra: float, rb: float, colour) -> None:
    ang = np.linspace(0, 2 * math.pi, 12, endpoint=False)
    circ = np.stack([np.cos(ang), np.sin(ang)], 1)
    pts = np.concatenate([a + ra * circ, b + rb * circ]).astype(np.float32)
    hull = cv2.convexHull(pts)[:, 0, :]
    cv2.fillConvexPoly(img, np.round(hull * 16).astype(np.int32), colour, cv2.LINE_AA, 4)


# ---------------------------------------------------------------------------------------- occluders
@dataclass(frozen=True)
class Occluder:
    """A textured foreground object moving in world pixels: centre(t) = ``center + velocity * (t - t_ref)``.

    Attributes:
        colour: [h, w, 3] float32 patch premultiplied by alpha; alpha: [h, w] float32 coverage.
        center: (x, y) world pixels at ``t_ref``; velocity: (vx, vy) pixels per frame.
    """

    colour: np.ndarray
    alpha: np.ndarray
    center: tuple[float, float]
    velocity: tuple[float, float]
    t_ref: float

    def top_left(self, t: float) -> tuple[int, int]:
        h, w = self.alpha.shape
        cx = self.center[0] + self.velocity[0] * (t - self.t_ref)
        cy = self.center[1] + self.velocity[1] * (t - self.t_ref)
        return int(round(cx - w / 2)), int(round(cy - h / 2))


def sample_occluder(
    rng: np.random.Generator,
    target: tuple[float, float],
    target_height: float,
    t_ref: float,
    frame_hw: tuple[int, int],
    supersample: int,
) -> Occluder:
    """An occluder that covers world point ``target`` at time ``t_ref``: a panel, a pole, a blob or a bush,
    sized relative to the person it is aimed at (``target_height`` pixels) and moving (or not) across it."""
    kind = ("panel", "pole", "blob", "bush")[int(rng.choice(4, p=[0.3, 0.2, 0.3, 0.2]))]
    ss = supersample
    if kind == "pole":
        w, h = rng.uniform(0.08, 0.18) * target_height, frame_hw[0] * rng.uniform(1.0, 1.6)
    elif kind == "panel":
        w, h = rng.uniform(0.25, 0.7) * target_height, rng.uniform(0.2, 0.7) * target_height
    else:
        w = h = rng.uniform(0.25, 0.6) * target_height
        h *= rng.uniform(0.7, 1.4)
    w, h = max(int(w), 4), max(int(h), 4)
    mask = np.zeros((h * ss, w * ss), np.uint8)
    if kind in ("panel", "pole"):
        mask[:] = 255
    elif kind == "blob":
        n = 9
        ang = np.sort(rng.uniform(0, 2 * math.pi, n))
        rad = rng.uniform(0.65, 1.0, n)
        pts = np.stack(
            [(0.5 + 0.5 * rad * np.cos(ang)) * w * ss, (0.5 + 0.5 * rad * np.sin(ang)) * h * ss], 1
        )
        cv2.fillPoly(mask, [pts.astype(np.int32)], 255)
    else:
        for _ in range(int(rng.integers(5, 10))):
            c = (int(rng.uniform(0.25, 0.75) * w * ss), int(rng.uniform(0.25, 0.75) * h * ss))
            cv2.circle(mask, c, int(rng.uniform(0.15, 0.3) * min(w, h) * ss), 255, -1)
    base = np.array(_random_colour(rng, 20, 230), np.float32)
    if kind == "bush":
        base = np.array([rng.uniform(20, 70), rng.uniform(70, 160), rng.uniform(20, 80)], np.float32)
    tex = 1.0 + rng.uniform(0.05, 0.3) * _noise_field(rng, (max(h // 8, 2), max(w // 8, 2)), (h, w), 1)
    if kind == "panel" and rng.uniform() < 0.5:  # stripes or planks
        period = rng.uniform(0.06, 0.2) * h
        tex = tex * (1.0 + 0.2 * np.sign(np.sin(2 * math.pi * np.arange(h) / period)))[:, None, None]
    colour = np.clip(base * tex, 0, 255).astype(np.float32)
    alpha = cv2.resize(mask.astype(np.float32) / 255.0, (w, h), interpolation=cv2.INTER_AREA)
    colour *= alpha[:, :, None]
    speed = rng.uniform(1.0, 12.0) if rng.uniform() < 0.75 else 0.0
    ang = rng.uniform(-0.5, 0.5) + (0.0 if rng.uniform() < 0.5 else math.pi)
    if kind == "pole":
        ang = 0.0 if rng.uniform() < 0.5 else math.pi
    offset = rng.uniform(-0.25, 0.25, 2) * target_height
    return Occluder(
        colour=colour,
        alpha=alpha,
        center=(float(target[0] + offset[0]), float(target[1] + offset[1])),
        velocity=(float(speed * math.cos(ang)), float(speed * math.sin(ang) * 0.3)),
        t_ref=float(t_ref),
    )


# ---------------------------------------------------------------------------------------- polygons
def clip_polygon(poly: np.ndarray, frame_hw: tuple[int, int]) -> np.ndarray:
    """Sutherland-Hodgman clip of a polygon [P, 2] to the frame rectangle [0, W-1] x [0, H-1]: [Q, 2] (Q may
    be 0)."""
    H, W = frame_hw
    out = [tuple(map(float, p)) for p in poly]
    for axis, bound, keep_below in ((0, 0.0, False), (0, W - 1.0, True), (1, 0.0, False), (1, H - 1.0, True)):
        if not out:
            break
        src, out = out, []

        def inside(p, axis=axis, bound=bound, keep_below=keep_below) -> bool:
            return p[axis] <= bound if keep_below else p[axis] >= bound

        for i, cur in enumerate(src):
            prev = src[i - 1]
            if inside(cur) != inside(prev):
                u = (bound - prev[axis]) / (cur[axis] - prev[axis])
                out.append((prev[0] + u * (cur[0] - prev[0]), prev[1] + u * (cur[1] - prev[1])))
            if inside(cur):
                out.append(cur)
    return np.array(out, np.float64).reshape(-1, 2)
