"""Person detectors for ``vidpose predict``: anything callable ``frame -> (boxes, scores)`` plugs in.

Legend: H, W = frame height and width; M = detected persons. A frame is RGB ``uint8`` [H, W, 3]; boxes are
``[x, y, w, h]`` pixels of that frame, float32 [M, 4]; scores are float32 [M] in [0, 1].

A user's own detector needs no class, only the call signature of :class:`Detector`::

    def my_detector(frame):
        boxes, scores = run_my_model(frame)        # boxes xywh in frame pixels
        return boxes, scores

    detector = lambda frame: (np.array([[10, 20, 100, 250]], np.float32), np.array([0.9], np.float32))

Built in: :class:`HOGDetector` (OpenCV's pedestrian HOG + linear SVM; weak, upright full bodies only),
:class:`WholeFrameDetector` (the frame is one person: pre-cropped clips), :class:`MediaPipeDetector` (optional
``mediapipe==0.10.21`` BlazePose, one person). :func:`build_detector` makes one by name.
"""

from __future__ import annotations

import difflib
import inspect
from typing import Any, Protocol, runtime_checkable

import cv2
import numpy as np
import torch

from ..errors import ConfigError, DataFormatError, MissingDependencyError
from .boxes_ops import nms_torch, xywh_to_xyxy

__all__ = [
    "Detector",
    "HOGDetector",
    "WholeFrameDetector",
    "MediaPipeDetector",
    "DETECTORS",
    "MEDIAPIPE_INSTALL",
    "build_detector",
    "check_detections",
]

#: The exact command that installs the optional MediaPipe detector without touching torch.
MEDIAPIPE_INSTALL = (
    'pip install --no-deps mediapipe==0.10.21 absl-py flatbuffers attrs matplotlib "protobuf>=6.31.1,<7"'
)


