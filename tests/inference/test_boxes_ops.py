"""Box conversions, IoU (numpy and torch), NMS, clipping, keypoint boxes and OKS."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vidpose.inference.boxes_ops import (
    PT18_SIGMAS,
    clip_boxes,
    iou_matrix,
    iou_matrix_torch,
    keypoint_box,
    nms_torch,
    oks_matrix,
    xywh_to_xyxy,
    xyxy_to_xywh,
)
from vidpose.skeleton import PT18


def _random_boxes(rng: np.random.Generator, n: int) -> np.ndarray:
    xy = rng.uniform(0, 100, size=(n, 2))
    return np.concatenate([xy, xy + rng.uniform(1, 60, size=(n, 2))], axis=1)  # xyxy


def test_conversions_round_trip_numpy_and_torch():
    xywh = np.array([[10.0, 20.0, 30.0, 40.0], [0.0, 0.0, 1.0, 2.0]])
    xyxy = xywh_to_xyxy(xywh)
    np.testing.assert_allclose(xyxy, [[10, 20, 40, 60], [0, 0, 1, 2]])
    np.testing.assert_allclose(xyxy_to_xywh(xyxy), xywh)
    t = torch.tensor(xywh, dtype=torch.float32)
    assert torch.equal(xyxy_to_xywh(xywh_to_xyxy(t)), t)
    assert xywh_to_xyxy(t[0]).shape == (4,)  # a single box works too


def test_iou_known_values_and_torch_agrees():
    a = np.array([[0.0, 0.0, 10.0, 10.0]])
    b = np.array(
        [[0.0, 0.0, 10.0, 10.0], [5.0, 0.0, 15.0, 10.0], [20.0, 20.0, 30.0, 30.0], [3.0, 3.0, 3.0, 9.0]]
    )
    np.testing.assert_allclose(iou_matrix(a, b), [[1.0, 50 / 150, 0.0, 0.0]])
    rng = np.random.default_rng(0)
    x, y = _random_boxes(rng, 30), _random_boxes(rng, 20)
    iou_np = iou_matrix(x, y)
    iou_t = iou_matrix_torch(torch.tensor(x), torch.tensor(y)).numpy()
    np.testing.assert_allclose(iou_np, iou_t, atol=1e-12)
    np.testing.assert_allclose(iou_matrix(y, x), iou_np.T)
    assert iou_matrix(np.zeros((0, 4)), y).shape == (0, 20)


def test_nms_keeps_the_best_of_each_cluster():
    boxes = torch.tensor(
        [[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60], [0, 0, 10, 9.5]], dtype=torch.float32
    )
    scores = torch.tensor([0.8, 0.9, 0.7, 0.95])
    keep = nms_torch(boxes, scores, iou_thr=0.5)
    assert keep.tolist() == [3, 2]  # 3 beats 0 and 1 (IoU 0.95 and 0.64), 2 is alone
    assert nms_torch(boxes, scores, iou_thr=0.99).tolist() == [3, 1, 0, 2]
    assert nms_torch(torch.zeros(0, 4), torch.zeros(0), 0.5).numel() == 0


def test_nms_properties_on_random_boxes():
    rng = np.random.default_rng(1)
    boxes = torch.tensor(_random_boxes(rng, 200))
    scores = torch.tensor(rng.uniform(size=200))
    keep = nms_torch(boxes, scores, iou_thr=0.4)
    iou = iou_matrix_torch(boxes, boxes)
    kept_iou = iou[keep][:, keep] - torch.eye(len(keep), dtype=iou.dtype)
    assert kept_iou.max() <= 0.4  # no two kept boxes overlap more than the threshold
    assert torch.all(scores[keep][:-1] >= scores[keep][1:])  # by decreasing score
    dropped = torch.tensor(sorted(set(range(200)) - set(keep.tolist())))
    for d in dropped:  # every dropped box is covered by a better kept box
        better = keep[scores[keep] >= scores[d]]
        assert iou[d, better].max() > 0.4


def test_clip_boxes_both_formats():
    xyxy = np.array([[-5.0, 10.0, 50.0, 200.0], [120.0, 5.0, 130.0, 6.0]])
    np.testing.assert_allclose(clip_boxes(xyxy, (100, 64)), [[0, 10, 50, 100], [64, 5, 64, 6]])
    xywh = torch.tensor([[-5.0, -5.0, 20.0, 20.0]])
    assert clip_boxes(xywh, (10, 10), fmt="xywh").tolist() == [[0.0, 0.0, 10.0, 10.0]]
    with pytest.raises(ValueError, match="fmt"):
        clip_boxes(xyxy, (10, 10), fmt="cxcywh")


def test_pt18_sigmas():
    # COCO's published sigmas for the shared joints (nose .026, ears .035, shoulders .079, elbows .072,
    # wrists .062, hips .107, knees .087, ankles .089); 0.079 for PoseTrack's head_bottom and head_top.
    expected = [0.026, 0.079, 0.079, 0.035, 0.035, 0.079, 0.079, 0.072, 0.072, 0.062, 0.062,
                0.107, 0.107, 0.087, 0.087, 0.089, 0.089]  # fmt: skip
    np.testing.assert_allclose(PT18_SIGMAS, expected)
    assert PT18_SIGMAS[PT18.index("head_top")] == PT18_SIGMAS[PT18.index("head_bottom")] == 0.079


def test_keypoint_box():
    kp = np.array([[10.0, 20.0, 0.9], [30.0, 60.0, 0.8], [500.0, 500.0, 0.1]] + [[0.0, 0.0, 0.0]] * 14)
    np.testing.assert_allclose(keypoint_box(kp, score_thr=0.3), [10, 20, 20, 40])
    np.testing.assert_allclose(keypoint_box(kp, score_thr=0.3, scale=1.5), [5, 10, 30, 60])
    assert keypoint_box(kp, score_thr=0.85) is None  # one joint cannot make a box


def test_oks_values():
    rng = np.random.default_rng(2)
    a = np.concatenate([rng.uniform(0, 100, (2, 17, 2)), np.ones((2, 17, 1))], axis=2)
    area = np.array([100.0 * 100.0, 100.0 * 100.0])
    same = oks_matrix(a, a, area)
    np.testing.assert_allclose(np.diag(same), 1.0)
    shifted = a.copy()
    shifted[..., :2] += 5.0  # every joint 5*sqrt(2) px away
    d2 = 50.0
    expected = np.mean(np.exp(-d2 / (2 * 1e4 * (2 * PT18_SIGMAS) ** 2)))
    np.testing.assert_allclose(oks_matrix(a[:1], shifted[:1], area[:1]), [[expected]])
    far = a.copy()
    far[..., :2] += 1000.0
    assert oks_matrix(a, far, area).max() < 1e-6
    hidden = a.copy()
    hidden[0, :, 2] = 0.0  # no confident joint in common -> 0
    assert oks_matrix(hidden[:1], a[:1], area[:1], score_thr=0.5)[0, 0] == 0.0
    assert oks_matrix(a[:0], a, area[:0]).shape == (0, 2)
