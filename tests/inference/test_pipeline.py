"""VideoPoseEstimator (vidpose.inference.pipeline): streaming, windows, shared features, ids, errors."""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from vidpose.config import HeadConfig, MLSMEConfig, ModelConfig, ViTConfig
from vidpose.data.posetrack import read_predictions, read_sequence
from vidpose.data.video_io import VideoWriter
from vidpose.errors import CheckpointError, ConfigError, DataFormatError
from vidpose.evaluation import evaluate_ap, evaluate_mota
from vidpose.inference import GTBoxes, VideoPoseEstimator, predict_to_files
from vidpose.inference.crops import CropBox, CropStabilizer
from vidpose.models.fitting import config_for_model
from vidpose.models.pose_model import build_model
from vidpose.models.serialization import save_model

BONN = "bonn_multiperson_posetrack"
BONN_JSON = f"{BONN}/posetrack18/test/060470979_bonn_test.json"
NUM_FRAMES = 12


def tiny_model(frames: int = 5, seed: int = 0):
    """A randomly initialised nano model at 64x48 with every weight random (peaked, varied heatmaps)."""
    m = ModelConfig(
        temporal=frames > 1,
        num_frames=frames,
        image_size=(64, 48),
        vit=ViTConfig(size="nano", depth=2, drop_path_rate=0.0),
        mlsme=MLSMEConfig(
            dim=32, num_heads=2, patch_layers=1, frame_layers=1, frame_mask_count=min(1, frames - 1)
        ),
        head=HeadConfig(deconv_channels=32),
    )
    cfg = config_for_model(m, name="tiny")
    torch.manual_seed(seed)
    model = build_model(cfg.model)
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if tensor.is_floating_point():
                tensor.copy_(torch.rand_like(tensor) * 0.2 + (0.5 if "running_var" in name else -0.1))
    return model.eval(), cfg


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    model, cfg = tiny_model()
    return save_model(model, cfg, tmp_path_factory.mktemp("ckpt") / "tiny.safetensors")


@pytest.fixture(scope="module")
def bonn(tmp_path_factory, shared_data) -> tuple[Path, Path]:
    """(truncated copy of the Bonn JSON, dataset root): the first NUM_FRAMES frames, images read in place."""
    data = json.loads((shared_data / BONN_JSON).read_text())
    data["images"] = data["images"][:NUM_FRAMES]
    kept = {im["id"] for im in data["images"]}
    data["annotations"] = [a for a in data["annotations"] if a["image_id"] in kept]
    path = tmp_path_factory.mktemp("bonn") / "060470979_bonn_test.json"
    path.write_text(json.dumps(data))
    return path, shared_data / BONN


def random_frames(n: int, size=(120, 160), seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (*size, 3), dtype=np.uint8) for _ in range(n)]


def count_backbone_crops(est: VideoPoseEstimator, monkeypatch) -> list[int]:
    """Patch the model's encode_frames to count the crops it sees."""
    counter = [0]
    original = est.model.encode_frames

    def counting(frames):
        counter[0] += len(frames)
        return original(frames)

    monkeypatch.setattr(est.model, "encode_frames", counting)
    return counter


def check_posetrack_file(path: Path, gt_images: list[dict]) -> dict:
    data = json.loads(path.read_text())
    assert [im["id"] for im in data["images"]] == [im["id"] for im in gt_images]
    assert [im["file_name"] for im in data["images"]] == [im["file_name"] for im in gt_images]
    assert data["categories"][0]["keypoints"][0] == "nose" and len(data["categories"][0]["keypoints"]) == 17
    for im in data["images"]:
        ids = [a["track_id"] for a in data["annotations"] if a["image_id"] == im["id"]]
        assert len(ids) == len(set(ids)) and all(isinstance(i, int) and 0 <= i < 10000 for i in ids)
    for a in data["annotations"]:
        assert len(a["keypoints"]) == 51 and len(a["scores"]) == 17
    return data


