"""The windows Dataset: item shapes, reproducible randomness, targets that decode back to the annotations."""

from __future__ import annotations

import dataclasses
import json

import cv2
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from vidpose.codec import HeatmapCodec, to_image_coords
from vidpose.config import CodecConfig, Config, DataConfig, ModelConfig, TrainConfig
from vidpose.data.clips import build_windows
from vidpose.data.dataset import PoseTrackWindows, build_dataset
from vidpose.data.posetrack import read_sequence
from vidpose.data.records import Frame, Person, Sequence
from vidpose.data.video_io import read_image
from vidpose.engine.sampler import EpochLoader
from vidpose.errors import DataFormatError
from vidpose.skeleton import PT18

SMALL = CodecConfig(input_size=(64, 48), heatmap_size=(16, 12), decode="dark")
PERM = PT18.flip_permutation()


def _make_sequence(root, name="seq", n=5, size=(90, 120)) -> Sequence:
    """n frames of random noise written as PNG under ``root``, two persons per frame (one with 2 joints)."""
    rng = np.random.default_rng(0)
    (root / "images" / name).mkdir(parents=True)
    frames = []
    for i in range(n):
        file_name = f"images/{name}/{i:05d}.png"
        cv2.imwrite(str(root / file_name), rng.integers(0, 256, size=(*size, 3), dtype=np.uint8))
        persons = []
        for track in range(2):
            kp = np.zeros((17, 3))
            num = 12 if track == 0 else 2
            for j in range(num):
                kp[j] = (30 + 40 * track + 2.3 * j + i, 20 + 4.1 * j, 1)
            persons.append(Person(kp, box=np.array([25.0 + 40 * track, 15.0, 30.0, 60.0]), track_id=track))
        frames.append(Frame(500 + i, i, file_name, True, persons=persons, width=size[1], height=size[0]))
    return Sequence(name, frames)


def _data_cfg(**kw) -> DataConfig:
    return dataclasses.replace(DataConfig(), frame_offsets=(-2, -1, 0, 1, 2), **kw)


def _dataset(tmp_path, train, seed=0, **kw):
    seq = _make_sequence(tmp_path)
    windows = build_windows([seq], (-2, -1, 0, 1, 2), "gt", min_joints=3)
    return PoseTrackWindows([seq], tmp_path, windows, _data_cfg(**kw), HeatmapCodec(SMALL), train, seed)


