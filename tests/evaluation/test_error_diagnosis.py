"""Error diagnosis: each kind on a hand-built frame, the AP of each fix, and consistency with the AP."""

from __future__ import annotations

import json

import numpy as np
import pytest

from vidpose.data.posetrack_writer import prediction_json, write_predictions
from vidpose.data.records import Frame, Person, Sequence
from vidpose.evaluation import ERROR_KINDS, diagnose_errors, evaluate_ap, format_diagnosis, match_sequences
from vidpose.evaluation.error_diagnosis import classify_errors
from vidpose.skeleton import POSEVAL_TO_PT18
from vidpose.tasks.eval_posetrack import eval_posetrack

J = 15
HEAD = np.array([0.0, 0.0, 30.0, 40.0])  # diagonal 50 -> head size 30 -> threshold 15 px, jitter to 30 px
R_ANKLE, L_ANKLE, R_WRIST, R_ELBOW, L_WRIST, NOSE, HEAD_TOP = 0, 5, 6, 7, 11, 13, 14


def layout(y: float) -> dict[int, tuple[float, float]]:
    """15 joints 50 px apart on a row (further apart than twice the threshold)."""
    return {j: (100.0 + 50.0 * j, y) for j in range(J)}


def person(
    joints: dict[int, tuple[float, float]], track: int = 0, score: float | None = None, head=HEAD
) -> Person:
    kp = np.zeros((17, 3))
    for j, (x, y) in joints.items():
        kp[POSEVAL_TO_PT18[j]] = (x, y, 1.0)
    scores = None if score is None else np.where(kp[:, 2] > 0, score, 0.0)
    return Person(keypoints=kp, head_box=np.asarray(head, float), track_id=track, joint_scores=scores)


def seq(persons: list[Person]) -> Sequence:
    return Sequence(
        name="s", frames=[Frame(image_id=0, index=0, file_name="images/s/0.jpg", persons=persons)]
    )


@pytest.fixture
def case() -> tuple[Sequence, Sequence]:
    a, b, d = layout(100.0), layout(600.0), layout(1200.0)
    gt = seq([person(a, 0), person({j: xy for j, xy in b.items() if j != HEAD_TOP}, 1), person(d, 2)])
    pa = dict(a)
    pa[NOSE] = (a[NOSE][0] + 20.0, a[NOSE][1])  # 20 px from its own joint: jitter
    pa[R_ANKLE] = a[L_ANKLE]  # on its own left ankle: inversion
    pa[R_WRIST] = b[R_WRIST]  # on the other person's right wrist: swap
    pa[L_WRIST] = b[R_WRIST]  # on the other person's other-side wrist: swap
    pa[R_ELBOW] = (5000.0, 5000.0)  # nowhere: miss
    far = {j: (x + 3000.0, y + 3000.0) for j, (x, y) in a.items()}  # assigned to nobody
    # B's prediction has the head top its GT lacks (no_gt); D has no prediction (not_predicted)
    pred = seq([person(pa, 0, score=0.9), person(b, 1, score=0.8), person(far, 5, score=0.7)])
    return gt, pred


def test_each_kind_is_found_where_it_was_put(case):
    gt, pred = case
    codes = classify_errors(match_sequences([gt], [pred])[0])[0]  # [P, J]
    kind = {k: i for i, k in enumerate(ERROR_KINDS)}
    expected = np.full(J, kind["good"])
    expected[[NOSE, R_ANKLE, R_WRIST, L_WRIST, R_ELBOW]] = [
        kind[k] for k in ("jitter", "inversion", "swap", "swap", "miss")
    ]
    np.testing.assert_array_equal(codes[0], expected)
    assert (codes[1][np.arange(J) != HEAD_TOP] == kind["good"]).all() and codes[1][HEAD_TOP] == -1  # no_gt
    assert (codes[2] == -2).all()  # unassigned

    d = diagnose_errors([gt], [pred])
    totals = {k: int(v.sum()) for k, v in d.counts.items()}
    assert totals == {
        "good": 10 + 14, "jitter": 1, "inversion": 1, "swap": 2, "miss": 1,
        "no_gt": 1, "unassigned": 15, "not_predicted": 15,
    }  # fmt: skip


def test_a_joint_of_two_kinds_takes_the_first_and_a_swap_is_measured_in_the_other_persons_head_size():
    a, b = layout(100.0), layout(600.0)
    big_head = np.array([0.0, 0.0, 60.0, 80.0])  # head size 60: B's threshold is 30 px
    a[L_ANKLE] = (a[R_ANKLE][0] + 10.0, a[R_ANKLE][1])  # the left ankle 10 px from the right one
    gt = seq([person(a, 0), person(b, 1, head=big_head)])
    pa = dict(a)
    pa[R_ANKLE] = (a[R_ANKLE][0] + 18.0, a[R_ANKLE][1])  # 18 px from its own, 8 from the left: jitter first
    pa[R_WRIST] = (b[R_WRIST][0] + 25.0, b[R_WRIST][1])  # 25 px from B's: within B's 30, not A's 15: swap
    pa[NOSE] = (b[NOSE][0] + 40.0, b[NOSE][1])  # 40 px from B's nose: beyond B's 30: miss
    pred = seq([person(pa, 0, score=0.9), person(b, 1, score=0.8)])
    codes = classify_errors(match_sequences([gt], [pred])[0])[0, 0]
    assert [ERROR_KINDS[c] for c in codes[[R_ANKLE, R_WRIST, NOSE]]] == ["jitter", "swap", "miss"]
    assert ERROR_KINDS[codes[L_ANKLE]] == "good"


