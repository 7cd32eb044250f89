"""The joint-score threshold sweep: the same AP and MOTA as writing the predictions at each threshold with the
prediction writer and evaluating the files; dropping low-scoring joints trades recall for precision."""

from __future__ import annotations

import json
import math

import pytest

from vidpose.cli import main as cli_main
from vidpose.data.posetrack import read_predictions, read_sequences
from vidpose.data.posetrack_writer import write_predictions
from vidpose.errors import ConfigError
from vidpose.evaluation import (
    ThresholdPoint,
    best_threshold,
    evaluate_folders,
    sweep_folders,
)
from vidpose.evaluation.joint_threshold import drop_joints_at_or_below, parse_thresholds

#: one Bonn video whose predictions have 30 % false-positive persons and 20 % dropped joints
NAME = "bonn1_noise30_fp30_drop20"


@pytest.fixture(scope="module")
def case(shared_data):
    path = shared_data / "eval_golden" / NAME
    if not path.is_dir():
        pytest.skip(f"golden case {NAME} not found in {shared_data / 'eval_golden'}")
    return path


def _written_at(case, threshold, tmp_path):
    """The case's predictions re-written by the prediction writer with ``joint_score_thr``: the oracle."""
    out = tmp_path / f"thr_{threshold}"
    for gt in read_sequences(case / "gt"):
        pred = read_predictions(case / "pred" / f"{gt.name}.json")
        by_image = {f.image_id: f.persons for f in pred.frames}
        persons = [by_image.get(f.image_id, []) for f in gt.frames]
        write_predictions(gt, persons, out / f"{gt.name}.json", joint_score_thr=threshold)
    return out


@pytest.mark.parametrize("threshold", [0.0, 0.35, 0.7])
def test_the_sweep_equals_writing_the_files_at_each_threshold(case, threshold, tmp_path):
    (point,) = sweep_folders(case / "gt", case / "pred", [threshold])
    report = evaluate_folders(case / "gt", _written_at(case, threshold, tmp_path), tracking=True)
    assert point.threshold == threshold
    assert point.ap == pytest.approx(float(report.ap.ap[-1]), abs=1e-9)
    assert point.mota == pytest.approx(float(report.mot.mota[-1]), abs=1e-9)
    assert point.precision == pytest.approx(float(report.mot.precision[-1]), abs=1e-9)
    assert point.recall == pytest.approx(float(report.mot.recall[-1]), abs=1e-9)
    assert point.num_false_positives == int(report.mot.num_false_positives.sum())


def test_no_threshold_is_the_file_as_it_is(case):
    (point,) = sweep_folders(case / "gt", case / "pred", [-math.inf])
    report = evaluate_folders(case / "gt", case / "pred", tracking=True)
    assert (point.ap, point.mota) == (float(report.ap.ap[-1]), float(report.mot.mota[-1]))
    assert point.joints_kept == 1.0


def test_a_higher_threshold_trades_recall_for_precision_and_mota(case):
    thresholds = [0.0, 0.2, 0.4, 0.6, 0.8]
    points = sweep_folders(case / "gt", case / "pred", thresholds)
    assert [p.threshold for p in points] == thresholds
    kept = [p.joints_kept for p in points]
    recall = [p.recall for p in points]
    precision = [p.precision for p in points]
    assert kept == sorted(kept, reverse=True) and kept[-1] < kept[0]
    assert recall == sorted(recall, reverse=True) and recall[-1] < recall[0]
    assert precision[-1] > precision[0]
    best = best_threshold(points)
    assert best.mota == max(p.mota for p in points) and best.mota > points[0].mota  # the FPs cost MOTA


def test_dropping_leaves_the_input_alone(case):
    pred = read_predictions(case / "pred" / "060470979_bonn_test.json")
    before = [p.keypoints.copy() for f in pred.frames for p in f.persons]
    dropped, submitted, kept = drop_joints_at_or_below(pred, 0.5)
    for a, b in zip(before, (p.keypoints for f in pred.frames for p in f.persons), strict=True):
        assert (a == b).all()
    assert 0 < kept < submitted
    low = [(p.joint_scores <= 0.5) for f in dropped.frames for p in f.persons]
    assert all(
        (p.keypoints[m] == 0).all()
        for p, m in zip((p for f in dropped.frames for p in f.persons), low, strict=True)
    )


def test_ties_choose_the_lowest_threshold_and_bad_input_is_named():
    def point(thr, mota):
        return ThresholdPoint(thr, 50.0, mota, 80.0, 90.0, 60.0, 1, 2, 3, 0.5)

    assert best_threshold([point(0.4, 10.0), point(0.2, 10.0), point(0.6, 5.0)]).threshold == 0.2
    assert best_threshold([point(0.1, float("nan")), point(0.3, -4.0)]).threshold == 0.3
    with pytest.raises(ConfigError, match="no points"):
        best_threshold([])
    with pytest.raises(ConfigError, match="comma-separated numbers"):
        parse_thresholds("0.1;0.2")
    assert parse_thresholds("0, 0.25,0.5,") == [0.0, 0.25, 0.5]


def test_the_cli_prints_the_sweep_and_writes_it(case, tmp_path, capsys):
    out = tmp_path / "eval"
    args = ["eval-posetrack", str(case / "gt"), str(case / "pred"), "--out", str(out), "--tracking"]
    with pytest.raises(SystemExit) as exit_info:
        cli_main([*args, "--joint-thr-sweep", "0,0.4,0.8"])
    assert exit_info.value.code in (0, None)
    printed = capsys.readouterr().out
    assert "Joint-score threshold sweep" in printed and "(best MOTA)" in printed
    data = json.loads((out / "joint_threshold_sweep.json").read_text())
    assert [p["threshold"] for p in data["points"]] == [0.0, 0.4, 0.8]
    best = max(data["points"], key=lambda p: p["mota"])
    assert data["best_mota_threshold"] == best["threshold"]
    with pytest.raises(SystemExit) as exit_info:
        cli_main([*args[:-1], "--joint-thr-sweep", "0,0.4"])
    assert exit_info.value.code == 2 and "--tracking" in capsys.readouterr().err
