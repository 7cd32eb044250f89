"""The demo (vidpose.tasks.demo, `vidpose demo`): three panels at PANEL_SCALE with the poses drawn,
degraded and dropped frames marked, both models' predictions and metrics written, the printed summary,
clear errors.

One short clip (FRAMES frames, the demo's seed: frame 4 dropped, 2 others with a hard person) with the bundled
models."""

from __future__ import annotations

import json
import re

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from vidpose.cli import _register, app, main
from vidpose.data.posetrack import read_predictions, read_sequences
from vidpose.data.video_io import open_source
from vidpose.errors import CheckpointError, ConfigError
from vidpose.inference.render import PALETTE
from vidpose.tasks.demo import (
    DROP_COLOUR,
    DROP_EVERY,
    MODELS,
    PANEL_SCALE,
    TAG_COLOUR,
    _dropped_frames,
    bundled_checkpoint,
    run_demo,
)

FRAMES = 6
FRAME_HW = (288, 384)  # the synthetic frames
GAP = 6  # titled_panels' default


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """`vidpose demo` on one clip: (output folder, printed text)."""
    _register()
    out = tmp_path_factory.mktemp("demo") / "out"
    result = CliRunner().invoke(app, ["demo", "--out", str(out), "--clips", "1", "--frames", str(FRAMES)])
    assert result.exit_code == 0, result.output
    return out, result.output


def _panels(frame: np.ndarray) -> tuple[int, list[np.ndarray]]:
    """A demo frame -> (title bar height, the three panels [s H, s W, 3])."""
    h, w = round(FRAME_HW[0] * PANEL_SCALE), round(FRAME_HW[1] * PANEL_SCALE)
    bar = frame.shape[0] - h
    return bar, [frame[bar:, i * (w + GAP) : i * (w + GAP) + w] for i in range(3)]


