"""Crop transforms: one affine, keypoints follow the pixels, flips swap left and right, seeded randomness."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from vidpose.config import AugmentConfig, DataConfig
from vidpose.data.transforms import (
    LOWER_BODY,
    UPPER_BODY,
    ColorJitter,
    RandomFlip,
    RandomHalfBody,
    RandomScaleRotate,
    Sample,
    TopdownAffine,
    apply_affine,
    box_to_center_scale,
    build_pipeline,
    get_affine,
    sample_from_box,
    to_tensor_normalized,
)
from vidpose.skeleton import PT18

INPUT = (256, 192)  # (H, W)
L_WRIST, R_WRIST = PT18.index("left_wrist"), PT18.index("right_wrist")
PERM = PT18.flip_permutation()


def _dot_frame(xy: np.ndarray, size: tuple[int, int] = (360, 480)) -> np.ndarray:
    """A black RGB frame [h, w, 3] with a small bright Gaussian blob centred (sub-pixel) at ``xy``."""
    ys, xs = np.mgrid[: size[0], : size[1]]
    blob = np.exp(-((xs - xy[0]) ** 2 + (ys - xy[1]) ** 2) / (2 * 1.5**2))
    return np.repeat((255 * blob)[..., None], 3, axis=2).round().astype(np.uint8)


def _brightest(image: np.ndarray) -> np.ndarray:
    """(x, y) of the brightest pixel of [H, W, 3], refined by the centroid of its 5x5 neighbourhood."""
    g = image[..., 0].astype(np.float64)
    v, u = np.unravel_index(np.argmax(g), g.shape)
    v0, v1, u0, u1 = max(v - 2, 0), min(v + 3, g.shape[0]), max(u - 2, 0), min(u + 3, g.shape[1])
    patch = g[v0:v1, u0:u1]
    ys, xs = np.mgrid[v0:v1, u0:u1]
    return np.array([(xs * patch).sum(), (ys * patch).sum()]) / patch.sum()


def _keypoints() -> np.ndarray:
    """PT18 [17, 3]: a person facing the camera (their left on the image's right); ears unlabelled."""
    kp = np.zeros((17, 3))
    for i, name in enumerate(PT18.names):
        if "ear" in name:
            continue
        side = 1.0 if name.startswith("left") else -1.0 if name.startswith("right") else 0.0
        kp[i] = (240 + side * (20 + 3 * i), 80 + 11 * i, 1)
    kp[L_WRIST, :2] = (283.3, 171.6)
    kp[R_WRIST, :2] = (196.8, 177.2)
    return kp


def test_box_to_center_scale_fits_the_aspect_and_enlarges():
    center, scale = box_to_center_scale([10, 20, 30, 80], INPUT, 1.25)
    np.testing.assert_allclose(center, [25, 60])
    np.testing.assert_allclose(scale, [60 * 1.25, 80 * 1.25])  # w grown to 3:4
    _, scale = box_to_center_scale([0, 0, 120, 40], INPUT, 1.0)
    np.testing.assert_allclose(scale, [120, 160])  # h grown to 3:4


@pytest.mark.parametrize("flip", [False, True])
def test_get_affine_maps_the_box_onto_the_input(flip):
    center, scale = np.array([300.0, 200.0]), np.array([120.0, 160.0])
    a = get_affine(center, scale, 0.0, INPUT, flip=flip)
    corners = apply_affine(np.array([[240.0, 120.0], [360.0, 280.0], [300.0, 200.0]]), a)
    left, right = (191.0, 0.0) if flip else (0.0, 191.0)
    np.testing.assert_allclose(corners, [[left, 0.0], [right, 255.0], [95.5, 127.5]], atol=1e-9)
    for rot in (0.0, 37.0, -90.0):
        fwd = get_affine(center, scale, rot, INPUT, flip=flip)
        inv = get_affine(center, scale, rot, INPUT, flip=flip, inverse=True)
        pts = np.random.default_rng(0).uniform(0, 400, size=(10, 2))
        np.testing.assert_allclose(apply_affine(apply_affine(pts, fwd), inv), pts, atol=1e-9)


def test_rotation_turns_content_clockwise_on_screen():
    center, scale = np.array([100.0, 100.0]), np.array([96.0, 128.0])
    a = get_affine(center, scale, 90.0, INPUT)
    right_of_centre = apply_affine(np.array([110.0, 100.0]), a)
    assert right_of_centre[1] > 127.5 + 5 and abs(right_of_centre[0] - 95.5) < 1e-6  # moved below the centre


@pytest.mark.parametrize("flipped,rotation,zoom", [(False, 0.0, 1.0), (False, 30.0, 0.7), (True, -50.0, 1.3)])
def test_dots_land_on_the_transformed_keypoints(flipped, rotation, zoom):
    kp = _keypoints()
    # frame t has a dot at joint t (left wrist, right wrist, nose): ONE affine must fit all of them
    joints = [L_WRIST, R_WRIST, PT18.index("nose")]
    frames = [_dot_frame(kp[j, :2]) for j in joints]
    center, scale = box_to_center_scale([180, 60, 130, 220], INPUT, 1.25)
    sample = Sample(frames, kp, center, scale * zoom, rotation=rotation, flipped=flipped)
    out = TopdownAffine(INPUT)(sample)
    assert out.images.shape == (3, 256, 192, 3) and out.images.dtype == np.uint8
    for t, j in enumerate(joints):
        found = _brightest(out.images[t])
        channel = (
            PERM[j] if flipped else j
        )  # after a flip, joint j's point is the channel of its mirror joint
        np.testing.assert_allclose(found, out.input_keypoints[channel, :2], atol=1.0)
        np.testing.assert_allclose(found, apply_affine(kp[j, :2], out.affine), atol=1.0)
    # the inverse affine brings the found dots back to the image
    back = apply_affine(_brightest(out.images[0]), out.inv_affine)
    np.testing.assert_allclose(back, kp[L_WRIST, :2], atol=1.5 / zoom)


def test_flip_swaps_left_and_right():
    kp = _keypoints()
    center, scale = box_to_center_scale([180, 60, 130, 220], INPUT, 1.25)
    plain = TopdownAffine(INPUT)(Sample([_dot_frame(kp[0, :2])], kp, center, scale))
    flipped = TopdownAffine(INPUT)(Sample([_dot_frame(kp[0, :2])], kp, center, scale, flipped=True))
    w = INPUT[1] - 1
    # mirrored coordinates, with the left and right channels exchanged
    np.testing.assert_allclose(flipped.input_keypoints[L_WRIST, 0], w - plain.input_keypoints[R_WRIST, 0])
    np.testing.assert_allclose(flipped.input_keypoints[L_WRIST, 1], plain.input_keypoints[R_WRIST, 1])
    np.testing.assert_allclose(flipped.input_keypoints[R_WRIST, 0], w - plain.input_keypoints[L_WRIST, 0])
    # a mirrored person facing the camera still has its left wrist on the image's right
    assert flipped.input_keypoints[L_WRIST, 0] > flipped.input_keypoints[R_WRIST, 0]
    # unlabelled ears stay unlabelled after the swap
    assert flipped.input_keypoints[PT18.index("left_ear"), 2] == 0
    np.testing.assert_array_equal(flipped.images[0], plain.images[0][:, ::-1])


def test_keypoints_leaving_the_crop_become_invisible():
    kp = _keypoints()
    center, scale = box_to_center_scale([200, 60, 60, 80], INPUT, 1.0)  # a tight crop on the upper body
    out = TopdownAffine(INPUT)(Sample([_dot_frame(kp[0, :2])], kp, center, scale))
    xy = out.input_keypoints[:, :2]
    inside = (xy[:, 0] >= -0.5) & (xy[:, 0] <= 191.5) & (xy[:, 1] >= -0.5) & (xy[:, 1] <= 255.5)
    assert 0 < inside.sum() < 15
    np.testing.assert_array_equal(out.input_keypoints[:, 2], np.where(inside, kp[:, 2], 0))


def test_same_affine_for_every_frame_and_shared_frames_warped_once():
    rng = np.random.default_rng(5)
    frame = rng.integers(0, 256, size=(120, 160, 3), dtype=np.uint8)
    other = rng.integers(0, 256, size=(120, 160, 3), dtype=np.uint8)
    s = sample_from_box([frame, frame, other, frame, frame], [30, 20, 60, 70], INPUT, 1.25, rng=rng)
    s = RandomScaleRotate(0.3, 40.0, 1.0, 80.0)(RandomFlip(1.0)(s))
    out = TopdownAffine(INPUT)(s)
    assert out.images.shape == (5, 256, 192, 3)
    for t in (1, 3, 4):
        np.testing.assert_array_equal(out.images[t], out.images[0])
    # the warp equals cv2's for that one matrix
    import cv2

    ref = cv2.warpAffine(other, out.affine, (192, 256), flags=cv2.INTER_LINEAR, borderValue=(0, 0, 0))
    np.testing.assert_array_equal(out.images[2], ref)


def test_random_transforms_only_change_crop_parameters_and_are_seeded():
    kp = _keypoints()
    frames = [_dot_frame(kp[0, :2])]
    aug = AugmentConfig(half_body_prob=0.0)
    steps = [
        RandomFlip(0.5),
        RandomHalfBody(aug.half_body_prob, aug.half_body_min_joints, aug.half_body_padding, INPUT),
        RandomScaleRotate(aug.scale_sigma, aug.rot_sigma, aug.rot_prob, aug.rot_clip),
    ]

    def run(seed: int) -> Sample:
        s = sample_from_box(frames, [180, 60, 130, 220], INPUT, 1.25, kp, np.random.default_rng(seed))
        for t in steps:
            s = t(s)
        return s

    a, b = run(7), run(7)
    assert a.frames[0] is frames[0] and a.images is None and a.affine is None
    np.testing.assert_array_equal(a.keypoints, kp)
    assert (a.flipped, a.rotation) == (b.flipped, b.rotation)
    np.testing.assert_array_equal(a.size_wh, b.size_wh)
    params = {
        (run(s).flipped, round(run(s).rotation, 6), round(float(run(s).size_wh[0]), 6)) for s in range(40)
    }
    assert len(params) > 20
    rotations = np.array([run(s).rotation for s in range(200)])
    assert np.abs(rotations).max() <= aug.rot_clip
    assert 0.25 < (rotations == 0).mean() < 0.55  # rot_prob 0.6
    _, base = box_to_center_scale([180, 60, 130, 220], INPUT, 1.25)
    factors = np.array([run(s).size_wh[0] for s in range(200)]) / base[0]
    assert factors.min() >= 1 - aug.scale_sigma - 1e-9 and factors.max() <= 1 + aug.scale_sigma + 1e-9
    assert 0.15 < factors.std() < 0.35


def test_half_body_recentres_on_one_half():
    kp = _keypoints()
    s = sample_from_box(
        [_dot_frame(kp[0, :2])], [180, 60, 130, 220], INPUT, 1.25, kp, np.random.default_rng(0)
    )
    seen = set()
    for seed in range(20):
        s.rng = np.random.default_rng(seed)
        s2 = RandomHalfBody(1.0, 8, 1.5, INPUT)(dataclasses.replace(s))
        vis = kp[:, 2] > 0
        for half in (UPPER_BODY, LOWER_BODY):
            idx = [i for i in half if vis[i]]
            if np.allclose(s2.center, kp[idx, :2].mean(axis=0)):
                seen.add(half)
                ext = kp[idx, :2].max(0) - kp[idx, :2].min(0)
                assert s2.size_wh[0] / s2.size_wh[1] == pytest.approx(192 / 256)
                assert s2.size_wh[0] >= 1.5 * ext[0] - 1e-9 and s2.size_wh[1] >= 1.5 * ext[1] - 1e-9
    assert seen == {UPPER_BODY, LOWER_BODY}
    # too few visible joints: unchanged
    few = kp.copy()
    few[5:, 2] = 0
    s3 = RandomHalfBody(1.0, 8, 1.5, INPUT)(dataclasses.replace(s, keypoints=few))
    np.testing.assert_array_equal(s3.center, s.center)


def test_color_jitter_is_the_same_for_every_frame():
    rng = np.random.default_rng(2)
    img = rng.integers(0, 256, size=(32, 24, 3), dtype=np.uint8)
    s = Sample([img], None, np.zeros(2), np.ones(2), images=np.stack([img, img, img]), rng=rng)
    out = ColorJitter(0.4)(s)
    assert not np.array_equal(out.images[0], img)
    np.testing.assert_array_equal(out.images[1], out.images[0])
    np.testing.assert_array_equal(out.images[2], out.images[0])
    s0 = Sample([img], None, np.zeros(2), np.ones(2), images=np.stack([img]))
    assert ColorJitter(0.0)(s0).images is s0.images


def test_pipelines_and_normalisation():
    kp = _keypoints()
    frames = [_dot_frame(kp[0, :2])] * 3
    cfg = DataConfig()
    eval_pipe, train_pipe = build_pipeline(cfg, INPUT, False), build_pipeline(cfg, INPUT, True)
    assert len(eval_pipe.transforms) == 1 and isinstance(eval_pipe.transforms[0], TopdownAffine)
    s = eval_pipe(sample_from_box(frames, [180, 60, 130, 220], INPUT, 1.25, kp))
    assert (s.rotation, s.flipped) == (0.0, False)
    outs = [
        train_pipe(sample_from_box(frames, [180, 60, 130, 220], INPUT, 1.25, kp, np.random.default_rng(3)))
        for _ in range(2)
    ]
    np.testing.assert_array_equal(outs[0].images, outs[1].images)
    clip = to_tensor_normalized(s.images, cfg.mean, cfg.std)
    assert clip.shape == (3, 3, 256, 192) and clip.dtype == torch.float32
    expected = (s.images[1, 10, 20, 2] / 255.0 - cfg.mean[2]) / cfg.std[2]
    assert clip[1, 2, 10, 20].item() == pytest.approx(expected, abs=1e-6)
