"""One synthetic clip: sampling its content (people, camera, background, occluders, crowd, degradations) and
rendering any of its frames with exact per-person labels.

World model: a pinhole camera with focal length ``focal`` (pixels), horizon at ``horizon`` (frame y) and
height ``cam_height`` (metres) looks at people standing on a ground plane at depth Z (metres). A person of
``height_m`` metres at (X, Z) stands at frame x ``cx + focal X / Z`` and foot y ``horizon + focal cam_height /
Z``, and is ``focal height_m / Z`` pixels tall (orthographic within the body). Nearer people (smaller Z) are
drawn later. The camera's pan and shake shift the whole image (a rotation), see :class:`scene.Camera`.

Labels (PoseTrack18 convention): every joint inside the frame is labelled ``(x, y, 1)`` whether it is visible
or hidden (occluded joints are scored, the point of the benchmark); joints outside the frame and both ears are
``(0, 0, 0)``. Legend: K = 17 joints, T frames, H, W frame size.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import cv2
import numpy as np

from .body import MOTION_KINDS, BodyPoints, BodyShape, Motion, body_points, sample_motion, sample_shape
from .config import SynthConfig
from .degrade import FrameDegradation, add_noise, blur_length, defocus, low_light, noise_bank, sample_schedule
from .render import Look, PersonLayer, project, render_person, sample_look
from .scene import Background, Camera, Occluder, clip_polygon, make_background, sample_camera, sample_occluder

__all__ = ["SPLITS", "PersonTrack", "ClipSpec", "PersonLabel", "FrameRender", "sample_clip", "render_frame"]

#: split name -> code used in seeds, sequence names and image ids.
SPLITS: dict[str, int] = {"train": 1, "val": 2, "test": 3}

_EARS = (3, 4)
_SCORED = tuple(j for j in range(17) if j not in _EARS)
# Random-stream purposes within a clip.
_CONTENT, _NOISE, _DETECT = 0, 1, 2


@dataclass(frozen=True)
class PersonTrack:
    """One annotated person: body, look, motion and a straight world trajectory.

    Attributes:
        track_id: index within the clip.
        height_m: standing height in metres.
        x_mid, z_mid: world position (metres) at the middle of the clip.
        vx, vz: world velocity (metres per frame).
    """

    track_id: int
    shape: BodyShape
    look: Look
    motion: Motion
    height_m: float
    x_mid: float
    z_mid: float
    vx: float
    vz: float


@dataclass(frozen=True)
class ClipSpec:
    """Everything needed to render the frames of one clip (deterministically).

    Attributes:
        name: sequence name (``<6-digit id>_mpii_synth``, the PoseTrack18 naming poseval expects).
        seq_index: the 6-digit id (split code x 100000 + clip index).
        entropy: (seed, split code, clip index): roots every random stream of the clip.
        ignore_polygon: [P, 2] world-pixel ignore region around the crowd, or None.
        crowd_boxes: [C, 4] world-pixel xywh boxes of the unannotated crowd figures.
        noise: unit noise the frames crop their sensor noise from (see ``degrade.noise_bank``).
    """

    name: str
    seq_index: int
    entropy: tuple[int, int, int]
    cfg: SynthConfig
    focal: float
    horizon: float
    cam_height: float
    camera: Camera
    background: Background
    people: tuple[PersonTrack, ...]
    occluders: tuple[Occluder, ...]
    ignore_polygon: np.ndarray | None
    crowd_boxes: np.ndarray
    degradations: tuple[FrameDegradation, ...]
    noise: np.ndarray

    @property
    def num_frames(self) -> int:
        return len(self.degradations)


@dataclass
class PersonLabel:
    """Ground truth of one person in one frame.

    Attributes:
        keypoints: [K, 3] (x, y, 1) inside the frame, (0, 0, 0) outside and for the ears.
        joint_occluded: [K] bool, joint hidden by an occluder or a nearer person.
        box: [4] xywh, silhouette (occluded parts included) plus keypoints, clipped to the frame.
        head_box: [4] xywh around the head (not clipped: it sets the PCKh scale).
        occlusion: fraction of the in-frame silhouette hidden by occluders and nearer people.
        blur: effective blur length in pixels (motion over the exposure and defocus, see ``blur_length``).
        hard: occlusion > cfg.hard_occlusion or blur > cfg.hard_blur_head_ratio x head size.
        annotated: at least ``cfg.min_joints_in_frame`` joints inside the frame.
    """

    track_id: int
    keypoints: np.ndarray
    joint_occluded: np.ndarray
    box: np.ndarray
    head_box: np.ndarray
    occlusion: float
    blur: float
    hard: bool
    annotated: bool


@dataclass
class FrameRender:
    """A rendered frame and its labels.

    Attributes:
        image: [H, W, 3] uint8 BGR (before JPEG compression).
        persons: one label per track (also the unannotated ones, with ``annotated`` False).
        degradation: what was applied.
        ignore_region: [P, 2] polygon in frame pixels clipped to the frame, or None.
        crowd_boxes: [C, 4] xywh frame boxes of visible crowd figures.
    """

    image: np.ndarray
    persons: list[PersonLabel]
    degradation: FrameDegradation
    ignore_region: np.ndarray | None
    crowd_boxes: np.ndarray


def stream(entropy: tuple[int, int, int], purpose: int, *extra: int) -> np.random.Generator:
    """An independent random stream of a clip (``purpose`` and ``extra`` keys: e.g. the frame index)."""
    seed, split_code, clip_index = entropy
    ss = np.random.SeedSequence(entropy=seed, spawn_key=(split_code, clip_index, purpose, *extra))
    return np.random.default_rng(ss)


# ---------------------------------------------------------------------------------------- sampling
def sample_clip(cfg: SynthConfig, seed: int, split: str, clip_index: int) -> ClipSpec:
    """Draw the content of clip ``clip_index`` of ``split``; the same arguments always give the same clip."""
    split_code = SPLITS[split]
    entropy = (int(seed), split_code, int(clip_index))
    rng = stream(entropy, _CONTENT)
    H, W = cfg.frame_size
    T = cfg.frames_per_clip
    degradations = sample_schedule(rng, cfg, T)
    camera = sample_camera(
        rng, T, cfg.p_camera_pan, cfg.max_pan_speed, np.array([d.shake for d in degradations])
    )
    ext_x, ext_y = camera.extent(T)
    pad = (int(math.ceil(ext_y)) + 4, int(math.ceil(ext_x)) + 4)
    focal = H * rng.uniform(1.0, 1.4)
    horizon = H * rng.uniform(0.2, 0.4)
    cam_height = rng.uniform(1.0, 1.5)
    background = make_background(rng, cfg.frame_size, pad, horizon)

    num_people = int(rng.integers(cfg.people_range[0], cfg.people_range[1] + 1))
    weights = np.asarray(cfg.motion_weights, np.float64)
    people: list[PersonTrack] = []
    x_first = 0.0
    for tid in range(num_people):
        height_m = rng.uniform(1.55, 1.92)
        frac = rng.uniform(*cfg.person_height_range)
        z_mid = focal * height_m / (frac * H)
        kind = MOTION_KINDS[int(rng.choice(len(MOTION_KINDS), p=weights / weights.sum()))]
        if kind == "walk":
            speed = rng.uniform(*cfg.walk_speed_range)  # body heights per frame
            heading = rng.uniform(-0.5, 0.5) + (0.0 if rng.uniform() < 0.5 else math.pi)
            if rng.uniform() < 0.25:  # towards or away from the camera
                heading = rng.uniform(-0.4, 0.4) + (0.5 * math.pi if rng.uniform() < 0.5 else -0.5 * math.pi)
        else:
            speed = rng.uniform(0.0, 0.006)
            heading = rng.uniform(0.0, 2.0 * math.pi)
        vx = speed * height_m * math.cos(heading)
        vz = -speed * height_m * math.sin(heading)
        # Walking in depth changes the size: keep it within [0.7 x min, 1.15 x max] of the height range.
        z_near = focal * height_m / (1.15 * cfg.person_height_range[1] * H)
        z_far = focal * height_m / (0.7 * cfg.person_height_range[0] * H)
        limit = min(z_mid - z_near, z_far - z_mid) / max((T - 1) / 2.0, 1.0)
        if abs(vz) > limit:  # turn the heading sideways, keep the speed
            v = speed * height_m
            vz = math.copysign(max(limit, 0.0), vz)
            vx = math.copysign(math.sqrt(max(v * v - vz * vz, 0.0)), vx if vx != 0.0 else 1.0)
            heading = math.atan2(-vz, vx)
        if kind == "walk":
            yaw = math.atan2(math.cos(heading), math.sin(heading))  # = pi/2 - heading, wrapped
        else:
            yaw = rng.uniform(-1.3, 1.3) if rng.uniform() < 0.85 else math.pi + rng.uniform(-0.5, 0.5)
        motion = sample_motion(rng, kind, yaw, speed)
        if tid > 0 and rng.uniform() < 0.35:  # near the first person: overlaps and passing
            x_img = x_first + rng.choice([-1.0, 1.0]) * rng.uniform(0.08, 0.35) * W
        else:
            x_img = rng.uniform(0.12, 0.88) * W
        if tid == 0:
            x_first = x_img
        x_mid = (x_img - 0.5 * W) * z_mid / focal
        people.append(
            PersonTrack(
                tid,
                sample_shape(rng),
                sample_look(rng),
                motion,
                float(height_m),
                float(x_mid),
                float(z_mid),
                float(vx),
                float(vz),
            )
        )

    ignore_polygon, crowd_boxes = None, np.zeros((0, 4))
    if rng.uniform() < cfg.p_ignore_region:
        ignore_polygon, crowd_boxes = _add_crowd(rng, cfg, background, horizon)

    spec = ClipSpec(
        name=f"{split_code * 100000 + clip_index:06d}_mpii_synth",
        seq_index=split_code * 100000 + clip_index,
        entropy=entropy,
        cfg=cfg,
        focal=float(focal),
        horizon=float(horizon),
        cam_height=float(cam_height),
        camera=camera,
        background=background,
        people=tuple(people),
        occluders=(),
        ignore_polygon=ignore_polygon,
        crowd_boxes=crowd_boxes,
        degradations=tuple(degradations),
        noise=noise_bank(stream(entropy, _NOISE), cfg.frame_size),
    )
    occluders = []
    for _ in range(int(rng.poisson(cfg.occluders_per_clip))):
        person = people[int(rng.integers(len(people)))]
        t_ref = rng.uniform(0.0, T - 1.0)
        root, scale = world_root(spec, person, t_ref)
        target = (root[0], root[1] - 0.55 * scale)
        occluders.append(sample_occluder(rng, target, scale, t_ref, cfg.frame_size, cfg.supersample))
    return dataclasses.replace(spec, occluders=tuple(occluders))


def _add_crowd(
    rng: np.random.Generator, cfg: SynthConfig, background: Background, horizon: float
) -> tuple[np.ndarray, np.ndarray]:
    """Draw 3-7 small static people into the background inside a region; return the region polygon (world
    pixels, slightly larger than the figures' area) and the figures' boxes."""
    H, W = cfg.frame_size
    rw, rh = rng.uniform(0.25, 0.5) * W, rng.uniform(0.18, 0.3) * H
    cx, cy = rng.uniform(0.2, 0.8) * W, horizon + rng.uniform(-0.05, 0.1) * H
    x0, y0 = cx - rw / 2, cy - rh / 2
    boxes = []
    pad_y, pad_x = background.pad
    canvas_hw = background.image.shape[:2]
    for _ in range(int(rng.integers(3, 8))):
        h_px = rng.uniform(0.55, 0.9) * rh
        shape, look = sample_shape(rng), sample_look(rng)
        kind = MOTION_KINDS[int(rng.integers(len(MOTION_KINDS)))]
        yaw = rng.uniform(-math.pi, math.pi)
        body = body_points(shape, sample_motion(rng, kind, yaw, 0.0).angles(float(rng.uniform(0, 20))))
        foot_y = y0 + rh - rng.uniform(0.0, rh - h_px)
        gx = rng.uniform(x0 + 0.2 * h_px, x0 + rw - 0.2 * h_px)
        layer = render_person(
            body, shape, look, (gx + pad_x, foot_y + pad_y), h_px, canvas_hw, cfg.supersample
        )
        if layer is None:
            continue
        _composite(background.image, layer)
        pts = project(np.concatenate([body.joints, body.toes]), (gx, foot_y), h_px)
        bx0, by0 = pts.min(axis=0) - 0.06 * h_px
        bx1, by1 = pts.max(axis=0) + 0.06 * h_px
        boxes.append([bx0, by0, bx1 - bx0, by1 - by0])
    boxes_arr = np.array(boxes, np.float64).reshape(-1, 4)
    if len(boxes_arr):
        lo = boxes_arr[:, :2].min(axis=0)
        hi = (boxes_arr[:, :2] + boxes_arr[:, 2:]).max(axis=0)
    else:
        lo, hi = np.array([x0, y0]), np.array([x0 + rw, y0 + rh])
    margin = 0.05 * H
    corners = np.array([[lo[0], lo[1]], [hi[0], lo[1]], [hi[0], hi[1]], [lo[0], hi[1]]])
    outward = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], np.float64)
    polygon = corners + outward * (margin + rng.uniform(0.0, margin, (4, 1)))
    mids = (polygon + np.roll(polygon, -1, axis=0)) / 2  # extra vertices bulging outwards a little
    normal = np.array([[0, -1], [1, 0], [0, 1], [-1, 0]], np.float64)
    mids = mids + normal * rng.uniform(0.0, margin, (4, 1))
    polygon = np.stack([polygon, mids], axis=1).reshape(-1, 2)
    return polygon, boxes_arr


# ---------------------------------------------------------------------------------------- rendering
def world_root(spec: ClipSpec, person: PersonTrack, t: float) -> tuple[tuple[float, float], float]:
    """Ground point under the pelvis (world pixels) and pixels per body height at time t."""
    z = person.z_mid + person.vz * (t - spec.camera.mid)
    x = person.x_mid + person.vx * (t - spec.camera.mid)
    H, W = spec.cfg.frame_size
    root = (0.5 * W + spec.focal * x / z, spec.horizon + spec.focal * spec.cam_height / z)
    return root, spec.focal * person.height_m / z


@dataclass
class _PersonState:
    person: PersonTrack
    depth: float
    root: tuple[float, float]  # frame pixels
    scale: float
    joints2d: np.ndarray  # [K, 2] frame pixels
    body: BodyPoints


def _states(spec: ClipSpec, t: float) -> list[_PersonState]:
    off = spec.camera.offset(t)
    out = []
    for p in spec.people:
        (rx, ry), scale = world_root(spec, p, t)
        root = (rx - float(off[0]), ry - float(off[1]))
        body = body_points(p.shape, p.motion.angles(t))
        depth = p.z_mid + p.vz * (t - spec.camera.mid)
        out.append(_PersonState(p, depth, root, scale, project(body.joints, root, scale), body))
    return out


def _composite(img: np.ndarray, layer: PersonLayer | tuple) -> None:
    if isinstance(layer, PersonLayer):
        x0, y0, colour, alpha = layer.x0, layer.y0, layer.colour, layer.alpha
    else:
        x0, y0, colour, alpha = layer
    h, w = alpha.shape
    region = img[y0 : y0 + h, x0 : x0 + w]
    keep = 1.0 - alpha
    # In place through cv2 (row-strided views are fine): ~10x faster than numpy broadcasting here.
    cv2.multiply(region, cv2.merge((keep, keep, keep)), dst=region)
    cv2.add(region, colour, dst=region)  # colour is premultiplied


def _occluder_patch(o: Occluder, t: float, off: np.ndarray, frame_hw: tuple[int, int]):
    """The part of occluder ``o`` inside the frame at time t: (x0, y0, colour, alpha) or None."""
    H, W = frame_hw
    left, top = o.top_left(t)
    left, top = left - int(round(float(off[0]))), top - int(round(float(off[1])))
    h, w = o.alpha.shape
    x0, y0, x1, y1 = max(left, 0), max(top, 0), min(left + w, W), min(top + h, H)
    if x1 <= x0 or y1 <= y0:
        return None
    sl = (slice(y0 - top, y1 - top), slice(x0 - left, x1 - left))
    return x0, y0, o.colour[sl], o.alpha[sl]


def _compose(
    spec: ClipSpec,
    t: float,
    with_occluders: bool,
    fixed_layers: dict[int, PersonLayer | None] | None = None,
    background: np.ndarray | None = None,
):
    """Render the scene at time t (no degradation).

    Args:
        fixed_layers: layers to reuse instead of re-rendering (people who do not move during the exposure).
        background: background view to reuse (a camera that does not move during the exposure).

    Returns:
        image [H, W, 3] float32, per-person layers (by track id), occluder coverage [H, W] float32 (or None),
        person states, the background view.
    """
    cfg = spec.cfg
    off = spec.camera.offset(t)
    view = spec.background.view(off, cfg.frame_size) if background is None else background
    img = view.copy()
    states = _states(spec, t)
    layers: dict[int, PersonLayer | None] = {}
    for st in sorted(states, key=lambda s: (-s.depth, s.person.track_id)):
        tid = st.person.track_id
        if fixed_layers is not None and tid in fixed_layers:
            layer = fixed_layers[tid]
        else:
            layer = render_person(
                st.body, st.person.shape, st.person.look, st.root, st.scale, cfg.frame_size, cfg.supersample
            )
        layers[tid] = layer
        if layer is not None:
            _composite(img, layer)
    cover = None
    if with_occluders and spec.occluders:
        cover = np.zeros(cfg.frame_size, np.float32)
        for o in spec.occluders:
            patch = _occluder_patch(o, t, off, cfg.frame_size)
            if patch is None:
                continue
            _composite(img, patch)
            x0, y0, _, alpha = patch
            h, w = alpha.shape
            np.maximum(cover[y0 : y0 + h, x0 : x0 + w], alpha, out=cover[y0 : y0 + h, x0 : x0 + w])
    return img, layers, cover, states, view


def _displacements(spec: ClipSpec, t: float, exposure: float) -> tuple[np.ndarray, float]:
    """Joint travel during the exposure: per person [N, K] pixels, and the largest image motion of
    anything."""
    a, b = _states(spec, t - exposure / 2), _states(spec, t + exposure / 2)
    disp = np.stack([np.linalg.norm(sb.joints2d - sa.joints2d, axis=1) for sa, sb in zip(a, b, strict=True)])
    cam = float(np.linalg.norm(spec.camera.offset(t + exposure / 2) - spec.camera.offset(t - exposure / 2)))
    occ = max((math.hypot(*o.velocity) * exposure for o in spec.occluders), default=0.0)
    return disp, max(float(disp.max(initial=0.0)), cam, occ)


def render_frame(spec: ClipSpec, index: int, clean: bool = False) -> FrameRender:
    """Render frame ``index`` with its labels.

    Args:
        clean: no occluders, no blur, no noise, normal light (the same people, poses and camera), for
            looking at; labels are still computed (occlusion then counts only nearer people).
    """
    cfg = spec.cfg
    H, W = cfg.frame_size
    t = float(index)
    deg = spec.degradations[index]
    if clean:
        deg = FrameDegradation(0.0, deg.shake, 0.0, 0.0, cfg.jpeg_quality, 1.0, 1.0)
    disp, largest = _displacements(spec, t, deg.exposure) if deg.exposure > 0 else (None, 0.0)
    steps = 1
    if largest > 0.5 * cfg.subframe_step_px:
        steps = min(int(math.ceil(largest / cfg.subframe_step_px)) + 1, cfg.max_subframes)
        if steps % 2 == 0:  # odd, so that the middle sub-frame is the labelled instant
            steps = steps + 1 if steps < cfg.max_subframes else steps - 1
    img, layers, cover, states, view = _compose(spec, t, with_occluders=not clean)
    if steps > 1:
        # Sub-frames over the exposure, centred on the labelled instant; still people and a still camera
        # are reused rather than re-rendered.
        still = {tid: layers[tid] for tid in layers if float(disp[tid].max(initial=0.0)) < 0.5}
        half = 0.5 * deg.exposure
        cam_moves = float(np.linalg.norm(spec.camera.offset(t + half) - spec.camera.offset(t - half))) >= 0.25
        acc = img.copy()
        for k in range(steps):
            if k == steps // 2:
                continue
            tau = t + deg.exposure * (k / (steps - 1) - 0.5)
            acc += _compose(spec, tau, not clean, still, None if cam_moves else view)[0]
        img = acc / steps
    img = defocus(img, deg.defocus_sigma)
    img = low_light(img, deg.light_gain, deg.light_gamma)
    img = add_noise(img, deg.noise_sigma, spec.noise, stream(spec.entropy, _NOISE, index))
    image = np.clip(np.round(img), 0, 255).astype(np.uint8)

    persons = _labels(spec, states, layers, cover, disp, deg)
    off = spec.camera.offset(t)
    region = None
    if spec.ignore_polygon is not None:
        poly = clip_polygon(spec.ignore_polygon - off[None, :], (H, W))
        region = poly if len(poly) >= 3 else None
    crowd = spec.crowd_boxes.copy()
    if len(crowd):
        crowd[:, :2] -= off[None, :]
        crowd = _clip_boxes(crowd, (H, W))
        crowd = crowd[(crowd[:, 2] > 2) & (crowd[:, 3] > 2)]
    return FrameRender(image, persons, deg, region, crowd)


def _clip_boxes(boxes: np.ndarray, frame_hw: tuple[int, int]) -> np.ndarray:
    """xywh boxes [N, 4] clipped to [0, W] x [0, H]."""
    H, W = frame_hw
    x0 = np.clip(boxes[:, 0], 0, W)
    y0 = np.clip(boxes[:, 1], 0, H)
    x1 = np.clip(boxes[:, 0] + boxes[:, 2], 0, W)
    y1 = np.clip(boxes[:, 1] + boxes[:, 3], 0, H)
    return np.stack([x0, y0, x1 - x0, y1 - y0], axis=1)


def _head_box(st: _PersonState) -> np.ndarray:
    """xywh box of the head ellipse (hair included)."""
    shape, body = st.person.shape, st.body
    c = project(body.head_center, st.root, st.scale)
    up2 = project(body.head_center + body.head_up, st.root, st.scale) - c
    theta = math.atan2(up2[1], up2[0]) + 0.5 * math.pi
    a, b = shape.head_rx * st.scale, 0.5 * shape.head * 1.02 * st.scale
    ex = math.sqrt((a * math.cos(theta)) ** 2 + (b * math.sin(theta)) ** 2)
    ey = math.sqrt((a * math.sin(theta)) ** 2 + (b * math.cos(theta)) ** 2)
    return np.array([c[0] - ex, c[1] - ey, 2 * ex, 2 * ey])


def _labels(spec, states, layers, cover, disp, deg: FrameDegradation) -> list[PersonLabel]:
    cfg = spec.cfg
    H, W = cfg.frame_size
    front = np.zeros((H, W), np.float32) if cover is None else cover.copy()
    labels: dict[int, PersonLabel] = {}
    for st in sorted(states, key=lambda s: (s.depth, s.person.track_id)):  # nearest first
        tid = st.person.track_id
        xy = np.round(st.joints2d, 2)  # as written to JSON, so that "inside the frame" holds for the file
        inside = (xy[:, 0] >= 0) & (xy[:, 0] < W) & (xy[:, 1] >= 0) & (xy[:, 1] < H)
        inside[list(_EARS)] = False
        kp = np.zeros((17, 3))
        kp[inside, :2] = xy[inside]
        kp[inside, 2] = 1.0
        occluded = np.zeros(17, bool)
        ij = np.clip(np.round(xy).astype(np.int64), [0, 0], [W - 1, H - 1])
        occluded[inside] = front[ij[inside, 1], ij[inside, 0]] > 0.5
        layer = layers[tid]
        occlusion, box = 0.0, None
        if layer is not None:
            h, w = layer.alpha.shape
            region = front[layer.y0 : layer.y0 + h, layer.x0 : layer.x0 + w]
            area = float(layer.alpha.sum())
            if area > 0:
                occlusion = 1.0 - float((layer.alpha * (1.0 - region)).sum()) / area
            np.maximum(region, layer.alpha, out=region)
            ys, xs = np.nonzero(layer.alpha > 0.3)
            if len(xs):
                box = [
                    layer.x0 + xs.min(),
                    layer.y0 + ys.min(),
                    layer.x0 + xs.max() + 1,
                    layer.y0 + ys.max() + 1,
                ]
        if inside.any():
            lo, hi = xy[inside].min(axis=0), xy[inside].max(axis=0)
            box = (
                [lo[0], lo[1], hi[0], hi[1]]
                if box is None
                else [min(box[0], lo[0]), min(box[1], lo[1]), max(box[2], hi[0]), max(box[3], hi[1])]
            )
        box_xywh = (
            np.zeros(4) if box is None else np.array([box[0], box[1], box[2] - box[0], box[3] - box[1]])
        )
        box_xywh = _clip_boxes(box_xywh[None], (H, W))[0]
        head = np.round(_head_box(st), 2)
        motion = float(disp[tid][inside].mean()) if disp is not None and inside.any() else 0.0
        blur = round(blur_length(motion, deg.defocus_sigma), 2)
        occlusion = round(min(max(occlusion, 0.0), 1.0), 3)
        head_size = 0.6 * math.hypot(head[2], head[3])
        hard = occlusion > cfg.hard_occlusion or blur > cfg.hard_blur_head_ratio * head_size
        annotated = int(inside.sum()) >= cfg.min_joints_in_frame
        labels[tid] = PersonLabel(tid, kp, occluded, box_xywh, head, occlusion, blur, bool(hard), annotated)
    return [labels[p.track_id] for p in spec.people]
