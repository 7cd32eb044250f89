"""Box sources: GT boxes (derived for PoseTrack17), COCO and PoseWarper/DCPose detection files."""

from __future__ import annotations

import json

import numpy as np
import pytest

from vidpose.data.boxes import labelled_joints, load_detections, person_box
from vidpose.data.records import Frame, Person, Sequence
from vidpose.errors import DataFormatError


def _sequences() -> list[Sequence]:
    def seq(name: str, vid: int, n: int) -> Sequence:
        frames = [Frame(int(f"1{vid:06d}{i:04d}"), i, f"images/val/{name}/{i:06d}.jpg") for i in range(n)]
        return Sequence(name, frames)

    return [seq("000342_mpii_test", 342, 4), seq("000522_mpii_test", 522, 3)]


def _write(tmp_path, data, name="dets.json"):
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return path


def test_labelled_joints_rules():
    kp = np.array([[0, 0, 0], [10, 20, 0], [0, 5, 1], [3, 4, 1], [np.nan, 1, 1]], dtype=float)
    assert labelled_joints(kp, "pt18").tolist() == [False, True, True, True, False]
    assert labelled_joints(kp, "pt21").tolist() == [False, True, False, True, False]


def test_person_box_uses_the_gt_box_or_derives_one():
    kp = np.zeros((17, 3))
    kp[5] = (100, 200, 1)
    kp[15] = (140, 400, 1)
    with_box = Person(kp, box=np.array([1.0, 2.0, 3.0, 4.0]))
    np.testing.assert_array_equal(person_box(with_box, 0.15), [1, 2, 3, 4])
    # PoseTrack17: no person box; keypoints span x 100..140, y 200..400, the head box reaches up to y 150
    pt17 = Person(kp, box=None, head_box=np.array([110.0, 150.0, 20.0, 30.0]))
    box = person_box(pt17, 0.15)
    w, h = 40.0, 250.0
    np.testing.assert_allclose(box, [100 - 0.15 * w, 150 - 0.15 * h, 1.3 * w, 1.3 * h])
    assert person_box(Person(np.zeros((17, 3))), 0.15) is None


def test_coco_detections_match_by_image_id(tmp_path):
    seqs = _sequences()
    dets = [
        {"image_id": 10003420002, "bbox": [10, 20, 30, 40], "score": 0.5, "category_id": 1},
        {"image_id": 10003420002, "bbox": [1, 2, 3, 4], "score": 0.9, "category_id": 1},
        {"image_id": 10005220000, "bbox": [5, 6, 7, 8], "score": 0.1, "category_id": 1},  # below threshold
        {"image_id": 10005220001, "bbox": [5, 6, 7, 8], "score": 0.7, "category_id": 2},  # not a person
        {"image_id": 10005220001, "bbox": [5, 6, 0, 8], "score": 0.7},  # degenerate box
        {"image_id": 99999, "bbox": [5, 6, 7, 8], "score": 0.7, "category_id": 1},  # another split's frame
        {"image_id": 10005220002, "bbox": [5.5, 6, 7, 8], "score": 0.3},
    ]
    out = load_detections(_write(tmp_path, dets), seqs, score_thr=0.2)
    assert sorted(out) == [("000342_mpii_test", 2), ("000522_mpii_test", 2)]
    boxes = out[("000342_mpii_test", 2)]
    assert [s for _, s in boxes] == [0.9, 0.5]  # best first
    np.testing.assert_array_equal(boxes[0][0], [1, 2, 3, 4])
    np.testing.assert_array_equal(out[("000522_mpii_test", 2)][0][0], [5.5, 6, 7, 8])