def test_video_has_three_enlarged_panels_with_poses_and_marks(demo):
    out, _ = demo
    (video,) = sorted(out.glob("*.mp4"))
    frames = [f for _, f in open_source(video)]
    assert len(frames) == FRAMES
    h, w = round(FRAME_HW[0] * PANEL_SCALE), round(FRAME_HW[1] * PANEL_SCALE)
    assert frames[0].shape == (h + max(24, round(h / 16)), 3 * w + 2 * GAP, 3)
    (sequence,) = read_sequences(out / "data" / "test" / "annotations")
    summary = json.loads((out / "metrics" / "summary.json").read_text())
    marked = 0
    dropped = _dropped_frames(FRAMES, DROP_EVERY)
    assert dropped == [4] == [DROP_EVERY // 2]
    for index, frame in enumerate(frames):
        bar, panels = _panels(frame)
        image = cv2.imread(str(out / "data" / sequence.frames[index].file_name))[:, :, ::-1]
        assert (image.max() < 8) == (index in dropped)  # the dropped frame is black, the others are not
        big = cv2.resize(image, (w, h), interpolation=cv2.INTER_CUBIC).astype(np.int16)
        drawn = []
        for panel in panels:
            diff = np.abs(panel.astype(np.int16) - big).max(axis=-1)
            assert np.median(diff) < 12  # every panel shows the enlarged frame ...
            drawn.append(float((diff > 60).mean()))
        # ... with poses drawn on it: the truth always, the models on most frames
        assert drawn[2] > 0.002, drawn
        border = panels[0][h // 2, 1].astype(int)
        is_marked = bool(np.abs(border - np.array(TAG_COLOUR)).max() < 60)
        assert is_marked == bool(np.abs(panels[2][h // 2, 1].astype(int) - TAG_COLOUR).max() < 60)
        is_dropped = bool(np.abs(border - np.array(DROP_COLOUR)).max() < 60)
        assert is_dropped == (index in dropped) and not (is_dropped and is_marked)
        marked += is_marked
    assert marked == summary["marked_frames"] == 2  # the two visible frames with a hard person
    assert summary["dropped_frames"] == 1
    _, panels = _panels(frames[0])
    gt_colour = PALETTE[sequence.frames[0].persons[0].track_id % len(PALETTE)]
    assert (np.abs(panels[2].astype(int) - gt_colour).max(axis=-1) < 40).sum() > 50  # GT skeleton colour


def test_both_models_predictions_and_metrics_are_written(demo):
    out, _ = demo
    summary = json.loads((out / "metrics" / "summary.json").read_text())
    assert set(summary["models"]) == set(MODELS)
    assert summary["models"]["temporal"]["frames_per_window"] == 5
    assert summary["models"]["single_frame"]["frames_per_window"] == 1
    assert summary["frames"] == FRAMES and "detections" in summary["boxes"]
    for name in MODELS:
        (pred,) = sorted((out / "predictions" / name).glob("*_mpii_synth.json"))
        assert len(read_predictions(pred).frames) == FRAMES
        metrics = out / "metrics" / name
        for file in ("total_AP_metrics.json", "total_MOT_metrics.json", "table.txt"):
            assert (metrics / file).is_file(), metrics / file
        ap = json.loads((metrics / "total_AP_metrics.json").read_text())
        mot = json.loads((metrics / "total_MOT_metrics.json").read_text())
        assert summary["models"][name]["ap"] == pytest.approx(ap["ap"][-1])
        assert summary["models"][name]["mota"] == pytest.approx(mot["mota"][-1])
        assert summary["models"][name]["checkpoint"] == str(bundled_checkpoint(name))
    assert not [p for p in out.rglob(".*")]  # no temporary files left


# AP on the dropped (black) frame, measured with round 5's bundle: the temporal model reads the pose from the
# neighbouring frames, the single-frame one guesses inside the detection box.
AP_DROPPED = {"temporal": 64.4, "single_frame": 29.6}


def test_the_temporal_model_sees_through_the_dropped_frame(demo):
    out, _ = demo
    models = json.loads((out / "metrics" / "summary.json").read_text())["models"]
    dropped = {name: models[name]["ap_dropped"] for name in MODELS}
    assert dropped == pytest.approx(AP_DROPPED, abs=1.0), dropped
    assert dropped["temporal"] > dropped["single_frame"] + 20, dropped


def test_printed_summary(demo):
    out, text = demo
    assert "not GT boxes" in text and "detections.json" in text
    assert f"marked frames: 2 of {FRAMES}" in text and f"dropped frames: 1 of {FRAMES}" in text
    rows = {}
    for line in text.splitlines():
        m = re.match(r"(temporal|single-frame)\s+(-?[\d.]+)\s+(-?[\d.]+)\s+(-?[\d.]+)\s+(-?[\d.]+)$", line)
        if m:
            rows[m.group(1)] = [float(v) for v in m.groups()[1:]]
    summary = json.loads((out / "metrics" / "summary.json").read_text())
    for label, name in (("temporal", "temporal"), ("single-frame", "single_frame")):
        m = summary["models"][name]
        expected = [m["ap"], m["ap_marked"], m["ap_dropped"], m["mota"]]
        assert rows[label] == pytest.approx(expected, abs=0.051), text
    assert re.search(r"^difference\s+[-+][\d.]+", text, re.M)
    assert text.count("Average Precision (AP) metric") == 2 and text.count("MOTA") >= 2
    assert str(bundled_checkpoint("temporal")) in text and str(bundled_checkpoint("single_frame")) in text
    stages = r"time: load [\d.]+ s, generate [\d.]+ s, temporal [\d.]+ s, single-frame [\d.]+ s, render"
    assert re.search(stages, text)
    assert (out / "metrics" / "summary.txt").read_text().strip() in text


def test_models_are_checked_and_named(tmp_path, capsys):
    with pytest.raises(ConfigError, match="'temporal', 'single_frame'"):
        bundled_checkpoint("nano")
    with pytest.raises(CheckpointError, match="a single-frame model .* given as the temporal model"):
        run_demo(tmp_path, temporal_checkpoint=bundled_checkpoint("single_frame"))
    with pytest.raises(SystemExit) as exc:
        main(["demo", "--out", str(tmp_path), "--single-frame-model", str(bundled_checkpoint("temporal"))])
    assert exc.value.code == 2 and "--single-frame-model" in capsys.readouterr().err
    assert not (tmp_path / "data").exists()  # checked before any clip is generated


def test_dropped_frames_are_spaced_beyond_a_window(tmp_path):
    assert _dropped_frames(24, 8) == [4, 12, 20]
    assert _dropped_frames(3, 8) == [] and _dropped_frames(24, 0) == []
    # the temporal model's window (offsets -2..2) around a dropped frame holds no other dropped frame
    frames = _dropped_frames(48, DROP_EVERY)
    assert all(b - a > 4 for a, b in zip(frames, frames[1:], strict=False))
    with pytest.raises(ConfigError, match="drop_every: expected 0"):
        run_demo(tmp_path, drop_every=-1)
    result = CliRunner().invoke(app, ["demo", "--out", str(tmp_path / "o"), "--drop-every", "-2"])
    assert result.exit_code != 0 and "--drop-every -2: expected 0" in str(result.exception or result.output)
    assert not (tmp_path / "data").exists() and not (tmp_path / "o").exists()
