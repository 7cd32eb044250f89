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
from vidpose.models.pose_model import build_model
from vidpose.models.serialization import save_model
from vidpose.models.weights import config_for_model

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
