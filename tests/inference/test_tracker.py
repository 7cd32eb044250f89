"""Online pose tracker: crossing persons, missed detections, spurious boxes, real ground-truth sequences."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from vidpose.config import TrackerConfig
from vidpose.errors import ConfigError
from vidpose.inference.tracker import PoseTracker

BONN_JSON = Path("bonn_multiperson_posetrack/posetrack18/test/060470979_bonn_test.json")


def _box_keypoints(box: np.ndarray) -> np.ndarray:
    """A stick figure filling a box: [17, 3], joints spread over the box, all confident."""
    x, y, w, h = box
    rng = np.random.default_rng(0)  # the same figure for every box: rel. positions fixed
    rel = rng.uniform(0.1, 0.9, size=(17, 2))
    return np.concatenate([np.stack([x + rel[:, 0] * w, y + rel[:, 1] * h], 1), np.ones((17, 1))], axis=1)


def _assert_unique(ids: list[int]) -> None:
    confirmed = [i for i in ids if i >= 0]
    assert len(confirmed) == len(set(confirmed))


@pytest.mark.parametrize("use_keypoints", [False, True])
def test_two_people_crossing_keep_their_ids(use_keypoints: bool):
    rng = np.random.default_rng(0)
    tracker = PoseTracker(TrackerConfig(min_hits=3))
    history = []
    for t in range(30):
        a = np.array([20.0 + 12 * t, 100.0, 60.0, 150.0])  # walks right
        b = np.array([380.0 - 12 * t, 110.0, 56.0, 140.0])  # walks left; both overlap fully around t = 15
        boxes = np.stack([a, b]) + rng.normal(0, 1.5, size=(2, 4))
        order = rng.permutation(2)  # the detector lists persons in any order
        kps = np.stack([_box_keypoints(x) for x in boxes[order]]) if use_keypoints else None
        ids = tracker.update(boxes[order], np.array([0.9, 0.8]), kps)
        _assert_unique(ids)
        history.append(dict(zip(order.tolist(), ids, strict=True)))  # person -> id
    assert all(h == {0: -1, 1: -1} for h in history[:2])  # tentative for min_hits - 1 frames
    first = history[2]
    assert sorted(first.values()) == [0, 1]
    assert all(h == first for h in history[2:])


def test_short_miss_keeps_the_id_and_long_miss_ends_the_track():
    cfg = TrackerConfig(min_hits=2, max_age=5)
    tracker = PoseTracker(cfg)
    ids = []
    for t in range(30):
        box = np.array([[10.0 + 5 * t, 50.0, 40.0, 100.0]])
        visible = not (10 <= t < 15)  # 5 missed frames = max_age: the track survives
        if visible:
            ids.append(tracker.update(box, np.array([0.9]))[0])
        else:
            assert tracker.update(np.zeros((0, 4)), np.zeros(0)) == []
            (track,) = tracker.confirmed_tracks
            predicted = tracker.predict_box(track)  # constant velocity: about 5 px per frame to the right
            assert abs(predicted[0] - (10.0 + 5 * (t + 1))) < 3.0
    assert ids[0] == -1 and set(ids[1:]) == {0}
    for _ in range(cfg.max_age + 1):  # now gone for longer than max_age: deleted
        tracker.update(np.zeros((0, 4)), np.zeros(0))
    assert tracker.tracks == []
    assert tracker.update(np.array([[160.0, 50.0, 40.0, 100.0]]), np.array([0.9])) == [-1]
    assert tracker.update(np.array([[165.0, 50.0, 40.0, 100.0]]), np.array([0.9])) == [1]  # never reused


def test_spurious_single_frame_box_never_gets_an_id():
    tracker = PoseTracker(TrackerConfig(min_hits=3))
    seen = set()
    for t in range(20):
        boxes = [[100.0 + 2 * t, 100.0, 50.0, 120.0]]
        if t == 7:
            boxes.append([400.0, 20.0, 30.0, 60.0])
        ids = tracker.update(np.array(boxes), np.full(len(boxes), 0.9))
        if t == 7:
            assert ids[1] == -1
        seen.update(ids)
    assert seen == {-1, 0}
    assert [t.track_id for t in tracker.tracks] == [0]


def test_predict_box_from_keypoints():
    cfg = TrackerConfig(min_hits=1, keypoint_box_scale=1.5, min_keypoints=4)
    tracker = PoseTracker(cfg)
    kp = np.zeros((17, 3))
    kp[:6] = [
        [100, 100, 0.9],
        [120, 100, 0.9],
        [100, 200, 0.9],
        [120, 200, 0.9],
        [110, 150, 0.9],
        [0, 0, 0.9],
    ]
    kp[5, 2] = 0.1  # below keypoint_thr: ignored
    (track,) = tracker.update_tracks(np.array([[90.0, 90.0, 40.0, 120.0]]), np.array([0.9]), kp[None])
    assert track.track_id == 0 and track.uid == 0
    np.testing.assert_allclose(tracker.predict_box(track), [95, 75, 30, 150])  # joints box 20x100, x1.5
    few = kp.copy()
    few[2:, 2] = 0.0  # two confident joints < min_keypoints: the motion model answers
    (track,) = tracker.update_tracks(np.array([[90.0, 90.0, 40.0, 120.0]]), np.array([0.9]), few[None])
    np.testing.assert_allclose(tracker.predict_box(track), [90, 90, 40, 120])


def test_config_is_checked():
    with pytest.raises(ConfigError, match="tracker: min_hits"):
        PoseTracker(TrackerConfig(min_hits=0))
    with pytest.raises(ConfigError, match="box_smoothing"):
        PoseTracker(TrackerConfig(box_smoothing=1.0))
    with pytest.raises(ValueError, match="keypoints must be"):
        PoseTracker(TrackerConfig()).update(np.zeros((1, 4)), np.ones(1), np.zeros((1, 5, 3)))


def _bonn_ground_truth(shared_data: Path) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per frame: (GT track ids [P], boxes [P, 4] xywh, keypoints [P, 17, 3], score 1 = annotated joint)."""
    data = json.loads((shared_data / BONN_JSON).read_text())
    frames = []
    for image in data["images"]:
        anns = [a for a in data["annotations"] if a["image_id"] == image["id"]]
        kps = np.array([a["keypoints"] for a in anns], dtype=np.float64).reshape(-1, 17, 3)
        kps[..., 2] = (kps[..., 2] > 0).astype(np.float64)
        frames.append((np.array([a["track_id"] for a in anns]), np.array([a["bbox"] for a in anns]), kps))
    return frames