# ----------------------------------------------------------------------------------------------- real data
def test_gt_boxes_on_posetrack_json_give_an_evaluable_file_with_gt_ids(checkpoint, bonn, tmp_path):
    json_path, root = bonn
    est = VideoPoseEstimator(checkpoint, boxes=GTBoxes())
    summary = predict_to_files(est, json_path, tmp_path, root=root, write_video=False)
    assert summary.num_frames == NUM_FRAMES and summary.num_person_frames == 4 * NUM_FRAMES
    gt_images = json.loads(json_path.read_text())["images"]
    data = check_posetrack_file(summary.paths["posetrack"], gt_images)
    assert summary.paths["posetrack"].name == json_path.name  # poseval pairs files by name
    gt = read_sequence(json_path)
    # GT boxes keep their GT ids: the same id for the same person in every frame.
    for frame in gt.frames:
        pred_ids = sorted(a["track_id"] for a in data["annotations"] if a["image_id"] == frame.image_id)
        assert pred_ids == sorted(p.track_id for p in frame.persons)
    pred = read_predictions(summary.paths["posetrack"])
    ap = evaluate_ap([gt], [pred])
    mota = evaluate_mota([gt], [pred])
    assert ap.ap.shape == (16,) and ap.num_pred.sum() > 0
    assert mota.num_objects.sum() == ap.num_gt.sum() - 4 * 14  # poseval skips the last frame (14 joints each)


def test_heatmap_peaks_map_back_to_image_pixels(checkpoint, monkeypatch):
    """A model whose heatmaps peak at one known cell: the keypoints land where the crop geometry says."""
    est = VideoPoseEstimator(checkpoint, boxes={0: ([[30, 20, 40, 100]], [0.8])}, flip_test=False)
    h, w = est.codec.heatmap_size
    (H, W), (u, v) = est.input_size, (3, 11)

    def decode_window(feats):
        heatmaps = torch.zeros(feats.shape[0], 17, h, w)
        heatmaps[:, :, v, u] = 1.0
        return heatmaps

    monkeypatch.setattr(est.model, "decode_window", decode_window)
    person = next(est(random_frames(1))).persons[0]
    crop = CropBox.from_box([30, 20, 40, 100], (H, W), est.cfg.data.bbox_scale)
    x = crop.center[0] - crop.size_wh[0] / 2 + u * (W - 1) / (w - 1) * crop.size_wh[0] / (W - 1)
    y = crop.center[1] - crop.size_wh[1] / 2 + v * (H - 1) / (h - 1) * crop.size_wh[1] / (H - 1)
    np.testing.assert_allclose(person.keypoints[:, 0], x, atol=1e-6)
    np.testing.assert_allclose(person.keypoints[:, 1], y, atol=1e-6)
    np.testing.assert_allclose(person.keypoints[:, 2], 0.8, atol=1e-6)  # heatmap max x box score


def test_root_is_found_from_the_json_location(checkpoint, bonn, tmp_path):
    json_path, root = bonn
    (tmp_path / "images").symlink_to(root / "images", target_is_directory=True)
    nested = tmp_path / "posetrack18" / "val" / json_path.name
    nested.parent.mkdir(parents=True)
    nested.write_text(json_path.read_text())
    est = VideoPoseEstimator(checkpoint, boxes=GTBoxes(), flip_test=False)
    video = est.open(nested)
    assert video.kind == "posetrack" and video.num_frames == NUM_FRAMES
    assert sum(1 for _ in est.run(video)) == NUM_FRAMES
    lonely = tmp_path / "lonely" / json_path.name
    lonely.parent.mkdir()
    lonely.write_text(json_path.read_text().replace("images/060470979", "missing/060470979"))
    with pytest.raises(DataFormatError, match="--root"):
        est.open(lonely)


def test_mp4_with_boxes_per_frame_index_tracks_gt_persons_consistently(checkpoint, bonn, tmp_path):
    json_path, root = bonn
    gt = read_sequence(json_path)
    video = tmp_path / "clip.mp4"
    with VideoWriter(video, fps=25, crf=10) as writer:
        for frame in gt.frames:
            writer.write(cv2.cvtColor(cv2.imread(str(root / frame.file_name)), cv2.COLOR_BGR2RGB))
    boxes = [
        {"image_id": frame.index, "bbox": [float(v) for v in p.box], "score": 0.9, "category_id": 1}
        for frame in gt.frames
        for p in frame.persons
    ]

    def owner(index: int, box: np.ndarray) -> int:
        persons = gt.frames[index].persons
        dist = [np.abs(p.box - box).max() for p in persons]
        assert min(dist) < 1e-3
        return persons[int(np.argmin(dist))].track_id

    box_file = tmp_path / "boxes.json"
    box_file.write_text(json.dumps(boxes))

    est = VideoPoseEstimator(checkpoint, boxes=box_file)
    results = list(est(video))
    assert [r.frame_index for r in results] == list(range(NUM_FRAMES))
    mapping: dict[int, int] = {}
    for r in results:
        assert len(r.persons) == 4 and r.size == (540, 960)
        for p in r.persons:
            gt_id = owner(r.frame_index, p.box)
            assert p.track_id >= 0
            assert mapping.setdefault(gt_id, p.track_id) == p.track_id  # one predicted id per GT track
            assert np.isfinite(p.keypoints).all() and abs(p.score - 0.9) < 1e-6
    assert len(set(mapping.values())) == 4
    summary = predict_to_files(est, video, tmp_path / "out", write_video=False)
    data = check_posetrack_file(
        summary.paths["posetrack"], [{"id": i, "file_name": f"frames/{i:06d}.jpg"} for i in range(12)]
    )
    assert len(data["annotations"]) == 4 * NUM_FRAMES


