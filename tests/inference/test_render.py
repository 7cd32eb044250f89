"""Pose rendering: track colours at the joints, hidden low-score joints, sizes kept, demo compositions."""

from __future__ import annotations

import numpy as np
import pytest

from vidpose.inference.render import (
    PALETTE,
    TENTATIVE_COLOUR,
    draw_poses,
    mark_frame,
    scale_poses,
    side_by_side,
    titled_panels,
    track_colour,
    upscale_frame,
)
from vidpose.skeleton import PT18


def _pose(rng: np.random.Generator, x0: float, y0: float, score: float = 0.9) -> np.ndarray:
    """[17, 3] joints spread over a 100x200 region at (x0, y0), at least 12 px apart."""
    grid = np.array([(x, y) for y in range(0, 200, 40) for x in range(0, 100, 25)], dtype=np.float64)[:17]
    xy = grid + np.array([x0, y0]) + rng.uniform(-2, 2, size=(17, 2))
    return np.concatenate([xy, np.full((17, 1), score)], axis=1)


def test_palette_is_stable():
    assert track_colour(0) == PALETTE[0] and track_colour(3) == PALETTE[3]
    assert track_colour(len(PALETTE) + 2) == PALETTE[2]
    assert track_colour(-1) == TENTATIVE_COLOUR
    assert len(set(PALETTE)) == len(PALETTE)


def test_joints_drawn_in_track_colour_and_low_scores_hidden():
    rng = np.random.default_rng(0)
    frame = np.zeros((400, 640, 3), np.uint8)
    a = _pose(rng, 50, 50)
    b = _pose(rng, 350, 50)
    hidden = PT18.index("right_ankle")
    a[hidden] = [300.0, 380.0, 0.1]  # below the threshold, far from every other joint of either person
    out = draw_poses(frame, [(0, None, a), (7, np.array([340.0, 40.0, 120.0, 220.0]), b)], score_thr=0.3)
    assert out.shape == frame.shape and out.dtype == np.uint8
    assert frame.max() == 0  # input untouched
    for kp, colour in ((a, PALETTE[0]), (b, PALETTE[7])):
        for j in range(17):
            if kp[j, 2] < 0.3:
                continue
            x, y = np.round(kp[j, :2]).astype(int)
            assert tuple(out[y, x]) == colour, f"joint {j} at ({x}, {y})"
    x, y = 300, 380
    assert out[y - 10 : y + 11, x - 10 : x + 11].max() == 0  # the hidden joint and its bones are not drawn
    assert np.any(np.all(out[:40, 340:470] == PALETTE[7], axis=-1))  # the id label above the box


def test_radius_grows_with_score():
    frame = np.zeros((100, 200, 3), np.uint8)
    kp = np.zeros((17, 3))
    kp[0] = [50, 60, 0.35]  # nose, ankle and knee share no bone with each other
    kp[PT18.index("left_ankle")] = [150, 60, 1.0]
    kp[PT18.index("right_knee")] = [100, 20, 1.0]  # the highest joint: the id label goes above it
    out = draw_poses(frame, [(2, None, kp)], score_thr=0.3, joint_radius=10)
    painted = np.all(out == PALETTE[2], axis=-1)
    low, high = painted[45:76, 35:66].sum(), painted[45:76, 135:166].sum()
    assert 0 < low < high


def test_nothing_drawn_below_threshold_and_odd_inputs():
    frame = np.full((60, 80, 3), 50, np.uint8)
    kp = np.concatenate([np.random.default_rng(1).uniform(0, 60, (17, 2)), np.full((17, 1), 0.2)], axis=1)
    np.testing.assert_array_equal(draw_poses(frame, [(1, None, kp)], score_thr=0.3), frame)
    kp[:, :2] = np.nan
    kp[:, 2] = 1.0
    np.testing.assert_array_equal(draw_poses(frame, [(1, None, kp)]), frame)  # NaN joints are skipped
    kp[:, :2] = 1e12  # far outside the image: no crash, nothing visible
    draw_poses(frame, [(1, np.array([1e12, 0, 5, 5]), kp)])


def test_side_by_side_and_mark_frame():
    left = np.zeros((120, 160, 3), np.uint8)
    right = np.full((60, 40, 3), 255, np.uint8)
    both = side_by_side(left, right, titles=("ours", "baseline"))
    assert both.shape == (120, 240, 3)
    assert both[100, 200].tolist() == [255, 255, 255] and both[100, 100].tolist() == [0, 0, 0]
    with pytest.raises(ValueError, match="two strings"):
        side_by_side(left, right, titles=("only one",))
    marked = mark_frame(left, "occluded", colour=(255, 0, 0), thickness=4)
    assert marked.shape == left.shape and left.max() == 0
    assert marked[119, 80].tolist() == [255, 0, 0] and marked[60, 0].tolist() == [255, 0, 0]
    assert marked[60, 80].tolist() == [0, 0, 0]  # the inside is untouched
    assert (marked[4:40, 4:100] != 0).any()  # the tag


def test_upscale_frame_and_scale_poses_keep_points_on_their_pixels():
    frame = np.zeros((30, 40, 3), np.uint8)
    frame[10, 20] = 255
    big = upscale_frame(frame, 2.0)
    assert big.shape == (60, 80, 3) and frame.sum() == 3 * 255
    kp = np.zeros((17, 3))
    kp[:, :2] = [20.0, 10.0]
    kp[:, 2] = 0.7
    ((tid, box, moved),) = scale_poses([(3, np.array([20.0, 10.0, 5.0, 6.0]), kp)], 2.0)
    x, y = moved[0, :2]
    assert tid == 3 and moved[0, 2] == 0.7 and kp[0, 0] == 20.0  # scores kept, input untouched
    ys, xs = np.nonzero(big[..., 0] == big[..., 0].max())
    assert abs(xs.mean() - x) < 0.6 and abs(ys.mean() - y) < 0.6  # the bright pixel's centre
    np.testing.assert_allclose(box, [40.5, 20.5, 10.0, 12.0])
    assert scale_poses([(1, None, kp)], 2.0)[0][1] is None
    assert upscale_frame(big, 0.5).shape == frame.shape
    with pytest.raises(ValueError, match="positive"):
        upscale_frame(frame, 0)


def test_titled_panels_layout_titles_and_tag():
    a = np.zeros((160, 120, 3), np.uint8)
    b = np.full((160, 100, 3), 255, np.uint8)
    out = titled_panels([a, b], ["left", "right"], gap=4, bar_colour=(24, 24, 24))
    bar = out.shape[0] - 160
    assert out.shape == (160 + bar, 224, 3) and bar == 24
    assert (out[bar:, :120] == 0).all() and (out[bar:, 124:] == 255).all()  # panels in place
    assert (out[bar:, 120:124] == 24).all()  # the gap
    assert (out[:bar, :60] > 150).any() and (out[:bar, 124:184] > 150).any()  # white titles
    tagged = titled_panels([a, b], ["left", "right"], tag="occluded", tag_colour=(230, 40, 40), gap=4)
    red = np.all(tagged[:bar] == (230, 40, 40), axis=-1)
    assert red[:, 60:120].any() and red[:, 180:224].any() and not red[:, :10].any()  # right of each bar
    with pytest.raises(ValueError, match="one each"):
        titled_panels([a, b], ["only one"])
    with pytest.raises(ValueError, match="height"):
        titled_panels([a, b[:10]], ["a", "b"])
