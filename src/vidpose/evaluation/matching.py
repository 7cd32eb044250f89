"""Frame cleanup, ignore regions, PCKh distances and person assignment of the PoseTrack evaluation.

This is the shared first half of :mod:`~vidpose.evaluation.posetrack_ap` and
:mod:`~vidpose.evaluation.tracking_mota`: it reproduces poseval's ``load_data_dir`` / ``cleanupData`` /
``removeIgnoredPoints`` / ``assignGTmulti`` (``mode="pt18"``) and the PoseTrack21 kit's loading and
``PosemAP`` matching (``mode="pt21"``), vectorised over the frames of a sequence.

Rules (pt18 = poseval; pt21 = PoseTrack21 kit):

- Frames: a GT frame is kept iff it has at least one person entry (pt18) / iff ``is_labeled`` (pt21); the
  prediction frame at the same list position goes with it.
- A joint is present unless it is exactly ``(0, 0, 0)`` (pt18) / iff ``x > 0 and y > 0`` (pt21). A
  PoseTrack17 person without joints is dropped (poseval's ``removeRectsWithoutPoints``); a PoseTrack18 one is
  kept.
- Ignore regions (frames with at least one polygon): joints strictly inside a polygon are deleted on both
  sides, then persons left without joints are deleted (pt21: persons whose joints all have ``x, y <= 0``).
- ``dist[p, g, j] = |pred - gt| / (0.6 * head-box diagonal)``, infinite unless both have joint j; a joint
  matches when ``dist <= 0.5``. ``pck[p, g]`` = matched joints / joints annotated in g. Each prediction keeps
  its best GT, each GT then takes its best remaining prediction; 0 means unmatched; ties go to the lower
  index.

Other differences of pt21: prediction frames must carry the GT's image ids (the kit asserts it), and GT track
ids must be unique per frame for AP too. Where the kit itself fails, vidpose does the evident thing: a
labelled frame without GT persons but with predictions crashes the kit (an undefined name in ``PosemAP``);
here those predictions are false positives. Where poseval fails (a GT person with joints but no head box, a
polygon of fewer than 3 points, a one-frame sequence under tracking), vidpose raises a clear
:class:`DataFormatError` or, for the last two, ignores the polygon / evaluates no tracking frame.

Legend: F kept frames of a sequence, P predicted persons, G ground-truth persons (both padded to the most in
one frame of the sequence; padding is never ``valid``), J = 15 scored joints in poseval's id order
(:data:`vidpose.skeleton.POSEVAL_NAMES`), C candidate (prediction, GT, joint) pairs with ``dist <= 0.5``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..data.posetrack import MISSING_SCORE
from ..data.posetrack_writer import MAX_TRACK_ID
from ..data.records import Sequence
from ..errors import DataFormatError
from ..skeleton import POSEVAL_TO_PT18, PT18

__all__ = [
    "MODES",
    "DIST_THRESHOLD",
    "HEAD_SIZE_FACTOR",
    "MAX_TRACK_ID",
    "SequenceMatch",
    "points_in_polygons",
    "pair_sequences",
    "match_sequence",
    "match_sequences",
]

#: Evaluation rules: poseval (PoseTrack17/18) or the PoseTrack21 kit.
MODES: tuple[str, ...] = ("pt18", "pt21")
#: PCKh threshold, in head sizes.
DIST_THRESHOLD = 0.5
#: Head size = this factor times the head-box diagonal.
HEAD_SIZE_FACTOR = 0.6
#: poseval makes track ids unique across sequences by adding ``sequence index * MAX_TRACK_ID``.

_J = len(POSEVAL_TO_PT18)
_JOINTS = np.asarray(POSEVAL_TO_PT18, dtype=np.int64)
# Largest F * P * G * J block of distances computed at once.
_CHUNK_ELEMENTS = 1 << 21


@dataclass
class SequenceMatch:
    """One sequence after cleanup and matching: everything the AP and MOT computations need.

    Attributes:
        name: the sequence (file) name.
        gt_source, pred_source: the files, for error messages (None for in-memory sequences).
        frame_indices: [F] position of each kept frame in the GT file's image list.
        gt_valid, pred_valid: [F, G] / [F, P] the person exists after cleanup (poseval's ``annorect``).
        gt_present, pred_present: [F, G, J] / [F, P, J] the joint is annotated / predicted.
        gt_track, pred_track: [F, G] / [F, P] track ids (0 for padding).
        pred_scores: [F, P, J] per-joint scores (``MISSING_SCORE`` when the file has none).
        assigned: [F, P] index of the GT person a prediction is assigned to, -1 if none.
        correct: [F, P, J] the predicted joint lies within the threshold of its assigned GT joint.
        cand_frame, cand_pred, cand_gt, cand_joint: [C] the pairs with ``dist <= DIST_THRESHOLD``, row-major.
        cand_dist: [C] their distances in head sizes.
        gt_xy, pred_xy: [F, G, J, 2] / [F, P, J, 2] joint coordinates after cleanup (image pixels).
        head_size: [F, G] each GT person's head size (PCKh's unit; 1.0 where it has no joint).
    """

    name: str
    gt_source: str | None
    pred_source: str | None
    frame_indices: np.ndarray
    gt_valid: np.ndarray
    gt_present: np.ndarray
    gt_track: np.ndarray
    pred_valid: np.ndarray
    pred_present: np.ndarray
    pred_track: np.ndarray
    pred_scores: np.ndarray
    assigned: np.ndarray
    correct: np.ndarray
    cand_frame: np.ndarray
    cand_pred: np.ndarray
    cand_gt: np.ndarray
    cand_joint: np.ndarray
    cand_dist: np.ndarray
    gt_xy: np.ndarray
    pred_xy: np.ndarray
    head_size: np.ndarray

    @property
    def num_frames(self) -> int:
        return len(self.frame_indices)


# ---------------------------------------------------------------------------------------------- geometry
def mean_skip_nan(values: np.ndarray) -> float:
    """Mean of the non-NaN values (NaN when there are none): poseval's Total over joints."""
    keep = values[~np.isnan(values)]
    return float(keep.mean()) if keep.size else float("nan")


