"""Why a pose AP is what it is: each predicted joint's error classified, and the AP each fix would give.

The taxonomy is Ronchi and Perona's ("Benchmarking and Error Diagnosis in Multi-Instance Pose Estimation",
ICCV 2017), with their OKS bands replaced by PoseTrack's PCKh unit (the head size; the AP threshold is
:data:`~vidpose.evaluation.matching.DIST_THRESHOLD` = 0.5 head sizes). A predicted joint of a prediction that
the AP matching assigned to a GT person, where that person's joint is annotated, is, in this order:

- ``good``: within the threshold of its own joint (a true positive of the AP);
- ``jitter``: within twice the threshold of its own joint;
- ``inversion``: within the threshold of the same person's joint of the other side (left / right confused);
- ``swap``: within the threshold of the same joint, or its other side, of another GT person of the frame;
- ``miss``: anything else.

Predicted joints outside that set are false positives of another kind: ``no_gt`` (the assigned person's joint
is not annotated) and ``unassigned`` (the prediction has no GT person). ``not_predicted`` counts the annotated
GT joints that no assigned prediction covers.

``ap_fixed[kind]`` is the AP with the joints of ``kind`` counted as correct (their scores kept), every other
joint as it is; ``ap_fixed["localisation"]`` fixes jitter, inversion, swap and miss at once, and
``ap_fixed["localisation + no false positives"]`` also drops the ``no_gt`` and ``unassigned`` joints: what is
left below 100 is the annotated joints never predicted.

    >>> d = diagnose_errors(read_sequences("gt/"), read_prediction_folder("pred/"))
    >>> print(format_diagnosis(d))  # vidpose.evaluation.report; or `vidpose eval-posetrack ... --errors`

Legend: J = 15 poseval joints (:data:`vidpose.skeleton.POSEVAL_NAMES`), F frames, P predictions, G GT persons.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ..data.records import Sequence
from ..skeleton import POSEVAL_NAMES, POSEVAL_TO_PT18, PT18
from .matching import DIST_THRESHOLD, SequenceMatch, match_sequences
from .posetrack_ap import ap_from_matches

__all__ = [
    "ERROR_KINDS",
    "ErrorDiagnosis",
    "classify_errors",
    "diagnose_errors",
    "diagnose_matches",
]

#: The classes of an assigned, annotated joint, in the order they are tested.
ERROR_KINDS: tuple[str, ...] = ("good", "jitter", "inversion", "swap", "miss")
#: Codes of :func:`classify_errors` outside :data:`ERROR_KINDS` (its indices are the codes 0-4).
NO_GT, UNASSIGNED, NOT_PREDICTED = -1, -2, -3
#: Jitter reaches this many thresholds from the own joint.
JITTER_FACTOR = 2.0

_J = len(POSEVAL_NAMES)


def _other_side() -> np.ndarray:
    """[J] poseval index of each joint's left / right counterpart (itself for the central joints)."""
    pt18_to_poseval = {c: i for i, c in enumerate(POSEVAL_TO_PT18)}
    other = np.arange(_J)
    for a, b in PT18.flip_pairs:
        if a in pt18_to_poseval and b in pt18_to_poseval:
            other[pt18_to_poseval[a]], other[pt18_to_poseval[b]] = pt18_to_poseval[b], pt18_to_poseval[a]
    return other


_OTHER_SIDE = _other_side()


