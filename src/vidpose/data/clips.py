"""Windows: one key-frame person box plus the frames around it (METHOD.md section 1).

Legend: T frames per window, K joints. Frame indices are positions in ``Sequence.frames`` (the JSON's image
order, ``Frame.index``), never numbers parsed from file names. At the ends of a sequence an offset is clamped
to the nearest existing frame, so a window always has T frames.

    >>> windows = build_windows(sequences, offsets=(-2, -1, 0, 1, 2), boxes="gt", min_joints=3)
    >>> windows[0].frames        # (0, 0, 0, 1, 2) for a key frame at the start
    >>> sample_offsets((-2, -1, 0, 1, 2), rng)   # e.g. (-1, -1, 0, 1, 2): training-time resampling
"""

from __future__ import annotations

from collections.abc import Sequence as Seq
from dataclasses import dataclass
from typing import Literal

import numpy as np

from .boxes import Detections, gt_person_boxes
from .records import Sequence

__all__ = ["Window", "clamp_frames", "sample_offsets", "build_windows"]


@dataclass(frozen=True, eq=False)
class Window:
    """One person box in one key frame, with its T frames.

    Attributes:
        sequence: index of the sequence in the list the windows were built from.
        key_frame: index of the key frame in ``Sequence.frames``.
        frames: T frame indices (key frame + offsets, clamped to ``[0, len(sequence) - 1]``).
        box: [4] xywh in image pixels (GT box, derived box or detection).
        box_score: 1.0 for ground truth, the detector's score otherwise.
        keypoints: [K, 3] (x, y, labelled 0/1) in image pixels for ground truth, None for detections.
        track_id: GT track id, -1 for detections.
        image_id: the key frame's image id.
        crop: the crop to cut the window with, ``(center (x, y), size (w, h))`` image pixels, already
            enlarged; None = the box's own crop (``data.bbox_scale``). Set with ``data.crop_hold``.
    """

    sequence: int
    key_frame: int
    frames: tuple[int, ...]
    box: np.ndarray
    box_score: float
    keypoints: np.ndarray | None
    track_id: int
    image_id: int
    crop: tuple[tuple[float, float], tuple[float, float]] | None = None


def clamp_frames(key_frame: int, offsets: Seq[int], num_frames: int) -> tuple[int, ...]:
    """Frame indices ``key_frame + offset`` clamped to ``[0, num_frames - 1]``, one per offset."""
    if not 0 <= key_frame < num_frames:
        raise ValueError(f"key frame {key_frame} outside a sequence of {num_frames} frames")
    return tuple(min(max(key_frame + int(o), 0), num_frames - 1) for o in offsets)


def sample_offsets(offsets: Seq[int], rng: np.random.Generator) -> tuple[int, ...]:
    """Training-time resampling: each auxiliary offset ``o`` becomes ``sign(o) * U{1, ..., |o|}``; 0 stays 0.

    The result is sorted, so the temporal order (and the key frame's slot) is kept: ``(-2, -1, 0, 1, 2)``
    gives ``(-2, -1, 0, 1, 2)``, ``(-1, -1, 0, 1, 2)``, ``(-2, -1, 0, 1, 1)`` or ``(-1, -1, 0, 1, 1)``.
    """
    out = [int(np.sign(o)) * int(rng.integers(1, abs(int(o)) + 1)) if o != 0 else 0 for o in offsets]
    return tuple(sorted(out))


def build_windows(
    sequences: list[Sequence],
    offsets: Seq[int],
    boxes: Literal["gt"] | Detections = "gt",
    labelled_only: bool = True,
    min_joints: int = 0,
    box_margin: float = 0.15,
) -> list[Window]:
    """All windows of ``sequences``, in sequence, frame and person (or detection) order.

    Args:
        sequences: the records (their list order defines ``Window.sequence``).
        offsets: frame offsets of a window from its key frame (0 = the key frame).
        boxes: "gt" (one window per annotated person with a box) or detections from
            :func:`vidpose.data.boxes.load_detections` (one window per detection, no keypoints).
        labelled_only: key frames are only the frames with ``is_labeled``.
        min_joints: ground-truth persons with fewer labelled joints are skipped (DataConfig.min_joints).
        box_margin: margin of boxes derived for persons without one (PoseTrack17; DataConfig.gt_box_margin).
    """
    windows: list[Window] = []
    for s, seq in enumerate(sequences):
        n = len(seq.frames)
        for pos, frame in enumerate(seq.frames):
            if labelled_only and not frame.is_labeled:
                continue
            frame_ids = clamp_frames(pos, offsets, n)
            if isinstance(boxes, str):
                if boxes != "gt":
                    raise ValueError(f"boxes must be 'gt' or a detections dict, got {boxes!r}")
                for person, box, labelled in gt_person_boxes(frame, box_margin, seq.format, min_joints):
                    kp = np.asarray(person.keypoints, dtype=np.float64).reshape(-1, 3).copy()
                    kp[:, 2] = labelled.astype(np.float64)
                    kp[~labelled, :2] = 0.0
                    windows.append(
                        Window(
                            s,
                            pos,
                            frame_ids,
                            box,
                            float(person.score),
                            kp,
                            int(person.track_id),
                            frame.image_id,
                        )
                    )
            else:
                for box, score in boxes.get((seq.name, frame.index), []):
                    box = np.asarray(box, dtype=np.float64)
                    windows.append(Window(s, pos, frame_ids, box, float(score), None, -1, frame.image_id))
    return windows
