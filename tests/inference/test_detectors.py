"""Person detectors: HOG on real frames with people, the whole-frame detector, MediaPipe's install message."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from vidpose.errors import ConfigError, DataFormatError, MissingDependencyError
from vidpose.inference.boxes_ops import iou_matrix, xywh_to_xyxy
from vidpose.inference.detectors import (
    MEDIAPIPE_INSTALL,
    HOGDetector,
    MediaPipeDetector,
    WholeFrameDetector,
    build_detector,
    check_detections,
)

BONN = Path("bonn_multiperson_posetrack")
BONN_JSON = BONN / "posetrack18/test/060470979_bonn_test.json"


def _bonn_frames(shared_data: Path, positions: list[int]) -> list[tuple[np.ndarray, np.ndarray]]:
    """(frame RGB, GT boxes [P, 4] xywh) for the given frame positions."""
    data = json.loads((shared_data / BONN_JSON).read_text())
    out = []
    for pos in positions:
        image = data["images"][pos]
        boxes = np.array([a["bbox"] for a in data["annotations"] if a["image_id"] == image["id"]])
        frame = cv2.cvtColor(cv2.imread(str(shared_data / BONN / image["file_name"])), cv2.COLOR_BGR2RGB)
        out.append((frame, boxes))
    return out


def test_hog_finds_the_bonn_paddlers(shared_data: Path):
    detector = HOGDetector()
    found = total = 0
    for frame, gt in _bonn_frames(shared_data, [0, 20, 40]):
        boxes, scores = detector(frame)
        assert boxes.dtype == np.float32 and scores.dtype == np.float32
        assert boxes.shape == (len(scores), 4) and ((scores >= 0.3) & (scores <= 1.0)).all()
        best = iou_matrix(xywh_to_xyxy(gt), xywh_to_xyxy(boxes)).max(axis=1)  # per GT person
        assert best.max() > 0.3  # at least one real person found in every frame
        found += int((best > 0.3).sum())
        total += len(gt)
    assert found >= total // 2  # measured: 11 of 12 here (162 of 164 over all 41 frames)


def test_hog_on_an_empty_scene_and_small_frames():
    detector = HOGDetector()
    boxes, scores = detector(np.full((360, 640, 3), 127, np.uint8))
    assert boxes.shape == (0, 4) and scores.shape == (0,)
    boxes, scores = detector(np.full((40, 30, 3), 127, np.uint8))  # smaller than the 64x128 window
    assert boxes.shape == (0, 4)
    with pytest.raises(ConfigError, match="pyramid_scale"):
        HOGDetector(pyramid_scale=1.0)


def test_whole_frame_detector():
    boxes, scores = WholeFrameDetector()(np.zeros((48, 64, 3), np.uint8))
    np.testing.assert_array_equal(boxes, [[0, 0, 64, 48]])
    np.testing.assert_array_equal(scores, [1.0])


@pytest.mark.skipif(importlib.util.find_spec("mediapipe") is not None, reason="mediapipe is installed")
def test_mediapipe_missing_gives_the_install_command():
    with pytest.raises(MissingDependencyError) as info:
        MediaPipeDetector()
    assert MEDIAPIPE_INSTALL in str(info.value)
    assert MEDIAPIPE_INSTALL == (
        'pip install --no-deps mediapipe==0.10.21 absl-py flatbuffers attrs matplotlib "protobuf>=6.31.1,<7"'
    )
    with pytest.raises(MissingDependencyError):
        build_detector("mediapipe")


def test_build_detector_by_name():
    assert isinstance(build_detector("hog", max_size=320), HOGDetector)
    assert build_detector("whole", score=0.5)(np.zeros((4, 4, 3), np.uint8))[1][0] == 0.5
    with pytest.raises(ConfigError, match="unknown detector 'hgo'.*'hog'"):
        build_detector("hgo")
    with pytest.raises(ConfigError, match="max_sise.*accepted: max_size"):
        build_detector("hog", max_sise=320)


def test_user_detector_plugs_in():
    user = lambda frame: ([[1, 2, 3, 4]], [0.5])  # noqa: E731 - the documented lambda form
    boxes, scores = check_detections(user(np.zeros((8, 8, 3), np.uint8)))
    assert boxes.dtype == np.float32 and boxes.shape == (1, 4) and scores.shape == (1,)
    assert check_detections(([], []))[0].shape == (0, 4)
    with pytest.raises(DataFormatError, match="my_detector: boxes must have shape"):
        check_detections(([1, 2, 3, 4], [0.5]), where="my_detector")
    with pytest.raises(DataFormatError, match="scores must have shape"):
        check_detections(([[1, 2, 3, 4]], [0.5, 0.1]))