def test_dcpose_detections_match_by_image_name_or_frame_id(tmp_path):
    seqs = _sequences()
    dets = [
        {"image_name": "images/val/000342_mpii_test/000001.jpg", "bbox": [1, 2, 3, 4], "score": 0.8,
         "category_id": 1, "nframes": 4, "frame_id": 10003420001},
        # a different prefix: matched by '<sequence folder>/<file>'
        {"image_name": "/data/PoseTrack/images/val/000522_mpii_test/000000.jpg", "bbox": [5, 6, 7, 8],
         "score": 0.6, "category_id": 1, "nframes": 3, "frame_id": 10005220000},
        {"image_name": "images/val/000342_mpii_test/000003.jpg", "bbox": [9, 9, 9, 9], "score": 0.05,
         "category_id": 1, "nframes": 4, "frame_id": 10003420003},
    ]  # fmt: skip
    out = load_detections(_write(tmp_path, dets), seqs, score_thr=0.1)
    assert sorted(out) == [("000342_mpii_test", 1), ("000522_mpii_test", 0)]
    assert out[("000522_mpii_test", 0)][0][1] == pytest.approx(0.6)
    # entries without image_name fall back to frame_id as the image id
    by_id = [{"image_name": "x/y.jpg", "bbox": [1, 2, 3, 4], "score": 0.8}, {"frame_id": 10005220001,
              "bbox": [1, 2, 3, 4], "score": 0.8}]  # fmt: skip
    out = load_detections(_write(tmp_path, by_id, "by_id.json"), seqs, score_thr=0.1)
    assert sorted(out) == [("000522_mpii_test", 1)]


ENTRY = {"image_id": 10003420000, "bbox": [1, 2, 3, 4], "score": 0.5}


@pytest.mark.parametrize(
    "data,match",
    [
        ({"annotations": []}, "expected a JSON list"),
        ([{"image_id": 10003420000, "bbox": [1, 2, 3], "score": 0.5}], r"\[0\]\.bbox has 3 values"),
        ([ENTRY, {"image_id": 10003420000, "bbox": [1, 2, 3, 4]}], r"\[1\]: missing field 'score'"),
        ([{"image_id": 10003420000, "bbox": [1, 2, 3, 4], "score": "high"}], r"\[0\]\.score is 'high'"),
        ([{"image_id": 10003420000, "bbox": [1, "a", 3, 4], "score": 0.5}], r"\[0\]\.bbox is"),
        ([{"image_id": "frame-1", "bbox": [1, 2, 3, 4], "score": 0.5}], r"\[0\]\.image_id is 'frame-1'"),
        ([{"bbox": [1, 2, 3, 4], "score": 0.5}], "cannot tell the format"),
        ([ENTRY, 7], r"\[1\] is not an object \(int\)"),
        ([{"image_id": 42, "bbox": [1, 2, 3, 4], "score": 0.5}], "none of its 1 person detections matches"),
    ],
)  # fmt: skip
def test_bad_detection_files_raise_data_format_error(tmp_path, data, match):
    path = _write(tmp_path, data)
    with pytest.raises(DataFormatError, match=match) as e:
        load_detections(path, _sequences(), score_thr=0.0)
    assert str(path) in str(e.value)


def test_unreadable_detection_file(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("[{")
    with pytest.raises(DataFormatError, match="not valid JSON"):
        load_detections(bad, _sequences(), 0.0)
    with pytest.raises(DataFormatError, match="not found"):
        load_detections(tmp_path / "missing.json", _sequences(), 0.0)


def test_real_mmpose_posetrack18_detections(shared_data):
    """MMPose's 278 COCO-format boxes of three PoseTrack18 val frames, matched by image id."""
    path = shared_data / "mmpose_posetrack18/annotations/test_posetrack18_human_detections.json"
    names = {
        "003418_mpii_test": 10034180000,
        "009473_mpii_test": 10094730000,
        "012834_mpii_test": 10128340000,
    }
    seqs = [Sequence(n, [Frame(i, 0, f"images/val/{n}/000000.jpg")]) for n, i in names.items()]
    raw = json.loads(path.read_text())
    out = load_detections(path, seqs, score_thr=0.5)
    expected = {
        (n, 0): sum(1 for d in raw if d["image_id"] == i and d["score"] >= 0.5 and d["bbox"][2] > 0)
        for n, i in names.items()
    }
    assert {k: len(v) for k, v in out.items()} == {k: v for k, v in expected.items() if v}
    assert sum(expected.values()) > 10
    for dets in out.values():
        scores = [s for _, s in dets]
        assert scores == sorted(scores, reverse=True) and min(scores) >= 0.5
