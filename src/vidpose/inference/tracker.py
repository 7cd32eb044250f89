"""Online multi-person pose tracker: frame-by-frame association of detections to tracks, with stable ids.

Legend: M = detections in the current frame, T = live tracks, K = joints. Boxes are ``[x, y, w, h]`` pixels;
keypoints are [K, 3] (x, y, score).

Each frame, every live track predicts its box by a constant-velocity model; the similarity of a track and
a detection is ``(iou_weight * IoU + oks_weight * OKS) / (iou_weight + oks_weight)`` (IoU alone when the pair
has no confident joint in common); the Hungarian algorithm matches confirmed tracks first, then tentative
ones, and a pair below ``min_similarity`` is never matched. A new detection starts a tentative track (id -1)
that gets a confirmed id after ``min_hits`` consecutive matches; confirmed ids count up from 0 in birth order
and are never reused (PoseTrack requires ids < 10000). A confirmed track survives ``max_age`` missed frames.

    >>> tracker = PoseTracker(cfg.tracker)
    >>> for boxes, scores, keypoints in per_frame_results:
    ...     ids = tracker.update(boxes, scores, keypoints)      # [M] ints, -1 = not yet confirmed
    >>> boxes_next = [tracker.predict_box(t) for t in tracker.confirmed_tracks]  # frames without detection
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from ..config import TrackerConfig
from ..data.posetrack_writer import MAX_TRACK_ID
from ..errors import ConfigError, VidposeError
from .boxes_ops import PT18_SIGMAS, iou_matrix, keypoint_box, oks_matrix, xywh_to_xyxy

__all__ = ["Track", "PoseTracker"]

#: PoseTrack's evaluation accepts track ids 0 .. 9999.


def _to_cxcywh(box: np.ndarray) -> np.ndarray:
    return np.array([box[0] + box[2] / 2.0, box[1] + box[3] / 2.0, box[2], box[3]], dtype=np.float64)


def _to_xywh(c: np.ndarray) -> np.ndarray:
    return np.array([c[0] - c[2] / 2.0, c[1] - c[3] / 2.0, c[2], c[3]], dtype=np.float64)


@dataclass
class Track:
    """State of one tracked person.

    Attributes:
        uid: internal key, unique for every track ever started (tentative ones too), in creation order; lets a
            caller fill in the frames a track spent tentative once it is confirmed.
        track_id: confirmed id (0, 1, ... in birth order), or -1 while tentative.
        box: [4] smoothed box xywh at the track's last matched frame.
        velocity: [4] per-frame change of the box centre and size (cx, cy, w, h).
        keypoints: [K, 3] keypoints of the last match, or None.
        score: detection score of the last match.
        hits: consecutive frames matched (reset by a miss).
        age: frames since the track started.
        misses: consecutive frames unmatched (0 = matched in the last update); frames the track coasted
            through count too, so that its motion is extrapolated from its last detection.
        coasting: of those, the frames without detection that the track carried with its own predicted box
            (``given`` in :meth:`PoseTracker.update_tracks`); ``misses == coasting`` means the track was
            present in the last frame.
    """

    uid: int
    track_id: int
    box: np.ndarray
    velocity: np.ndarray
    keypoints: np.ndarray | None
    score: float
    hits: int = 1
    age: int = 0
    misses: int = 0
    coasting: int = 0

    @property
    def confirmed(self) -> bool:
        return self.track_id >= 0


class PoseTracker:
    """Online tracker; one instance per video. See the module docstring for the algorithm.

    Args:
        cfg: weights, gate, birth/death counts, smoothing (:class:`vidpose.config.TrackerConfig`).
        sigmas: [K] OKS falloff per joint (PoseTrack18 by default).
    """

    def __init__(self, cfg: TrackerConfig, sigmas: np.ndarray = PT18_SIGMAS) -> None:
        _check_config(cfg)
        self.cfg = cfg
        self.sigmas = np.asarray(sigmas, dtype=np.float64)
        self.reset()

    def reset(self) -> None:
        """Forget every track; ids start again at 0 (use one tracker per video)."""
        self.tracks: list[Track] = []
        self.frame_index = -1
        self._next_id = 0
        self._next_uid = 0

    @property
    def confirmed_tracks(self) -> list[Track]:
        """Live confirmed tracks (including those missed for up to ``max_age`` frames)."""
        return [t for t in self.tracks if t.confirmed]

    # ------------------------------------------------------------------------------------------- prediction
    def _motion_box(self, track: Track, steps: int) -> np.ndarray:
        """The smoothed box moved ``steps`` frames ahead at constant velocity -> [4] xywh.

        The size may change by at most a factor 2 either way (and stays >= 1 pixel).
        """
        c = _to_cxcywh(track.box) + track.velocity * steps
        c[2:] = np.clip(c[2:], np.maximum(track.box[2:] * 0.5, 1.0), np.maximum(track.box[2:] * 2.0, 1.0))
        return _to_xywh(c)

    def predict_box(self, track: Track, steps: int | None = None) -> np.ndarray:
        """Where ``track`` should be ``steps`` frames after its last match (default: next frame) -> [4] xywh.

        With at least ``min_keypoints`` joints above ``keypoint_thr`` in its last keypoints: the box of those
        joints enlarged by ``keypoint_box_scale``, moved by the track's centre velocity; otherwise the
        smoothed box moved at constant velocity. Use it to crop persons in frames without detection
        (``--detect-every K``) and to keep persons the detector misses.
        """
        steps = track.misses + 1 if steps is None else steps
        kp = track.keypoints
        if kp is not None and int((kp[:, 2] > self.cfg.keypoint_thr).sum()) >= self.cfg.min_keypoints:
            box = keypoint_box(kp, self.cfg.keypoint_thr, self.cfg.keypoint_box_scale)
            if box is not None:
                box[:2] += track.velocity[:2] * steps
                return box
        return self._motion_box(track, steps)

    # ------------------------------------------------------------------------------------------- association
    def _similarity(self, tracks: list[Track], boxes: np.ndarray, keypoints: np.ndarray | None) -> np.ndarray:
        """[T, M] similarity in [0, 1] between tracks (predicted to this frame) and detections."""
        pred = np.stack([self._motion_box(t, t.misses + 1) for t in tracks])  # [T, 4]
        sim = iou_matrix(xywh_to_xyxy(pred), xywh_to_xyxy(boxes))  # [T, M]
        cfg = self.cfg
        if keypoints is None or cfg.oks_weight == 0:
            return sim
        thr = cfg.keypoint_thr
        for i, t in enumerate(tracks):
            if t.keypoints is None:
                continue
            moved = t.keypoints.copy()
            moved[:, :2] += t.velocity[:2] * (t.misses + 1)
            area = np.array([max(pred[i, 2] * pred[i, 3], 1.0)])
            oks = oks_matrix(moved[None], keypoints, area, self.sigmas, thr)[0]  # [M]
            shared = ((moved[None, :, 2] > thr) & (keypoints[:, :, 2] > thr)).any(axis=1)  # [M]
            mixed = (cfg.iou_weight * sim[i] + cfg.oks_weight * oks) / (cfg.iou_weight + cfg.oks_weight)
            sim[i] = np.where(shared, mixed, sim[i])
        return sim

    def _match(self, sim: np.ndarray) -> list[tuple[int, int]]:
        """Hungarian assignment on ``1 - sim`` -> (row, col) pairs whose similarity passes the gate."""
        if sim.size == 0:
            return []
        valid = sim >= self.cfg.min_similarity
        # Gated pairs count as similarity 0: the assignment maximises the similarity of valid pairs only.
        rows, cols = linear_sum_assignment(np.where(valid, 1.0 - sim, 1.0))
        return [(r, c) for r, c in zip(rows, cols, strict=True) if valid[r, c]]

    # ------------------------------------------------------------------------------------------- update
    def update_tracks(
        self,
        boxes: np.ndarray,
        scores: np.ndarray,
        keypoints: np.ndarray | None = None,
        given: list[Track | None] | None = None,
    ) -> list[Track]:
        """Advance one frame. boxes: [M, 4] xywh, scores: [M], keypoints: [M, K, 3] or None -> the [M] tracks.

        The returned track of a detection has ``track_id`` -1 while tentative. ``given`` ([M], optional): the
        track a box is known to belong to (a box the track predicted itself, ``--detect-every K``); such a box
        goes to its track without matching, so that a frame without detection cannot switch ids. Such a box is
        not a detection: the track's box and velocity stay those of its last detection (a predicted box that
        drifts cannot pull the track away from the person before the next detection is matched).
        """
        boxes, scores, keypoints = _check_inputs(boxes, scores, keypoints, len(self.sigmas))
        self.frame_index += 1
        for t in self.tracks:
            t.age += 1
        assigned: list[Track | None] = [None] * len(boxes)
        if given is not None:
            if len(given) != len(boxes):
                raise ValueError(f"given has {len(given)} entries for {len(boxes)} boxes")
            for det, track in enumerate(given):
                if track is not None and any(track is t for t in self.tracks):
                    track.misses += 1
                    track.coasting += 1
                    track.hits += 1
                    self._maybe_confirm(track)
                    assigned[det] = track
        free = [d for d in range(len(boxes)) if assigned[d] is None]
        taken = [a for a in assigned if a is not None]
        unassigned = [t for t in self.tracks if not any(t is a for a in taken)]
        for group in ([t for t in unassigned if t.confirmed], [t for t in unassigned if not t.confirmed]):
            if not group or not free:
                continue
            kp = keypoints[free] if keypoints is not None else None
            for r, c in self._match(self._similarity(group, boxes[free], kp)):
                det = free[c]
                self._apply(
                    group[r], boxes[det], float(scores[det]), None if keypoints is None else keypoints[det]
                )
                assigned[det] = group[r]
            free = [d for d in free if assigned[d] is None]

        survivors = []
        for t in self.tracks:
            if any(t is a for a in assigned):
                survivors.append(t)
                continue
            t.misses += 1
            t.hits = 0
            if t.confirmed and t.misses <= self.cfg.max_age:
                survivors.append(t)
        self.tracks = survivors

        for det in free:
            kp = None if keypoints is None else keypoints[det].copy()
            track = Track(self._next_uid, -1, boxes[det].copy(), np.zeros(4), kp, float(scores[det]))
            self._next_uid += 1
            self._maybe_confirm(track)
            self.tracks.append(track)
            assigned[det] = track
        assert all(a is not None for a in assigned)
        return assigned  # type: ignore[return-value]

    def update(self, boxes: np.ndarray, scores: np.ndarray, keypoints: np.ndarray | None = None) -> list[int]:
        """Advance one frame. boxes: [M, 4] xywh, scores: [M], keypoints: [M, K, 3] or None -> [M] track ids.

        Ids are unique within the frame; -1 marks a detection whose track is not confirmed yet.
        """
        return [t.track_id for t in self.update_tracks(boxes, scores, keypoints)]

    def _apply(self, track: Track, box: np.ndarray, score: float, keypoints: np.ndarray | None) -> None:
        """Fold a matched detection into ``track``: smoothed box, velocity, keypoints, counters."""
        steps = track.misses + 1
        old = _to_cxcywh(track.box)
        measured = _to_cxcywh(box)
        prior = _to_cxcywh(self._motion_box(track, steps))
        s = self.cfg.box_smoothing
        new = s * prior + (1.0 - s) * measured
        if track.misses == track.age - 1:  # first match since the track started: velocity still unknown
            track.velocity = (measured - old) / steps
        else:
            m = self.cfg.velocity_smoothing
            track.velocity = m * track.velocity + (1.0 - m) * (new - old) / steps
        track.box = _to_xywh(new)
        track.keypoints = None if keypoints is None else keypoints.copy()
        track.score = score
        track.hits += 1
        track.misses = 0
        track.coasting = 0
        self._maybe_confirm(track)

    def _maybe_confirm(self, track: Track) -> None:
        if track.confirmed or track.hits < self.cfg.min_hits:
            return
        if self._next_id >= MAX_TRACK_ID:
            raise VidposeError(
                f"more than {MAX_TRACK_ID} confirmed tracks in one video; PoseTrack ids must be "
                f"< {MAX_TRACK_ID}. Split the video, or raise tracker.min_hits / tracker.max_age to start "
                "fewer tracks."
            )
        track.track_id = self._next_id
        self._next_id += 1


def _check_config(cfg: TrackerConfig) -> None:
    """Range checks that the dataclass types cannot express; errors name the config key."""
    checks = [
        (cfg.iou_weight >= 0 and cfg.oks_weight >= 0, "iou_weight and oks_weight must be >= 0"),
        (cfg.iou_weight + cfg.oks_weight > 0, "iou_weight + oks_weight must be > 0"),
        (0.0 <= cfg.min_similarity <= 1.0, f"min_similarity must be in [0, 1], got {cfg.min_similarity}"),
        (cfg.min_hits >= 1, f"min_hits must be >= 1, got {cfg.min_hits}"),
        (cfg.max_age >= 0, f"max_age must be >= 0, got {cfg.max_age}"),
        (0.0 <= cfg.box_smoothing < 1.0, f"box_smoothing must be in [0, 1), got {cfg.box_smoothing}"),
        (
            0.0 <= cfg.velocity_smoothing < 1.0,
            f"velocity_smoothing must be in [0, 1), got {cfg.velocity_smoothing}",
        ),
        (cfg.keypoint_box_scale > 0, f"keypoint_box_scale must be > 0, got {cfg.keypoint_box_scale}"),
        (cfg.min_keypoints >= 2, f"min_keypoints must be >= 2, got {cfg.min_keypoints}"),
    ]
    for ok, message in checks:
        if not ok:
            raise ConfigError(f"tracker: {message}")


def _check_inputs(
    boxes: np.ndarray, scores: np.ndarray, keypoints: np.ndarray | None, num_joints: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    boxes = np.asarray(boxes, dtype=np.float64)
    if boxes.size == 0:
        boxes = boxes.reshape(0, 4)
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ValueError(f"PoseTracker.update: boxes must be [M, 4] xywh, got shape {list(boxes.shape)}")
    if len(scores) != len(boxes):
        raise ValueError(f"PoseTracker.update: {len(boxes)} boxes but {len(scores)} scores")
    if keypoints is not None:
        keypoints = np.asarray(keypoints, dtype=np.float64)
        if len(boxes) == 0:
            keypoints = keypoints.reshape(0, num_joints, 3)
        if keypoints.shape != (len(boxes), num_joints, 3):
            raise ValueError(
                f"PoseTracker.update: keypoints must be [{len(boxes)}, {num_joints}, 3], "
                f"got {list(keypoints.shape)}"
            )
        keypoints = np.where(np.isfinite(keypoints), keypoints, 0.0)
    return boxes, scores, keypoints
