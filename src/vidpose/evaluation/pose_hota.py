"""PoseTrack21 pose tracking: the PoseTrack21 kit's keypoint HOTA (``HOTAeypoints``), native and vectorised.

The kit (``eval/posetrack21``, ``run_posetrack_challenge.py``) scores multi-person pose *tracking* with a HOTA
in which **every joint is its own HOTA problem** and detections are keypoints. This module computes the same
numbers and writes the kit's ``pose_hota_results.txt``; the behaviour follows
``shared/design/POSETRACK21_HOTA.md``.

Input rules:

- Sequences pair by file name. Frames are the GT ``images`` in file order, paired with the prediction images
  by position; only frames whose GT image has ``is_labeled`` are kept, and there the two image ids must be
  equal. PoseTrack18/21 files only (the kit does not read the PoseTrack17 ``annolist`` layout).
- Joints: the 17 PoseTrack18 joints without the ears, in the kit's order (:data:`HOTA_JOINTS`). A keypoint is
  valid iff ``x > 0 and y > 0``; visibility flags and scores never change a number.
- Ignore regions of the GT frame apply to both sides: a keypoint strictly inside a polygon becomes (0, 0); a
  person whose 15 keypoints then all have ``x <= 0 and y <= 0`` is dropped. Without regions nobody is dropped,
  so a person without valid keypoints still counts as a person of its frame.
- Similarity of GT keypoint g and predicted keypoint p: ``max(0, 1 - d / 0.5001)``, ``d = |g - p| / s``,
  ``s = 0.6 *`` the GT person's head-box diagonal; 0 unless both keypoints are valid. A pair matches at
  threshold alpha (0.05, 0.10, ..., 0.95) iff ``sim >= alpha - eps`` (machine epsilon).

Per sequence, joint and alpha: one optimal assignment per frame and joint over all GT x predicted persons
(``scipy.optimize.linear_sum_assignment`` on ``-sim``, so ties go where scipy puts them; no association
pre-scaling); TP, FN, FP, localisation sum, matches per (GT track, predicted track) and, for FragA, the runs
of consecutive matches of a GT track to the same predicted track. AssA / AssRe / AssPr / FragA / LocA per
joint, a per-sequence Total (counts summed over joints, the other fields averaged over the 15 joints),
sequences combined weighted by TP, then DetA, HOTA and friends per alpha and the summary as means over alpha.

The kit's quirks, reproduced by default:

- **Empty-frame FN rule.** A kept frame with GT persons but no predicted person adds the *sequence's total*
  number of valid GT keypoints of each joint to FN (not the frame's own). ``strict=True`` counts the frame's
  own keypoints instead. A sequence without any predicted person is not affected (FN = its GT count, once).
- **Joints without GT in the mean.** The Total of a sequence averages all 15 joints, so a joint that is never
  annotated (the Bonn data has no nose) counts 0 for AssA, AssRe, AssPr and FragA, capping them at 93.333.
- **LocA = 1 where TP = 0** (``max(1e-10, S) / max(1e-10, TP)``): a joint without matches counts 100 % LocA in
  the joint mean.

Where the kit fails, vidpose does the evident thing: a kept frame without GT persons (none annotated, or all
dropped by ignore regions) makes the kit stop with an error, here its predictions are false positives; a
sequence without predicted persons (or without GT persons) gives the kit arrays of a different shape (a
crash when combined with other sequences), here it counts FN (FP) and nothing else. Inputs the kit silently
mis-scores are :class:`~vidpose.errors.DataFormatError` errors naming file and field: negative track ids (the
kit aliases them), and a GT person with valid keypoints whose ``bbox_head`` is missing or of zero size.
Duplicate track ids in a frame and image-id mismatches are errors too, as in the kit.

    >>> result = evaluate_hota(read_sequences("gt/"), read_prediction_folder("pred/"))
    >>> print(format_pose_hota_results(result), end="")   # the kit's two lines
    >>> write_pose_hota_results(result, "out/")           # out/pose_hota_results.txt

Legend: S sequences, F kept frames, G / P GT / predicted persons, J = 15 joints (:data:`HOTA_JOINTS`),
A = 19 thresholds (:data:`ALPHAS`), Q candidate (GT person, predicted person) pairs of a frame, N assigned
(GT keypoint, predicted keypoint) pairs matching at one threshold at least, U distinct (GT track, predicted
track, joint) combinations among them. Result arrays are [A, J + 1], the last column being Total.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.optimize import linear_sum_assignment

from ..data.records import Sequence
from ..errors import DataFormatError
from ..fileio import atomic_write_text
from ..skeleton import PT18
from .matching import HEAD_SIZE_FACTOR, pair_sequences, points_in_polygons

__all__ = [
    "ALPHAS",
    "HOTA_JOINTS",
    "SUMMARY_FIELDS",
    "RESULTS_FILE",
    "HOTAResult",
    "evaluate_hota",
    "format_pose_hota_results",
    "write_pose_hota_results",
]

#: Localisation thresholds alpha, as the kit makes them (``np.arange(0.05, 0.99, 0.05)``: 0.05 + i * 0.05).
ALPHAS: np.ndarray = np.arange(0.05, 0.99, 0.05)
#: The 15 joints of keypoint HOTA in the kit's order: PoseTrack18 without the ears.
HOTA_JOINTS: tuple[str, ...] = tuple(n for n in PT18.names if not n.endswith("_ear"))
#: The summary line's fields, in the kit's order (12 float metrics, 3 at alpha 0.05, 6 counts).
SUMMARY_FIELDS: tuple[str, ...] = (
    "DetPr", "DetRe", "DetA", "AssPr", "AssRe", "AssA", "LocA", "FragA", "HOTA", "RHOTA", "FA-HOTA",
    "FA-RHOTA", "LocA(0)", "HOTALocA(0)", "HOTA(0)", "HOTA_TP", "HOTA_FP", "HOTA_FN", "HOTA_TP(0)",
    "HOTA_FP(0)", "HOTA_FN(0)",
)  # fmt: skip
#: File name the kit writes its summary to.
RESULTS_FILE = "pose_hota_results.txt"

#: A distance of this many head sizes has similarity 0.
ZERO_SIMILARITY_DISTANCE = 0.5001

_CHANNELS = np.asarray([PT18.index(n) for n in HOTA_JOINTS], dtype=np.int64)
_J = len(HOTA_JOINTS)
_A = len(ALPHAS)
_EPS = np.finfo(np.float64).eps
_THRESHOLDS = ALPHAS - _EPS  # a pair matches at alpha iff sim >= alpha - eps
_SLOPE = -1.0 / ZERO_SIMILARITY_DISTANCE
_COUNT_FIELDS = ("tp", "fn", "fp")


@dataclass(frozen=True)
class HOTAResult:
    """Keypoint HOTA of a set of sequences, per threshold.

    Every array is [A, J + 1] (rows: :data:`ALPHAS`; columns: :data:`HOTA_JOINTS`, then Total), fractions in
    [0, 1] (counts for ``tp``, ``fn``, ``fp``). The Total column is what the kit reports.

    Attributes:
        hota, det_a, det_re, det_pr, ass_a, ass_re, ass_pr, loc_a, frag_a, rhota, fa_hota, fa_rhota: metrics.
        tp, fn, fp: keypoint counts (float64 holding integers).
        sequences: the evaluated sequence names, in evaluation order.
        num_frames: kept (labelled) frames over all sequences.
        strict: whether the empty-frame FN rule was fixed (see the module docstring).
    """

    hota: np.ndarray
    det_a: np.ndarray
    det_re: np.ndarray
    det_pr: np.ndarray
    ass_a: np.ndarray
    ass_re: np.ndarray
    ass_pr: np.ndarray
    loc_a: np.ndarray
    frag_a: np.ndarray
    rhota: np.ndarray
    fa_hota: np.ndarray
    fa_rhota: np.ndarray
    tp: np.ndarray
    fn: np.ndarray
    fp: np.ndarray
    sequences: tuple[str, ...]
    num_frames: int
    strict: bool = False

    @property
    def summary(self) -> dict[str, float | int]:
        """The kit's summary (:data:`SUMMARY_FIELDS`): floats in percent (mean over alpha, or at alpha 0.05
        for the ``(0)`` fields), counts as the truncated mean over alpha (or at 0.05)."""
        mean = {
            name: 100 * float(np.mean(arr[:, -1]))
            for name, arr in (
                ("DetPr", self.det_pr), ("DetRe", self.det_re), ("DetA", self.det_a),
                ("AssPr", self.ass_pr), ("AssRe", self.ass_re), ("AssA", self.ass_a),
                ("LocA", self.loc_a), ("FragA", self.frag_a), ("HOTA", self.hota), ("RHOTA", self.rhota),
                ("FA-HOTA", self.fa_hota), ("FA-RHOTA", self.fa_rhota),
            )
        }  # fmt: skip
        hota0, loca0 = float(self.hota[0, -1]), float(self.loc_a[0, -1])
        out: dict[str, float | int] = dict(mean)
        out["LocA(0)"] = 100 * loca0
        out["HOTALocA(0)"] = 100 * (hota0 * loca0)
        out["HOTA(0)"] = 100 * hota0
        for name, arr in (("HOTA_TP", self.tp), ("HOTA_FP", self.fp), ("HOTA_FN", self.fn)):
            out[name] = int(np.mean(arr[:, -1]))
        for name, arr in (("HOTA_TP(0)", self.tp), ("HOTA_FP(0)", self.fp), ("HOTA_FN(0)", self.fn)):
            out[name] = int(arr[0, -1])
        return {name: out[name] for name in SUMMARY_FIELDS}


# --------------------------------------------------------------------------------------------- output
def format_pose_hota_results(result: HOTAResult) -> str:
    """The kit's ``pose_hota_results.txt``: a LaTeX-style header line and the summary line (it starts with a
    space), each ending in a newline; floats as ``'{:1.5g}'``, counts as integers."""
    header = " & ".join(["Summary", *(name.replace("_", "\\_") for name in SUMMARY_FIELDS)])
    cells = [f"{v:1.5g}" if isinstance(v, float) else f"{v:d}" for v in result.summary.values()]
    return f"{header}\n{' & '.join(['', *cells])}\n"


def write_pose_hota_results(result: HOTAResult, out_dir: str | Path) -> Path:
    """Write ``out_dir/pose_hota_results.txt`` atomically; returns its path."""
    return atomic_write_text(Path(out_dir) / RESULTS_FILE, format_pose_hota_results(result))


# ------------------------------------------------------------------------------------------ gathering
@dataclass
class _Side:
    """The persons of one side of a sequence in its kept frames, after ignore regions.

    frame: [G] kept-frame index; track: [G] track index 0..T-1 (ids relabelled); xy: [G, J, 2];
    valid: [G, J]; head: [G] head sizes (GT only, 1.0 where irrelevant); num_tracks: T.
    """

    frame: np.ndarray
    track: np.ndarray
    xy: np.ndarray
    valid: np.ndarray
    head: np.ndarray | None
    num_tracks: int


def _src(seq: Sequence) -> str:
    return str(seq.source) if seq.source is not None else f"sequence {seq.name}"


def _where(seq: Sequence, index: int, person: int) -> str:
    frame = seq.frames[index]
    return f"{_src(seq)}: frame {index} ({frame.file_name}, image id {frame.image_id}), person {person}"


def _validate(gt: Sequence, pred: Sequence, kept: list[int]) -> None:
    for seq in (gt, pred):
        if seq.format == "pt17":
            raise DataFormatError(
                f"{_src(seq)}: keypoint HOTA reads the PoseTrack18/21 layout (`images`, `annotations`), as "
                "the PoseTrack21 kit does; this is a PoseTrack17 `annolist` file"
            )
    if len(gt.frames) != len(pred.frames):
        raise DataFormatError(
            f"{_src(pred)}: {len(pred.frames)} frames but the ground truth {_src(gt)} has {len(gt.frames)}: "
            "a prediction file must repeat the GT file's `images` list, in the same order"
        )
    for i in kept:
        if gt.frames[i].image_id != pred.frames[i].image_id:
            raise DataFormatError(
                f"{_src(pred)}: images[{i}].id: {pred.frames[i].image_id} differs from the ground truth's "
                f"{gt.frames[i].image_id}: the PoseTrack21 kit pairs frames by position and requires equal "
                "image ids; copy the GT `images` list"
            )
    for seq, side in ((gt, "ground truth"), (pred, "prediction")):
        for i in kept:
            seen: dict[int, int] = {}
            for n, person in enumerate(seq.frames[i].persons):
                tid = person.track_id
                if tid < 0:
                    raise DataFormatError(
                        f"{_where(seq, i, n)}: track_id {tid} of the {side} is negative: keypoint HOTA needs "
                        "non-negative track ids (the PoseTrack21 kit silently aliases negative ones)"
                    )
                if tid in seen:
                    raise DataFormatError(
                        f"{_where(seq, i, n)}: track_id {tid} of the {side} is also person {seen[tid]}'s: "
                        "each person of a frame needs its own track id"
                    )
                seen[tid] = n


def _gather(seq: Sequence, kept: list[int], is_gt: bool) -> tuple[np.ndarray, ...]:
    """frame [G], raw track ids [G], xy [G, J, 2] and (GT) head boxes [G, 4] (NaN: none), kept frames."""
    frame_of, tracks, keypoints, heads = [], [], [], []
    for f, i in enumerate(kept):
        persons = seq.frames[i].persons
        frame_of += [f] * len(persons)
        for person in persons:
            tracks.append(person.track_id)
            keypoints.append(person.keypoints)
            if is_gt:
                heads.append(person.head_box if person.head_box is not None else _NO_BOX)
    num = len(tracks)
    xy = np.stack(keypoints)[:, _CHANNELS, :2] if num else np.zeros((0, _J, 2))
    head = (np.stack(heads) if num else np.zeros((0, 4))) if is_gt else None
    return np.asarray(frame_of, dtype=np.int64), np.asarray(tracks, dtype=np.int64), xy, head


_NO_BOX = np.full(4, np.nan)


def _head_sizes(box: np.ndarray, valid: np.ndarray, gt: Sequence, kept: list[int], frame: np.ndarray):
    """[G, 4] xywh, [G, J] -> [G] head sizes; a person with valid keypoints needs a box of non-zero size."""
    x1, y1 = box[:, 0], box[:, 1]
    x2, y2 = x1 + box[:, 2], y1 + box[:, 3]  # the kit's corner arithmetic
    size = HEAD_SIZE_FACTOR * np.sqrt((x2 - x1) ** 2 + (y2 - y1) ** 2)
    needs = valid.any(axis=1)
    bad = needs & ~(size > 0)  # NaN (no box) or zero
    if bad.any():
        g = int(np.argmax(bad))
        i = kept[frame[g]]
        n = g - int(np.searchsorted(frame, frame[g]))
        what = "has no `bbox_head`" if np.isnan(box[g]).any() else f"has a `bbox_head` of zero size {box[g]}"
        raise DataFormatError(
            f"{_where(gt, i, n)}: annotations: a GT person with valid keypoints {what}: keypoint HOTA "
            "normalises distances by the head size"
        )
    return np.where(needs, size, 1.0)


def _sides(gt: Sequence, pred: Sequence, kept: list[int]) -> tuple[_Side, _Side]:
    """Both sides of one sequence pair, with the GT frames' ignore regions applied."""
    g_frame, g_track, g_xy, g_box = _gather(gt, kept, is_gt=True)
    p_frame, p_track, p_xy, _ = _gather(pred, kept, is_gt=False)
    g_head = _head_sizes(g_box, (g_xy[..., 0] > 0) & (g_xy[..., 1] > 0), gt, kept, g_frame)
    g_keep = np.ones(len(g_frame), dtype=bool)
    p_keep = np.ones(len(p_frame), dtype=bool)
    g_bounds = np.searchsorted(g_frame, np.arange(len(kept) + 1))
    p_bounds = np.searchsorted(p_frame, np.arange(len(kept) + 1))
    for f, i in enumerate(kept):
        regions = gt.frames[i].ignore_regions
        if not regions:
            continue
        for xy, keep, bounds in ((g_xy, g_keep, g_bounds), (p_xy, p_keep, p_bounds)):
            sl = slice(bounds[f], bounds[f + 1])
            block = xy[sl]  # [n, J, 2] view
            if not len(block):
                continue
            inside = points_in_polygons(block.reshape(-1, 2), regions).reshape(block.shape[:2])
            block[inside] = 0.0
            keep[sl] = ~((block[..., 0] <= 0) & (block[..., 1] <= 0)).all(axis=1)
    out = []
    for frame, track, xy, keep, head in (
        (g_frame, g_track, g_xy, g_keep, g_head),
        (p_frame, p_track, p_xy, p_keep, None),
    ):
        xy = xy[keep]
        ids, track = np.unique(track[keep], return_inverse=True)
        out.append(
            _Side(
                frame=frame[keep],
                track=track.reshape(-1).astype(np.int64),
                xy=xy,
                valid=(xy[..., 0] > 0) & (xy[..., 1] > 0),
                head=None if head is None else head[keep],
                num_tracks=len(ids),
            )
        )
    return out[0], out[1]


