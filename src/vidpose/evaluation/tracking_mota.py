"""Multi-person pose tracking metrics (MOTA, MOTP, precision, recall per joint), as poseval's
``evaluateTracking`` computes them with py-motmetrics.

Each joint class is tracked on its own: the objects of a frame are the GT persons with that joint, the
hypotheses the predicted persons with that joint (scores are ignored), and a pair can match when its PCKh
distance is at most 0.5. :class:`ClearMotAccumulator` turns the frames into CLEAR MOT events the way
``motmetrics.MOTAccumulator.update`` of py-motmetrics 1.4.0 does (checked against it in
``tests/evaluation/test_mota_oracle.py``):

1. continuation: each object in turn whose *last* match was hypothesis h is matched to h again if h is in the
   frame, not yet taken in it, and a candidate pair with the object. The last match is remembered however
   long ago it was: through frames where the object was missed or lacked the joint, frames without
   predictions, and h being matched to another object meanwhile;
2. the remaining candidates get a minimum-cost assignment (``scipy.optimize.linear_sum_assignment`` on the
   frame's whole [O, H] matrix, non-candidates priced at ``2 * min(O, H) * (max|d| + 1) + 1`` with the max
   over the remaining candidates, so that the number of matches is maximal before the cost is minimal;
   non-candidates it picks are dropped); a match
   whose object was last matched to another hypothesis, however long ago, is an identity switch;
3. unmatched objects are misses, unmatched hypotheses false positives.

poseval's quirks, reproduced: the last kept frame of every sequence is not evaluated; a frame without
predictions (or, after the ignore regions, without GT persons) counts exactly one object, one miss and one
false positive per joint, whatever the number of persons; a joint without detections has MOTP 0; and MOTP sums
the distance column of **all** motmetrics events, so it counts every candidate pair of a frame (the RAW
events) and the TRANSFER / ASCEND / MIGRATE events besides the matches: ``MOTP = 100 * (1 - that sum /
detections)``. The textbook CLEAR MOTP (matched distances only) is :attr:`MOTResult.motp_clear`.

Legend: J = 15 scored joints in poseval's id order; result arrays have J + 1 entries, the last = Total (mean
over joints, skipping NaN). O objects and H hypotheses of one joint in one frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from ..data.records import Sequence
from ..errors import DataFormatError
from ..skeleton import POSEVAL_NAMES
from .matching import MODES, SequenceMatch, match_sequences, mean_skip_nan

__all__ = ["MOTResult", "ClearMotAccumulator", "evaluate_mota", "mota_from_matches"]

_J = len(POSEVAL_NAMES)


class ClearMotAccumulator:
    """CLEAR MOT event counts of one object class in one sequence (py-motmetrics' ``MOTAccumulator``)."""

    def __init__(self) -> None:
        self.num_objects = 0
        self.num_matches = 0
        self.num_switches = 0
        self.num_misses = 0
        self.num_false_positives = 0
        self.sum_matched = 0.0  # distances of MATCH and SWITCH events
        self.sum_events = 0.0  # distances of every motmetrics event (RAW, MATCH, SWITCH, TRANSFER, ...)
        self._pairing: dict[int, int] = {}  # object -> hypothesis of its last match, however long ago
        self._owner: dict[int, int] = {}  # hypothesis -> object it was last assigned to (step 2 only)
        self._seen_hyps: set[int] = set()  # hypotheses ever matched

    @property
    def num_detections(self) -> int:
        return self.num_matches + self.num_switches

    def update(self, oids: list[int], hids: list[int], dists: np.ndarray) -> None:
        """One frame. oids: [O], hids: [H] (unique within the frame), dists: [O, H], NaN = cannot pair."""
        rows, cols = np.nonzero(np.isfinite(dists))
        self.update_pairs(oids, hids, rows.tolist(), cols.tolist(), dists[rows, cols].tolist())

    def update_pairs(
        self, oids: list[int], hids: list[int], rows: list[int], cols: list[int], dists: list[float]
    ) -> None:
        """One frame given as its candidate pairs: ``(oids[rows[k]], hids[cols[k]])`` at distance ``dists[k]``
        (row-major order, each pair once); every other pair cannot match."""
        num_o, num_h = len(oids), len(hids)
        self.num_objects += num_o
        matched = 0
        if dists:
            self.sum_events += sum(dists)  # RAW events
            done_o, done_h = [False] * num_o, [False] * num_h
            cand = {(r, c): d for r, c, d in zip(rows, cols, dists, strict=True)}
            if self._pairing:  # 1. continuation of each object's last match, whenever it was
                col_of = {h: c for c, h in enumerate(hids)}
                for i, o in enumerate(oids):
                    c = col_of.get(self._pairing.get(o))
                    if c is None or done_h[c]:
                        continue
                    d = cand.get((i, c))
                    if d is not None:
                        done_o[i] = done_h[c] = True
                        self._seen_hyps.add(hids[c])
                        self._record(d)
                        self.num_matches += 1
                        matched += 1
            rest = [(r, c, d) for (r, c), d in cand.items() if not done_o[r] and not done_h[c]]
            for r, c, d in self._min_cost(rest, num_o, num_h):  # 2. minimum-cost assignment of the rest
                self._assign(oids[r], hids[c], d)
                matched += 1
        self.num_misses += num_o - matched  # 3. leftovers
        self.num_false_positives += num_h - matched

    @staticmethod
    def _min_cost(
        pairs: list[tuple[int, int, float]], num_o: int, num_h: int
    ) -> list[tuple[int, int, float]]:
        """motmetrics' assignment: scipy's LSA on the whole [O, H] frame matrix, non-candidates priced at
        ``2 * min(O, H) * (max|d| + 1) + 1`` (a maximum number of matches, then the least cost), and
        non-candidates dropped from the result. Candidates sharing no row or column are that optimum, so they
        skip the solver."""
        if len({r for r, _, _ in pairs}) == len(pairs) == len({c for _, c, _ in pairs}):
            return pairs
        valid = np.zeros((num_o, num_h), dtype=bool)
        cost = np.empty((num_o, num_h))
        for r, c, d in pairs:
            valid[r, c], cost[r, c] = True, d
        cost[~valid] = 2.0 * min(num_o, num_h) * (max(abs(d) for _, _, d in pairs) + 1.0) + 1.0
        return [
            (r, c, float(cost[r, c]))
            for r, c in zip(*linear_sum_assignment(cost), strict=True)
            if valid[r, c]
        ]

    def update_absent(self) -> None:
        """poseval's frame without predictions (or without GT): one object, one miss, one false positive."""
        self.num_objects += 1
        self.num_misses += 1
        self.num_false_positives += 1

    def _assign(self, o: int, h: int, d: float) -> None:
        known = o in self._pairing  # o matched before (motmetrics' last_match)
        if known and self._pairing[o] != h:
            self.num_switches += 1
            if h not in self._seen_hyps:  # ASCEND event
                self.sum_events += d
        else:
            self.num_matches += 1
        if h in self._owner and self._owner[h] != o:  # TRANSFER event (and MIGRATE for a new object)
            self.sum_events += d if known else 2.0 * d
        self._seen_hyps.add(h)
        self._pairing[o] = h
        self._owner[h] = o
        self._record(d)

    def _record(self, d: float) -> None:
        self.sum_matched += d
        self.sum_events += d


@dataclass(frozen=True)
class MOTResult:
    """Tracking metrics in percent, poseval's definitions.

    Attributes:
        mota: [J + 1] ``1 - (misses + switches + false positives) / objects`` (NaN for a joint without GT).
        motp: [J + 1] poseval's MOTP (see the module docstring); 0 for a joint without detections.
        precision: [J + 1] detections / (detections + false positives).
        recall: [J + 1] detections / objects.
        motp_clear: [J + 1] textbook CLEAR MOTP, ``1 - mean matched distance``.
        num_objects, num_detections, num_misses, num_switches, num_false_positives: [J] event counts.
        mode: pt18 | pt21.
    """

    mota: np.ndarray
    motp: np.ndarray
    precision: np.ndarray
    recall: np.ndarray
    motp_clear: np.ndarray
    num_objects: np.ndarray
    num_detections: np.ndarray
    num_misses: np.ndarray
    num_switches: np.ndarray
    num_false_positives: np.ndarray
    mode: str = "pt18"


def _check_gt_tracks(m: SequenceMatch) -> None:
    for f in range(m.num_frames):
        ids = m.gt_track[f][m.gt_valid[f]].tolist()
        if len(set(ids)) != len(ids):
            dup = sorted(t for t in ids if ids.count(t) > 1)[0]
            raise DataFormatError(
                f"{m.gt_source or m.name}: frame {m.frame_indices[f]}: ground-truth track_id {dup} appears "
                "more than once (or track ids are missing): tracking needs one track id per GT person"
            )


def _sequence_accumulators(m: SequenceMatch) -> list[ClearMotAccumulator]:
    """Per-joint accumulators of one sequence; its last kept frame is left out, as in poseval."""
    accs = [ClearMotAccumulator() for _ in range(_J)]
    F = m.num_frames - 1
    if F <= 0:
        return accs
    # per (frame, joint): the GT / predicted persons having the joint, and the candidate pairs between them
    # (row / column = rank of the person among those having the joint)
    key_range = np.arange(F * _J + 1)
    f_g, g_g, j_g = np.nonzero(m.gt_present[:F])
    order = np.argsort(f_g * _J + j_g, kind="stable")
    gt_bounds = np.searchsorted((f_g * _J + j_g)[order], key_range).tolist()
    gt_ids = m.gt_track[f_g, g_g][order].tolist()
    f_p, p_p, j_p = np.nonzero(m.pred_present[:F])
    order = np.argsort(f_p * _J + j_p, kind="stable")
    pred_bounds = np.searchsorted((f_p * _J + j_p)[order], key_range).tolist()
    pred_ids = m.pred_track[f_p, p_p][order].tolist()
    keep = m.cand_frame < F
    f_c, j_c = m.cand_frame[keep], m.cand_joint[keep]
    g_c, p_c, d_c = m.cand_gt[keep], m.cand_pred[keep], m.cand_dist[keep]
    rows = (np.cumsum(m.gt_present, axis=1) - 1)[f_c, g_c, j_c]
    cols = (np.cumsum(m.pred_present, axis=1) - 1)[f_c, p_c, j_c]
    order = np.lexsort((cols, rows, f_c * _J + j_c))  # row-major within each (frame, joint)
    cand_bounds = np.searchsorted((f_c * _J + j_c)[order], key_range).tolist()
    rows, cols, d_c = rows[order].tolist(), cols[order].tolist(), d_c[order].tolist()
    absent = (~(m.gt_valid.any(axis=1) & m.pred_valid.any(axis=1))).tolist()  # [F]
    for f in range(F):
        if absent[f]:
            for acc in accs:
                acc.update_absent()
            continue
        for j, acc in enumerate(accs):
            k = f * _J + j
            lo, hi = cand_bounds[k], cand_bounds[k + 1]
            acc.update_pairs(
                gt_ids[gt_bounds[k] : gt_bounds[k + 1]],
                pred_ids[pred_bounds[k] : pred_bounds[k + 1]],
                rows[lo:hi],
                cols[lo:hi],
                d_c[lo:hi],
            )
    return accs


def mota_from_matches(matches: list[SequenceMatch], mode: str = "pt18") -> MOTResult:
    """Accumulate CLEAR MOT events over matched sequences (each its own accumulator) and reduce to metrics."""
    if mode not in MODES:
        raise ValueError(f"unknown evaluation mode {mode!r}, expected one of {', '.join(MODES)}")
    counts = {k: np.zeros(_J) for k in ("obj", "det", "miss", "sw", "fp", "sum", "sum_clear")}
    for m in matches:
        _check_gt_tracks(m)
        for j, acc in enumerate(_sequence_accumulators(m)):
            counts["obj"][j] += acc.num_objects
            counts["det"][j] += acc.num_detections
            counts["miss"][j] += acc.num_misses
            counts["sw"][j] += acc.num_switches
            counts["fp"][j] += acc.num_false_positives
            counts["sum"][j] += acc.sum_events
            counts["sum_clear"][j] += acc.sum_matched
    out = {k: np.zeros(_J + 1) for k in ("mota", "motp", "pre", "rec", "motp_clear")}
    with np.errstate(divide="ignore", invalid="ignore"):
        num_obj = np.where(counts["obj"] > 0, counts["obj"], np.nan)
        det, fp = counts["det"], counts["fp"]
        out["mota"][:_J] = 100.0 * (1.0 - (counts["miss"] + counts["sw"] + fp) / num_obj)
        out["motp"][:_J] = np.where(det == 0, 0.0, 100.0 * (1.0 - counts["sum"] / det))
        out["motp_clear"][:_J] = np.where(det == 0, 0.0, 100.0 * (1.0 - counts["sum_clear"] / det))
        out["pre"][:_J] = 100.0 * det / np.where(fp + det > 0, fp + det, np.nan)
        out["rec"][:_J] = 100.0 * det / num_obj
    for values in out.values():
        values[_J] = mean_skip_nan(values[:_J])
    return MOTResult(
        mota=out["mota"],
        motp=out["motp"],
        precision=out["pre"],
        recall=out["rec"],
        motp_clear=out["motp_clear"],
        num_objects=counts["obj"].astype(np.int64),
        num_detections=counts["det"].astype(np.int64),
        num_misses=counts["miss"].astype(np.int64),
        num_switches=counts["sw"].astype(np.int64),
        num_false_positives=counts["fp"].astype(np.int64),
        mode=mode,
    )


def evaluate_mota(gt: list[Sequence], pred: list[Sequence], mode: str = "pt18") -> MOTResult:
    """Per-joint MOTA / MOTP / precision / recall of tracked predictions, sequences paired by name.

    mode pt18 is poseval (PoseTrack17/18). mode pt21 applies the PoseTrack21 kit's frame and keypoint rules to
    the same computation; it is not an official PoseTrack21 number (that kit scores tracking with HOTA).
    """
    return mota_from_matches(match_sequences(gt, pred, mode), mode)
