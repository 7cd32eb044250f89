"""PoseTrack readers on the real samples (PoseTrack18 val, Bonn, its PoseTrack17 twin) and small files."""

from __future__ import annotations

import json

import numpy as np
import pytest

from vidpose.data.posetrack import (
    MISSING_SCORE,
    detect_format,
    read_prediction_folder,
    read_predictions,
    read_sequence,
    read_sequences,
)
from vidpose.errors import DataFormatError
from vidpose.skeleton import POSEVAL_TO_PT18, PT17_ID_TO_PT18, PT18

BONN = "bonn_multiperson_posetrack/posetrack18/test/060470979_bonn_test.json"


def test_posetrack18_val_files_with_ignore_regions(shared_data):
    seq = read_sequence(shared_data / "mmpose_posetrack18/annotations/val/012834_mpii_test.json")
    assert (seq.name, seq.format, len(seq)) == ("012834_mpii_test", "pt18", 1)
    frame = seq.frames[0]
    assert frame.image_id == 10128340000 and frame.index == 0 and frame.is_labeled
    assert frame.file_name == "images/val/012834_mpii_test/000000.jpg"
    assert (frame.width, frame.height) == (1920, 1080)
    assert [len(r) for r in frame.ignore_regions] == [152, 18, 28, 57]
    assert all(r.shape[1] == 2 for r in frame.ignore_regions)
    assert len(frame.persons) == 11
    p = frame.persons[0]
    np.testing.assert_allclose(p.keypoints[0], [401, 530, 1])  # raw values kept
    np.testing.assert_allclose(p.keypoints[3], [0, 0, 0])  # ears are placeholders
    np.testing.assert_allclose(p.head_box, [378, 503, 44, 53])
    np.testing.assert_allclose(p.box, [322.3, 488.60028997, 166.4, 186.40836786])
    assert p.track_id == 0 and p.joint_scores is None and p.person_id is None  # GT writes `scores: []`
    seqs = read_sequences(shared_data / "mmpose_posetrack18/annotations/val")
    assert [s.name for s in seqs] == ["003418_mpii_test", "009473_mpii_test", "012834_mpii_test"]
    assert [len(s.frames[0].persons) for s in seqs] == [1, 2, 11]


def test_bonn_video_keeps_json_order_and_ids(shared_data):
    seq = read_sequence(shared_data / BONN)
    assert len(seq) == 41 and seq.format == "pt18"
    assert [f.image_id for f in seq.frames] == [20604709790000 + i for i in range(41)]
    assert [f.index for f in seq.frames] == list(range(41))
    assert seq.frames[4].file_name == "images/060470979_bonn_test/00005.jpg"
    assert all(len(f.persons) == 4 for f in seq.frames)
    assert all(p.head_box is not None for f in seq.frames for p in f.persons)
    nose = np.array([p.keypoints[0] for f in seq.frames for p in f.persons])
    assert np.all(nose == 0)  # MPII has no nose
    assert sorted(p.track_id for p in seq.frames[0].persons) == [0, 1, 2, 3]


def test_posetrack17_annolist_equals_its_posetrack18_twin(shared_data):
    pt17 = read_sequence(shared_data / "eval_golden/bonn1_noise15_swap_pt17gt/gt/060470979_bonn_test.json")
    pt18 = read_sequence(shared_data / BONN)
    assert pt17.format == "pt17" and len(pt17) == len(pt18) == 41
    for i, (f17, f18) in enumerate(zip(pt17.frames, pt18.frames, strict=True)):
        assert f17.image_id == i and f17.file_name == f18.file_name
        assert len(f17.persons) == len(f18.persons)
        for a, b in zip(f17.persons, f18.persons, strict=True):
            assert a.track_id == b.track_id and a.box is None
            np.testing.assert_allclose(a.head_box, b.head_box, atol=1e-9)
            joints = list(POSEVAL_TO_PT18)
            np.testing.assert_allclose(a.keypoints[joints], b.keypoints[joints])
            np.testing.assert_allclose(a.keypoints[[3, 4]], 0)


def _write(tmp_path, data, name="000001_bonn_test.json"):
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return path