def test_a_joint_without_any_gt_keeps_its_measured_ap_when_false_positives_are_dropped():
    a = layout(100.0)
    gt = seq([person({j: xy for j, xy in a.items() if j != HEAD_TOP}, 0)])
    pred = seq([person(a, 0, score=0.9)])  # predicts the head top nobody has
    d = diagnose_errors([gt], [pred])
    assert np.isnan(d.ap[HEAD_TOP]) and d.ap[J] == pytest.approx(100.0)  # pt18: NaN, skipped in the Total
    best = d.ap_fixed["localisation + no false positives"]
    assert np.isnan(best[HEAD_TOP]) and best[J] == pytest.approx(100.0)


def test_ap_of_each_fix(case):
    gt, pred = case
    d = diagnose_errors([gt], [pred])
    np.testing.assert_allclose(d.ap, evaluate_ap([gt], [pred]).ap)
    # right ankle: A (inverted), B (good), C (unassigned) against 3 GT joints: 1/3 x 1/2; fixed 2/3 x 1
    assert d.ap[R_ANKLE] == pytest.approx(100 / 6)
    assert d.ap_fixed["inversion"][R_ANKLE] == pytest.approx(200 / 3)
    assert d.ap_fixed["jitter"][R_ANKLE] == pytest.approx(100 / 6)  # a fix touches only its own kind
    assert d.ap_fixed["jitter"][NOSE] == pytest.approx(200 / 3) and d.ap[NOSE] == pytest.approx(100 / 6)
    for j in (R_WRIST, L_WRIST):
        assert d.ap_fixed["swap"][j] == pytest.approx(200 / 3)
    assert d.ap_fixed["miss"][R_ELBOW] == pytest.approx(200 / 3)
    # everything localised and the false positives dropped: recall 2/3 at precision 1 (D is never predicted),
    # 1/2 for the head top (B's GT lacks it)
    best = d.ap_fixed["localisation + no false positives"]
    np.testing.assert_allclose(best[:J], [50.0 if j == HEAD_TOP else 200 / 3 for j in range(J)])
    assert best[J] == pytest.approx((14 * 200 / 3 + 50) / 15)


def test_counts_agree_with_the_ap_matching_on_random_scenes():
    rng = np.random.default_rng(0)
    for _ in range(20):
        gts, preds = [], []
        for g in range(rng.integers(1, 4)):
            base = rng.uniform(0, 300, size=(J, 2))
            keep = rng.random(J) > 0.2
            gts.append(person({j: tuple(base[j]) for j in range(J) if keep[j]}, g))
            noise = rng.normal(0, 25, size=(J, 2))
            joints = {j: tuple(base[j] + noise[j]) for j in range(J) if rng.random() > 0.1}
            preds.append(person(joints, g, score=float(rng.random())))
        gt, pred = seq(gts), seq(preds)
        m = match_sequences([gt], [pred])[0]
        d = diagnose_errors([gt], [pred])
        np.testing.assert_array_equal(d.counts["good"], (m.correct & m.pred_present).sum(axis=(0, 1)))
        predicted = sum(d.counts[k] for k in (*ERROR_KINDS, "no_gt", "unassigned"))
        np.testing.assert_array_equal(predicted, m.pred_present.sum(axis=(0, 1)))
        scored = sum(d.counts[k] for k in ERROR_KINDS)  # every annotated GT joint: scored or not predicted
        np.testing.assert_array_equal(scored + d.counts["not_predicted"], m.gt_present.sum(axis=(0, 1)))
        np.testing.assert_allclose(d.ap, evaluate_ap([gt], [pred]).ap)
        fixed, ap = d.ap_fixed["localisation"][:J], d.ap[:J]
        assert np.all((fixed >= ap - 1e-9) | (np.isnan(fixed) & np.isnan(ap)))  # NaN: a joint without GT


def test_eval_posetrack_writes_the_diagnosis(case, tmp_path):
    gt, pred = case
    truth = prediction_json(gt, [f.persons for f in gt.frames])
    for ann in truth["annotations"]:
        ann["bbox_head"] = HEAD.tolist()
    (tmp_path / "gt").mkdir()
    (tmp_path / "gt" / "s.json").write_text(json.dumps(truth))
    write_predictions(gt, [f.persons for f in pred.frames], tmp_path / "pred")
    result = eval_posetrack(tmp_path / "gt", tmp_path / "pred", tmp_path / "out", diagnose=True)
    saved = json.loads((tmp_path / "out" / "error_diagnosis.json").read_text())
    assert sum(saved["counts"]["inversion"]) == 1 and sum(saved["counts"]["unassigned"]) == 15
    assert saved["ap_fixed"]["inversion"][R_ANKLE] == pytest.approx(200 / 3)
    assert "| inversion |" in result.diagnosis
    assert result.diagnosis == format_diagnosis(result.report.diagnosis)
