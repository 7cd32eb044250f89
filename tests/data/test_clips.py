"""Windows: clamped frame indices, GT and detection windows, training-time offset resampling."""

from __future__ import annotations

import numpy as np
import pytest

from vidpose.data.clips import build_windows, clamp_frames, sample_offsets
from vidpose.data.posetrack import read_sequence
from vidpose.data.records import Frame, Person, Sequence

OFFSETS = (-2, -1, 0, 1, 2)


def _person(track: int, num_labelled: int, box: bool = True) -> Person:
    kp = np.zeros((17, 3))
    for j in range(num_labelled):
        kp[j] = (100 + 5 * j, 50 + 10 * j, 1)
    return Person(
        kp,
        box=np.array([90.0, 40.0, 120.0, 200.0]) if box else None,
        head_box=np.array([95.0, 40.0, 20.0, 25.0]),
        track_id=track,
    )


def _sequence(name: str = "seq", n: int = 6, labelled=None) -> Sequence:
    frames = []
    for i in range(n):
        is_labeled = labelled is None or i in labelled
        persons = [_person(0, 10), _person(1, 2)] if is_labeled else []
        frames.append(Frame(1000 + i, i, f"images/{name}/{i:06d}.jpg", is_labeled, persons=persons))
    return Sequence(name, frames)


def test_clamp_frames_at_both_ends():
    assert clamp_frames(0, OFFSETS, 6) == (0, 0, 0, 1, 2)
    assert clamp_frames(1, OFFSETS, 6) == (0, 0, 1, 2, 3)
    assert clamp_frames(3, OFFSETS, 6) == (1, 2, 3, 4, 5)
    assert clamp_frames(5, OFFSETS, 6) == (3, 4, 5, 5, 5)
    assert clamp_frames(0, OFFSETS, 1) == (0, 0, 0, 0, 0)
    assert clamp_frames(2, (-3, 0, 3), 4) == (0, 2, 3)
    with pytest.raises(ValueError):
        clamp_frames(6, OFFSETS, 6)


def test_gt_windows_follow_labelled_frames_and_min_joints():
    seqs = [_sequence("a", 6, labelled={0, 2, 5}), _sequence("b", 3)]
    windows = build_windows(seqs, OFFSETS, "gt", labelled_only=True, min_joints=3)
    assert [(w.sequence, w.key_frame) for w in windows] == [(0, 0), (0, 2), (0, 5), (1, 0), (1, 1), (1, 2)]
    assert all(w.track_id == 0 and w.box_score == 1.0 for w in windows)  # the 2-joint person is skipped
    w = windows[2]
    assert w.frames == (3, 4, 5, 5, 5) and w.image_id == 1005
    assert w.keypoints.shape == (17, 3) and w.keypoints[:, 2].sum() == 10
    np.testing.assert_array_equal(w.box, [90, 40, 120, 200])
    everyone = build_windows(seqs, OFFSETS, "gt", labelled_only=False, min_joints=0)
    assert len(everyone) == 2 * 6  # unlabelled frames have no persons anyway


def test_gt_windows_without_boxes_get_derived_ones():
    seq = _sequence("pt17", 3)
    for f in seq.frames:
        for p in f.persons:
            p.box = None
    windows = build_windows([seq], (0,), "gt", min_joints=3, box_margin=0.15)
    assert len(windows) == 3
    x, y, w, h = windows[0].box
    # the head box spans x 95..115, y 40..65; the keypoints x 100..145, y 50..140
    assert w == pytest.approx(50 * 1.3) and h == pytest.approx(100 * 1.3)
    assert (x, y) == (pytest.approx(95 - 0.15 * 50), pytest.approx(40 - 0.15 * 100))


def test_detection_windows():
    seqs = [_sequence("a", 4), _sequence("b", 2)]
    dets = {
        ("a", 3): [(np.array([1.0, 2, 3, 4]), 0.9), (np.array([5.0, 6, 7, 8]), 0.4)],
        ("b", 0): [(np.array([9.0, 9, 9, 9]), 0.7)],
    }
    windows = build_windows(seqs, OFFSETS, dets)
    assert [(w.sequence, w.key_frame, w.box_score) for w in windows] == [
        (0, 3, 0.9),
        (0, 3, 0.4),
        (1, 0, 0.7),
    ]
    assert all(w.keypoints is None and w.track_id == -1 for w in windows)
    assert windows[0].frames == (1, 2, 3, 3, 3) and windows[2].frames == (0, 0, 0, 1, 1)
    assert windows[2].image_id == 1000


def test_resampled_offsets_vary_per_item_and_keep_the_order():
    seen = set()
    for i in range(200):
        rng = np.random.default_rng([0, 0, i])
        off = sample_offsets(OFFSETS, rng)
        assert off[2] == 0 and list(off) == sorted(off)
        assert off[0] in (-2, -1) and off[1] == -1 and off[3] == 1 and off[4] in (1, 2)
        seen.add(off)
    assert seen == {(-2, -1, 0, 1, 2), (-1, -1, 0, 1, 2), (-2, -1, 0, 1, 1), (-1, -1, 0, 1, 1)}
    wide = {sample_offsets((-6, -3, 0, 3, 6), np.random.default_rng(i)) for i in range(50)}
    assert len(wide) > 20
    assert sample_offsets((0,), np.random.default_rng(0)) == (0,)


def test_windows_from_the_real_bonn_sequence(shared_data):
    seq = read_sequence(shared_data / "bonn_multiperson_posetrack/posetrack18/test/060470979_bonn_test.json")
    windows = build_windows([seq], OFFSETS, "gt", min_joints=3)
    assert len(windows) == 164  # 41 frames x 4 people
    assert windows[0].frames == (0, 0, 0, 1, 2) and windows[-1].frames == (38, 39, 40, 40, 40)
    assert all(w.keypoints[:, 2].sum() >= 3 for w in windows)
    assert {w.track_id for w in windows} == {0, 1, 2, 3}
