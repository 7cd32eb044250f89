"""Heatmap codec: encode/decode round trips, batched decoding, the flip test, image coordinates."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from vidpose.codec import HeatmapCodec, flip_average, flip_back, flip_images, to_image_coords
from vidpose.config import CodecConfig
from vidpose.errors import ConfigError
from vidpose.skeleton import PT18

PERM = PT18.flip_permutation()


def _codec(decode: str = "shift", **kw) -> HeatmapCodec:
    return HeatmapCodec(dataclasses.replace(CodecConfig(), decode=decode, **kw))


def _random_keypoints(
    codec: HeatmapCodec, rng: np.random.Generator, n: int, margin_hm: float = 1.0
) -> np.ndarray:
    """[n, 2] input pixels whose heatmap position is at least ``margin_hm`` pixels inside the map."""
    hm_h, hm_w = codec.heatmap_size
    uv = rng.uniform([margin_hm, margin_hm], [hm_w - 1 - margin_hm, hm_h - 1 - margin_hm], size=(n, 2))
    return uv * codec.scale_xy


def _decode_error_hm(codec: HeatmapCodec, kp: np.ndarray) -> np.ndarray:
    """Per-joint round-trip error [K] in heatmap pixels (max over x and y)."""
    hm, w = codec.encode(kp, np.ones(len(kp)))
    assert (w == 1).all()
    xy, _ = codec.decode(torch.from_numpy(hm)[None])
    return (np.abs(xy[0].double().numpy() - kp) / codec.scale_xy).max(axis=1)


def test_encode_shapes_peak_and_weights():
    codec = _codec()
    kp = np.array([[96.0, 128.0], [10.0, 10.0], [-30.0, 50.0], [500.0, 10.0]])
    vis = np.array([1, 0, 1, 1])
    hm, w = codec.encode(kp, vis)
    assert hm.shape == (4, 64, 48) and hm.dtype == np.float32 and w.dtype == np.float32
    assert w.tolist() == [1.0, 0.0, 0.0, 0.0]  # invisible, left of the map, right of the map
    assert np.abs(hm[1:]).max() == 0.0
    # a keypoint on a heatmap pixel centre has its peak (1) exactly there
    u, v = kp[0] / codec.scale_xy
    kp_on_grid = np.array([[24.0, 32.0]]) * codec.scale_xy
    hm2, _ = codec.encode(kp_on_grid, np.ones(1))
    assert hm2[0, 32, 24] == pytest.approx(1.0)
    assert hm2[0].max() == pytest.approx(1.0)
    assert hm[0].argmax() == int(round(v)) * 48 + int(round(u))


@pytest.mark.parametrize("decode", ["shift", "dark"])
def test_round_trip_within_a_quarter_heatmap_pixel(decode):
    codec = _codec(decode)
    rng = np.random.default_rng(0)
    errs = np.concatenate([_decode_error_hm(codec, _random_keypoints(codec, rng, 17)) for _ in range(20)])
    assert errs.max() <= 0.25 + 1e-4
    # and the scores are the heatmap maxima (close to 1 for a clean Gaussian)
    hm, _ = codec.encode(_random_keypoints(codec, rng, 5), np.ones(5))
    _, scores = codec.decode(torch.from_numpy(hm)[None])
    assert torch.allclose(scores[0], torch.from_numpy(hm).flatten(1).max(1).values)


def test_dark_beats_shift_on_sub_pixel_targets():
    rng = np.random.default_rng(1)
    shift, dark = _codec("shift"), _codec("dark")
    kps = [_random_keypoints(shift, rng, 17) for _ in range(20)]
    e_shift = np.concatenate([_decode_error_hm(shift, kp) for kp in kps])
    e_dark = np.concatenate([_decode_error_hm(dark, kp) for kp in kps])
    assert e_dark.max() < 0.01  # DARK is near exact on a clean Gaussian
    assert e_dark.mean() < 0.2 * e_shift.mean()
    # also close to the map border, where the smoothing window would leave the map
    near = np.array([[24.3, 1.3], [1.7, 30.2], [46.1, 62.2]]) * shift.scale_xy
    assert _decode_error_hm(dark, near).max() < 0.01


def _reference_shift_decode(hm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Loop implementation of argmax + quarter-pixel shift, in heatmap pixels."""
    b, k, h, w = hm.shape
    uv = np.zeros((b, k, 2))
    scores = np.zeros((b, k))
    for i in range(b):
        for j in range(k):
            m = hm[i, j]
            v, u = np.unravel_index(np.argmax(m), m.shape)
            scores[i, j] = m[v, u]
            du = np.sign(m[v, u + 1] - m[v, u - 1]) * 0.25 if 0 < u < w - 1 else 0.0
            dv = np.sign(m[v + 1, u] - m[v - 1, u]) * 0.25 if 0 < v < h - 1 else 0.0
            uv[i, j] = (u + du, v + dv)
    return uv, scores


