"""PoseTrack21 mode: the PoseTrack21 kit's rules where they differ from poseval's."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from vidpose.data.posetrack import read_predictions, read_sequence
from vidpose.data.records import Frame, Person, Sequence
from vidpose.errors import DataFormatError
from vidpose.evaluation import evaluate_ap, evaluate_folders, evaluate_mota
from vidpose.skeleton import POSEVAL_TO_PT18, PT18

J = 15
HEAD = np.array([0.0, 0.0, 30.0, 40.0])


def person(joints: dict[int, tuple[float, float, float]], track=0, score=0.9) -> Person:
    """poseval joint id -> (x, y, v)."""
    kp = np.zeros((17, 3))
    for j, xyv in joints.items():
        kp[POSEVAL_TO_PT18[j]] = xyv
    return Person(keypoints=kp, head_box=HEAD.copy(), track_id=track, joint_scores=np.full(17, score))


def full(x0=100.0, track=0, score=0.9) -> Person:
    return person({j: (x0 + 10 * j, 100 + 5 * j, 1.0) for j in range(J)}, track, score)


def seq(frames, labeled=None, ids=None, name="000001_bonn_test") -> Sequence:
    out = []
    for i, persons in enumerate(frames):
        out.append(
            Frame(
                image_id=i if ids is None else ids[i],
                index=i,
                file_name=f"images/val/{name}/{i:06d}.jpg",
                is_labeled=bool(persons) if labeled is None else labeled[i],
                persons=persons,
            )
        )
    return Sequence(name, out, format="pt21")


def test_keypoint_presence_rule_differs():
    joints = {j: (100 + 10 * j, 100 + 5 * j, 1.0) for j in range(J)}
    joints[0] = (0.0, 50.0, 1.0)  # pt18: annotated (not exactly 0,0,0); pt21: absent (x <= 0)
    joints[1] = (-5.0, 50.0, 1.0)  # same
    joints[2] = (120.0, 110.0, 0.0)  # annotated in both (visibility is not looked at)
    del joints[13]  # no nose GT in either mode
    gt = seq([[person(joints)]])
    pred = seq([[full()]])
    r18, r21 = evaluate_ap([gt], [pred], mode="pt18"), evaluate_ap([gt], [pred], mode="pt21")
    assert r18.num_gt[0] == 1 and r18.num_gt[1] == 1 and r18.num_gt[2] == 1
    assert r21.num_gt[0] == 0 and r21.num_gt[1] == 0 and r21.num_gt[2] == 1
    assert r18.ap[0] == 0.0 and r21.ap[0] == 0.0 and r18.ap[2] == 100.0 and r21.ap[2] == 100.0
    # nose: predictions but no GT -> NaN in poseval (skipped in Total), 0 in the PoseTrack21 kit
    assert math.isnan(r18.ap[13]) and math.isnan(r18.recall[13])
    assert r21.ap[13] == 0.0 and r21.recall[13] == 0.0
    assert r18.ap[J] == pytest.approx(12 * 100 / 14)
    assert r21.ap[J] == pytest.approx(12 * 100 / 15)


def test_frames_are_selected_by_is_labeled():
    # frame 0: labelled with a person; frame 1: persons but not labelled; frame 2: labelled, nobody in it
    gt = seq([[full()], [full()], []], labeled=[True, False, True])
    pred = seq([[full(score=0.5)], [full(score=0.9, x0=900)], [full(score=0.1, x0=900)]])
    r18 = evaluate_ap([gt], [pred], mode="pt18")
    r21 = evaluate_ap([gt], [pred], mode="pt21")
    # pt18 keeps frames 0, 1 (persons): frame 1's far prediction is a FP above the TP
    np.testing.assert_allclose(r18.ap[:J], 25.0)
    assert np.all(r18.num_gt == 2)
    # pt21 keeps frames 0, 2 (labelled): frame 2's prediction is a FP below the TP
    np.testing.assert_allclose(r21.ap[:J], 100.0)
    np.testing.assert_allclose(r21.precision[:J], 50.0)
    assert np.all(r21.num_gt == 1)


def test_pt21_pairs_frames_by_image_id():
    gt = seq([[full()], [full()]], ids=[7, 8])
    pred = seq([[full()], [full()]], ids=[7, 9])
    evaluate_ap([gt], [pred], mode="pt18")  # poseval pairs by position only
    with pytest.raises(DataFormatError, match="image id 9 differs from the ground truth's 8"):
        evaluate_ap([gt], [pred], mode="pt21")


def test_pt21_checks_gt_track_ids_for_ap_too():
    gt = seq([[full(track=3), full(x0=600, track=3)]])
    pred = seq([[full()]])
    evaluate_ap([gt], [pred], mode="pt18")
    with pytest.raises(DataFormatError, match="track_id 3 appears more than once"):
        evaluate_ap([gt], [pred], mode="pt21")


def test_pt21_mota_uses_the_same_rules():
    gt = seq([[full(track=0)] for _ in range(3)] + [[full(track=0)]], labeled=[True, False, True, True])
    pred = seq([[full(track=4)] for _ in range(4)])
    r = evaluate_mota([gt], [pred], mode="pt21")
    assert np.all(r.num_objects == 2)  # labelled frames 0 and 2 (frame 3 is the excluded last one)
    np.testing.assert_allclose(r.mota, 100.0)


def _pt21_file(path, with_scores=True):
    names = list(PT18.names)
    images = [
        {"id": 10000010000 + i, "file_name": f"images/val/000001_bonn_test/{i:06d}.jpg", "is_labeled": i != 1,
         "has_labeled_person": True, "nframes": 3, "ignore_regions_x": [], "ignore_regions_y": []}
        for i in range(3)
    ]  # fmt: skip
    anns = []
    for i, im in enumerate(images):
        kp = []
        for c in range(17):
            kp += [0.0, 0.0, 0.0] if c in (3, 4) else [100.0 + 10 * c + i, 100.0 + 5 * c, 1.0]
        ann = {"image_id": im["id"], "track_id": 0, "person_id": 1024, "keypoints": kp, "id": i,
               "bbox": [90, 90, 200, 100], "bbox_head": [0, 0, 30, 40], "category_id": 1}  # fmt: skip
        if with_scores:
            ann["scores"] = [0.8] * 17
        anns.append(ann)
    path.write_text(json.dumps({"images": images, "annotations": anns, "categories": [{"keypoints": names}]}))


def test_pt21_files_through_the_folder_api(tmp_path):
    (tmp_path / "gt").mkdir()
    (tmp_path / "pred").mkdir()
    _pt21_file(tmp_path / "gt" / "000001_bonn_test.json")
    _pt21_file(tmp_path / "pred" / "000001_bonn_test.json")
    seq_gt = read_sequence(tmp_path / "gt" / "000001_bonn_test.json")
    assert seq_gt.format == "pt21"
    assert seq_gt.frames[0].persons[0].person_id == 1024
    assert [f.is_labeled for f in seq_gt.frames] == [True, False, True]
    report = evaluate_folders(tmp_path / "gt", tmp_path / "pred", tracking=True, mode="pt21")
    assert report.num_frames == 2
    np.testing.assert_allclose(report.ap.ap, 100.0)  # nose annotated here, all 15 joints present
    assert np.all(report.mot.num_objects == 1)


def test_missing_scores_fall_back_to_poseval_minimum(tmp_path):
    _pt21_file(tmp_path / "p.json", with_scores=False)
    pred = read_predictions(tmp_path / "p.json")
    assert pred.frames[0].persons[0].joint_scores is None
    gt = read_sequence(tmp_path / "p.json")
    r = evaluate_ap([gt], [Sequence(gt.name, pred.frames, format="pt21")], mode="pt21")
    np.testing.assert_allclose(r.ap, 100.0)  # every pair scores -9999: ranking ties only