def points_in_polygons(points: np.ndarray, polygons: list[np.ndarray]) -> np.ndarray:
    """Which points lie strictly inside at least one polygon (shapely's ``Polygon.contains``).

    Even-odd rule; points on an edge or a vertex are outside. A polygon with fewer than 3 vertices contains
    nothing (shapely refuses to build it, so poseval would stop with an error).

    Args:
        points: [N, 2] (x, y).
        polygons: each [V, 2], implicitly closed.

    Returns:
        [N] bool.
    """
    inside_any = np.zeros(len(points), dtype=bool)
    if len(points) == 0:
        return inside_any
    px, py = points[:, 0:1], points[:, 1:2]  # [N, 1]
    for poly in polygons:
        if len(poly) < 3:
            continue
        x1, y1 = poly[:, 0], poly[:, 1]  # [V]
        x2, y2 = np.roll(x1, -1), np.roll(y1, -1)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            straddles = (y1 > py) != (y2 > py)  # [N, V]
            x_cross = x1 + (py - y1) * (x2 - x1) / (y2 - y1)
            crossings = np.count_nonzero(straddles & (px < x_cross), axis=1)
            cross = (x2 - x1) * (py - y1) - (y2 - y1) * (px - x1)
        on_edge = (
            (cross == 0)
            & (px >= np.minimum(x1, x2))
            & (px <= np.maximum(x1, x2))
            & (py >= np.minimum(y1, y2))
            & (py <= np.maximum(y1, y2))
        ).any(axis=1)
        inside_any |= (crossings % 2 == 1) & ~on_edge
    return inside_any