def test_small_posetrack17_file(tmp_path):
    points = [
        {"id": [13], "x": [10.0], "y": [20.0], "is_visible": [1], "score": [0.7]},
        {"id": 12, "x": 11.0, "y": 21.0},  # bare values are accepted too; is_visible defaults to 1
        {"id": [0], "x": [30.0], "y": [90.0], "is_visible": [0]},
        {"id": [0], "x": [99.0], "y": [99.0]},  # a repeated id: poseval reads the first
    ]
    data = {
        "annolist": [
            {
                "image": [{"name": "images/x/00001.jpg"}],
                "ignore_regions": [
                    {"point": [{"x": [0], "y": [0]}, {"x": [5], "y": [0]}, {"x": [5], "y": [5]}]}
                ],
                "annorect": [
                    {
                        "track_id": [4],
                        "x1": [5],
                        "y1": [6],
                        "x2": [25],
                        "y2": [36],
                        "annopoints": [{"point": points}],
                    },
                    {"track_id": [5]},  # a person without joints or head box
                ],
            },
            {"image": [{"name": "images/x/00002.jpg"}], "annorect": []},
        ]
    }
    seq = read_sequence(_write(tmp_path, data))
    assert seq.format == "pt17" and [f.is_labeled for f in seq.frames] == [True, False]
    p = seq.frames[0].persons[0]
    assert PT17_ID_TO_PT18[13] == PT18.index("nose")
    np.testing.assert_allclose(p.keypoints[PT18.index("nose")], [10, 20, 1])
    np.testing.assert_allclose(p.keypoints[PT18.index("head_bottom")], [11, 21, 1])
    np.testing.assert_allclose(p.keypoints[PT18.index("right_ankle")], [30, 90, 0])
    assert np.count_nonzero(p.keypoints.any(axis=1)) == 3
    np.testing.assert_allclose(p.head_box, [5, 6, 20, 30])
    assert p.track_id == 4
    empty = seq.frames[0].persons[1]
    assert empty.head_box is None and not empty.keypoints.any() and empty.track_id == 5
    np.testing.assert_allclose(seq.frames[0].ignore_regions[0], [[0, 0], [5, 0], [5, 5]])
    pred = read_predictions(seq.source)
    scores = pred.frames[0].persons[0].joint_scores
    assert scores[PT18.index("nose")] == pytest.approx(0.7)
    assert scores[PT18.index("head_bottom")] == MISSING_SCORE  # listed without a score
    assert scores[PT18.index("left_ankle")] == 0.0  # not listed
    assert pred.frames[0].persons[1].joint_scores is None


def _pt18_dict(names=None, person_extra=None, image_extra=None):
    names = list(PT18.names) if names is None else names
    kp = [float(v) for c in range(len(names)) for v in (10 + c, 20 + c, 1)]
    person = {
        "image_id": 5,
        "track_id": 2,
        "keypoints": kp,
        "bbox_head": [1, 2, 3, 4],
        **(person_extra or {}),
    }
    image = {"id": 5, "file_name": "images/val/000001_bonn_test/000000.jpg", **(image_extra or {})}
    return {"images": [image], "annotations": [person], "categories": [{"keypoints": names}]}


def test_posetrack21_detection_and_fields(tmp_path):
    assert detect_format(_pt18_dict()) == "pt18"
    assert detect_format(_pt18_dict(person_extra={"person_id": 77})) == "pt21"
    assert detect_format(_pt18_dict(image_extra={"has_labeled_person": False})) == "pt21"
    seq = read_sequence(
        _write(tmp_path, _pt18_dict(person_extra={"person_id": 77}, image_extra={"is_labeled": False}))
    )
    assert seq.format == "pt21" and seq.frames[0].persons[0].person_id == 77
    assert seq.frames[0].is_labeled is False
    assert read_sequence(seq.source, format="pt18").format == "pt18"  # an explicit format wins
    with pytest.raises(DataFormatError, match="unknown format 'pt19'"):
        read_sequence(seq.source, format="pt19")


def test_keypoints_are_mapped_by_category_names(tmp_path):
    names = [n for n in PT18.names if "ear" not in n][::-1]  # 15 names, reversed order
    seq = read_sequence(_write(tmp_path, _pt18_dict(names, {"scores": [0.1 * i for i in range(15)]})))
    p = seq.frames[0].persons[0]
    for i, name in enumerate(names):
        np.testing.assert_allclose(p.keypoints[PT18.index(name)], [10 + i, 20 + i, 1])
    np.testing.assert_allclose(p.keypoints[[3, 4]], 0)
    pred = read_predictions(seq.source)
    assert pred.frames[0].persons[0].joint_scores[PT18.index(names[3])] == pytest.approx(0.3)


def test_prediction_reader_scores(shared_data, tmp_path):
    preds = read_prediction_folder(shared_data / "eval_golden/bonn1_noise15_swap/pred")
    p = preds[0].frames[0].persons[0]
    assert p.joint_scores.shape == (17,) and p.joint_scores[1] == pytest.approx(0.9204)
    assert p.score == pytest.approx(0.8886764808392718)
    seq = read_predictions(_write(tmp_path, _pt18_dict(person_extra={"scores": []})))
    assert seq.frames[0].persons[0].joint_scores is None


def test_jhmdb_clip_is_not_posetrack_but_its_15_joints_load(shared_data):
    """J-HMDB is a puppet-fit single-person layout (15 joints, no head box): not a PoseTrack format, so the
    PoseTrack readers do not take it; this only checks the real clip's annotation loads as documented."""
    from scipy.io import loadmat

    mat = loadmat(shared_data / "jhmdb_goal_keeping_clip/joint_positions.mat")
    pos = mat["pos_img"]
    assert pos.shape == (2, 15, 40)
    assert np.isfinite(pos).all()
    assert pos.min() >= 0 and pos[0].max() <= 321 and pos[1].max() <= 241  # 320x240 frames, 1-based