def _equal(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def _check_targets(codec: HeatmapCodec, item: dict, gt_keypoints: np.ndarray) -> int:
    """The item's keypoints map back onto the (flip-swapped) annotations, and its targets decode onto its
    keypoints (near exactly; within half a heatmap pixel on the map's border, where no refinement is
    possible). Returns the number of weighted joints."""
    gt = gt_keypoints[PERM] if item["flipped"] else gt_keypoints
    m = item["target_weight"].numpy() > 0
    kp = item["keypoints"][None, :, :2]
    np.testing.assert_allclose(to_image_coords(kp, item["inv_affine"][None])[0][m], gt[m, :2], atol=1e-3)
    coords, _ = codec.decode(item["target"][None])
    err_hm = (coords[0] - kp[0]).abs().numpy() / codec.scale_xy
    uv = kp[0].numpy() / codec.scale_xy
    hm_h, hm_w = codec.heatmap_size
    interior = (uv[:, 0] > 0.5) & (uv[:, 0] < hm_w - 1.5) & (uv[:, 1] > 0.5) & (uv[:, 1] < hm_h - 1.5)
    assert err_hm[m & interior].max(initial=0) < 0.01
    assert err_hm[m].max(initial=0) <= 0.5 + 1e-4
    return int(m.sum())


def test_read_image_is_rgb_and_names_bad_paths(tmp_path):
    bgr = np.zeros((4, 5, 3), dtype=np.uint8)
    bgr[..., 2] = 255  # red in OpenCV's BGR order
    cv2.imwrite(str(tmp_path / "red.png"), bgr)
    assert read_image(tmp_path / "red.png")[0, 0].tolist() == [255, 0, 0]
    with pytest.raises(DataFormatError, match="missing.png: image not found"):
        read_image(tmp_path / "missing.png")
    (tmp_path / "broken.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(DataFormatError, match="broken.jpg: image unreadable"):
        read_image(tmp_path / "broken.jpg")


@pytest.mark.parametrize("train", [False, True])
def test_item_shapes_and_types(tmp_path, train):
    ds = _dataset(tmp_path, train)
    assert len(ds) == 5  # one labelled person with >= 3 joints per frame
    item = ds[0]
    shapes = {k: (tuple(v.shape), v.dtype) for k, v in item.items()}
    f32, i64 = torch.float32, torch.int64
    assert shapes == {
        "clip": ((5, 3, 64, 48), f32),
        "target": ((17, 16, 12), f32),
        "target_weight": ((17,), f32),
        "keypoints": ((17, 3), f32),
        "center": ((2,), f32),
        "size_wh": ((2,), f32),
        "rotation": ((), f32),
        "flipped": ((), torch.bool),
        "inv_affine": ((2, 3), torch.float64),
        "box": ((4,), f32),
        "box_score": ((), f32),
        "sequence_index": ((), i64),
        "frame_index": ((), i64),
        "frame_indices": ((5,), i64),
        "track_id": ((), i64),
        "image_id": ((), i64),
        "window_index": ((), i64),
    }
    assert item["frame_indices"].tolist() == [0, 0, 0, 1, 2] and item["image_id"].item() == 500
    assert item["target_weight"].sum() >= 1 and item["target"].max() > 0.5
    batch = next(iter(DataLoader(ds, batch_size=3)))
    assert batch["clip"].shape == (3, 5, 3, 64, 48) and batch["inv_affine"].shape == (3, 2, 3)


def test_eval_targets_decode_back_to_the_annotations(tmp_path):
    ds = _dataset(tmp_path, train=False)
    for i in range(len(ds)):
        item = ds[i]
        assert item["rotation"] == 0 and not item["flipped"]
        coords, _ = ds.codec.decode(item["target"][None])
        image_xy = to_image_coords(coords, item["inv_affine"][None])[0].numpy()
        m = item["target_weight"].numpy() > 0
        gt = ds.windows[i].keypoints
        assert m.sum() >= 8
        np.testing.assert_allclose(image_xy[m], gt[m, :2], atol=0.05)


def test_train_items_are_reproducible_and_vary(tmp_path):
    a = _dataset(tmp_path / "a", train=True, seed=3, resample_offsets=True)
    b = _dataset(tmp_path / "b", train=True, seed=3, resample_offsets=True)
    assert _equal(a[2], b[2])
    a.set_epoch(1)
    assert not _equal(a[2], b[2])
    b.set_epoch(1)
    assert _equal(a[2], b[2])
    # augmentation and offset resampling change from item to item and epoch to epoch
    params, offsets = set(), set()
    for epoch in range(8):
        a.set_epoch(epoch)
        for i in range(len(a)):
            item = a[i]
            params.add(
                (
                    bool(item["flipped"]),
                    round(float(item["rotation"]), 4),
                    round(float(item["size_wh"][0]), 4),
                )
            )
            offsets.add(tuple((item["frame_indices"] - item["frame_index"]).tolist()))
            _check_targets(a.codec, item, a.windows[i].keypoints)
    assert len(params) > 30 and any(f for f, _, _ in params)
    assert len(offsets) >= 4  # resampled and clamped offsets differ between items


def _crops_by_index(loader, epoch):
    return {
        int(i): clip
        for batch in loader(epoch)
        for i, clip in zip(batch["window_index"], batch["clip"], strict=True)
    }


def test_the_training_loader_changes_augmentation_every_epoch_and_rank(tmp_path):
    # The loader, not the caller, selects the dataset's stream: the same index gets a different crop in
    # epochs 0 and 1, the same one when epoch 1 is asked again, and another one on another rank.
    ds = _dataset(tmp_path, train=True, seed=4)
    loader = EpochLoader(ds, batch_size=2, seed=4, rank=0, world_size=1)
    e0, e1, e1_again = _crops_by_index(loader, 0), _crops_by_index(loader, 1), _crops_by_index(loader, 1)
    common = set(e0) & set(e1)  # drop_last leaves out a different item each epoch
    assert len(common) >= 3 and set(e1) == set(e1_again)
    assert all(torch.equal(e1[i], e1_again[i]) for i in e1)
    assert not any(torch.equal(e0[i], e1[i]) for i in common)
    ds.set_epoch(1, rank=1)
    assert not any(torch.equal(ds[i]["clip"], e1[i]) for i in e1)


def test_same_items_with_workers(tmp_path):
    ds = _dataset(tmp_path, train=True, seed=1)
    ds.set_epoch(2)
    direct = [ds[i] for i in range(4)]
    loaded = list(DataLoader(ds, batch_size=1, num_workers=2, shuffle=False))[:4]
    for d, batch in zip(direct, loaded, strict=True):
        assert all(torch.equal(d[k], batch[k][0]) for k in d)


def test_eval_ignores_resampling_and_keeps_the_cache_small(tmp_path):
    ds = _dataset(tmp_path, train=False, resample_offsets=True, frame_cache=2)
    assert [ds[i]["frame_indices"].tolist() for i in (0, 4)] == [[0, 0, 0, 1, 2], [2, 3, 4, 4, 4]]
    assert len(ds._cache) <= 2
    nocache = _dataset(tmp_path / "n", train=False, frame_cache=0)
    assert _equal(nocache[3], ds[3])  # same frames (another folder), cached or not
    assert len(nocache._cache) == 0


def test_missing_frame_names_the_path(tmp_path):
    ds = _dataset(tmp_path, train=False)
    (tmp_path / "images/seq/00003.png").unlink()
    ds._cache.clear()
    with pytest.raises(DataFormatError, match=r"images/seq/00003\.png: image not found"):
        ds[1]  # key frame 1 uses frames 0, 0, 1, 2, 3


def test_detection_windows_have_empty_targets(tmp_path):
    seq = _make_sequence(tmp_path)
    dets = {("seq", 2): [(np.array([20.0, 10.0, 40.0, 70.0]), 0.8)]}
    windows = build_windows([seq], (-1, 0, 1), dets)
    cfg = _data_cfg()
    ds = PoseTrackWindows([seq], tmp_path, windows, dataclasses.replace(cfg, frame_offsets=(-1, 0, 1)),
                          HeatmapCodec(SMALL), False)  # fmt: skip
    item = ds[0]
    assert item["clip"].shape == (3, 3, 64, 48) and item["target"].shape == (17, 16, 12)
    assert item["target"].abs().max() == 0 and item["target_weight"].sum() == 0
    assert item["box_score"].item() == pytest.approx(0.8) and item["track_id"].item() == -1


def test_build_dataset_from_a_config(tmp_path):
    seq = _make_sequence(tmp_path)
    det_file = tmp_path / "dets.json"
    dets = [
        {"image_id": 501, "bbox": [20, 10, 40, 70], "score": 0.9, "category_id": 1},
        {"image_id": 502, "bbox": [20, 10, 40, 70], "score": 0.1, "category_id": 1},
    ]
    det_file.write_text(json.dumps(dets))
    cfg = Config(
        model=ModelConfig(image_size=(64, 48), num_frames=3),
        codec=SMALL,
        data=dataclasses.replace(
            DataConfig(), root=str(tmp_path), frame_offsets=(-1, 0, 1), val_boxes="dets.json"
        ),
        train=TrainConfig(seed=5),
    )
    train = build_dataset(cfg, [seq], train=True)
    assert len(train) == 5 and train.seed == 5 and train.train
    val = build_dataset(cfg, [seq], train=False)
    assert len(val) == 1 and val[0]["frame_index"].item() == 1
    gt_val = build_dataset(
        dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, val_boxes="gt")), [seq], False
    )
    assert len(gt_val) == 10  # every labelled person, also the one with 2 joints