@runtime_checkable
class Detector(Protocol):
    """Plug-in point for person detection: ``frame [H, W, 3] RGB uint8 -> (boxes [M, 4] xywh, scores [M])``.

    Any callable with this signature works (a function, a lambda, an object with ``__call__``). Return empty
    arrays of shapes [0, 4] and [0] when nobody is found.
    """

    def __call__(self, frame: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...


def check_detections(result: Any, where: str = "detector") -> tuple[np.ndarray, np.ndarray]:
    """Validate a detector's return value -> (boxes float32 [M, 4] xywh, scores float32 [M]).

    Raises :class:`DataFormatError` naming ``where`` when the shapes are wrong or values are not finite.
    """
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        raise DataFormatError(
            f"{where}: must return (boxes [M, 4] xywh, scores [M]), got {type(result).__name__}"
        )
    boxes = np.asarray(result[0], dtype=np.float32)
    scores = np.asarray(result[1], dtype=np.float32)
    if boxes.size == 0 and scores.size == 0:
        return np.zeros((0, 4), np.float32), np.zeros((0,), np.float32)
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise DataFormatError(f"{where}: boxes must have shape [M, 4] (x, y, w, h), got {list(boxes.shape)}")
    if scores.shape != (len(boxes),):
        raise DataFormatError(f"{where}: scores must have shape [{len(boxes)}], got {list(scores.shape)}")
    if not (np.isfinite(boxes).all() and np.isfinite(scores).all()):
        raise DataFormatError(f"{where}: boxes and scores must be finite numbers")
    return boxes, scores


class HOGDetector:
    """OpenCV's default people detector (Dalal-Triggs HOG + linear SVM, 64x128 window), multi-scale, with NMS.

    The frame is downscaled so that its longer side is at most ``max_size`` (speed; persons must then be
    roughly 100+ pixels tall in the downscaled frame). Every window whose SVM margin exceeds ``hit_threshold``
    is kept (no OpenCV grouping), its margin squashed to a score ``tanh(margin / score_scale)`` in [0, 1];
    greedy NMS then keeps the best of overlapping windows, and boxes scoring below ``score_thr`` are dropped.
    The detection window has a margin around the person: boxes are shrunk by ``shrink = (sx, sy)`` of their
    width/height on each side.

    Args:
        max_size: longest frame side (pixels) the detector runs at; smaller frames are not upscaled.
        hit_threshold: minimal SVM margin of a window.
        win_stride: (x, y) step of the sliding window in pixels of the downscaled frame.
        padding: (x, y) padding added around the image before scanning.
        pyramid_scale: ratio between successive pyramid levels (> 1).
        nms_iou: IoU above which a lower-scoring box is suppressed.
        score_scale: margin that maps to tanh(1) = 0.76.
        score_thr: boxes with a lower score are dropped.
        shrink: (x, y) fraction of the box width/height removed on each side.
    """

    def __init__(
        self,
        max_size: int = 640,
        hit_threshold: float = 0.0,
        win_stride: tuple[int, int] = (8, 8),
        padding: tuple[int, int] = (16, 16),
        pyramid_scale: float = 1.05,
        nms_iou: float = 0.3,
        score_scale: float = 1.0,
        score_thr: float = 0.3,
        shrink: tuple[float, float] = (0.15, 0.05),
    ) -> None:
        if max_size < 128:
            raise ConfigError(f"HOGDetector: max_size must be >= 128 (the window is 64x128), got {max_size}")
        if pyramid_scale <= 1.0:
            raise ConfigError(f"HOGDetector: pyramid_scale must be > 1, got {pyramid_scale}")
        self.max_size = int(max_size)
        self.hit_threshold = float(hit_threshold)
        self.win_stride = tuple(int(v) for v in win_stride)
        self.padding = tuple(int(v) for v in padding)
        self.pyramid_scale = float(pyramid_scale)
        self.nms_iou = float(nms_iou)
        self.score_scale = float(score_scale)
        self.score_thr = float(score_thr)
        self.shrink = (float(shrink[0]), float(shrink[1]))
        self._hog = cv2.HOGDescriptor()
        self._hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())

    def __call__(self, frame: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """frame: [H, W, 3] RGB uint8 -> boxes [M, 4] xywh float32 (frame pixels), scores [M] float32."""
        h, w = frame.shape[:2]
        scale = min(1.0, self.max_size / max(h, w))
        small = (
            frame
            if scale == 1.0
            else cv2.resize(frame, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        )
        win_w, win_h = self._hog.winSize
        if (
            small.shape[0] < win_h or small.shape[1] < win_w
        ):  # OpenCV crashes on frames smaller than the window
            return np.zeros((0, 4), np.float32), np.zeros((0,), np.float32)
        rects, margins = self._hog.detectMultiScale(
            small,
            hitThreshold=self.hit_threshold,
            winStride=self.win_stride,
            padding=self.padding,
            scale=self.pyramid_scale,
            groupThreshold=0,
        )
        if len(rects) == 0:
            return np.zeros((0, 4), np.float32), np.zeros((0,), np.float32)
        boxes = np.asarray(rects, dtype=np.float64).reshape(-1, 4) / scale
        scores = np.clip(np.tanh(np.asarray(margins, dtype=np.float64).ravel() / self.score_scale), 0.0, 1.0)
        sx, sy = self.shrink
        boxes[:, 0] += boxes[:, 2] * sx
        boxes[:, 1] += boxes[:, 3] * sy
        boxes[:, 2] *= 1.0 - 2.0 * sx
        boxes[:, 3] *= 1.0 - 2.0 * sy
        keep = nms_torch(
            torch.from_numpy(xywh_to_xyxy(boxes)), torch.from_numpy(scores), self.nms_iou
        ).numpy()
        keep = keep[scores[keep] >= self.score_thr]
        return boxes[keep].astype(np.float32), scores[keep].astype(np.float32)


class WholeFrameDetector:
    """The whole frame is one person (score ``score``): for clips already cropped around one person."""

    def __init__(self, score: float = 1.0) -> None:
        self.score = float(score)

    def __call__(self, frame: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """frame: [H, W, 3] -> boxes [1, 4] = [[0, 0, W, H]], scores [1]."""
        h, w = frame.shape[:2]
        return np.array([[0.0, 0.0, w, h]], np.float32), np.array([self.score], np.float32)


class MediaPipeDetector:
    """One person per frame from MediaPipe BlazePose (optional dependency ``mediapipe==0.10.21``, CPU).

    The box surrounds the 33 BlazePose landmarks whose visibility exceeds ``visibility_thr``, enlarged by
    ``box_scale`` about its centre (landmarks stop at the joints; the scale covers the head top and hands).
    The score is the mean visibility of those landmarks. Runs in video mode (landmarks are tracked from frame
    to frame), so feed frames in order; :meth:`close` frees the graph.

    Args:
        model_complexity: 0 lite, 1 full, 2 heavy (bundled in 0.10.21: 0 and 1; 2 needs a download).
        min_detection_confidence, min_tracking_confidence: MediaPipe's thresholds.
        visibility_thr: landmarks below this visibility do not shape the box.
        box_scale: enlargement of the landmark box.
    """

    def __init__(
        self,
        model_complexity: int = 1,
        min_detection_confidence: float = 0.5,
        min_tracking_confidence: float = 0.5,
        visibility_thr: float = 0.5,
        box_scale: float = 1.25,
    ) -> None:
        try:
            import mediapipe as mp
        except ImportError as e:
            raise MissingDependencyError(
                f"the mediapipe detector needs mediapipe 0.10.21 (the last release that bundles its pose "
                f"models); install it with: {MEDIAPIPE_INSTALL}"
            ) from e
        self.visibility_thr = float(visibility_thr)
        self.box_scale = float(box_scale)
        self._pose = mp.solutions.pose.Pose(
            static_image_mode=False,
            model_complexity=int(model_complexity),
            enable_segmentation=False,
            min_detection_confidence=float(min_detection_confidence),
            min_tracking_confidence=float(min_tracking_confidence),
        )

    def __call__(self, frame: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """frame: [H, W, 3] RGB uint8 -> boxes [0 or 1, 4] xywh float32, scores [0 or 1] float32."""
        empty = np.zeros((0, 4), np.float32), np.zeros((0,), np.float32)
        h, w = frame.shape[:2]
        result = self._pose.process(np.ascontiguousarray(frame))
        if result.pose_landmarks is None:
            return empty
        marks = np.array(
            [(p.x * w, p.y * h, p.visibility) for p in result.pose_landmarks.landmark]
        )  # [33, 3]
        seen = marks[marks[:, 2] > self.visibility_thr]
        if len(seen) < 2:
            return empty
        lo, hi = seen[:, :2].min(axis=0), seen[:, :2].max(axis=0)
        centre, size = (lo + hi) / 2.0, (hi - lo) * self.box_scale
        box = [centre[0] - size[0] / 2.0, centre[1] - size[1] / 2.0, size[0], size[1]]
        return np.array([box], np.float32), np.array([seen[:, 2].mean()], np.float32)

    def close(self) -> None:
        """Release MediaPipe's graph."""
        self._pose.close()


#: Detector classes by the name ``build_detector`` (and ``--detector``) accepts.
DETECTORS: dict[str, type] = {"hog": HOGDetector, "whole": WholeFrameDetector, "mediapipe": MediaPipeDetector}


def build_detector(name: str, **kwargs: Any) -> Detector:
    """Make a built-in detector by name (hog | whole | mediapipe); ``kwargs`` go to its constructor.

    Raises :class:`ConfigError` for an unknown name or parameter, :class:`MissingDependencyError` when the
    detector's optional package is not installed.
    """
    if name not in DETECTORS:
        close = difflib.get_close_matches(name, list(DETECTORS), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ConfigError(f"unknown detector {name!r}{hint}; expected one of {', '.join(DETECTORS)}")
    cls = DETECTORS[name]
    params = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    unknown = sorted(set(kwargs) - set(params))
    if unknown:
        raise ConfigError(
            f"detector {name!r}: unknown parameter(s) {', '.join(unknown)}; accepted: {', '.join(params)}"
        )
    return cls(**kwargs)