# ---------------------------------------------------------------------------------------------- pairing
def pair_sequences(gt: list[Sequence], pred: list[Sequence]) -> list[tuple[Sequence, Sequence]]:
    """Pair each GT sequence with the prediction of the same name (poseval pairs files by name)."""
    by_name: dict[str, Sequence] = {}
    for seq in pred:
        if seq.name in by_name:
            raise DataFormatError(f"two prediction sequences are named {seq.name!r} ({_src(seq)})")
        by_name[seq.name] = seq
    pairs, seen = [], set()
    for seq in gt:
        if seq.name in seen:
            raise DataFormatError(f"two ground-truth sequences are named {seq.name!r} ({_src(seq)})")
        seen.add(seq.name)
        if seq.name not in by_name:
            raise DataFormatError(
                f"no prediction for ground-truth sequence {seq.name!r} ({_src(seq)}): write one prediction "
                f"file per GT file with the same file name ({seq.name}.json), even when it has no persons"
            )
        pairs.append((seq, by_name[seq.name]))
    return pairs


def _src(seq: Sequence) -> str:
    return str(seq.source) if seq.source is not None else f"sequence {seq.name}"


def _frame_name(seq: Sequence, index: int) -> str:
    frame = seq.frames[index]
    return f"frame {index} ({frame.file_name})"


def _validate_pair(gt: Sequence, pred: Sequence, mode: str) -> None:
    if len(gt.frames) != len(pred.frames):
        raise DataFormatError(
            f"{_src(pred)}: {len(pred.frames)} frames but the ground truth {_src(gt)} has {len(gt.frames)}: "
            "a prediction file must repeat the GT file's `images` list, in the same order"
        )
    for seq, side in ((gt, "ground truth"), (pred, "prediction")):
        check_unique = side == "prediction" or mode == "pt21"
        for i, frame in enumerate(seq.frames):
            ids = [p.track_id for p in frame.persons]
            for tid in ids:
                if tid >= MAX_TRACK_ID:
                    raise DataFormatError(
                        f"{_src(seq)}: {_frame_name(seq, i)}: track_id {tid} of the {side} is too large: "
                        f"poseval needs track ids below {MAX_TRACK_ID}; renumber the tracks"
                    )
            if check_unique and len(set(ids)) != len(ids):
                dup = sorted({t for t in ids if ids.count(t) > 1})
                raise DataFormatError(
                    f"{_src(seq)}: {_frame_name(seq, i)}: track_id {dup[0]} appears more than once: "
                    "each person of a frame needs its own track id"
                )
    if mode == "pt21":
        for i, (fg, fp) in enumerate(zip(gt.frames, pred.frames, strict=True)):
            if fg.image_id != fp.image_id:
                raise DataFormatError(
                    f"{_src(pred)}: {_frame_name(pred, i)}: image id {fp.image_id} differs from the ground "
                    f"truth's {fg.image_id}: the PoseTrack21 kit pairs frames by image id; copy the GT "
                    "`images` list"
                )


# ---------------------------------------------------------------------------------------------- cleanup
def _side_arrays(seq: Sequence, kept: list[int], is_gt: bool) -> dict[str, np.ndarray]:
    """Pad the persons of the kept frames into [F, N, ...] arrays (PT18 channels, not yet reduced)."""
    F = len(kept)
    N = max((len(seq.frames[i].persons) for i in kept), default=0)
    K = PT18.num_joints
    kp = np.zeros((F, N, K, 3))
    valid = np.zeros((F, N), dtype=bool)
    track = np.zeros((F, N), dtype=np.int64)
    scores = np.full((F, N, K), MISSING_SCORE) if not is_gt else None
    head = np.full((F, N, 4), np.nan) if is_gt else None
    for f, i in enumerate(kept):
        for n, person in enumerate(seq.frames[i].persons):
            kp[f, n] = person.keypoints
            valid[f, n] = True
            track[f, n] = person.track_id
            if is_gt:
                if person.head_box is not None:
                    head[f, n] = person.head_box
            elif person.joint_scores is not None:
                scores[f, n] = person.joint_scores
    out = {"kp": kp[:, :, _JOINTS], "valid": valid, "track": track}
    if is_gt:
        out["head"] = head
    else:
        out["scores"] = scores[:, :, _JOINTS]
    return out


