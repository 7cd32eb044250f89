"""The bundled model on synthetic clips it has never seen: the demo (reduced), keypoint accuracy with GT
boxes, and identities kept by the tracker from noisy detections.

Thresholds are set from what the committed model measures (numbers below) with a margin for platform
differences; a broken crop, decoder, flip test, tracker or checkpoint drops far below them.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from vidpose.data.posetrack import read_predictions, read_sequences
from vidpose.data.synthetic import SynthConfig, generate_split
from vidpose.data.video_io import open_source
from vidpose.evaluation import evaluate_ap, evaluate_mota
from vidpose.inference.demo import bundled_checkpoint, run_demo
from vidpose.inference.outputs import predict_to_files
from vidpose.inference.pipeline import VideoPoseEstimator

FRAMES = 12
# Measured with the committed model (2026-11-24): demo clip AP 4.8; GT boxes PCKh@0.5 28.5 %, AP 14.5;
# detections + tracker: MOTA -44.5 with 13 id switches for 656 GT objects. An untrained model of the same
# architecture: PCKh 0.7 %, AP 0.05. The bundled nano model is weak (see the README), so MOTA is dominated
# by pose misses; the MOTA floor and the switch budget catch a tracker that fragments or swaps identities
# (one new id per frame adds about one switch per GT object, i.e. about -100 MOTA).
AP_DEMO_MIN = 2.0
PCKH_GT_MIN = 0.20
AP_GT_MIN = 8.0
MOTA_MIN = -60.0
SWITCH_FRACTION_MAX = 0.05


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """Two unseen synthetic test clips (a seed the model was not trained or validated on)."""
    root = tmp_path_factory.mktemp("clips")
    generate_split(root, "test", 2, 99, SynthConfig(frames_per_clip=FRAMES))
    return root, read_sequences(root / "test" / "annotations")


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    return run_demo(out, clips=1, frames=FRAMES, seed=7)


def test_bundled_checkpoint_is_small_and_loads():
    path = bundled_checkpoint()
    assert path.stat().st_size <= 10 * 1024 * 1024
    estimator = VideoPoseEstimator(path, detector="whole")
    assert estimator.cfg.name == "synthetic_nano" and estimator.cfg.model.temporal


def test_demo_writes_video_predictions_and_metrics(demo):
    (video,) = demo.videos
    source = open_source(video)
    frames = list(source)
    assert len(frames) == FRAMES
    assert frames[0][1].shape[1] == 2 * 384  # prediction | ground truth side by side
    (pred,) = demo.predictions
    assert len(read_predictions(pred).frames) == FRAMES
    for name in ("total_AP_metrics.json", "total_MOT_metrics.json", "table.txt"):
        assert (demo.out_dir / "metrics" / name).is_file()
    ap = json.loads((demo.out_dir / "metrics" / "total_AP_metrics.json").read_text())
    assert len(ap["ap"]) == 16 and ap["names"]["15"] == "total"
    assert demo.metrics["ap_total"] == pytest.approx(ap["ap"][-1])
    assert demo.metrics["ap_total"] > AP_DEMO_MIN, demo.table


def _pckh(gt_seqs, pred_seqs) -> float:
    """Fraction of annotated GT joints whose prediction (same track id) lies within half a head size."""
    hits = total = 0
    for gt, pred in zip(gt_seqs, pred_seqs, strict=True):
        for gf, pf in zip(gt.frames, pred.frames, strict=True):
            by_id = {p.track_id: p for p in pf.persons}
            for g in gf.persons:
                labelled = ~np.all(g.keypoints == 0, axis=1)
                head = 0.6 * np.hypot(g.head_box[2], g.head_box[3])
                total += int(labelled.sum())
                if g.track_id in by_id:
                    d = np.linalg.norm(by_id[g.track_id].keypoints[:, :2] - g.keypoints[:, :2], axis=1)
                    hits += int(((d <= 0.5 * head) & labelled).sum())
    return hits / total


def test_keypoints_land_near_the_truth_with_gt_boxes(clips, tmp_path):
    root, sequences = clips
    estimator = VideoPoseEstimator(bundled_checkpoint(), boxes="gt")
    preds = []
    for seq in sequences:
        summary = predict_to_files(estimator, seq.source, tmp_path, root=root, write_video=False)
        preds.append(read_predictions(summary.paths["posetrack"]))
    pck = _pckh(sequences, preds)
    ap = evaluate_ap(sequences, preds).ap[-1]
    assert pck > PCKH_GT_MIN, pck
    assert ap > AP_GT_MIN, ap


def test_tracker_keeps_identities_from_noisy_detections(clips, tmp_path):
    root, sequences = clips
    estimator = VideoPoseEstimator(bundled_checkpoint(), boxes=root / "test" / "detections.json")
    preds = []
    for seq in sequences:
        summary = predict_to_files(estimator, seq.source, tmp_path, root=root, write_video=False)
        preds.append(read_predictions(summary.paths["posetrack"]))
        ids = [{p.track_id for p in f.persons} for f in preds[-1].frames]
        assert all(len(s) == len(f.persons) for s, f in zip(ids, preds[-1].frames, strict=True))
    mot = evaluate_mota(sequences, preds)
    switches = int(mot.num_switches.sum())
    objects = int(mot.num_objects.sum())
    assert mot.mota[-1] > MOTA_MIN, mot.mota
    assert switches <= SWITCH_FRACTION_MAX * objects, (switches, objects)
