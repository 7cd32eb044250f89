"""The synthetic degradation benchmark: determinism, the PoseTrack18 layout, label consistency, detections."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from vidpose.data.synthetic import SynthConfig, generate_split, render_frame, sample_clip
from vidpose.data.synthetic.body import MOTION_KINDS, body_points, sample_motion, sample_shape
from vidpose.data.synthetic.scene import clip_polygon
from vidpose.errors import ConfigError, DataFormatError
from vidpose.skeleton import PT18

SMALL = SynthConfig(frame_size=(96, 128), frames_per_clip=8)
H, W = SMALL.frame_size


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _annotations(split_dir: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((split_dir / "annotations").glob("*.json"))]


@pytest.fixture(scope="module")
def val_set(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("synth")
    generate_split(root, "val", num_clips=3, seed=0, cfg=SMALL)
    return root


def _iou(a, b) -> float:
    ax1, ay1, bx1, by1 = a[0] + a[2], a[1] + a[3], b[0] + b[2], b[1] + b[3]
    iw = max(0.0, min(ax1, bx1) - max(a[0], b[0]))
    ih = max(0.0, min(ay1, by1) - max(a[1], b[1]))
    inter = iw * ih
    return inter / max(a[2] * a[3] + b[2] * b[3] - inter, 1e-9)


# ---------------------------------------------------------------------------------------- determinism
def test_same_seed_gives_same_bytes_and_seeds_or_splits_differ(tmp_path, val_set):
    generate_split(tmp_path / "again", "val", num_clips=3, seed=0, cfg=SMALL)
    first, again = _files(val_set / "val"), _files(tmp_path / "again" / "val")
    assert first.keys() == again.keys()
    assert all(first[k] == again[k] for k in first), "same seed must give identical files"
    assert sum(k.endswith(".jpg") for k in first) == 3 * SMALL.frames_per_clip

    generate_split(tmp_path / "seed1", "val", num_clips=1, seed=1, cfg=SMALL)
    other_seed = _files(tmp_path / "seed1" / "val")
    name = "images/200000_mpii_synth/000000.jpg"
    assert other_seed[name] != first[name]

    generate_split(tmp_path / "test", "test", num_clips=1, seed=0, cfg=SMALL)
    other_split = _files(tmp_path / "test" / "test")
    assert "images/300000_mpii_synth/000000.jpg" in other_split  # split code in the sequence id
    assert other_split["images/300000_mpii_synth/000000.jpg"] != first[name]


def test_render_frame_is_pure():
    spec = sample_clip(SMALL, 5, "train", 2)
    a, b = render_frame(spec, 3), render_frame(spec, 3)
    assert np.array_equal(a.image, b.image)
    assert all(np.array_equal(p.keypoints, q.keypoints) for p, q in zip(a.persons, b.persons, strict=True))


# ---------------------------------------------------------------------------------------- layout
def test_posetrack18_layout(val_set):
    split_dir = val_set / "val"
    anns = _annotations(split_dir)
    assert len(anns) == 3
    image_ids, ann_ids = set(), set()
    for data in anns:
        assert set(data) == {"images", "annotations", "categories"}
        cat = data["categories"][0]
        assert cat["keypoints"] == list(PT18.names)
        assert cat["skeleton"] == [[a + 1, b + 1] for a, b in PT18.limbs]  # 1-based like PoseTrack
        images = data["images"]
        assert len(images) == SMALL.frames_per_clip
        assert [im["frame_id"] for im in images] == sorted(im["frame_id"] for im in images)
        for k, im in enumerate(images):
            for key in (
                "id",
                "file_name",
                "frame_id",
                "vid_id",
                "nframes",
                "is_labeled",
                "ignore_regions_x",
                "ignore_regions_y",
                "width",
                "height",
            ):
                assert key in im, key
            assert im["id"] == im["frame_id"] and im["id"] not in image_ids
            image_ids.add(im["id"])
            assert im["nframes"] == len(images) and im["is_labeled"] is True
            assert (im["width"], im["height"]) == (W, H)
            assert im["file_name"].endswith(f"{k:06d}.jpg")
            assert (val_set / im["file_name"]).is_file()  # relative to the dataset root, like PoseTrack18
            assert len(im["ignore_regions_x"]) == len(im["ignore_regions_y"])
        ids = {im["id"] for im in images}
        for a in data["annotations"]:
            for key in (
                "id",
                "image_id",
                "track_id",
                "bbox",
                "bbox_head",
                "keypoints",
                "category_id",
                "occlusion",
                "blur",
                "hard",
                "joint_occluded",
            ):
                assert key in a, key
            assert a["image_id"] in ids and a["id"] not in ann_ids and a["category_id"] == 1
            ann_ids.add(a["id"])
            assert len(a["keypoints"]) == 51 and all(isinstance(v, float) for v in a["keypoints"])
            kp = np.array(a["keypoints"]).reshape(17, 3)
            assert np.all(kp[[3, 4]] == 0), "ears are never labelled, as in PoseTrack"
            assert set(np.unique(kp[:, 2])) <= {0.0, 1.0}
            assert len(a["joint_occluded"]) == 17
        tracks = {(a["image_id"], a["track_id"]) for a in data["annotations"]}
        assert len(tracks) == len(data["annotations"]), "track ids are unique within a frame"


def test_labels_are_consistent(val_set):
    thr_occ, ratio = SMALL.hard_occlusion, SMALL.hard_blur_head_ratio
    n, hard = 0, 0
    for data in _annotations(val_set / "val"):
        for a in data["annotations"]:
            kp = np.array(a["keypoints"]).reshape(17, 3)
            x, y, w, h = a["bbox"]
            assert x >= 0 and y >= 0 and x + w <= W + 1e-6 and y + h <= H + 1e-6, (
                "boxes are clipped to the frame"
            )
            lab = kp[kp[:, 2] > 0, :2]
            assert len(lab) >= SMALL.min_joints_in_frame
            assert np.all(lab[:, 0] >= x - 0.01) and np.all(lab[:, 0] <= x + w + 0.01)
            assert np.all(lab[:, 1] >= y - 0.01) and np.all(lab[:, 1] <= y + h + 0.01)
            assert np.all((lab >= 0) & (lab < [W, H]))
            hb = a["bbox_head"]
            assert hb[2] > 0 and hb[3] > 0
            head_size = 0.6 * math.hypot(hb[2], hb[3])
            assert 0.0 <= a["occlusion"] <= 1.0 and a["blur"] >= 0.0
            assert a["hard"] == (a["occlusion"] > thr_occ or a["blur"] > ratio * head_size)
            n += 1
            hard += a["hard"]
    assert n > 20 and 0 < hard < n


def test_occlusion_and_blur_come_from_the_scene():
    """One person, no occluders, no exposure, no defocus: nothing is occluded or blurred; with occluders and
    long exposures both appear."""
    calm = SynthConfig(
        frame_size=(96, 128),
        frames_per_clip=6,
        people_range=(1, 1),
        occluders_per_clip=0.0,
        exposure_range=(0.0, 0.0),
        p_blur_burst=0.0,
        p_defocus_burst=0.0,
    )
    for clip in range(3):
        spec = sample_clip(calm, 0, "train", clip)
        for i in range(spec.num_frames):
            for p in render_frame(spec, i).persons:
                assert p.occlusion == 0.0 and p.blur == 0.0 and not p.joint_occluded.any()
    busy = SynthConfig(
        frame_size=(96, 128),
        frames_per_clip=6,
        people_range=(3, 4),
        occluders_per_clip=4.0,
        exposure_range=(0.8, 1.0),
    )
    occ, blur = [], []
    for clip in range(3):
        spec = sample_clip(busy, 0, "train", clip)
        for i in range(spec.num_frames):
            fr = render_frame(spec, i)
            occ += [p.occlusion for p in fr.persons if p.annotated]
            blur += [p.blur for p in fr.persons if p.annotated]
            clean = render_frame(spec, i, clean=True)
            assert not np.array_equal(clean.image, fr.image)
    assert max(occ) > 0.4 and np.mean(blur) > 0.5


def test_ignore_region_holds_an_unannotated_crowd():
    cfg = SynthConfig(frame_size=(96, 128), frames_per_clip=3, p_ignore_region=1.0, p_camera_pan=1.0)
    spec = sample_clip(cfg, 0, "val", 0)
    assert spec.ignore_polygon is not None and len(spec.crowd_boxes) >= 1
    for i in range(spec.num_frames):
        fr = render_frame(spec, i)
        assert fr.ignore_region is not None and len(fr.ignore_region) >= 3
        assert np.all((fr.ignore_region >= 0) & (fr.ignore_region <= [W - 1, H - 1]))
        assert len(fr.persons) == len(spec.people)  # crowd figures are not annotated persons


# ---------------------------------------------------------------------------------------- detections
def test_detections_are_noisy_but_mostly_right(val_set):
    split_dir = val_set / "val"
    dets = json.loads((split_dir / "detections.json").read_text())
    gt: dict[int, list] = {}
    for data in _annotations(split_dir):
        for a in data["annotations"]:
            gt.setdefault(a["image_id"], []).append(a["bbox"])
    assert len(dets) > 10
    exact, matched = 0, 0
    for d in dets:
        assert set(d) == {"image_id", "bbox", "score", "category_id"} and 0.0 < d["score"] < 1.0
        boxes = gt.get(d["image_id"], [])
        exact += any(np.allclose(d["bbox"], b) for b in boxes)
        matched += any(_iou(d["bbox"], b) > 0.5 for b in boxes)
    assert exact < 0.2 * len(dets), "detections must be jittered"
    assert matched > 0.5 * len(dets), "most detections overlap a ground-truth box"


# ---------------------------------------------------------------------------------------- readers
def test_posetrack_reader_reads_the_split(val_set):
    from vidpose.data import posetrack

    seqs = posetrack.read_sequences(val_set / "val" / "annotations", format="pt18")
    assert len(seqs) == 3
    n_ann = sum(len(d["annotations"]) for d in _annotations(val_set / "val"))
    assert sum(len(f.persons) for s in seqs for f in s.frames) == n_ann
    assert seqs[0].name == "200000_mpii_synth" and len(seqs[0]) == SMALL.frames_per_clip
    frame = seqs[0].frames[0]
    assert (val_set / frame.file_name).is_file()
    assert all(p.keypoints.shape == (17, 3) and p.head_box is not None for p in frame.persons)
    assert (
        posetrack.detect_format(
            json.loads((val_set / "val" / "annotations" / f"{seqs[0].name}.json").read_text())
        )
        == "pt18"
    )


# ---------------------------------------------------------------------------------------- pieces
@pytest.mark.parametrize("kind", MOTION_KINDS)
def test_bones_keep_their_length_through_a_motion(kind):
    rng = np.random.default_rng(0)
    shape = sample_shape(rng)
    motion = sample_motion(rng, kind, 0.7, 0.05)
    pairs = {
        (11, 13): shape.thigh,
        (13, 15): shape.shin,
        (5, 7): shape.upper_arm,
        (7, 9): shape.forearm,
        (12, 14): shape.thigh,
        (14, 16): shape.shin,
        (6, 8): shape.upper_arm,
        (8, 10): shape.forearm,
    }
    tops = []
    for t in np.linspace(0.0, 23.0, 40):
        j = body_points(shape, motion.angles(float(t))).joints
        for (a, b), length in pairs.items():
            assert np.linalg.norm(j[a] - j[b]) == pytest.approx(length, rel=1e-9)
        assert j[2, 1] < j[1, 1] < j[5, 1]  # head top above chin above shoulders (y down)
        tops.append(j[2, 1])
    assert np.ptp(tops) > 1e-3  # it moves


def test_clip_polygon():
    square = np.array([[-10.0, -10.0], [50.0, -10.0], [50.0, 50.0], [-10.0, 50.0]])
    clipped = clip_polygon(square, (40, 30))  # H = 40, W = 30
    assert clipped.min(axis=0).tolist() == [0.0, 0.0] and clipped.max(axis=0).tolist() == [29.0, 39.0]
    assert len(clip_polygon(square + 1000.0, (40, 30))) == 0


def test_config_and_arguments_are_checked(tmp_path):
    with pytest.raises(ConfigError, match="people_range"):
        SynthConfig(people_range=(3, 2))
    with pytest.raises(ConfigError, match="split"):
        generate_split(tmp_path, "holdout", 1, 0, SMALL)
    generate_split(tmp_path, "train", 1, 0, SynthConfig(frame_size=(64, 64), frames_per_clip=2))
    with pytest.raises(DataFormatError, match="overwrite"):
        generate_split(tmp_path, "train", 1, 0, SMALL)
    summary = generate_split(tmp_path, "train", 1, 0, SMALL, overwrite=True)
    assert summary.num_frames == SMALL.frames_per_clip
    assert len(list((tmp_path / "train" / "images").rglob("*.jpg"))) == SMALL.frames_per_clip


def test_cli_synth(tmp_path):
    from typer.testing import CliRunner

    from vidpose.cli import _register, app

    _register()
    result = CliRunner().invoke(
        app, ["synth", str(tmp_path), "--split", "val", "--clips", "1", "--seed", "2", "--frames", "3"]
    )
    assert result.exit_code == 0, result.output
    assert "1 sequences, 3 frames" in result.output
    assert len(list((tmp_path / "val" / "images").rglob("*.jpg"))) == 3
