"""The one box-source interface of the predict pipeline (vidpose.inference.box_sources): detector, box file,
GT boxes and callable / mapping give FrameBoxes per frame through BoxSource.open; no magic strings."""

from __future__ import annotations

import json

import numpy as np
import pytest

from vidpose.config import DataConfig
from vidpose.data.records import Frame, Person, Sequence
from vidpose.errors import ConfigError, DataFormatError
from vidpose.inference import BoxFile, BoxSource, CallableBoxes, DetectorBoxes, GTBoxes, VideoInput
from vidpose.inference.box_sources import as_box_source

FRAME = np.zeros((40, 60, 3), np.uint8)
DATA = DataConfig(box_score_thr=0.5)


def _video(sequence=None, n=3) -> VideoInput:
    return VideoInput("clip", "posetrack" if sequence else "video", iter(()), n, 25.0, sequence=sequence)


def test_every_kind_is_a_box_source_and_only_gt_gives_identities(tmp_path):
    sources = [DetectorBoxes("whole"), BoxFile(tmp_path / "b.json"), GTBoxes(), CallableBoxes({})]
    assert all(isinstance(s, BoxSource) for s in sources)
    assert [s.identities for s in sources] == [False, False, True, False]


def test_detector_and_callable_boxes_are_cleaned_and_thresholded():
    detector = DetectorBoxes(lambda frame: ([[1, 2, 10, 20], [0, 0, 0.5, 9], [3, 3, 9, 9]], [0.9, 0.9, 0.2]))
    found = detector.open(_video(), DATA)(0, FRAME)
    np.testing.assert_array_equal(found.boxes, [[1, 2, 10, 20]])
    assert found.track_ids is None
    calls = []
    per_frame = CallableBoxes(lambda i, f: calls.append(i) or ([[i, 0, 5, 5]], [1.0])).open(_video(), DATA)
    assert per_frame(2, FRAME).boxes[0, 0] == 2 and calls == [2]
    mapping = CallableBoxes({1: ([[0, 0, 5, 5]], [0.7])}).open(_video(), DATA)
    assert len(mapping(0, FRAME).boxes) == 0 and len(mapping(1, FRAME).boxes) == 1
    with pytest.raises(DataFormatError, match=r"boxes\[4\]"):  # a bad mapping is refused when opened
        CallableBoxes({4: "junk"}).open(_video(), DATA)


def test_gt_boxes_keep_ids_and_score_only_persons_with_a_labelled_joint():
    kp = np.zeros((17, 3))
    kp[0] = (10, 10, 1)
    frame = Frame(image_id=7, index=0, file_name="a.jpg", is_labeled=True)
    frame.persons = [
        Person(keypoints=kp, box=np.array([5.0, 5, 20, 30]), track_id=3),
        Person(keypoints=np.zeros((17, 3)), box=np.array([30.0, 5, 20, 30]), track_id=4),  # no joint
    ]
    seq = Sequence("clip", [frame])
    found = GTBoxes().open(_video(seq, 1), DATA)(0, FRAME)
    assert found.track_ids == [3]
    with pytest.raises(ConfigError, match="PoseTrack JSON"):
        GTBoxes().open(_video(), DATA)


def test_box_file_matches_a_video_by_frame_index(tmp_path):
    path = tmp_path / "dets.json"
    path.write_text(json.dumps([{"image_id": 1, "bbox": [1, 2, 10, 20], "score": 0.9, "category_id": 1}]))
    boxes_of = BoxFile(path).open(_video(n=3), DATA)
    assert len(boxes_of(0, FRAME).boxes) == 0
    np.testing.assert_array_equal(boxes_of(1, FRAME).boxes, [[1, 2, 10, 20]])


def test_arguments_become_sources_without_magic_strings(tmp_path):
    assert isinstance(as_box_source(None, "whole"), DetectorBoxes)
    assert isinstance(as_box_source(tmp_path / "dets.json"), BoxFile)
    assert isinstance(as_box_source({0: ([], [])}), CallableBoxes)
    gt = GTBoxes()
    assert as_box_source(gt) is gt
    with pytest.raises(ConfigError, match="GTBoxes"):
        as_box_source("gt")
    with pytest.raises(ConfigError, match="no person boxes"):
        as_box_source(None, None)
