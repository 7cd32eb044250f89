"""Drawing people: clothing and skin colours, textures, tapered limbs, a head with hair and a face direction.

A person is rasterised into a label map (one label per material, near/far shade and outline) at
``supersample`` times the frame resolution, coloured through a per-person palette and texture, and
area-downsampled into an anti-aliased colour patch plus an alpha mask. Body parts are drawn far to near (by
their z in the body frame), so far limbs pass behind the torso and near ones in front.

Legend: K = 17 joints; colours are BGR float32 in 0..255; coordinates are frame pixels (pixel centres at
integers, the PoseTrack convention).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from .body import BodyPoints, BodyShape

__all__ = ["Look", "PersonLayer", "sample_look", "render_person", "project"]

# Materials; label = 1 + 3 * material + variant (0 near, 1 far, 2 outline). Label 0 = empty.
SKIN, SHIRT, PANTS, HAIR, SHOES, DARK = range(6)
_NUM_MATERIALS = 6
_NEAR, _FAR, _OUTLINE = 0, 1, 2
_SHIFT = 4  # cv2 sub-pixel bits
_ONE = 1 << _SHIFT
_TEX = 128  # texture tile resolution (cells per body height)

_SKIN_TONES = np.array(
    [[196, 214, 241], [160, 189, 226], [128, 160, 205], [96, 128, 176], [70, 95, 140], [52, 68, 100]],
    np.float32,
)
_HAIR_COLOURS = np.array(
    [[22, 22, 26], [30, 45, 70], [40, 70, 110], [90, 150, 190], [150, 150, 155], [35, 55, 130]], np.float32
)
_PANTS_COLOURS = np.array(
    [[120, 70, 40], [90, 55, 30], [35, 35, 38], [110, 110, 110], [120, 160, 175], [60, 80, 60]], np.float32
)


@dataclass(frozen=True)
class Look:
    """Appearance of one person.

    Attributes:
        colour_lut: [3, 256] uint8 B, G, R tables: colour per label (label 0 = empty = black).
        mask_lut: [3, 256] uint8 tables per label: 255 if drawn; 255 if shirt (textured); 255 if trousers.
        shirt_texture, pants_texture: [_TEX, _TEX] multiplicative modulation around 0, tiled in body heights.
        long_sleeves, shorts, long_hair: garment and hair style.
    """

    colour_lut: np.ndarray
    mask_lut: np.ndarray
    shirt_texture: np.ndarray
    pants_texture: np.ndarray
    long_sleeves: bool
    shorts: bool
    long_hair: bool


def _hsv_colour(rng: np.random.Generator) -> np.ndarray:
    hsv = np.array([[[rng.uniform(0, 180), rng.uniform(40, 235), rng.uniform(45, 245)]]], np.float32)
    return cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2BGR)[0, 0].astype(np.float32)


def _smooth_noise(rng: np.random.Generator, cells: int, size: int) -> np.ndarray:
    small = rng.standard_normal((cells, cells)).astype(np.float32)
    return cv2.resize(small, (size, size), interpolation=cv2.INTER_CUBIC)


def sample_look(rng: np.random.Generator) -> Look:
    """Random clothes (shirt: plain, stripes, checks or blotches; trousers or shorts), skin, hair."""
    skin = _SKIN_TONES[rng.integers(len(_SKIN_TONES))] * rng.uniform(0.9, 1.1)
    hair = _HAIR_COLOURS[rng.integers(len(_HAIR_COLOURS))] * rng.uniform(0.85, 1.15)
    shirt = _hsv_colour(rng)
    pants = _PANTS_COLOURS[rng.integers(len(_PANTS_COLOURS))] if rng.uniform() < 0.7 else _hsv_colour(rng)
    pants = pants * rng.uniform(0.85, 1.15)
    shoes = np.array([30, 30, 35], np.float32) if rng.uniform() < 0.6 else _hsv_colour(rng)
    base = np.stack([skin, shirt, pants, hair, shoes, np.array([25, 25, 30], np.float32)])
    palette = np.zeros((1 + 3 * _NUM_MATERIALS, 3), np.float32)
    for m in range(_NUM_MATERIALS):
        palette[1 + 3 * m + _NEAR] = base[m]
        palette[1 + 3 * m + _FAR] = base[m] * 0.72
        palette[1 + 3 * m + _OUTLINE] = base[m] * 0.42
    colour_lut = np.zeros((3, 256), np.uint8)
    colour_lut[:, : len(palette)] = np.clip(np.round(palette.T), 0, 255)
    mask_lut = np.zeros((3, 256), np.uint8)
    mask_lut[0, 1 : len(palette)] = 255
    mask_lut[1, 1 + 3 * SHIRT : 1 + 3 * SHIRT + 2] = 255  # near and far shirt, not its outline
    mask_lut[2, 1 + 3 * PANTS : 1 + 3 * PANTS + 2] = 255

    ys, xs = np.mgrid[0:_TEX, 0:_TEX].astype(np.float32) / _TEX
    kind = int(rng.integers(4))
    amp = float(rng.uniform(0.12, 0.3))
    if kind == 0:  # plain, faint blotches
        shirt_tex = 0.05 * _smooth_noise(rng, 6, _TEX)
    elif (
        kind == 1
    ):  # stripes (possibly slanted), 12-25 per body height; integer counts keep the tile seamless
        freq = int(rng.integers(12, 26))
        slant = int(rng.integers(-(3 * freq) // 10, (3 * freq) // 10 + 1)) / freq
        shirt_tex = amp * np.sign(np.sin(2 * math.pi * freq * (ys + slant * xs)))
    elif kind == 2:  # checks
        freq = int(rng.integers(8, 17))
        shirt_tex = amp * np.sign(np.sin(2 * math.pi * freq * ys) * np.sin(2 * math.pi * freq * xs))
    else:  # blotchy print
        shirt_tex = amp * np.tanh(2.0 * _smooth_noise(rng, int(rng.integers(8, 20)), _TEX))
    pants_tex = float(rng.uniform(0.03, 0.1)) * _smooth_noise(rng, 24, _TEX)
    return Look(
        colour_lut=colour_lut,
        mask_lut=mask_lut,
        shirt_texture=shirt_tex.astype(np.float32),
        pants_texture=pants_tex.astype(np.float32),
        long_sleeves=bool(rng.uniform() < 0.5),
        shorts=bool(rng.uniform() < 0.2),
        long_hair=bool(rng.uniform() < 0.3),
    )


@dataclass
class PersonLayer:
    """A rendered person clipped to the frame.

    Attributes:
        x0, y0: top-left of the patch in frame pixels.
        colour: [h, w, 3] float32 BGR premultiplied by the coverage (``img * (1 - alpha) + colour``).
        alpha: [h, w] float32 coverage in 0..1.
    """

    x0: int
    y0: int
    colour: np.ndarray
    alpha: np.ndarray


def project(points: np.ndarray, root: tuple[float, float], scale: float) -> np.ndarray:
    """Body-frame points [..., 3] (body heights) -> frame pixels [..., 2] (orthographic, ``root`` = ground
    point)."""
    return np.stack([root[0] + scale * points[..., 0], root[1] + scale * points[..., 1]], axis=-1)


_UNIT_CIRCLE = np.stack(
    [np.cos(np.arange(14) * 2 * math.pi / 14), np.sin(np.arange(14) * 2 * math.pi / 14)], 1
)


def _circle(c: np.ndarray, r: float) -> np.ndarray:
    return c[None, :2] + r * _UNIT_CIRCLE


def _capsule(a: np.ndarray, b: np.ndarray, ra: float, rb: float) -> np.ndarray:
    pts = np.concatenate([_circle(a, ra), _circle(b, rb)]).astype(np.float32)
    return cv2.convexHull(pts)[:, 0, :]


def _hull(points: np.ndarray) -> np.ndarray:
    return cv2.convexHull(points.astype(np.float32))[:, 0, :]


def _ring(center: np.ndarray, lateral: np.ndarray, forward: np.ndarray, rl: float, rf: float) -> np.ndarray:
    """[8, 3] points of a horizontal ellipse around ``center`` (lateral radius rl, depth radius rf)."""
    ang = np.linspace(0.0, 2.0 * math.pi, 8, endpoint=False)
    return center + rl * np.cos(ang)[:, None] * lateral + rf * np.sin(ang)[:, None] * forward


def render_person(
    body: BodyPoints,
    shape: BodyShape,
    look: Look,
    root: tuple[float, float],
    scale: float,
    frame_hw: tuple[int, int],
    supersample: int,
) -> PersonLayer | None:
    """Rasterise one person.

    Args:
        body: forward-kinematics points (body heights).
        shape, look: proportions and appearance.
        root: frame position (x, y) of the ground point below the pelvis.
        scale: pixels per body height.
        frame_hw: (H, W) of the frame; the patch is clipped to it.
        supersample: rasterisation factor (>= 1).

    Returns:
        the layer, or None when the person lies entirely outside the frame.
    """
    H, W = frame_hw
    ss = supersample
    P = lambda pts: project(np.asarray(pts, np.float64), root, scale)  # noqa: E731
    j = body.joints
    fwd, left, down = body.forward, body.left, np.array([0.0, 1.0, 0.0])
    up_torso = body.neck_base - body.pelvis
    up_torso = up_torso / max(float(np.linalg.norm(up_torso)), 1e-9)

    # Parts: (z, order, material, kind, first point, point count, radii); 3D points are projected at once.
    parts: list[tuple[float, int, int, str, int, int, tuple[float, float]]] = []
    points: list[np.ndarray] = []
    count = 0

    def add(
        z: float, material: int, kind: str, pts: np.ndarray, radii: tuple[float, float] = (0.0, 0.0)
    ) -> None:
        nonlocal count
        pts = np.atleast_2d(pts)
        parts.append((z, len(parts), material, kind, count, len(pts), radii))
        points.append(pts)
        count += len(pts)

    def cap(z: float, material: int, a: np.ndarray, b: np.ndarray, ra: float, rb: float) -> None:
        add(z, material, "cap", np.stack([a, b]), (ra * scale, rb * scale))

    lower_leg = SKIN if look.shorts else PANTS
    for hip, knee, ank, toe in ((11, 13, 15, 0), (12, 14, 16, 1)):
        cap((j[hip, 2] + j[knee, 2]) / 2 + 0.03, PANTS, j[hip], j[knee], shape.thigh_w / 2, shape.knee_w / 2)
        cap(
            (j[knee, 2] + j[ank, 2]) / 2 + 0.03,
            lower_leg,
            j[knee],
            j[ank],
            shape.knee_w / 2,
            shape.ankle_w / 2,
        )
        cap(
            (j[ank, 2] + body.toes[toe, 2]) / 2 + 0.029,
            SHOES,
            j[ank] - 0.02 * fwd,
            body.toes[toe],
            shape.ankle_w * 0.6,
            shape.ankle_w * 0.45,
        )
    hip_ring = _ring(
        body.pelvis + 0.02 * down, left, fwd, shape.hip_half + shape.thigh_w * 0.45, shape.chest_depth
    )
    waist_ring = _ring(
        body.pelvis + 0.09 * up_torso, left, fwd, shape.hip_half + 0.03, shape.chest_depth * 0.9
    )
    add(0.02, PANTS, "hull", np.concatenate([hip_ring, waist_ring]))
    sho_center = (j[5] + j[6]) / 2
    sho_ring = _ring(
        sho_center + 0.01 * down, left, fwd, shape.shoulder_half + shape.arm_w * 0.35, shape.chest_depth
    )
    chest_ring = _ring(
        sho_center - 0.1 * up_torso,
        left,
        fwd,
        shape.shoulder_half + shape.arm_w * 0.2,
        shape.chest_depth * 1.05,
    )
    waist2 = _ring(body.pelvis + 0.06 * up_torso, left, fwd, shape.hip_half + 0.025, shape.chest_depth * 0.9)
    add(0.0, SHIRT, "hull", np.concatenate([sho_ring, chest_ring, waist2]))
    cap(0.015, SKIN, body.neck_base - 0.01 * up_torso, j[1] + 0.01 * body.head_up, 0.026, 0.022)
    fore_mat = SHIRT if look.long_sleeves else SKIN
    for sho, elb, wri in ((5, 7, 9), (6, 8, 10)):
        cap((j[sho, 2] + j[elb, 2]) / 2 - 0.01, SHIRT, j[sho], j[elb], shape.arm_w / 2, shape.elbow_w / 2)
        cap(
            (j[elb, 2] + j[wri, 2]) / 2 - 0.011,
            fore_mat,
            j[elb],
            j[wri],
            shape.elbow_w / 2,
            shape.wrist_w / 2,
        )
        hand_dir = j[wri] - j[elb]
        hand_dir = hand_dir / max(float(np.linalg.norm(hand_dir)), 1e-9)
        cap(j[wri, 2] - 0.012, SKIN, j[wri], j[wri] + 0.045 * hand_dir, shape.wrist_w * 0.55, 0.024)
    parts.append((float(body.head_center[2]) - 0.005, len(parts), HAIR, "head", 0, 0, (0.0, 0.0)))
    pts2d = P(np.concatenate(points))

    # Patch = bounding box of everything (+ margin for the head and limb widths), clipped to the frame.
    margin = scale * (shape.head * 0.7 + 0.06) + 2
    x0 = max(int(math.floor(pts2d[:, 0].min() - margin)), 0)
    y0 = max(int(math.floor(pts2d[:, 1].min() - margin)), 0)
    x1 = min(int(math.ceil(pts2d[:, 0].max() + margin)), W)
    y1 = min(int(math.ceil(pts2d[:, 1].max() + margin)), H)
    if x1 <= x0 or y1 <= y0:
        return None
    canvas = _Raster(x0, y0, y1 - y0, x1 - x0, ss, outline=max(1, int(round(0.005 * scale * ss))))
    for z, _, material, kind, first, n, radii in sorted(parts, key=lambda p: (-p[0], p[1])):
        variant = _FAR if z > 0.045 else _NEAR
        if kind == "cap":
            canvas.polygon(_capsule(pts2d[first], pts2d[first + 1], *radii), material, variant)
        elif kind == "hull":
            canvas.polygon(_hull(pts2d[first : first + n]), material, variant)
        else:
            _draw_head(canvas, body, shape, look, P, scale)

    return _colourise(canvas.labels, look, x0, y0, ss, root, scale)


def _colourise(labels: np.ndarray, look: Look, x0: int, y0: int, ss: int, root, scale: float) -> PersonLayer:
    """Label map [h * ss, w * ss] -> premultiplied colour and coverage at frame resolution, textures
    applied."""
    hs, ws = labels.shape
    h, w = hs // ss, ws // ss
    # cv2.LUT is several times faster per single-channel table than with a 3-channel one.
    colour = cv2.merge([cv2.LUT(labels, look.colour_lut[c]) for c in range(3)])
    masks = cv2.merge([cv2.LUT(labels, look.mask_lut[c]) for c in range(3)])  # coverage, shirt, trousers
    if ss > 1:
        colour = cv2.resize(colour, (w, h), interpolation=cv2.INTER_AREA)
        masks = cv2.resize(masks, (w, h), interpolation=cv2.INTER_AREA)
    masks = masks.astype(np.float32) * (1.0 / 255.0)
    colour = colour.astype(np.float32)  # premultiplied: empty labels are black
    k = _TEX / max(scale, 1e-6)  # tile cells per frame pixel
    rows = np.floor((np.arange(h) + y0 - root[1]) * k).astype(np.int64) % _TEX
    cols = np.floor((np.arange(w) + x0 - root[0]) * k).astype(np.int64) % _TEX
    factor = None
    for channel, tile in ((1, look.shirt_texture), (2, look.pants_texture)):
        cov = masks[:, :, channel]
        if cov.any():
            term = cov * tile[rows[:, None], cols[None, :]]
            factor = term if factor is None else factor + term
    if factor is not None:
        colour *= (1.0 + factor)[:, :, None]
    return PersonLayer(x0, y0, colour, np.ascontiguousarray(masks[:, :, 0]))


class _Raster:
    """A supersampled label map over the frame window [y0, y0 + h) x [x0, x0 + w)."""

    def __init__(self, x0: int, y0: int, h: int, w: int, ss: int, outline: int) -> None:
        self.x0, self.y0, self.ss, self.outline = x0, y0, ss, outline
        self.labels = np.zeros((h * ss, w * ss), np.uint8)

    def fixed(self, p2: np.ndarray) -> np.ndarray:
        """Frame pixels [..., 2] -> fixed-point supersampled pixels (pixel centres stay aligned)."""
        q = (np.asarray(p2, np.float64) - np.array([self.x0, self.y0])) * self.ss + 0.5 * (self.ss - 1)
        return np.round(q * _ONE).astype(np.int32)

    def polygon(self, poly: np.ndarray, material: int, variant: int) -> None:
        """Convex polygon [P, 2] (frame pixels) with a dark outline."""
        pts = self.fixed(poly)
        cv2.polylines(
            self.labels, [pts], True, _label(material, _OUTLINE), 2 * self.outline, cv2.LINE_8, _SHIFT
        )
        cv2.fillConvexPoly(self.labels, pts, _label(material, variant), cv2.LINE_8, _SHIFT)

    def ellipse(self, center: np.ndarray, rx: float, ry: float, angle: float, label: int) -> None:
        """Filled ellipse; rx, ry in frame pixels, angle in degrees (rx axis direction)."""
        c = self.fixed(center) / _ONE
        size = (2.0 * rx * self.ss, 2.0 * ry * self.ss)
        cv2.ellipse(self.labels, ((float(c[0]), float(c[1])), size, angle), label, -1, cv2.LINE_8)

    def circle(self, center: np.ndarray, r: float, label: int) -> None:
        c = self.fixed(center)
        rad = int(round(max(r * self.ss, 1.0) * _ONE))
        cv2.circle(self.labels, (int(c[0]), int(c[1])), rad, label, -1, cv2.LINE_8, _SHIFT)


def _label(material: int, variant: int) -> int:
    return 1 + 3 * material + variant


def _draw_head(canvas: _Raster, body: BodyPoints, shape: BodyShape, look: Look, P, scale: float) -> None:
    """Hair, a face turned by the head yaw, eyes and a nose."""
    hc = body.head_center
    up, fwd = body.head_up, body.head_forward
    c2 = P(hc)
    up2 = P(hc + up) - c2
    angle = math.degrees(math.atan2(up2[1], up2[0])) + 90.0  # the ry axis along the head's up
    rx, ry = shape.head_rx * scale, 0.5 * shape.head * 1.02 * scale
    edge = canvas.outline / canvas.ss
    if look.long_hair:
        back = hc - 0.45 * shape.head_rx * fwd
        low = body.neck_base - 0.3 * shape.head_rx * fwd
        canvas.polygon(_capsule(P(back), P(low), rx * 0.95, rx * 0.75), HAIR, _FAR)
    canvas.ellipse(c2, rx + edge, ry + edge, angle, _label(HAIR, _OUTLINE))
    canvas.ellipse(c2, rx, ry, angle, _label(HAIR, _NEAR))
    facing = -float(fwd[2])  # 1 = towards the camera, -1 = away
    if facing <= -0.25:
        return
    # Face: a skin ellipse shifted towards the face direction and down, leaving a hair cap on top.
    face_c = P(hc + 0.32 * shape.head_rx * fwd - 0.17 * shape.head * up)
    canvas.ellipse(face_c, rx * (0.62 + 0.28 * max(facing, 0.0)), ry * 0.72, angle, _label(SKIN, _NEAR))
    left = np.cross(up, fwd)
    for side in (1.0, -1.0):
        eye = hc + shape.head_rx * (0.8 * fwd + 0.36 * side * left) - 0.02 * shape.head * up
        if -float((eye - hc)[2]) > 0.15 * shape.head_rx:  # on the visible hemisphere
            canvas.circle(P(eye), 0.011 * scale, _label(DARK, _NEAR))
    nose = body.joints[0]
    if -float((nose - hc)[2]) > -0.3 * shape.head_rx:
        canvas.circle(P(nose), 0.013 * scale, _label(SKIN, _FAR))