@pytest.mark.parametrize("shape", [(1, 1, 5, 4), (3, 17, 64, 48), (2, 5, 9, 13), (4, 2, 3, 2)])
def test_batched_decode_matches_a_loop(shape):
    g = torch.Generator().manual_seed(sum(shape))
    hm = torch.rand(shape, generator=g)
    b, k, h, w = shape
    cfg = CodecConfig(input_size=(4 * h, 4 * w), heatmap_size=(h, w), decode="shift", dark_kernel=3)
    codec = HeatmapCodec(cfg)
    coords, scores = codec.decode(hm)
    assert coords.shape == (b, k, 2) and scores.shape == (b, k) and coords.dtype == torch.float32
    uv, ref_scores = _reference_shift_decode(hm.numpy())
    np.testing.assert_allclose(coords.numpy(), uv * codec.scale_xy, rtol=0, atol=1e-4)
    np.testing.assert_allclose(scores.numpy(), ref_scores, rtol=0, atol=0)
    # DARK on random (noisy) maps stays finite and within a pixel of the argmax
    dark = HeatmapCodec(dataclasses.replace(cfg, decode="dark"))
    coords_d, scores_d = dark.decode(hm)
    assert torch.isfinite(coords_d).all()
    assert ((coords_d.numpy() / dark.scale_xy - np.round(uv)) ** 2).sum(-1).max() <= 2.0 + 1e-6
    assert torch.equal(scores_d, scores)


def test_decode_accepts_half_precision_and_zero_maps():
    codec = _codec("dark")
    hm = torch.zeros(2, 17, 64, 48, dtype=torch.bfloat16)
    coords, scores = codec.decode(hm)
    assert coords.dtype == torch.float32 and torch.isfinite(coords).all() and (scores == 0).all()


def _symmetric_pose(codec: HeatmapCodec) -> np.ndarray:
    """PT18 keypoints [17, 2] mirror-symmetric about the crop's vertical centre line x = (W - 1) / 2."""
    in_h, in_w = codec.input_size
    cx = (in_w - 1) / 2
    rng = np.random.default_rng(3)
    kp = np.zeros((17, 2))
    centre = [i for i in range(17) if all(i not in p for p in PT18.flip_pairs)]
    for i in centre:
        kp[i] = (cx, rng.uniform(10, in_h - 10))
    for a, b in PT18.flip_pairs:
        dx, y = rng.uniform(5, cx - 5), rng.uniform(10, in_h - 10)
        kp[a] = (cx + dx, y)
        kp[b] = (cx - dx, y)
    return kp


def test_flip_back_of_a_symmetric_set_is_symmetric():
    codec = _codec()
    hm, _ = codec.encode(_symmetric_pose(codec), np.ones(17))
    h = torch.from_numpy(hm)[None]
    torch.testing.assert_close(flip_back(h, PERM), h, atol=1e-6, rtol=0)
    # the skeleton's flip pairs work as well as the permutation
    torch.testing.assert_close(flip_back(h, PT18.flip_pairs), flip_back(h, PERM))
    # and the flip test of a symmetric input leaves it symmetric: the mirrored crop of a symmetric pose is the
    # same image, so the model's raw output on it is h again
    avg = flip_average(h, h, PERM)
    torch.testing.assert_close(flip_back(avg, PERM), avg, atol=1e-6, rtol=0)
    torch.testing.assert_close(avg, h, atol=1e-6, rtol=0)


def test_flip_back_is_exact_without_shift():
    """The model's heatmaps of the mirrored crop, flipped back, decode to the unmirrored keypoints."""
    codec = _codec("dark")
    in_w = codec.input_size[1]
    kp = _random_keypoints(codec, np.random.default_rng(4), 17, margin_hm=2.0)
    mirrored = np.stack([in_w - 1 - kp[:, 0], kp[:, 1]], axis=1)[PERM]  # what a flipped crop shows
    hm, _ = codec.encode(kp, np.ones(17))
    hm_flip, _ = codec.encode(mirrored, np.ones(17))
    back = flip_back(torch.from_numpy(hm_flip)[None], PERM)
    torch.testing.assert_close(back, torch.from_numpy(hm)[None], atol=1e-6, rtol=0)
    xy, _ = codec.decode(flip_average(torch.from_numpy(hm)[None], torch.from_numpy(hm_flip)[None], PERM))
    assert np.abs(xy[0].numpy() - kp).max() < 0.05
    # the MSRA one-pixel shift would move x by one heatmap pixel under this convention
    xy_shift, _ = codec.decode(flip_back(torch.from_numpy(hm_flip)[None], PERM, shift=True))
    assert np.abs((xy_shift[0, :, 0].numpy() - kp[:, 0]) / codec.scale_xy[0] - 1.0).max() < 0.05


def test_flip_images_and_bad_permutation():
    clip = torch.arange(2 * 5 * 3 * 4 * 6, dtype=torch.float32).view(2, 5, 3, 4, 6)
    flipped = flip_images(clip)
    assert torch.equal(flipped[..., 0], clip[..., -1]) and torch.equal(flip_images(flipped), clip)
    with pytest.raises(ValueError, match="permutation"):
        flip_back(torch.zeros(1, 17, 4, 4), [0, 0] + list(range(2, 17)))


def test_to_image_coords_applies_the_inverse_affine():
    coords = torch.tensor([[[0.0, 0.0], [10.0, 20.0]]]).repeat(2, 1, 1)
    inv = torch.tensor([[[2.0, 0.0, 5.0], [0.0, 3.0, -1.0]], [[0.0, -1.0, 100.0], [1.0, 0.0, 0.0]]])
    out = to_image_coords(coords, inv)
    expected = torch.tensor([[[5.0, -1.0], [25.0, 59.0]], [[100.0, 0.0], [80.0, 10.0]]])
    torch.testing.assert_close(out, expected)


@pytest.mark.parametrize(
    "kw", [dict(sigma=0.0), dict(decode="argmax"), dict(dark_kernel=4), dict(heatmap_size=(1, 48))]
)
def test_bad_codec_config_is_a_config_error(kw):
    with pytest.raises(ConfigError):
        HeatmapCodec(dataclasses.replace(CodecConfig(), **kw))
