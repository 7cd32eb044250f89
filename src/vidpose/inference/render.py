"""Draw tracked poses on frames and compose demo views.

Legend: H, W = frame height and width; K = joints; s = a scale factor. Frames are RGB ``uint8`` [H, W, 3];
colours are RGB tuples; boxes are ``[x, y, w, h]``; keypoints are [K, 3] (x, y, score), pixel centres at
integer coordinates. Every function returns a new array and leaves its input untouched.

Small frames are drawn upscaled: :func:`upscale_frame` enlarges the image and :func:`scale_poses` maps the
poses onto it, so that :func:`draw_poses` draws thin anti-aliased lines and visible joints on the large frame
(instead of thick blocky ones enlarged afterwards).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import cv2
import numpy as np

from ..skeleton import PT18, Skeleton

__all__ = [
    "PALETTE",
    "TENTATIVE_COLOUR",
    "track_colour",
    "draw_poses",
    "upscale_frame",
    "scale_poses",
    "side_by_side",
    "titled_panels",
    "mark_frame",
]

#: Colour per track id (``id % len``): 20 saturated, well separated hues, chosen for dark and bright scenes.
PALETTE: tuple[tuple[int, int, int], ...] = (
    (230, 25, 75),
    (60, 180, 75),
    (255, 225, 25),
    (0, 130, 200),
    (245, 130, 48),
    (145, 30, 180),
    (70, 240, 240),
    (240, 50, 230),
    (210, 245, 60),
    (250, 190, 212),
    (0, 128, 128),
    (220, 190, 255),
    (170, 110, 40),
    (255, 250, 200),
    (128, 0, 0),
    (170, 255, 195),
    (128, 128, 0),
    (255, 215, 180),
    (0, 0, 128),
    (255, 255, 255),
)
#: Colour of persons without a confirmed id (track id < 0).
TENTATIVE_COLOUR: tuple[int, int, int] = (160, 160, 160)

_SHIFT = 4  # cv2 sub-pixel bits: coordinates are drawn at 1/16 pixel precision
_FONT = cv2.FONT_HERSHEY_SIMPLEX


def track_colour(track_id: int) -> tuple[int, int, int]:
    """Stable RGB colour of a track id (grey for -1)."""
    return TENTATIVE_COLOUR if track_id < 0 else PALETTE[track_id % len(PALETTE)]


def _pt(x: float, y: float, limit: float) -> tuple[int, int]:
    """A sub-pixel cv2 point, clamped to +-limit so that the fixed-point value cannot overflow."""
    scale = 1 << _SHIFT
    return (int(round(np.clip(x, -limit, limit) * scale)), int(round(np.clip(y, -limit, limit) * scale)))


def _text_colour(bg: tuple[int, int, int]) -> tuple[int, int, int]:
    luma = 0.299 * bg[0] + 0.587 * bg[1] + 0.114 * bg[2]
    return (0, 0, 0) if luma > 140 else (255, 255, 255)


def _label(
    img: np.ndarray, text: str, x: float, y: float, colour: tuple[int, int, int], font_scale: float
) -> None:
    """Filled tag with ``text`` whose bottom-left corner is at (x, y), kept inside the image."""
    h, w = img.shape[:2]
    thickness = max(1, round(font_scale * 2))
    (tw, th), base = cv2.getTextSize(text, _FONT, font_scale, thickness)
    pad = max(2, round(th * 0.3))
    x0 = int(np.clip(x, 0, max(0, w - tw - 2 * pad)))
    y1 = int(np.clip(y, th + base + 2 * pad, h))
    cv2.rectangle(img, (x0, y1 - th - base - 2 * pad), (x0 + tw + 2 * pad, y1), colour, -1)
    cv2.putText(
        img,
        text,
        (x0 + pad, y1 - base - pad),
        _FONT,
        font_scale,
        _text_colour(colour),
        thickness,
        cv2.LINE_AA,
    )


def draw_poses(
    frame: np.ndarray,
    persons: Iterable[tuple[int, np.ndarray | None, np.ndarray]],
    skeleton: Skeleton = PT18,
    score_thr: float = 0.3,
    draw_boxes: bool = True,
    line_width: int | None = None,
    joint_radius: int | None = None,
) -> np.ndarray:
    """Draw each person's skeleton, joints, box and id label, coloured by track id -> new frame [H, W, 3].

    persons: ``(track_id, box [4] xywh or None, keypoints [K, 3])`` per person. Joints scoring below
    ``score_thr`` (or not finite) are hidden, and so are bones touching them; a visible joint's radius grows
    with its score (40 % of ``joint_radius`` at score 0 up to 100 % at score 1). Lines are anti-aliased;
    joints are filled discs of the track colour with a dark rim. The label is the id ("?" for -1) above the
    box (or above the highest joint when there is no box). ``line_width`` / ``joint_radius`` default to sizes
    that grow with the frame.
    """
    img = np.ascontiguousarray(frame, dtype=np.uint8).copy()
    h, w = img.shape[:2]
    unit = max(h, w) / 640.0
    lw = line_width if line_width is not None else max(1, round(2 * unit))
    radius = joint_radius if joint_radius is not None else max(2, round(4 * unit))
    font_scale = max(0.4, 0.5 * unit)
    limit = 8.0 * max(h, w)
    for track_id, box, keypoints in persons:
        colour = track_colour(int(track_id))
        kp = np.asarray(keypoints, dtype=np.float64).reshape(skeleton.num_joints, 3)
        visible = np.isfinite(kp).all(axis=1) & (kp[:, 2] >= score_thr)
        for a, b in skeleton.limbs:
            if visible[a] and visible[b]:
                p, q = _pt(kp[a, 0], kp[a, 1], limit), _pt(kp[b, 0], kp[b, 1], limit)
                cv2.line(img, p, q, colour, lw, cv2.LINE_AA, _SHIFT)
        rim = tuple(int(c * 0.35) for c in colour)
        for j in np.flatnonzero(visible):
            score = float(np.clip(kp[j, 2], 0.0, 1.0))
            r = max(1, round(radius * (0.4 + 0.6 * score)))
            centre = _pt(kp[j, 0], kp[j, 1], limit)
            cv2.circle(img, centre, (r + 1) << _SHIFT, rim, -1, cv2.LINE_AA, _SHIFT)
            cv2.circle(img, centre, r << _SHIFT, colour, -1, cv2.LINE_AA, _SHIFT)
        text = "?" if track_id < 0 else str(int(track_id))
        if box is not None and np.isfinite(np.asarray(box, dtype=np.float64)).all():
            x, y, bw, bh = (float(v) for v in box)
            if draw_boxes:
                cv2.rectangle(
                    img,
                    _pt(x, y, limit),
                    _pt(x + bw, y + bh, limit),
                    colour,
                    max(1, lw // 2),
                    cv2.LINE_AA,
                    _SHIFT,
                )
            _label(img, text, x, y, colour, font_scale)
        elif visible.any():
            top = int(np.argmin(np.where(visible, kp[:, 1], np.inf)))
            _label(img, text, kp[top, 0], kp[top, 1] - radius - 2, colour, font_scale)
    return img


def upscale_frame(frame: np.ndarray, scale: float) -> np.ndarray:
    """frame [H, W, 3] -> [round(s H), round(s W), 3]: bicubic when enlarging, area average when shrinking."""
    if not scale > 0:
        raise ValueError(f"upscale_frame: scale must be positive, got {scale}")
    h, w = frame.shape[:2]
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    if size == (w, h):
        return np.ascontiguousarray(frame, dtype=np.uint8).copy()
    interpolation = cv2.INTER_CUBIC if scale > 1 else cv2.INTER_AREA
    return cv2.resize(np.ascontiguousarray(frame, dtype=np.uint8), size, interpolation=interpolation)


def scale_poses(
    persons: Iterable[tuple[int, np.ndarray | None, np.ndarray]], scale: float
) -> list[tuple[int, np.ndarray | None, np.ndarray]]:
    """The ``(track_id, box, keypoints)`` of :func:`draw_poses` mapped onto a frame enlarged by ``scale``
    (:func:`upscale_frame`): a point x goes to (x + 0.5) s - 0.5 (pixel centres stay pixel centres), a size
    w to s w; scores are kept."""
    out = []
    for track_id, box, keypoints in persons:
        kp = np.asarray(keypoints, dtype=np.float64).copy()
        kp[:, :2] = (kp[:, :2] + 0.5) * scale - 0.5
        new_box = None
        if box is not None:
            b = np.asarray(box, dtype=np.float64).copy()
            b[:2] = (b[:2] + 0.5) * scale - 0.5
            b[2:] *= scale
            new_box = b
        out.append((track_id, new_box, kp))
    return out


def side_by_side(left: np.ndarray, right: np.ndarray, titles: Sequence[str] | None = None) -> np.ndarray:
    """Two frames next to each other -> [H, W_left + W_right', 3].

    ``right`` is resized to the height H of ``left`` (aspect kept) when they differ; ``titles`` (two strings)
    are written at the top centre of each half (clear of :func:`mark_frame`'s top-left tag).
    """
    if titles is not None and len(titles) != 2:
        raise ValueError(f"side_by_side: titles must be two strings, got {len(titles)}")
    h = left.shape[0]
    if right.shape[0] != h:
        new_w = max(1, round(right.shape[1] * h / right.shape[0]))
        right = cv2.resize(right, (new_w, h), interpolation=cv2.INTER_AREA)
    out = np.concatenate([left, right], axis=1).astype(np.uint8, copy=True)
    if titles:
        font_scale = max(0.5, 0.7 * h / 480.0)
        thickness = max(1, round(font_scale * 2))
        for text, x0, width in zip(titles, (0, left.shape[1]), (left.shape[1], right.shape[1]), strict=True):
            (tw, th), base = cv2.getTextSize(str(text), _FONT, font_scale, thickness)
            _label(out, str(text), x0 + (width - tw) / 2, th + base + 16, (32, 32, 32), font_scale)
    return out


def titled_panels(
    panels: Sequence[np.ndarray],
    titles: Sequence[str],
    tag: str | None = None,
    tag_colour: tuple[int, int, int] = (230, 40, 40),
    gap: int = 6,
    bar_colour: tuple[int, int, int] = (24, 24, 24),
) -> np.ndarray:
    """Panels of one height H, left to right, each under a title bar -> [H + bar, sum(W_i) + gap (n - 1), 3].

    The bar (about H / 16 pixels, at least 24) holds the panel's title on the left, in white, and ``tag``
    (e.g. "occluded") on the right in a filled box of ``tag_colour``; panels are separated by ``gap`` pixels
    of ``bar_colour``. Raises ValueError when the counts or the heights differ.
    """
    if len(panels) == 0 or len(titles) != len(panels):
        raise ValueError(f"titled_panels: {len(panels)} panels and {len(titles)} titles, expected one each")
    h = panels[0].shape[0]
    if any(p.shape[0] != h for p in panels):
        raise ValueError(f"titled_panels: panels differ in height: {[p.shape[0] for p in panels]}")
    bar = max(24, round(h / 16))
    widths = [p.shape[1] for p in panels]
    out = np.empty((h + bar, sum(widths) + gap * (len(panels) - 1), 3), np.uint8)
    out[:] = bar_colour
    font_scale = bar * 0.45 / 22.0  # Hershey simplex: about 22 px cap height at scale 1
    thickness = max(1, round(font_scale * 2))
    pad = max(4, bar // 4)
    x0 = 0
    for panel, title, width in zip(panels, titles, widths, strict=True):
        out[bar:, x0 : x0 + width] = panel
        (_, th), _ = cv2.getTextSize(str(title), _FONT, font_scale, thickness)
        baseline_y = (bar + th) // 2
        cv2.putText(
            out,
            str(title),
            (x0 + pad, baseline_y),
            _FONT,
            font_scale,
            (255, 255, 255),
            thickness,
            cv2.LINE_AA,
        )
        if tag:
            (tw, _), _ = cv2.getTextSize(tag, _FONT, font_scale, thickness)
            right = x0 + width - 2
            cv2.rectangle(out, (right - tw - 2 * pad, 2), (right, bar - 3), tag_colour, -1)
            cv2.putText(
                out,
                tag,
                (right - tw - pad, baseline_y),
                _FONT,
                font_scale,
                _text_colour(tag_colour),
                thickness,
                cv2.LINE_AA,
            )
        x0 += width + gap
    return out


def mark_frame(
    frame: np.ndarray, text: str, colour: tuple[int, int, int] = (255, 0, 0), thickness: int | None = None
) -> np.ndarray:
    """A coloured border of ``thickness`` pixels and a ``text`` tag in the top-left corner -> new [H, W, 3].

    For demos, e.g. ``mark_frame(frame, "occluded")`` flags a frame the model had to fill in.
    """
    img = np.ascontiguousarray(frame, dtype=np.uint8).copy()
    h, w = img.shape[:2]
    t = thickness if thickness is not None else max(3, round(min(h, w) / 80))
    img[:t], img[h - t :], img[:, :t], img[:, w - t :] = colour, colour, colour, colour
    if text:
        font_scale = max(0.5, 0.6 * min(h, w) / 360.0)
        (_, th), base = cv2.getTextSize(text, _FONT, font_scale, max(1, round(font_scale * 2)))
        _label(img, text, t, t + th + base + 2 * max(2, round(th * 0.3)), colour, font_scale)
    return img