# ----------------------------------------------------------------------------------------------- streaming
class CountingFrames:
    """An iterable of frames that counts how many were read."""

    def __init__(self, frames):
        self.frames = frames
        self.read = 0

    def __iter__(self):
        for frame in self.frames:
            self.read += 1
            yield frame


def test_api_is_a_lazy_generator(checkpoint):
    frames = random_frames(30)
    boxes = {i: ([[20, 10, 40, 90]], [0.9]) for i in range(30)}
    est = VideoPoseEstimator(checkpoint, boxes=boxes, frames_per_batch=2, flip_test=False)
    source = CountingFrames(frames)
    results = est(source)
    assert inspect.isgenerator(results) and source.read == 0
    first = next(results)
    assert first.frame_index == 0
    # key frame 0 needs frames 0..2 (offset +2), a batch of 2 key frames, then 2 more for the id (min_hits 3)
    assert source.read == 2 + 2 + 2
    rest = list(results)
    assert source.read == 30 and [r.frame_index for r in rest] == list(range(1, 30))
    assert {p.track_id for r in rest for p in r.persons} == {0}


def test_shared_features_match_per_window_and_use_fewer_backbone_crops(checkpoint, monkeypatch):
    frames = random_frames(8)
    boxes = {
        i: ([[20, 10, 40, 90], [90, 20, 50, 140]], [0.9, 0.8]) for i in range(8)
    }  # static; one leaves the image
    keypoints, crops = {}, {}
    for share in (True, False):
        est = VideoPoseEstimator(checkpoint, boxes=boxes, share_features=share)
        counter = count_backbone_crops(est, monkeypatch)
        results = list(est(frames))
        keypoints[share] = np.stack([p.keypoints for r in results for p in r.persons])
        crops[share] = counter[0]
    assert keypoints[True].shape == (16, 17, 3) and np.isfinite(keypoints[True]).all()
    np.testing.assert_allclose(keypoints[True], keypoints[False], atol=1e-4)
    assert crops[True] == 8 * 2 * 2  # frames x persons x (image, flipped image)
    assert crops[False] == 8 * 2 * 5 * 2  # windows x T x 2


def test_moving_boxes_hold_the_crop_then_recentre():
    stab = CropStabilizer((64, 48), bbox_scale=1.25, margin=0.05, scale_tol=0.15)
    first = stab.assign(np.array([[100, 100, 40, 80]]))[0]
    held = stab.assign(np.array([[102, 101, 40, 80]]))[0]
    assert held == first  # small move: same crop, same affine, shared features
    moved = stab.assign(np.array([[130, 101, 40, 80]]))[0]
    assert moved != first and moved == CropBox.from_box([130, 101, 40, 80], (64, 48), 1.25)
    shrunk = stab.assign(np.array([[135, 110, 20, 40]]))[0]
    assert shrunk == CropBox.from_box([135, 110, 20, 40], (64, 48), 1.25)  # too small for the held crop