# ------------------------------------------------------------------------------------------ assignment
def _assign(g: _Side, p: _Side, num_frames: int) -> tuple[np.ndarray, ...]:
    """Per-frame, per-joint optimal assignment of one sequence.

    Returns the assigned pairs with positive similarity: GT person [N'], predicted person [N'], joint [N'],
    similarity [N'] (row-major by frame, joint, GT person: the order the kit visits them).
    """
    ng = np.bincount(g.frame, minlength=num_frames)
    npr = np.bincount(p.frame, minlength=num_frames)
    g_start, p_start = np.cumsum(ng) - ng, np.cumsum(npr) - npr
    nq = ng * npr
    frame = np.repeat(np.arange(num_frames), nq)  # [Q]
    local = np.arange(len(frame)) - np.repeat(np.cumsum(nq) - nq, nq)
    qg = g_start[frame] + local // npr[frame]
    qp = p_start[frame] + local % npr[frame]
    diff = g.xy[qg] - p.xy[qp]  # [Q, J, 2]
    dist = np.sqrt(diff[..., 0] ** 2 + diff[..., 1] ** 2) / g.head[qg, None]
    dist = np.where(g.valid[qg] & p.valid[qp], dist, np.inf)
    sim = np.maximum(_SLOPE * dist + 1, 0)  # [Q, J], the kit's expression

    # A positive pair alone in its GT row and predicted column is part of every optimal assignment; only
    # (frame, joint) blocks where some row or column holds two positive pairs need the solver, on the frame's
    # full G x P matrix (as the kit calls it, so that ties go the same way).
    qi, qj = np.nonzero(sim > 0)
    g_key, p_key = qg[qi] * _J + qj, qp[qi] * _J + qj
    crowded = (np.bincount(g_key, minlength=len(g.frame) * _J)[g_key] > 1) | (
        np.bincount(p_key, minlength=len(p.frame) * _J)[p_key] > 1
    )
    q_start = np.cumsum(nq) - nq
    blocks = np.unique(frame[qi[crowded]] * _J + qj[crowded])
    rows, cols = [], []
    for f, j in zip((blocks // _J).tolist(), (blocks % _J).tolist(), strict=True):
        cost = -sim[q_start[f] : q_start[f] + nq[f], j].reshape(ng[f], npr[f])
        r, c = linear_sum_assignment(cost)
        rows.append(r)
        cols.append(c)
    solved = np.minimum(ng, npr)[blocks // _J]  # pairs per solved block
    bf, bj = np.repeat(blocks // _J, solved), np.repeat(blocks % _J, solved)
    bq = q_start[bf] + np.concatenate([np.zeros(0, np.int64), *rows]) * npr[bf]
    bq += np.concatenate([np.zeros(0, np.int64), *cols])
    is_crowded = np.zeros(sim.shape, dtype=bool)
    is_crowded[qi[crowded], qj[crowded]] = True
    pick = is_crowded[bq, bj]  # the solver's positive pairs in crowded places (the others are alone)
    qi, qj = np.concatenate([qi[~crowded], bq[pick]]), np.concatenate([qj[~crowded], bj[pick]])
    order = np.lexsort((qg[qi], qj, frame[qi]))
    qi, qj = qi[order], qj[order]
    return qg[qi], qp[qi], qj.astype(np.int64), sim[qi, qj]


# ------------------------------------------------------------------------------------------ evaluation
def evaluate_hota(gt: list[Sequence], pred: list[Sequence], strict: bool = False) -> HOTAResult:
    """Keypoint HOTA of predicted pose tracks, as the PoseTrack21 kit computes it (see the module docstring).

    Args:
        gt: ground-truth sequences (PoseTrack18/21 layout, ``is_labeled`` frames are scored).
        pred: prediction sequences, paired with ``gt`` by name; same ``images`` list as their GT.
        strict: fix the kit's empty-frame FN rule (a frame without predictions then counts its own GT
            keypoints as FN, not the sequence's).

    Returns:
        the per-threshold metrics; ``format_pose_hota_results`` gives the kit's summary lines.
    """
    pairs = pair_sequences(gt, pred)
    if not pairs:
        raise DataFormatError("keypoint HOTA: no ground-truth sequence to evaluate")
    S = len(pairs)
    gt_count = np.zeros((S, _J))  # valid GT keypoints per joint
    pred_count = np.zeros((S, _J))
    fn_base = np.zeros((S, _J))  # FN before subtracting TP
    assigned: list[tuple[np.ndarray, ...]] = []
    track_gt, track_pred = [], []  # per sequence: [T, J] frames in which a track has a valid keypoint
    g_offset = p_offset = num_frames = 0
    for s, (g_seq, p_seq) in enumerate(pairs):
        kept = [i for i, frame in enumerate(g_seq.frames) if frame.is_labeled]
        _validate(g_seq, p_seq, kept)
        g, p = _sides(g_seq, p_seq, kept)
        F = len(kept)
        num_frames += F
        per_frame_gt, per_frame_pred = _row_sums(g.frame, g.valid, F), _row_sums(p.frame, p.valid, F)
        gt_count[s], pred_count[s] = per_frame_gt.sum(axis=0), per_frame_pred.sum(axis=0)
        has_gt = np.bincount(g.frame, minlength=F) > 0
        has_pred = np.bincount(p.frame, minlength=F) > 0
        if strict or not has_pred.any():  # no predicted person at all: the kit counts the GT once
            fn_base[s] = gt_count[s]
        else:  # the kit's rule: a GT frame without predictions adds the sequence's GT count
            fn_base[s] = per_frame_gt[has_pred].sum(axis=0) + (has_gt & ~has_pred).sum() * gt_count[s]
        track_gt.append(_row_sums(g.track, g.valid, g.num_tracks))
        track_pred.append(_row_sums(p.track, p.valid, p.num_tracks))
        gi, pi, ji, si = _assign(g, p, F)
        assigned.append(
            (np.full(len(gi), s), g.track[gi] + g_offset, p.track[pi] + p_offset, ji, g.frame[gi], si)
        )
        g_offset += g.num_tracks
        p_offset += p.num_tracks

    seq, gtrack, ptrack, joint, frame, sim = (np.concatenate(parts) for parts in zip(*assigned, strict=True))
    cg, cp = np.concatenate(track_gt), np.concatenate(track_pred)
    k = np.searchsorted(_THRESHOLDS, sim, side="right")  # thresholds matched: alphas[:k]
    keep = k > 0
    seq, gtrack, ptrack, joint, frame, sim, k = (a[keep] for a in (seq, gtrack, ptrack, joint, frame, sim, k))
    per_seq = _sequence_fields(seq, gtrack, ptrack, joint, frame, sim, k, cg, cp, S)
    per_seq["fn"] = fn_base[:, None, :] - per_seq["tp"]
    per_seq["fp"] = pred_count[:, None, :] - per_seq["tp"]
    return _combine(per_seq, tuple(g.name for g, _ in pairs), num_frames, strict)


def _row_sums(rows: np.ndarray, values: np.ndarray, num_rows: int) -> np.ndarray:
    """[n] row of each entry, [n, J] values -> [num_rows, J] sums."""
    idx = (rows[:, None] * _J + np.arange(_J)).ravel()
    return np.bincount(idx, weights=values.ravel(), minlength=num_rows * _J).reshape(num_rows, _J)


def _by_k(group: np.ndarray, k: np.ndarray, num_groups: int, weights: np.ndarray | None = None) -> np.ndarray:
    """Sum over pairs matching at each threshold: [N] group ids, [N] k -> [num_groups, A] (k > a)."""
    hist = np.bincount(group * (_A + 1) + k, weights=weights, minlength=num_groups * (_A + 1))
    hist = hist.reshape(num_groups, _A + 1).astype(np.float64)
    return np.cumsum(hist[:, ::-1], axis=1)[:, ::-1][:, 1:]


def _sequence_fields(seq, gtrack, ptrack, joint, frame, sim, k, cg, cp, S) -> dict[str, np.ndarray]:
    """Per sequence, threshold and joint: TP and the association / localisation fields, each [S, A, J].

    Inputs are the N assigned pairs (sequence, global GT / predicted track, joint, frame, similarity, number
    of thresholds matched) and the per-track valid-keypoint counts cg [Tg, J], cp [Tp, J].
    """
    N = len(k)
    sj = seq * _J + joint  # [N]
    tp = _by_k(sj, k, S * _J)  # [S * J, A]
    loc_sum = _by_k(sj, k, S * _J, sim)

    # matches per (GT track, predicted track, joint) at each threshold
    combo = (gtrack * (cp.shape[0] + 1) + ptrack) * _J + joint
    keys, u = np.unique(combo, return_inverse=True)
    u = u.reshape(-1)
    U = len(keys)
    first = np.zeros(U, dtype=np.int64)
    first[u[::-1]] = np.arange(N)[::-1]  # a pair of each combination
    u_g, u_p, u_j, u_sj = gtrack[first], ptrack[first], joint[first], sj[first]
    matches = _by_k(u, k, U)  # [U, A]
    count_g, count_p = cg[u_g, u_j][:, None], cp[u_p, u_j][:, None]
    union = np.maximum(1, count_g + count_p - matches)  # TP + FN + FP of the track pair

    def per_joint(values: np.ndarray, group: np.ndarray) -> np.ndarray:  # [X, A] -> [S * J, A]
        idx = group[:, None] * _A + np.arange(_A)
        return np.bincount(idx.ravel(), weights=values.ravel(), minlength=S * _J * _A).reshape(S * _J, _A)

    ass_a = per_joint(matches * (matches / union), u_sj)
    ass_re = per_joint(matches * (matches / np.maximum(1, count_g)), u_sj)
    ass_pr = per_joint(matches * (matches / np.maximum(1, count_p)), u_sj)

    # FragA: runs of consecutive matches of a GT track (per joint) to one predicted track. Sort the pairs by
    # (GT track, joint, frame) and list every match (threshold a, pair n) in (a, n) order: a match continues
    # a run iff the match before it in that list has the same threshold, GT track, joint and predicted track.
    order = np.lexsort((frame, joint, gtrack))
    o_group, o_track, o_u = (gtrack * _J + joint)[order], ptrack[order], u[order]
    flat = np.flatnonzero((k[order][None, :] > np.arange(_A)[:, None]).ravel())  # matches, [a * N + n]
    m_a, m_n = np.divmod(flat, max(N, 1))
    group, track = o_group[m_n], o_track[m_n]
    continues = (m_a[1:] == m_a[:-1]) & (group[1:] == group[:-1]) & (track[1:] == track[:-1])
    starts = np.flatnonzero(np.r_[True, ~continues]) if len(flat) else np.zeros(0, np.int64)
    r = np.diff(np.r_[starts, len(flat)]).astype(np.float64)  # run lengths
    ra, ru = m_a[starts], o_u[m_n[starts]]
    frag = np.bincount(u_sj[ru] * _A + ra, weights=r * (r / union[ru, ra]), minlength=S * _J * _A)
    frag = frag.reshape(S * _J, _A)

    def shaped(x: np.ndarray) -> np.ndarray:  # [S * J, A] -> [S, A, J]
        return x.reshape(S, _J, _A).transpose(0, 2, 1)

    tp_safe = np.maximum(1, tp)
    return {
        "tp": shaped(tp),
        "ass_a": shaped(ass_a / tp_safe),
        "ass_re": shaped(ass_re / tp_safe),
        "ass_pr": shaped(ass_pr / tp_safe),
        "frag_a": shaped(frag / tp_safe),
        "loc_a": shaped(np.maximum(1e-10, loc_sum) / np.maximum(1e-10, tp)),
    }


def _combine(per_seq: dict[str, np.ndarray], names: tuple[str, ...], num_frames: int, strict: bool):
    """Per-sequence [S, A, J] fields -> the combined result: a Total column per sequence (counts summed,
    the rest averaged over joints), sequences weighted by TP, then the detection and HOTA fields."""
    full = {}
    for name, x in per_seq.items():
        total = x.sum(axis=2) if name in _COUNT_FIELDS else x.mean(axis=2)
        full[name] = np.concatenate([x, total[:, :, None]], axis=2)  # [S, A, J + 1]
    counts = {name: full[name].sum(axis=0) for name in _COUNT_FIELDS}
    tp, fn, fp = counts["tp"], counts["fn"], counts["fp"]
    weighted = {
        name: (full[name] * full["tp"]).sum(axis=0) / np.maximum(1.0, tp)
        for name in ("ass_a", "ass_re", "ass_pr", "frag_a")
    }
    loc_a = np.maximum(1e-10, (full["loc_a"] * full["tp"]).sum(axis=0)) / np.maximum(1e-10, tp)
    det_re = tp / np.maximum(1, tp + fn)
    det_pr = tp / np.maximum(1, tp + fp)
    det_a = tp / np.maximum(1, tp + fn + fp)
    ass_a, frag_a = weighted["ass_a"], weighted["frag_a"]
    return HOTAResult(
        hota=np.sqrt(det_a * ass_a),
        det_a=det_a,
        det_re=det_re,
        det_pr=det_pr,
        ass_a=ass_a,
        ass_re=weighted["ass_re"],
        ass_pr=weighted["ass_pr"],
        loc_a=loc_a,
        frag_a=frag_a,
        rhota=np.sqrt(det_re * ass_a),
        fa_hota=np.sqrt(det_a * np.sqrt(ass_a * frag_a)),
        fa_rhota=np.sqrt(det_re * np.sqrt(ass_a * frag_a)),
        tp=tp,
        fn=fn,
        fp=fp,
        sequences=names,
        num_frames=num_frames,
        strict=strict,
    )