def _present(kp: np.ndarray, mode: str) -> np.ndarray:
    """[..., J, 3] -> [..., J] whether each joint counts as annotated / predicted."""
    x, y, v = kp[..., 0], kp[..., 1], kp[..., 2]
    if mode == "pt21":
        return (x > 0) & (y > 0)
    return ~((x == 0) & (y == 0) & (v == 0))


def _cleanup(side: dict[str, np.ndarray], seq: Sequence, gt: Sequence, kept: list[int], mode: str) -> None:
    """Presence, PoseTrack17 rect removal and ignore regions, in place (regions come from the GT frames)."""
    kp, valid = side["kp"], side["valid"]
    present = _present(kp, mode) & valid[..., None]
    if mode == "pt18" and seq.format == "pt17":
        valid &= present.any(axis=-1)
    for f, i in enumerate(kept):
        regions = gt.frames[i].ignore_regions
        if not regions or not valid[f].any():
            continue
        N = kp.shape[1]
        inside = points_in_polygons(kp[f, :, :, :2].reshape(-1, 2), regions).reshape(N, _J)
        if mode == "pt21":
            kp[f][inside] = 0.0
            present[f] &= ~inside
            valid[f] &= ~((kp[f, :, :, 0] <= 0) & (kp[f, :, :, 1] <= 0)).all(axis=-1)
        else:
            present[f] &= ~inside
            valid[f] &= present[f].any(axis=-1)
    side["present"] = present & valid[..., None]


def _head_sizes(gt_side: dict[str, np.ndarray], gt: Sequence, kept: list[int]) -> np.ndarray:
    """[F, G] head sizes, 1.0 where irrelevant; a GT person with joints but no head box is an error."""
    head = gt_side["head"]
    needs = gt_side["present"].any(axis=-1)
    missing = needs & np.isnan(head[..., 0])
    if missing.any():
        f, g = np.argwhere(missing)[0]
        person = gt.frames[kept[f]].persons[g]
        raise DataFormatError(
            f"{_src(gt)}: {_frame_name(gt, kept[f])}, person {g} (track_id {person.track_id}) has keypoints "
            "but no head box (`bbox_head`, or x1/y1/x2/y2 in PoseTrack17): PCKh needs it"
        )
    x1, y1 = head[..., 0], head[..., 1]
    with np.errstate(over="ignore", invalid="ignore"):
        x2, y2 = x1 + head[..., 2], y1 + head[..., 3]
        size = HEAD_SIZE_FACTOR * np.sqrt((x2 - x1) ** 2 + (y2 - y1) ** 2)
    return np.where(needs, size, 1.0)


