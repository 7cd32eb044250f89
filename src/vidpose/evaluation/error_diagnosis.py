"""Why a pose AP is what it is: each predicted joint's error classified, and the AP each fix would give.

The taxonomy is Ronchi and Perona's ("Benchmarking and Error Diagnosis in Multi-Instance Pose Estimation",
ICCV 2017), with their OKS bands replaced by PoseTrack's PCKh unit (the head size; the AP threshold is
:data:`~vidpose.evaluation.matching.DIST_THRESHOLD` = 0.5 head sizes). A predicted joint of a prediction that
the AP matching assigned to a GT person, where that person's joint is annotated, is, in this order:

- ``good``: within the threshold of its own joint (a true positive of the AP);
- ``jitter``: within twice the threshold of its own joint;
- ``inversion``: within the threshold of the same person's joint of the other side (left / right confused);
- ``swap``: within the threshold (in that person's head size) of the same joint, or its other side, of
  another GT person of the frame;
- ``miss``: anything else.

Predicted joints outside that set are false positives of another kind: ``no_gt`` (the assigned person's joint
is not annotated) and ``unassigned`` (the prediction has no GT person). ``not_predicted`` counts the annotated
GT joints that no assigned prediction covers.

``ap_fixed[kind]`` is the AP with the joints of ``kind`` counted as correct (their scores kept), every other
joint as it is; ``ap_fixed["localisation"]`` fixes jitter, inversion, swap and miss at once, and
``ap_fixed["localisation + no false positives"]`` also drops the ``no_gt`` and ``unassigned`` joints (of the
joints some GT person has): what is left below 100 is the annotated joints never predicted.

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
#: Codes of :func:`classify_errors` outside :data:`ERROR_KINDS` (its indices are the codes 0-4): a predicted
#: joint whose assigned person's joint is not annotated, one of an unassigned prediction, no predicted joint.
NO_GT, UNASSIGNED, ABSENT = -1, -2, -3
#: Jitter reaches this many thresholds from the own joint.
JITTER_FACTOR = 2.0

_J = len(POSEVAL_NAMES)
#: Largest F * P * G * J block of distances to other persons computed at once (as in the matching).
_CHUNK_ELEMENTS = 1 << 21


def _other_side() -> np.ndarray:
    """[J] poseval index of each joint's left / right counterpart (itself for the central joints), from the
    skeleton's flip permutation."""
    perm = PT18.flip_permutation()
    return np.array([POSEVAL_TO_PT18.index(perm[c]) for c in POSEVAL_TO_PT18])


_OTHER_SIDE = _other_side()


def _dist(a: np.ndarray, b: np.ndarray, unit: np.ndarray) -> np.ndarray:
    """Euclidean distance of [..., 2] points in ``unit`` (head sizes, broadcast)."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        return np.linalg.norm(a - b, axis=-1) / unit


def _near_other_person(m: SequenceMatch, g: np.ndarray) -> np.ndarray:
    """[F, P, J]: the predicted joint lies within the threshold (in that person's head size) of the same joint
    or of its other side of a GT person other than its assigned one ``g`` [F, P]."""
    F, P = g.shape
    G = m.gt_xy.shape[1]
    near = np.zeros((F, P, _J), dtype=bool)
    step = max(1, _CHUNK_ELEMENTS // max(P * G * _J, 1))
    for s in range(0, F, step):
        sl = slice(s, min(F, s + step))
        others = m.gt_valid[sl, None, :] & (np.arange(G)[None, None] != g[sl, :, None])  # [f, P, G]
        unit = m.head_size[sl, None, :, None]  # [f, 1, G, 1]
        for joints in (np.arange(_J), _OTHER_SIDE):
            d = _dist(m.pred_xy[sl, :, None], m.gt_xy[sl, None][:, :, :, joints], unit)  # [f, P, G, J]
            ok = m.gt_present[sl, None][:, :, :, joints] & others[..., None]
            near[sl] |= (np.where(ok, d, np.inf) <= DIST_THRESHOLD).any(axis=2)
    return near


def classify_errors(m: SequenceMatch) -> np.ndarray:
    """One matched sequence -> codes [F, P, J] int8: an index into :data:`ERROR_KINDS` for assigned predicted
    joints whose GT joint is annotated, :data:`NO_GT` / :data:`UNASSIGNED` for the other predicted joints, and
    :data:`ABSENT` where no joint is predicted (or the prediction is padding)."""
    F, P = m.pred_valid.shape
    codes = np.full((F, P, _J), ABSENT, dtype=np.int8)
    if P == 0:
        return codes
    present = m.pred_present
    assigned = m.assigned >= 0
    codes[present & ~assigned[..., None]] = UNASSIGNED
    if m.gt_xy.shape[1] == 0:
        return codes
    f_idx = np.arange(F)[:, None]
    g = np.maximum(m.assigned, 0)  # [F, P]
    own_xy = m.gt_xy[f_idx, g]  # [F, P, J, 2] the assigned person's joints
    own_present = m.gt_present[f_idx, g] & assigned[..., None]  # [F, P, J]
    head = m.head_size[f_idx, g][..., None]  # [F, P, 1]
    codes[present & assigned[..., None] & ~own_present] = NO_GT
    scored = present & own_present

    d_own = _dist(m.pred_xy, own_xy, head)
    d_inv = _dist(m.pred_xy, own_xy[..., _OTHER_SIDE, :], head)
    d_inv = np.where(own_present[..., _OTHER_SIDE], d_inv, np.inf)
    # the kinds in reverse order of precedence, each overriding the ones after it in ERROR_KINDS
    kind = np.full((F, P, _J), ERROR_KINDS.index("miss"), dtype=np.int8)
    kind = np.where(_near_other_person(m, g), ERROR_KINDS.index("swap"), kind)
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

    # a joint that no GT person has keeps its predictions: its AP stays as measured (NaN in pt18, 0 in pt21)
    # instead of a pt18 NaN turning into a 0 that counts in the Total once its predictions are gone
    no_gt_anywhere = sum(m.gt_present.sum(axis=(0, 1)) for m in matches) == 0  # [J]

    def fixed(kinds: tuple[str, ...], drop_false_positives: bool = False) -> np.ndarray:
        ids = [ERROR_KINDS.index(k) for k in kinds]
        out = []
        for m, c in zip(matches, codes, strict=True):
            changes: dict[str, np.ndarray] = {"correct": m.correct | np.isin(c, ids)}
            if drop_false_positives:
                changes["pred_present"] = m.pred_present & ((c >= 0) | no_gt_anywhere)
            out.append(replace(m, **changes))
        return ap_from_matches(out, mode).ap

    errors = ERROR_KINDS[1:]
    ap_fixed = {k: fixed((k,)) for k in errors}
    ap_fixed["localisation"] = fixed(errors)
    ap_fixed["localisation + no false positives"] = fixed(errors, drop_false_positives=True)
    return ErrorDiagnosis(counts=counts, ap=ap_from_matches(matches, mode).ap, ap_fixed=ap_fixed)
