"""The joint-score threshold sweep: the same AP and MOTA as writing the predictions at each threshold with the
prediction writer and evaluating the files; dropping low-scoring joints trades recall for precision."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from vidpose.cli import main as cli_main
from vidpose.data.posetrack import PT17_ID_TO_PT18, read_predictions, read_sequences
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


def _written_at(gt_dir, pred_dir, threshold, out):
    """The predictions re-written by the prediction writer with ``joint_score_thr``: the oracle."""
    for gt in read_sequences(gt_dir):
        pred = read_predictions(pred_dir / f"{gt.name}.json")
        persons = [f.persons for f in pred.frames]  # the case's prediction frames are the GT's, in order
        write_predictions(gt, persons, out / f"{gt.name}.json", joint_score_thr=threshold)
    return out


def _without_scores(case, out):
    """The case's predictions with the per-joint ``scores`` moved into the keypoints' third column."""
    out.mkdir()
    for path in (case / "pred").glob("*.json"):
        data = json.loads(path.read_text())
        for ann in data["annotations"]:
            for j, score in enumerate(ann.pop("scores")):
                if ann["keypoints"][3 * j : 3 * j + 2] != [0, 0]:
                    ann["keypoints"][3 * j + 2] = score
        (out / path.name).write_text(json.dumps(data))
    return out


def _as_pt17(case, out):
    """The case's predictions in the PoseTrack17 layout (annolist, per-point scores)."""
    out.mkdir()
    pt17_id = {channel: i for i, channel in PT17_ID_TO_PT18.items()}
    for path in (case / "pred").glob("*.json"):
        annolist = []
        for frame in read_predictions(path).frames:
            rects = []
            for person in frame.persons:
                points = [
                    {"id": [i], "x": [float(x)], "y": [float(y)], "score": [float(person.joint_scores[c])]}
                    for c, i in pt17_id.items()
                    for x, y, _ in [person.keypoints[c]]
                    if not (x == 0 and y == 0)
                ]
                rects.append(
                    {"track_id": [person.track_id], "annopoints": [{"point": points}] if points else []}
                )
            annolist.append({"image": [{"name": frame.file_name}], "annorect": rects})
        (out / path.name).write_text(json.dumps({"annolist": annolist}))
    return out


PRED_LAYOUTS = {"pt18 with scores": None, "no scores": _without_scores, "pt17": _as_pt17}


# pt21 mode pairs frames by image id, which a PoseTrack17 file does not carry (a clear error, tested
# elsewhere)
CASES = [
    (layout, mode)
    for layout in PRED_LAYOUTS
    for mode in ("pt18", "pt21")
    if (layout, mode) != ("pt17", "pt21")
]


@pytest.mark.parametrize(("layout", "mode"), CASES)
def test_the_sweep_equals_writing_the_files_at_each_threshold(case, layout, mode, tmp_path):
    """0.3 and 0.6 are scores of the case's joints (a joint at the threshold is dropped); at 0.9 whole frames
    lose every joint."""
    make = PRED_LAYOUTS[layout]
    pred_dir = case / "pred" if make is None else make(case, tmp_path / "pred")
    thresholds = [0.0, 0.3, 0.6, 0.9]
    for point, threshold in zip(
        sweep_folders(case / "gt", pred_dir, thresholds, mode), thresholds, strict=True
    ):
        written = _written_at(case / "gt", pred_dir, threshold, tmp_path / f"thr_{threshold}")
        report = evaluate_folders(case / "gt", written, tracking=True, mode=mode)
        assert point.threshold == threshold
        expected = [report.ap.ap[-1], report.mot.mota[-1], report.mot.precision[-1], report.mot.recall[-1]]
        got = [point.ap, point.mota, point.precision, point.recall]
        assert got == pytest.approx([float(v) for v in expected], abs=1e-9), (layout, mode, threshold)
        assert point.num_false_positives == int(report.mot.num_false_positives.sum())


def test_joints_scoring_exactly_the_threshold_are_dropped(case):
    pred = read_predictions(case / "pred" / "060470979_bonn_test.json")
    scores = np.concatenate([p.joint_scores for f in pred.frames for p in f.persons])
    assert (scores == 0.3).any()  # the case has joints at exactly 0.3
    dropped, _, _ = drop_joints_at_or_below(pred, 0.3)
    kept = np.concatenate([p.joint_scores for f in dropped.frames for p in f.persons])
    assert not ((kept > 0) & (kept <= 0.3)).any() and (kept > 0.3).any()


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
    persons = [p for f in pred.frames for p in f.persons]
    before = [(p.keypoints.copy(), p.joint_scores.copy()) for p in persons]
    dropped, submitted, kept = drop_joints_at_or_below(pred, 0.5)
    for (kp, sc), person in zip(before, persons, strict=True):  # the input is unchanged
        assert (kp == person.keypoints).all() and (sc == person.joint_scores).all()
    assert 0 < kept < submitted and dropped.format == "pt18"
    out = [p for f in dropped.frames for p in f.persons]
    for (kp, sc), person in zip(before, out, strict=True):
        low = sc <= 0.5  # from the original scores
        assert (person.keypoints[low] == 0).all() and (person.joint_scores[low] == 0).all()
        high = ~low & ~((kp[:, 0] == 0) & (kp[:, 1] == 0))
        assert (person.keypoints[high, :2] == kp[high, :2]).all() and (
            person.joint_scores[high] == sc[high]
        ).all()


def test_ties_choose_the_lowest_threshold_and_bad_input_is_named():
    def point(thr, mota):
        return ThresholdPoint(thr, 50.0, mota, 80.0, 90.0, 60.0, 1, 2, 3, 0.5)

    assert best_threshold([point(0.4, 10.0), point(0.2, 10.0), point(0.6, 5.0)]).threshold == 0.2
    assert best_threshold([point(0.1, float("nan")), point(0.3, -4.0)]).threshold == 0.3
    with pytest.raises(ConfigError, match="no points"):
        best_threshold([])
    for bad in ("0.1;0.2", "0,nan", "0.2,0.2", ""):
        with pytest.raises(ConfigError, match="--joint-thr-sweep: expected distinct finite numbers"):
            parse_thresholds(bad)
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
