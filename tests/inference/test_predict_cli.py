"""`vidpose predict` (vidpose.cli.predict_cmds): every output written, readable video, clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from vidpose.cli import _register, app, main
from vidpose.config import HeadConfig, MLSMEConfig, ModelConfig, ViTConfig
from vidpose.data.video_io import open_source
from vidpose.models.fitting import config_for_model
from vidpose.models.pose_model import build_model
from vidpose.models.serialization import save_model

NUM_FRAMES = 8


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    m = ModelConfig(
        image_size=(64, 48),
        vit=ViTConfig(size="nano", depth=2),
        mlsme=MLSMEConfig(dim=32, num_heads=2, patch_layers=1, frame_layers=1),
        head=HeadConfig(deconv_channels=32),
    )
    cfg = config_for_model(m, name="tiny")
    return save_model(build_model(cfg.model), cfg, tmp_path_factory.mktemp("ckpt") / "tiny.safetensors")


@pytest.fixture(scope="module")
def bonn_json(tmp_path_factory, shared_data) -> Path:
    """The first NUM_FRAMES frames of the Bonn clip, absolute image paths (shared images, read in place)."""
    root = shared_data / "bonn_multiperson_posetrack"
    data = json.loads((root / "posetrack18/test/060470979_bonn_test.json").read_text())
    data["images"] = data["images"][:NUM_FRAMES]
    for im in data["images"]:
        im["file_name"] = str(root / im["file_name"])
    kept = {im["id"] for im in data["images"]}
    data["annotations"] = [a for a in data["annotations"] if a["image_id"] in kept]
    path = tmp_path_factory.mktemp("bonn") / "060470979_bonn_test.json"
    path.write_text(json.dumps(data))
    return path


def test_predict_writes_every_output(checkpoint, bonn_json, tmp_path):
    _register()
    out = tmp_path / "out"
    args = [
        "predict", str(bonn_json), "--checkpoint", str(checkpoint), "--out", str(out), "--boxes", "gt",
        "--save-frames", "--batch-size", "8",
    ]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert (
        "frames/s" in result.output
        and f"{NUM_FRAMES} frames, {4 * NUM_FRAMES} person-frames" in result.output
    )
    name = bonn_json.stem
    pt = json.loads((out / f"{name}.json").read_text())
    assert len(pt["images"]) == NUM_FRAMES and len(pt["annotations"]) == 4 * NUM_FRAMES
    coco = json.loads((out / f"{name}.coco.json").read_text())
    assert len(coco["annotations"]) == 4 * NUM_FRAMES
    assert sorted(p.name for p in (out / "frames").iterdir()) == [f"{i:06d}.jpg" for i in range(NUM_FRAMES)]
    video = open_source(out / f"{name}.mp4")
    assert video.size == (540, 960) and sum(1 for _ in video) == NUM_FRAMES
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temporary files left


def test_predict_errors_are_clear_and_exit_2(checkpoint, bonn_json, tmp_path, capsys):
    bad = tmp_path / "model.pth"
    torch.save({"weights": torch.zeros(2)}, bad)
    cases = [
        (["--checkpoint", str(bad)], "pickle checkpoint"),
        (["--checkpoint", str(checkpoint), "--frames", "3"], "temporal position embedding"),
        (["--checkpoint", str(checkpoint), "--detector", "hogg"], "did you mean 'hog'"),
    ]
    for extra, message in cases:
        with pytest.raises(SystemExit) as exc:
            main(["predict", str(bonn_json), "--out", str(tmp_path / "out"), *extra])
        assert exc.value.code == 2
        assert message in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(SystemExit) as exc:
        main(["predict", str(empty), "--checkpoint", str(checkpoint), "--out", str(tmp_path / "out")])
    assert exc.value.code == 2 and "folder has no images" in capsys.readouterr().err


def test_predict_on_damaged_inputs_gives_one_line(checkpoint, make_video, tmp_path, capsys):
    """A corrupt video: exit 2 naming the file and the frame, no empty output folder; a truncated one: a
    warning with the frames read (exit 0), an error with --strict-frames; a frame folder whose sizes change:
    exit 2 naming the frame."""
    import numpy as np

    video = make_video(tmp_path)
    data = video.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    corrupt = tmp_path / "corrupt.mp4"
    damaged = bytearray(data)
    damaged[len(data) // 2 : len(data) // 2 + 2000] = bytes(range(256)) * 7 + bytes(208)
    corrupt.write_bytes(bytes(damaged))
    common = ["--checkpoint", str(checkpoint), "--detector", "whole", "--no-video"]

    out = tmp_path / "out_corrupt"
    with pytest.raises(SystemExit) as exc:
        main(["predict", str(corrupt), "--out", str(out), *common])
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip() and not line.startswith("warning:")]
    assert exc.value.code == 2 and len(lines) == 1 and "Traceback" not in err, err
    assert "corrupt.mp4: cannot decode frame" in lines[0]
    assert not out.exists()

    with pytest.raises(SystemExit) as exc:
        main(["predict", str(cut), "--out", str(tmp_path / "out_cut"), *common])
    err = capsys.readouterr().err
    assert exc.value.code == 0, err
    assert "warning: " in err and "the container announced 41" in err and "frames read were used" in err
    with pytest.raises(SystemExit) as exc:
        main(["predict", str(cut), "--out", str(tmp_path / "out_cut2"), "--strict-frames", *common])
    assert exc.value.code == 2 and "the stream ended after" in capsys.readouterr().err

    folder = tmp_path / "mixed"
    folder.mkdir()
    import cv2

    for i in range(4):
        size = (48, 64) if i != 2 else (50, 64)
        cv2.imwrite(str(folder / f"{i:03d}.png"), np.full((*size, 3), 80, np.uint8))
    with pytest.raises(SystemExit) as exc:
        main(["predict", str(folder), "--out", str(tmp_path / "out_mixed"), *common])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "frame 2 (mixed/002.png) is 50x64, frame 0 is 48x64" in err