@pytest.mark.parametrize("use_keypoints", [False, True])
def test_ids_stable_on_bonn_ground_truth(shared_data: Path, use_keypoints: bool):
    cfg = TrackerConfig()
    tracker = PoseTracker(cfg)
    rng = np.random.default_rng(0)
    gt_to_pred: dict[int, int] = {}
    frames = _bonn_ground_truth(shared_data)
    assert len(frames) == 41
    for t, (gt_ids, boxes, kps) in enumerate(frames):
        order = rng.permutation(len(gt_ids))
        ids = tracker.update(boxes[order], np.ones(len(order)), kps[order] if use_keypoints else None)
        _assert_unique(ids)
        for gt, pred in zip(gt_ids[order].tolist(), ids, strict=True):
            if t < cfg.min_hits - 1:
                assert pred == -1
                continue
            assert pred >= 0, f"frame {t}: GT person {gt} has no confirmed id"
            assert gt_to_pred.setdefault(gt, pred) == pred, f"frame {t}: GT person {gt} switched id"
    assert sorted(gt_to_pred) == [0, 1, 2, 3]
    assert sorted(gt_to_pred.values()) == [0, 1, 2, 3]  # one-to-one, ids from 0


def test_bonn_with_dropped_detections(shared_data: Path):
    """Every person misses some frames (fewer than max_age in a row): ids still never switch."""
    cfg = dataclasses.replace(TrackerConfig(), min_hits=2, max_age=4)
    tracker = PoseTracker(cfg)
    rng = np.random.default_rng(1)
    gt_to_pred: dict[int, int] = {}
    for gt_ids, boxes, kps in _bonn_ground_truth(shared_data):
        keep = rng.uniform(size=len(gt_ids)) > 0.25
        ids = tracker.update(boxes[keep], np.ones(int(keep.sum())), kps[keep])
        for gt, pred in zip(gt_ids[keep].tolist(), ids, strict=True):
            if pred >= 0:
                assert gt_to_pred.setdefault(gt, pred) == pred
    assert len(set(gt_to_pred.values())) == len(gt_to_pred) == 4


def test_boxes_given_to_their_tracks_do_not_pull_them_away():
    """--detect-every 5: in between, each track's own (here badly drifting) predicted box goes to it without
    matching and does not move the track's box; the next detection, 5 frames on, matches the same id."""
    tracker = PoseTracker(TrackerConfig(min_hits=3))
    ids = []
    track = None
    for t in range(31):
        truth = np.array([[20.0 + 4 * t, 100.0, 60.0, 150.0], [400.0 - 4 * t, 90.0, 60.0, 150.0]])
        if t % 5 == 0:
            tracks = tracker.update_tracks(truth, np.ones(2), np.stack([_box_keypoints(b) for b in truth]))
        else:
            drift = truth + np.array([[40.0 * (t % 5), 30.0, -30.0, -60.0]] * 2)  # far off, and shrinking
            box_before = [tr.box.copy() for tr in tracks]
            tracks = tracker.update_tracks(
                drift, np.ones(2), np.stack([_box_keypoints(b) for b in drift]), given=list(tracks)
            )
            assert all((tr.box == b).all() for tr, b in zip(tracks, box_before, strict=True))
        ids.append([tr.track_id for tr in tracks])
        track = tracks
    assert ids[-1] == [0, 1] and all(row == [0, 1] for row in ids[2:]), ids
    assert track is not None and all(tr.coasting == 0 and tr.misses == 0 for tr in track)
    assert len(tracker.tracks) == 2