def test_frame_with_nobody_and_boxes_outside_the_image(checkpoint, tmp_path):
    frames = random_frames(6)
    boxes = {i: ([[20, 10, 40, 90]], [0.9]) for i in range(6)}
    boxes[3] = (np.zeros((0, 4)), np.zeros(0))
    boxes[4] = ([[140, -30, 60, 100]], [0.9])  # half outside: the affine pads with black
    tracker = VideoPoseEstimator(checkpoint, boxes=boxes).tracker_cfg
    from dataclasses import replace

    est = VideoPoseEstimator(checkpoint, boxes=boxes, tracker_cfg=replace(tracker, min_hits=1))
    results = list(est(frames))
    assert [len(r.persons) for r in results] == [1, 1, 1, 0, 1, 1]
    assert np.isfinite(results[4].persons[0].keypoints).all()
    summary = predict_to_files(est, frames, tmp_path, write_video=False)
    data = json.loads(summary.paths["posetrack"].read_text())
    assert len(data["images"]) == 6
    assert [sum(a["image_id"] == im["id"] for a in data["annotations"]) for im in data["images"]] == [
        1,
        1,
        1,
        0,
        1,
        1,
    ]


def test_detect_every_k_frames_predicts_boxes_in_between(checkpoint):
    calls = []

    def detector(frame):
        calls.append(1)
        return np.array([[30, 20, 50, 90]], np.float32), np.array([0.95], np.float32)

    est = VideoPoseEstimator(checkpoint, detector=detector, detect_every=3, flip_test=False)
    results = list(est(random_frames(9)))
    assert len(calls) == 3  # frames 0, 3, 6
    assert all(len(r.persons) == 1 for r in results)
    assert {p.track_id for r in results for p in r.persons} == {0}


def test_frames_of_varying_size_from_a_folder(checkpoint, tmp_path):
    folder = tmp_path / "frames"
    folder.mkdir()
    for i, frame in enumerate(random_frames(3, (100, 80)) + random_frames(2, (60, 120), seed=1)):
        cv2.imwrite(str(folder / f"{i + 1}.png"), frame)
    est = VideoPoseEstimator(checkpoint, detector="whole", flip_test=False)
    # Tracks follow pixel positions from frame to frame: a size change inside one input is an error.
    with pytest.raises(DataFormatError, match=r"frame 3 \(frames/4\.png\) is 60x120, frame 0 is 100x80"):
        predict_to_files(est, folder, tmp_path / "out")


def test_single_frame_model_runs_with_any_odd_t(tmp_path, monkeypatch):
    model, cfg = tiny_model(frames=1)
    est = VideoPoseEstimator(
        (model, cfg), boxes={i: ([[20, 10, 40, 90]], [0.9]) for i in range(4)}, num_frames=5
    )
    counter = count_backbone_crops(est, monkeypatch)
    assert est.offsets == (0,)
    assert len(list(est(random_frames(4)))) == 4 and counter[0] == 4 * 2


# ----------------------------------------------------------------------------------------------- errors
def test_bad_inputs_give_clear_errors(checkpoint, tmp_path):
    est = VideoPoseEstimator(checkpoint, detector="whole")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataFormatError, match="no images"):
        est(tmp_path / "empty")
    (tmp_path / "empty.mp4").write_bytes(b"")
    with pytest.raises(DataFormatError, match="empty"):
        est(tmp_path / "empty.mp4")
    (tmp_path / "junk.mp4").write_bytes(b"not a video at all" * 50)
    with pytest.raises(DataFormatError, match="junk.mp4"):
        est(tmp_path / "junk.mp4")
    with pytest.raises(DataFormatError, match="no frames"):
        list(est([]))
    with pytest.raises(DataFormatError, match="RGB uint8"):
        list(est([np.zeros((10, 10), np.uint8)]))
    with pytest.raises(ConfigError, match="PoseTrack JSON"):
        VideoPoseEstimator(checkpoint, boxes=GTBoxes())(random_frames(2))


def test_bad_checkpoints_and_window_sizes_give_clear_errors(checkpoint, tmp_path):
    torch.save({"state_dict": {}}, tmp_path / "train.pth")
    with pytest.raises(CheckpointError, match="pickle"):
        VideoPoseEstimator(tmp_path / "train.pth")
    with pytest.raises(CheckpointError, match="not found"):
        VideoPoseEstimator(tmp_path / "missing.safetensors")
    with pytest.raises(ConfigError, match="temporal position embedding"):
        VideoPoseEstimator(checkpoint, num_frames=3)
    with pytest.raises(ConfigError, match="odd"):
        VideoPoseEstimator(checkpoint, num_frames=4)
    with pytest.raises(ConfigError, match="detect_every"):
        VideoPoseEstimator(checkpoint, boxes=GTBoxes(), detect_every=2)