def classify_errors(m: SequenceMatch) -> np.ndarray:
    """One matched sequence -> codes [F, P, J] int8: an index into :data:`ERROR_KINDS` for assigned predicted
    joints whose GT joint is annotated, :data:`NO_GT` / :data:`UNASSIGNED` for the other predicted joints, and
    :data:`NOT_PREDICTED` where no joint is predicted."""
    F, P = m.pred_valid.shape
    codes = np.full((F, P, _J), NOT_PREDICTED, dtype=np.int8)
    if P == 0:
        return codes
    present = m.pred_present
    assigned = m.assigned >= 0
    codes[present & ~assigned[..., None]] = UNASSIGNED
    if m.gt_xy.shape[1] == 0:
        return codes
    f_idx, p_idx = np.indices((F, P))
    g = np.maximum(m.assigned, 0)
    own_xy = m.gt_xy[f_idx, g]  # [F, P, J, 2] the assigned person's joints
    own_present = m.gt_present[f_idx, g] & assigned[..., None]  # [F, P, J]
    head = m.head_size[f_idx, g][..., None]  # [F, P, 1]
    codes[present & assigned[..., None] & ~own_present] = NO_GT
    scored = present & own_present

    def dist(a: np.ndarray, b: np.ndarray, unit: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.linalg.norm(a - b, axis=-1) / unit

    pxy = m.pred_xy
    d_own = dist(pxy, own_xy, head)
    d_inv = np.where(own_present[..., _OTHER_SIDE], dist(pxy, own_xy[..., _OTHER_SIDE, :], head), np.inf)
    # another GT person's same joint or its other side: [F, P, G, J]
    others = m.gt_valid[:, None, :] & (np.arange(m.gt_xy.shape[1])[None, None] != g[..., None])
    unit = m.head_size[:, None, :, None]
    near_other = np.zeros((F, P, _J), dtype=bool)
    for joints in (np.arange(_J), _OTHER_SIDE):
        d = dist(pxy[:, :, None], m.gt_xy[:, None][:, :, :, joints], unit)  # [F, P, G, J]
        ok = m.gt_present[:, None][:, :, :, joints] & others[..., None]
        near_other |= (np.where(ok, d, np.inf) <= DIST_THRESHOLD).any(axis=2)

    kind = np.full((F, P, _J), ERROR_KINDS.index("miss"), dtype=np.int8)
    kind = np.where(near_other, ERROR_KINDS.index("swap"), kind)
    kind = np.where(d_inv <= DIST_THRESHOLD, ERROR_KINDS.index("inversion"), kind)
    kind = np.where(d_own <= JITTER_FACTOR * DIST_THRESHOLD, ERROR_KINDS.index("jitter"), kind)
    kind = np.where(m.correct, ERROR_KINDS.index("good"), kind)
    codes[scored] = kind[scored]
    return codes


@dataclass(frozen=True)
class ErrorDiagnosis:
    """Error counts per joint and the AP after each fix.

    Attributes:
        counts: kind -> [J] predicted joints of that kind (every :data:`ERROR_KINDS` entry, ``no_gt``,
            ``unassigned``) or annotated GT joints (``not_predicted``), poseval joint order.
        ap: [J + 1] the AP as measured (equal to :func:`~vidpose.evaluation.evaluate_ap`'s).
        ap_fixed: fix -> [J + 1] the AP after it (see the module docstring).
    """

    counts: dict[str, np.ndarray]
    ap: np.ndarray
    ap_fixed: dict[str, np.ndarray]


def diagnose_errors(gt: list[Sequence], pred: list[Sequence], mode: str = "pt18") -> ErrorDiagnosis:
    """Classify every predicted joint of ``pred`` against ``gt`` (sequences paired by name, matched exactly
    as :func:`~vidpose.evaluation.evaluate_ap` matches them) and compute the AP of each fix."""
    return diagnose_matches(match_sequences(gt, pred, mode), mode)


def diagnose_matches(matches: list[SequenceMatch], mode: str = "pt18") -> ErrorDiagnosis:
    """:func:`diagnose_errors` on sequences already matched (:func:`~vidpose.evaluation.match_sequences`)."""
    codes = [classify_errors(m) for m in matches]
    counts = {k: np.zeros(_J, dtype=np.int64) for k in (*ERROR_KINDS, "no_gt", "unassigned", "not_predicted")}
    for m, c in zip(matches, codes, strict=True):
        for i, k in enumerate(ERROR_KINDS):
            counts[k] += (c == i).sum(axis=(0, 1))
        counts["no_gt"] += (c == NO_GT).sum(axis=(0, 1))
        counts["unassigned"] += (c == UNASSIGNED).sum(axis=(0, 1))
        covered = np.zeros_like(m.gt_present)  # [F, G, J]
        f, p = np.nonzero(m.assigned >= 0)
        covered[f, m.assigned[f, p]] = m.pred_present[f, p]
        counts["not_predicted"] += (m.gt_present & ~covered).sum(axis=(0, 1))

    def fixed(kinds: tuple[str, ...], drop_false_positives: bool = False) -> np.ndarray:
        ids = [ERROR_KINDS.index(k) for k in kinds]
        out = []
        for m, c in zip(matches, codes, strict=True):
            changes: dict[str, np.ndarray] = {"correct": m.correct | np.isin(c, ids)}
            if drop_false_positives:
                changes["pred_present"] = m.pred_present & (c >= 0)
            out.append(replace(m, **changes))
        return ap_from_matches(out, mode).ap

    errors = ERROR_KINDS[1:]
    ap_fixed = {k: fixed((k,)) for k in errors}
    ap_fixed["localisation"] = fixed(errors)
    ap_fixed["localisation + no false positives"] = fixed(errors, drop_false_positives=True)
    return ErrorDiagnosis(counts=counts, ap=ap_from_matches(matches, mode).ap, ap_fixed=ap_fixed)