def test_real_bonn_windows(shared_data):
    root = shared_data / "bonn_multiperson_posetrack"
    seq = read_sequence(root / "posetrack18/test/060470979_bonn_test.json")
    windows = build_windows([seq], (-2, -1, 0, 1, 2), "gt", min_joints=3)
    codec = HeatmapCodec(dataclasses.replace(CodecConfig(), decode="dark"))
    for train in (False, True):
        ds = PoseTrackWindows([seq], root, windows, Config(), codec, train, seed=0)
        for i in (0, 83, 163):
            item = ds[i]
            assert item["clip"].shape == (5, 3, 256, 192) and item["target"].shape == (17, 64, 48)
            assert _check_targets(codec, item, windows[i].keypoints) >= 5


def test_key_frame_probe_blacks_out_or_replaces_only_the_key_frame(tmp_path):
    clean = _dataset(tmp_path / "a", train=False)
    black = _dataset(tmp_path / "b", train=False, key_frame="black")
    neighbour = _dataset(tmp_path / "c", train=False, key_frame="neighbour")
    for i in range(len(clean)):
        c, b, n = clean[i], black[i], neighbour[i]
        key, frame = 2, int(c["frame_index"])
        assert torch.equal(c["target"], b["target"]) and torch.equal(c["target"], n["target"])
        others = [t for t in range(5) if t != key]
        assert torch.equal(c["clip"][others], b["clip"][others])
        assert torch.equal(c["clip"][others], n["clip"][others])
        mean = torch.tensor(DataConfig().mean).view(3, 1, 1)
        std = torch.tensor(DataConfig().std).view(3, 1, 1)
        torch.testing.assert_close(b["clip"][key], (-mean / std).expand_as(b["clip"][key]))
        assert not torch.equal(n["clip"][key], c["clip"][key])
        if frame + 1 < 5:  # the next frame, cropped with the key frame's box, is the clean window's slot 3
            assert torch.equal(n["clip"][key], c["clip"][3]) or int(c["frame_indices"][3]) != frame + 1
    # training windows are never probed
    train = _dataset(tmp_path / "d", train=True, key_frame="black")
    assert train[0]["clip"][2].std() > 0


