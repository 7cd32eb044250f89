"""predict's output files (vidpose.inference.outputs): PoseTrack18 / COCO JSON, video, frames."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from vidpose.config import HeadConfig, MLSMEConfig, ModelConfig, ViTConfig
from vidpose.data.posetrack import read_predictions
from vidpose.data.records import Frame, Sequence
from vidpose.data.video_io import open_source
from vidpose.errors import DataFormatError
from vidpose.inference import FrameResult, PersonResult, PredictionWriter, VideoInput, VideoPoseEstimator
from vidpose.inference.outputs import predict_to_files
from vidpose.models.fitting import config_for_model
from vidpose.models.pose_model import build_model


def frames_input(n: int, kind: str = "frames") -> VideoInput:
    return VideoInput("clip", kind, iter([]), n, 10.0)


def person(track_id: int, x: float, score: float = 0.9) -> PersonResult:
    kp = np.zeros((17, 3))
    kp[:, 0], kp[:, 1], kp[:, 2] = x + np.arange(17), 50.0, np.linspace(0.05, 0.95, 17)
    return PersonResult(track_id, np.array([x, 10.0, 30.0, 80.0]), score, kp)


def frame(index: int, persons: list[PersonResult], size=(120, 160)) -> FrameResult:
    pixels = np.full((*size, 3), 40 * index, dtype=np.uint8)
    return FrameResult(index, None, None, size, persons, pixels)


def test_posetrack_and_coco_files(tmp_path):
    results = [
        frame(0, [person(0, 10), person(-1, 60)]),
        frame(1, []),
        frame(2, [person(0, 12), person(3, 90)]),
    ]
    with PredictionWriter(tmp_path, frames_input(3), joint_score_thr=0.5, save_frames=True) as writer:
        for r in results:
            writer.add(r)
        paths = writer.close()
    assert sorted(paths) == ["coco", "frames", "posetrack", "video"]

    pt = json.loads(paths["posetrack"].read_text())
    assert [im["file_name"] for im in pt["images"]] == [f"frames/{i:06d}.jpg" for i in range(3)]
    assert [a["track_id"] for a in pt["annotations"]] == [0, 0, 3]  # the unconfirmed person (-1) is left out
    first = pt["annotations"][0]
    kp, scores = np.reshape(first["keypoints"], (17, 3)), np.array(first["scores"])
    low = np.linspace(0.05, 0.95, 17) <= 0.5
    assert (kp[low] == 0).all() and (scores[low] == 0).all()  # joints at or below the threshold: undetected
    np.testing.assert_allclose(kp[~low, 0], 10 + np.arange(17)[~low])
    assert (kp[~low, 2] == 1).all()
    pred = read_predictions(paths["posetrack"])
    assert [len(f.persons) for f in pred.frames] == [1, 0, 2]

    coco = json.loads(paths["coco"].read_text())
    assert [im["id"] for im in coco["images"]] == [0, 1, 2]
    assert [(a["image_id"], a["track_id"]) for a in coco["annotations"]] == [(0, 0), (0, -1), (2, 0), (2, 3)]
    a = coco["annotations"][0]
    assert len(a["keypoints"]) == 51 and a["keypoints"][2] == pytest.approx(0.05)
    assert a["num_keypoints"] == int((~low).sum()) and a["score"] == pytest.approx(0.9)
    assert a["bbox"] == [10.0, 10.0, 30.0, 80.0] and a["area"] == pytest.approx(2400.0)
    assert coco["categories"][0]["keypoints"] == pt["categories"][0]["keypoints"]

    src = open_source(paths["video"])
    decoded = [f for _, f in src]
    assert len(decoded) == 3 and decoded[0].shape == (120, 160, 3)
    assert sorted(p.name for p in paths["frames"].iterdir()) == [f"{i:06d}.jpg" for i in range(3)]


def test_posetrack_input_keeps_its_images_and_checks_the_count(tmp_path):
    gt = tmp_path / "gt" / "seq.json"
    gt.parent.mkdir()
    images = [
        {"id": 100 + i, "file_name": f"images/seq/{i}.jpg", "is_labeled": True, "nframes": 2}
        for i in range(2)
    ]
    gt.write_text(json.dumps({"images": images, "annotations": []}))
    frames = [Frame(100 + i, i, f"images/seq/{i}.jpg") for i in range(2)]
    seq = Sequence("seq", frames, source=gt, images=images)  # as read_sequence(gt) keeps them
    video = VideoInput("seq", "posetrack", iter([]), 2, 25.0, sequence=seq)
    with PredictionWriter(tmp_path / "out", video, None, write_video=False) as writer:
        writer.add(FrameResult(0, 100, "images/seq/0.jpg", (120, 160), [person(1, 10)]))
        with pytest.raises(DataFormatError, match="1 frames were predicted for a sequence of 2"):
            writer.close()
    writer = PredictionWriter(tmp_path / "out", video, None, write_video=False)
    for i in range(2):
        writer.add(FrameResult(i, 100 + i, f"images/seq/{i}.jpg", (120, 160), [person(1, 10)]))
    data = json.loads(writer.close()["posetrack"].read_text())
    assert data["images"] == images  # the GT file's own entries, in order
    assert [a["image_id"] for a in data["annotations"]] == [100, 101]


def test_a_failure_halfway_leaves_only_complete_files(tmp_path):
    torch.manual_seed(0)
    m = ModelConfig(
        image_size=(64, 48),
        vit=ViTConfig(size="nano", depth=1),
        mlsme=MLSMEConfig(dim=32, num_heads=2, patch_layers=1, frame_layers=1),
        head=HeadConfig(deconv_channels=16),
    )
    cfg = config_for_model(m)
    est = VideoPoseEstimator((build_model(cfg.model).eval(), cfg), detector="whole", flip_test=False)

    def frames():
        rng = np.random.default_rng(0)
        for i in range(12):
            if i == 8:
                raise DataFormatError("frame 8: corrupt (simulated)")
            yield rng.integers(0, 256, (96, 64, 3), dtype=np.uint8)

    with pytest.raises(DataFormatError, match="simulated"):
        predict_to_files(est, frames(), tmp_path, save_frames=True)
    written = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file())
    # frames 0..7 were read; key frames 0..3 (one batch of 4) were processed; a result also waits for its id
    emitted = 4 - (est.tracker_cfg.min_hits - 1)
    assert written == [f"frames/{i:06d}.jpg" for i in range(emitted)]  # no JSON, no video, no temp files


@pytest.mark.parametrize("draw_tentative, drawn", [(False, [[0]]), (True, [[0, -1]])])
def test_tentative_persons_are_drawn_only_when_asked(tmp_path, monkeypatch, draw_tentative, drawn):
    import vidpose.inference.outputs as outputs

    calls: list[list[int]] = []

    def fake_draw(image, people, score_thr):  # noqa: ANN001
        calls.append([int(t) for t, _, _ in people])
        return image

    monkeypatch.setattr(outputs, "draw_poses", fake_draw)
    writer = PredictionWriter(
        tmp_path, frames_input(1), joint_score_thr=0.5, draw_tentative=draw_tentative, write_video=False,
        save_frames=True,
    )  # fmt: skip
    writer.add(frame(0, [person(0, 10), person(-1, 60)]))
    writer.close()
    assert calls == drawn
