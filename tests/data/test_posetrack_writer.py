"""Prediction writer: poseval-ready files that round-trip through the reader and score 100 on their GT."""

from __future__ import annotations

import json

import numpy as np
import pytest

from vidpose.data.posetrack import read_predictions, read_sequence, read_sequences
from vidpose.data.posetrack_writer import posetrack18_categories, write_predictions
from vidpose.data.records import Person
from vidpose.errors import DataFormatError
from vidpose.evaluation import evaluate_ap, evaluate_folders, evaluate_mota
from vidpose.skeleton import PT18

BONN = "bonn_multiperson_posetrack/posetrack18/test/060470979_bonn_test.json"


def _as_predictions(seq, seed=0):
    """The GT persons as predictions: annotated joints with random scores, others undetected."""
    rng = np.random.default_rng(seed)
    frames = []
    for frame in seq.frames:
        persons = []
        for p in frame.persons:
            kp = p.keypoints.copy()
            annotated = ~(kp == 0).all(axis=1)
            kp[annotated, 2] = 1.0
            scores = np.where(annotated, rng.uniform(0.1, 1.0, 17), 0.0)
            persons.append(
                Person(keypoints=kp, track_id=p.track_id, joint_scores=scores, score=0.9, box=p.box)
            )
        frames.append(persons)
    return frames


def test_round_trip_and_perfect_scores_on_bonn(shared_data, tmp_path):
    gt = read_sequence(shared_data / BONN)
    preds = _as_predictions(gt)
    path = write_predictions(gt, preds, tmp_path)
    assert path == tmp_path / "060470979_bonn_test.json"
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary file left behind
    raw = json.loads(path.read_text())
    assert raw["images"] == json.loads((shared_data / BONN).read_text())["images"]  # same list, same order
    assert raw["categories"] == posetrack18_categories()
    ann = raw["annotations"][0]
    assert len(ann["keypoints"]) == 51 and len(ann["scores"]) == 17 and isinstance(ann["track_id"], int)
    assert ann["keypoints"][:3] == [0.0, 0.0, 0.0] and ann["scores"][0] == 0.0  # undetected nose

    back = read_predictions(path)
    assert back.name == gt.name and len(back) == len(gt)
    for frame, persons in zip(back.frames, preds, strict=True):
        for got, want in zip(frame.persons, persons, strict=True):
            np.testing.assert_allclose(got.keypoints, want.keypoints)
            np.testing.assert_allclose(got.joint_scores, want.joint_scores)
            assert got.track_id == want.track_id

    ap = evaluate_ap([gt], [back])
    np.testing.assert_allclose(np.delete(ap.ap[:15], 13), 100.0)
    assert ap.ap[13] == 0.0  # no nose anywhere
    mot = evaluate_mota([gt], [back])
    np.testing.assert_allclose(np.delete(mot.mota[:15], 13), 100.0)
    assert mot.num_switches.sum() == 0


def test_perfect_scores_with_ignore_regions(shared_data, tmp_path):
    gts = read_sequences(shared_data / "mmpose_posetrack18/annotations/val")
    for gt in gts:
        write_predictions(gt, _as_predictions(gt), tmp_path / "pred")
    report = evaluate_folders(shared_data / "mmpose_posetrack18/annotations/val", tmp_path / "pred")
    has_gt = report.ap.num_gt > 0
    assert has_gt.all()
    np.testing.assert_allclose(report.ap.ap, 100.0)


def test_posetrack17_sequences_get_images_rebuilt(shared_data, tmp_path):
    gt = read_sequence(shared_data / "eval_golden/bonn1_noise15_swap_pt17gt/gt/060470979_bonn_test.json")
    path = write_predictions(gt, _as_predictions(gt), tmp_path / "x.json")
    assert path == tmp_path / "x.json"
    raw = json.loads(path.read_text())
    assert [im["file_name"] for im in raw["images"]] == [f.file_name for f in gt.frames]
    assert [im["id"] for im in raw["images"]] == list(range(41))
    back = read_predictions(path)
    back.name = gt.name
    ap = evaluate_ap([gt], [back])
    np.testing.assert_allclose(np.delete(ap.ap[:15], 13), 100.0)


def test_low_scores_are_written_as_undetected(tmp_path, shared_data):
    gt = read_sequence(shared_data / BONN)
    preds = _as_predictions(gt)
    path = write_predictions(gt, preds, tmp_path, joint_score_thr=0.5)
    back = read_predictions(path)
    for frame, persons in zip(back.frames, preds, strict=True):
        for got, want in zip(frame.persons, persons, strict=True):
            low = want.joint_scores <= 0.5
            assert np.all(got.keypoints[low] == 0) and np.all(got.joint_scores[low] == 0)
            np.testing.assert_allclose(got.keypoints[~low, :2], want.keypoints[~low, :2])


def test_bad_track_ids_write_nothing(tmp_path, shared_data):
    gt = read_sequence(shared_data / BONN)
    good = write_predictions(gt, _as_predictions(gt), tmp_path)
    before = good.read_text()
    preds = _as_predictions(gt)
    preds[3][1].track_id = preds[3][0].track_id
    with pytest.raises(DataFormatError, match=r"frame 3 \(images/060470979_bonn_test/00004.jpg\): track ids"):
        write_predictions(gt, preds, tmp_path)
    preds = _as_predictions(gt)
    preds[0][0].track_id = 10000
    with pytest.raises(DataFormatError, match="track_id 10000 is not an integer in"):
        write_predictions(gt, preds, tmp_path)
    with pytest.raises(DataFormatError, match="40 frames of predictions for a sequence of 41"):
        write_predictions(gt, _as_predictions(gt)[:40], tmp_path)
    assert good.read_text() == before and [p.name for p in tmp_path.iterdir()] == [good.name]


def test_categories_are_the_posetrack18_layout():
    cat = posetrack18_categories()[0]
    assert cat["keypoints"] == list(PT18.names)
    assert cat["skeleton"][0] == [16, 14]  # 1-based, as in the dataset files