def test_key_frame_drop_augmentation_blacks_out_some_training_key_frames(tmp_path):
    aug = dataclasses.replace(DataConfig().augment, key_frame_drop_prob=0.5, color_jitter=0.0)
    ds = _dataset(tmp_path, train=True, augment=aug)
    black = -torch.tensor(DataConfig().mean).view(3, 1, 1) / torch.tensor(DataConfig().std).view(3, 1, 1)
    dropped = []
    for epoch in range(6):
        ds.set_epoch(epoch)
        for i in range(len(ds)):
            item = ds[i]
            is_black = torch.allclose(item["clip"][2], black.expand_as(item["clip"][2]))
            dropped.append(is_black)
            assert item["target_weight"].sum() > 0  # the labels stay
            assert not torch.allclose(item["clip"][1], black.expand_as(item["clip"][1]))
    assert 0.25 < sum(dropped) / len(dropped) < 0.75


def test_key_frame_corruptions_change_only_the_key_frame_and_keep_the_stream(tmp_path):
    base = dataclasses.replace(DataConfig().augment, color_jitter=0.0)
    clean = _dataset(tmp_path / "a", train=True, augment=base)
    for field, expect_ratio in (("key_frame_occlude_prob", 1.0), ("key_frame_blur_prob", 1.0)):
        aug = dataclasses.replace(base, **{field: 1.0})
        ds = _dataset(tmp_path / field, train=True, augment=aug)
        changed = 0
        for i in range(len(ds)):
            c, d = clean[i], ds[i]
            # the crop, the labels and the other frames come from the same draws as without the corruption
            for k in ("target", "target_weight", "inv_affine", "frame_indices"):
                assert torch.equal(c[k], d[k]), (field, k)
            assert torch.equal(c["clip"][[0, 1, 3, 4]], d["clip"][[0, 1, 3, 4]])
            changed += int(not torch.equal(c["clip"][2], d["clip"][2]))
            assert torch.equal(d["clip"], ds[i]["clip"])  # a pure function of the index
        assert changed / len(ds) == expect_ratio
    # evaluation windows are never corrupted
    aug = dataclasses.replace(base, key_frame_occlude_prob=1.0, key_frame_blur_prob=1.0)
    a = _dataset(tmp_path / "e1", train=False, augment=aug)
    b = _dataset(tmp_path / "e2", train=False, augment=base)
    assert all(torch.equal(a[i]["clip"], b[i]["clip"]) for i in range(len(a)))


def test_occlude_covers_the_drawn_fraction_and_motion_blur_keeps_the_mean():
    from vidpose.data.corruptions import OCCLUDER_AREA, motion_blur, occlude

    image = np.random.default_rng(0).integers(0, 256, size=(128, 96, 3), dtype=np.uint8)
    fractions = []
    for seed in range(50):
        out = occlude(image, np.random.default_rng(seed))
        fractions.append(float((out != image).any(axis=2).mean()))
    assert OCCLUDER_AREA[0] * 0.9 < min(fractions) and max(fractions) < OCCLUDER_AREA[1] * 1.1
    flat = np.full((64, 48, 3), 77, dtype=np.uint8)
    assert np.array_equal(motion_blur(flat, np.random.default_rng(1)), flat)  # a line average of a constant
    edge = np.zeros((64, 48, 3), dtype=np.uint8)
    edge[:, 24:] = 255
    blurred = motion_blur(edge, np.random.default_rng(3))
    assert abs(float(blurred.mean()) - float(edge.mean())) < 3.0
    assert ((blurred > 0) & (blurred < 255)).any()  # the edge is smeared
