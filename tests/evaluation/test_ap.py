"""AP: VOC interpolation, PCKh threshold, person assignment, ignore regions, pooling and tie order."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vidpose.data.posetrack import read_prediction_folder, read_sequences
from vidpose.data.records import Frame, Person, Sequence
from vidpose.evaluation import evaluate_ap, points_in_polygons
from vidpose.evaluation.posetrack_ap import precision_recall, voc_ap
from vidpose.skeleton import POSEVAL_TO_PT18

J = 15
HEAD = np.array([0.0, 0.0, 30.0, 40.0])  # diagonal 50 -> head size 30 -> threshold 15 px


def person(joints: dict[int, tuple[float, float]], head=HEAD, track=0, scores=None) -> Person:
    """A person with poseval joint id -> (x, y); ``scores``: poseval joint id -> score (predictions)."""
    kp = np.zeros((17, 3))
    js = None if scores is None else np.zeros(17)
    for j, (x, y) in joints.items():
        kp[POSEVAL_TO_PT18[j]] = (x, y, 1.0)
        if js is not None:
            js[POSEVAL_TO_PT18[j]] = scores.get(j, 0.0) if isinstance(scores, dict) else scores
    return Person(
        keypoints=kp,
        head_box=None if head is None else np.asarray(head, float),
        track_id=track,
        joint_scores=js,
    )


def seq(frames: list[list[Person]], name="seq", regions=None) -> Sequence:
    out = []
    for i, persons in enumerate(frames):
        out.append(Frame(image_id=i, index=i, file_name=f"images/{name}/{i:05d}.jpg", persons=persons))
        if regions is not None:
            out[-1].ignore_regions = regions
    return Sequence(name=name, frames=out)


def all_joints(dx=0.0, x0=100.0, y0=100.0) -> dict[int, tuple[float, float]]:
    return {j: (x0 + 10 * j + dx, y0 + 5 * j) for j in range(J)}


# ------------------------------------------------------------------------------------------ VOC / ranking
def test_voc_ap_hand_example():
    precision, recall = precision_recall(np.array([0.9, 0.8, 0.7]), np.array([1, 0, 1]), 2.0)
    np.testing.assert_allclose(precision, [1.0, 0.5, 2 / 3])
    np.testing.assert_allclose(recall, [0.5, 0.5, 1.0])
    assert voc_ap(recall, precision) == pytest.approx(0.5 * 1.0 + 0.5 * 2 / 3)


def test_tied_scores_rank_like_poseval():
    # poseval ranks with argsort(scores)[::-1]: among equal scores the pair appended LAST comes first.
    gt = seq([[person({0: (100, 100)})], [person({0: (100, 100)})]])
    pred = seq([[person({0: (100, 100)}, scores=1.0)], [person({0: (500, 500)}, scores=1.0)]])
    r = evaluate_ap([gt], [pred])
    # pairs in poseval order: TP (frame 0) then FP (frame 1); reversed: FP first -> precision 0, 0.5
    assert r.ap[0] == pytest.approx(100 * 0.5 * 0.5)
    assert r.precision[0] == pytest.approx(50.0) and r.recall[0] == pytest.approx(50.0)


# ---------------------------------------------------------------------------------------- PCKh threshold
@pytest.mark.parametrize("offset, hit", [(0.0, True), (15.0, True), (15.001, False), (40.0, False)])
def test_pckh_threshold_is_half_a_head_size(offset, hit):
    gt = seq([[person(all_joints())]])
    pred = seq([[person({j: (x + offset, y) for j, (x, y) in all_joints().items()}, scores=0.9)]])
    r = evaluate_ap([gt], [pred])
    assert np.all(r.ap[:J] == (100.0 if hit else 0.0))


def test_exact_prediction_scores_100_and_total_is_mean_of_15_joints():
    joints = all_joints()
    del joints[13]  # no nose anywhere: AP 0 (no GT, no prediction), still part of Total
    r = evaluate_ap([seq([[person(joints)]])], [seq([[person(joints, scores=0.8)]])])
    assert r.ap[13] == 0.0 and r.precision[13] == 0.0 and r.recall[13] == 0.0
    assert np.all(np.delete(r.ap[:J], 13) == 100.0)
    assert r.ap[J] == pytest.approx(14 * 100 / 15)
    assert r.num_gt[13] == 0 and r.num_gt[0] == 1


def test_joint_without_gt_but_with_predictions_is_nan_and_skipped_in_total():
    gt_joints = all_joints()
    del gt_joints[13]
    r = evaluate_ap([seq([[person(gt_joints)]])], [seq([[person(all_joints(), scores=0.8)]])])
    assert math.isnan(r.ap[13]) and math.isnan(r.recall[13])
    assert r.precision[13] == 0.0
    assert r.ap[J] == pytest.approx(100.0)  # mean of the 14 others


# ------------------------------------------------------------------------------------ person assignment
def test_each_gt_takes_the_prediction_with_highest_pck_not_highest_score():
    gt = seq([[person(all_joints())]])
    half = {j: (x + (0 if j < 8 else 100), y) for j, (x, y) in all_joints().items()}
    pred = seq([[person(half, scores=0.99, track=0), person(all_joints(dx=1), scores=0.5, track=1)]])
    r = evaluate_ap([gt], [pred])
    # the exact prediction (pck 1) wins despite its lower score; the other one is all false positives,
    # ranked first: precision 0 then 0.5 -> AP 50 for every joint
    np.testing.assert_allclose(r.ap[:J], 50.0)


def test_pck_ties_go_to_the_lower_prediction_index():
    gt = seq([[person(all_joints())]])
    pred = seq(
        [[person(all_joints(dx=2), scores=0.4, track=0), person(all_joints(dx=-2), scores=0.9, track=1)]]
    )
    r = evaluate_ap([gt], [pred])
    # prediction 0 is matched (its joints are TPs at score 0.4); prediction 1 (0.9) is a FP
    np.testing.assert_allclose(r.ap[:J], 50.0)


def test_frames_without_gt_are_dropped_with_their_predictions():
    gt = seq([[person(all_joints())], []])
    pred = seq([[person(all_joints(), scores=0.5)], [person(all_joints(), scores=0.9)]])
    r = evaluate_ap([gt], [pred])
    np.testing.assert_allclose(r.ap[:J], 100.0)
    np.testing.assert_allclose(r.precision[:J], 100.0)


def test_unmatched_gt_counts_as_missed():
    gt = seq([[person(all_joints()), person(all_joints(x0=600))]])
    pred = seq([[person(all_joints(), scores=0.5)]])
    r = evaluate_ap([gt], [pred])
    np.testing.assert_allclose(r.recall[:J], 50.0)
    np.testing.assert_allclose(r.ap[:J], 50.0)


# --------------------------------------------------------------------------------------- ignore regions
def test_points_in_polygons_is_strict_even_odd():
    square = np.array([[0, 0], [10, 0], [10, 10], [0, 10]], dtype=float)
    pts = np.array([[5, 5], [10, 5], [0, 0], [11, 5], [5, 10], [9.999, 9.999]], dtype=float)
    np.testing.assert_array_equal(points_in_polygons(pts, [square]), [True, False, False, False, False, True])
    concave = np.array([[0, 0], [10, 0], [10, 10], [5, 5], [0, 10]], dtype=float)  # notch at the top
    np.testing.assert_array_equal(
        points_in_polygons(np.array([[5, 8], [5, 2]], float), [concave]), [False, True]
    )
    bowtie = np.array([[0, 0], [10, 10], [10, 0], [0, 10]], dtype=float)
    np.testing.assert_array_equal(
        points_in_polygons(np.array([[2, 5], [5, 2]], float), [bowtie]), [True, False]
    )
    line = np.array([[0, 0], [10, 10]], dtype=float)
    assert not points_in_polygons(np.array([[5, 5.0]]), [line]).any()
    assert not points_in_polygons(np.array([[5, 5.0]]), []).any()


def test_joints_in_ignore_regions_cost_nothing():
    region = [np.array([[0, 0], [150, 0], [150, 1000], [0, 1000]], dtype=float)]  # covers x < 150
    joints = all_joints()  # x = 100 + 10 j: joints 0..4 lie inside
    gt = seq([[person(joints)]], regions=region)
    wrong = {j: (x, y + (200 if j < 5 else 0)) for j, (x, y) in joints.items()}  # wrong only inside
    r = evaluate_ap([gt], [seq([[person(wrong, scores=0.7)]])])
    assert np.all(r.num_gt[:5] == 0) and np.all(r.num_gt[5:] == 1)
    assert np.all(r.num_pred[:5] == 0)
    np.testing.assert_allclose(r.ap[5:J], 100.0)
    np.testing.assert_allclose(r.ap[:5], 0.0)  # no GT, no prediction left


def test_a_person_entirely_in_an_ignore_region_is_removed():
    region = [np.array([[500, 0], [2000, 0], [2000, 2000], [500, 2000]], dtype=float)]
    gt = seq([[person(all_joints()), person(all_joints(x0=700))]], regions=region)
    pred = seq([[person(all_joints(), scores=0.6, track=0), person(all_joints(x0=900), scores=0.9, track=1)]])
    r = evaluate_ap([gt], [pred])
    np.testing.assert_allclose(r.ap[:J], 100.0)
    assert np.all(r.num_gt == 1)


# ------------------------------------------------------------------------------- monotonicity property
def _far_apart_scene(rng: np.random.Generator, num_frames: int, num_persons: int):
    frames = []
    for _ in range(num_frames):
        persons = []
        for k in range(num_persons):
            joints = {j: (1000 * k + 100 + rng.uniform(0, 200), 100 + rng.uniform(0, 300)) for j in range(J)}
            persons.append(person(joints, track=k))
        frames.append(persons)
    return frames


@settings(max_examples=40, deadline=None, derandomize=True)
@given(seed=st.integers(0, 10_000), extra=st.integers(1, 6))
def test_appending_low_score_predictions_never_lowers_ap(seed, extra):
    rng = np.random.default_rng(seed)
    gt_frames = _far_apart_scene(rng, num_frames=3, num_persons=3)
    pred_frames = []
    for persons in gt_frames:
        preds = []
        for k, p in enumerate(persons):
            if rng.random() < 0.3:  # some GT persons get no prediction
                continue
            joints = {}
            for j in range(J):
                if rng.random() < 0.8:
                    x, y = p.keypoints[POSEVAL_TO_PT18[j], :2]
                    joints[j] = (x + rng.normal(0, 12), y + rng.normal(0, 12))
            preds.append(person(joints, track=k, scores={j: rng.uniform(0.5, 1.0) for j in range(J)}))
        pred_frames.append(preds)
    gt, pred = seq(gt_frames), seq(pred_frames)
    before = evaluate_ap([gt], [pred])

    # append persons scoring below everything: far from every GT, or copies of GT persons nobody predicted
    for _ in range(extra):
        f = int(rng.integers(len(pred_frames)))
        taken = {p.track_id for p in pred_frames[f]}
        free = [p for p in gt_frames[f] if p.track_id not in taken]
        if free and rng.random() < 0.5:
            src = free[0]
            joints = {j: tuple(src.keypoints[POSEVAL_TO_PT18[j], :2]) for j in range(J)}
            new_track = src.track_id
        else:
            joints = {j: (5000 + rng.uniform(0, 100), 5000 + rng.uniform(0, 100)) for j in range(J)}
            new_track = 100 + len(pred_frames[f])
        pred_frames[f].append(
            person(joints, track=new_track, scores={j: rng.uniform(0.0, 0.4) for j in range(J)})
        )
    after = evaluate_ap([gt], [seq(pred_frames)])
    ok = ~np.isnan(before.ap)
    assert np.all(after.ap[ok] >= before.ap[ok] - 1e-9)


def test_appending_far_low_score_persons_to_real_predictions_keeps_ap(shared_data, tmp_path):
    case = shared_data / "eval_golden" / "bonn1_noise30_fp30_drop20"
    gt = read_sequences(case / "gt")
    pred = read_prediction_folder(case / "pred")
    before = evaluate_ap(gt, pred)
    data = json.loads((case / "pred" / "060470979_bonn_test.json").read_text())
    for k, image in enumerate(data["images"]):
        kp = [2000.0 + k, 2000.0, 1.0] * 17
        data["annotations"].append(
            {
                "image_id": image["id"],
                "track_id": 999,
                "keypoints": kp,
                "scores": [1e-4] * 17,
                "category_id": 1,
            }
        )
    (tmp_path / "060470979_bonn_test.json").write_text(json.dumps(data))
    after = evaluate_ap(gt, read_prediction_folder(tmp_path))
    has_gt = before.num_gt > 0
    assert np.all(after.ap[:J][has_gt] >= before.ap[:J][has_gt] - 1e-9)
    np.testing.assert_allclose(after.ap[:J][has_gt], before.ap[:J][has_gt])  # FPs ranked last: no recall step
    assert np.all(after.precision[:J][has_gt] < before.precision[:J][has_gt])
    assert math.isnan(after.ap[13])  # the Bonn GT has no nose: nose predictions make its AP NaN (poseval)