# ---------------------------------------------------------------------------------------------- matching
def match_sequence(gt: Sequence, pred: Sequence, mode: str = "pt18") -> SequenceMatch:
    """Clean up, match and assign one GT / prediction pair of sequences (see the module docstring)."""
    if mode not in MODES:
        raise ValueError(f"unknown evaluation mode {mode!r}, expected one of {', '.join(MODES)}")
    _validate_pair(gt, pred, mode)
    if mode == "pt21":
        kept = [i for i, frame in enumerate(gt.frames) if frame.is_labeled]
    else:
        kept = [i for i, frame in enumerate(gt.frames) if frame.persons]
    g_side = _side_arrays(gt, kept, is_gt=True)
    p_side = _side_arrays(pred, kept, is_gt=False)
    _cleanup(g_side, gt, gt, kept, mode)
    _cleanup(p_side, pred, gt, kept, mode)
    head = _head_sizes(g_side, gt, kept)

    F, P, G = len(kept), p_side["kp"].shape[1], g_side["kp"].shape[1]
    assigned = np.full((F, P), -1, dtype=np.int64)
    correct = np.zeros((F, P, _J), dtype=bool)
    cands: list[tuple[np.ndarray, ...]] = []
    if P and G:
        step = max(1, _CHUNK_ELEMENTS // (P * G * _J))
        for s in range(0, F, step):
            sl = slice(s, min(F, s + step))
            a, c, cand = _match_block(
                p_side["kp"][sl, :, :, :2],
                p_side["present"][sl],
                g_side["kp"][sl, :, :, :2],
                g_side["present"][sl],
                head[sl],
            )
            assigned[sl], correct[sl] = a, c
            cands.append((cand[0] + s, *cand[1:]))
    empty_i, empty_f = np.zeros(0, dtype=np.int64), np.zeros(0)
    cat = (
        [np.concatenate(parts) for parts in zip(*cands, strict=True)] if cands else [empty_i] * 4 + [empty_f]
    )
    return SequenceMatch(
        name=gt.name,
        gt_source=str(gt.source) if gt.source is not None else None,
        pred_source=str(pred.source) if pred.source is not None else None,
        frame_indices=np.asarray(kept, dtype=np.int64),
        gt_valid=g_side["valid"],
        gt_present=g_side["present"],
        gt_track=g_side["track"],
        pred_valid=p_side["valid"],
        pred_present=p_side["present"],
        pred_track=p_side["track"],
        pred_scores=p_side["scores"],
        assigned=assigned,
        correct=correct,
        cand_frame=cat[0].astype(np.int64),
        cand_pred=cat[1].astype(np.int64),
        cand_gt=cat[2].astype(np.int64),
        cand_joint=cat[3].astype(np.int64),
        cand_dist=cat[4],
        gt_xy=g_side["kp"][..., :2],
        pred_xy=p_side["kp"][..., :2],
        head_size=head,
    )


def _match_block(
    pxy: np.ndarray, ppres: np.ndarray, gxy: np.ndarray, gpres: np.ndarray, head: np.ndarray
) -> tuple[np.ndarray, np.ndarray, tuple[np.ndarray, ...]]:
    """pxy: [F, P, J, 2], ppres: [F, P, J], gxy: [F, G, J, 2], gpres: [F, G, J], head: [F, G]
    -> assigned [F, P], correct [F, P, J], candidates (f, p, g, j, dist) each [C]."""
    F, P = ppres.shape[:2]
    diff = gxy[:, None] - pxy[:, :, None]  # [F, P, G, J, 2]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        dist = np.sqrt(diff[..., 0] ** 2 + diff[..., 1] ** 2) / head[:, None, :, None]  # [F, P, G, J]
    both = ppres[:, :, None] & gpres[:, None]
    dist = np.where(both, dist, np.inf)
    match = dist <= DIST_THRESHOLD

    num_gt_joints = gpres.sum(axis=-1)  # [F, G]
    pck = match.sum(axis=-1).astype(np.float64)  # [F, P, G]
    pck = np.where(num_gt_joints[:, None] > 0, pck / np.maximum(num_gt_joints[:, None], 1), pck)
    # each prediction keeps only its best GT ...
    best_gt = pck.argmax(axis=2)  # [F, P]
    f_idx, p_idx = np.indices((F, P))
    best_only = np.zeros_like(pck)
    best_only[f_idx, p_idx, best_gt] = pck[f_idx, p_idx, best_gt]
    # ... then each GT takes its best remaining prediction; 0 = unmatched
    best_pred = best_only.argmax(axis=1)  # [F, G]
    has = best_only.max(axis=1) > 0
    assigned = np.full((F, P), -1, dtype=np.int64)
    fg = np.argwhere(has)
    assigned[fg[:, 0], best_pred[has]] = fg[:, 1]

    safe = np.maximum(assigned, 0)
    correct = match[f_idx, p_idx, safe] & (assigned >= 0)[..., None]  # [F, P, J]
    cand = np.nonzero(match)
    return assigned, correct, (*cand, dist[cand])


def match_sequences(gt: list[Sequence], pred: list[Sequence], mode: str = "pt18") -> list[SequenceMatch]:
    """Pair sequences by name and match each pair, in the order of ``gt``."""
    return [match_sequence(g, p, mode) for g, p in pair_sequences(gt, pred)]
