"""One road from a window to image keypoints: ``evaluate`` and ``predict --boxes gt --no-share`` run the same
estimator (:class:`vidpose.inference.estimator.WindowEstimator`) on the same crops, score the same GT persons
(:data:`vidpose.data.boxes.SCORED_MIN_JOINTS`), and so give the same keypoints and the same AP."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from vidpose.data.posetrack import read_predictions, read_sequences
from vidpose.data.synthetic import SynthConfig, generate_split
from vidpose.evaluation import evaluate_ap
from vidpose.inference import GTBoxes, VideoPoseEstimator, predict_to_files
from vidpose.models.serialization import load_model
from vidpose.tasks.demo import bundled_checkpoint
from vidpose.tasks.evaluate import evaluate_split


@pytest.fixture(scope="module")
def split(tmp_path_factory):
    root = tmp_path_factory.mktemp("one_road")
    generate_split(root, "test", 2, 616161, SynthConfig(frames_per_clip=8))
    # one GT person (with a box) without a labelled joint: neither road may score it
    first = sorted((root / "test" / "annotations").glob("*.json"))[0]
    data = json.loads(first.read_text())
    image = data["images"][3]["id"]
    ann = next(a for a in data["annotations"] if a["image_id"] == image)
    ann["keypoints"] = [0] * len(ann["keypoints"])
    first.write_text(json.dumps(data))
    return root, read_sequences(root / "test" / "annotations")


def test_evaluate_and_predict_give_the_same_keypoints_and_ap(split, tmp_path):
    root, sequences = split
    model, cfg = load_model(bundled_checkpoint("temporal"))
    cfg = dataclasses.replace(
        cfg, data=dataclasses.replace(cfg.data, root=str(root), val_ann="test/annotations", val_boxes="gt")
    )
    summary = evaluate_split(model, cfg, sequences=sequences, out_dir=tmp_path / "evaluate")

    estimator = VideoPoseEstimator((model, cfg), boxes=GTBoxes(), share_features=False)
    predicted = []
    for seq in sequences:
        out = predict_to_files(estimator, seq.source, tmp_path / "predict", root=root, write_video=False)
        predicted.append(read_predictions(out.paths["posetrack"]))

    folder = tmp_path / "evaluate" / "predictions"
    evaluated = [read_predictions(folder / f"{s.name}.json") for s in sequences]
    compared = 0
    for seq, ev, pr in zip(sequences, evaluated, predicted, strict=True):
        for gt_frame, ev_frame, pr_frame in zip(seq.frames, ev.frames, pr.frames, strict=True):
            if not gt_frame.is_labeled:
                continue
            ev_by_id = {p.track_id: p for p in ev_frame.persons}
            pr_by_id = {p.track_id: p for p in pr_frame.persons}
            assert ev_by_id.keys() == pr_by_id.keys(), (seq.name, gt_frame.index)
            for tid, p in ev_by_id.items():
                np.testing.assert_allclose(pr_by_id[tid].keypoints, p.keypoints, atol=1e-3)
                compared += 1
    assert compared > 20
    (unlabelled,) = [p.track_id for p in sequences[0].frames[3].persons if not p.keypoints.any()]
    assert unlabelled not in {p.track_id for p in predicted[0].frames[3].persons}

    ap_predict = evaluate_ap(sequences, predicted).ap[-1]
    assert ap_predict == pytest.approx(summary.ap.ap[-1], abs=1e-6)


def test_with_data_crop_hold_shared_predict_gives_what_evaluate_gives(split, tmp_path):
    """data.crop_hold cuts evaluation windows with the crops predict --share holds, so the default predict
    of such a model shares its backbone features and still equals evaluate."""
    root, sequences = split
    model, cfg = load_model(bundled_checkpoint("single_frame"))
    data = dataclasses.replace(
        cfg.data, root=str(root), val_ann="test/annotations", val_boxes="gt", crop_hold=True
    )
    cfg = dataclasses.replace(cfg, data=data)
    summary = evaluate_split(model, cfg, sequences=sequences, out_dir=tmp_path / "evaluate")
    plain = evaluate_split(model, dataclasses.replace(cfg, data=dataclasses.replace(data, crop_hold=False)))
    assert not np.allclose(plain.windows["keypoints"], summary.windows["keypoints"])  # other crops

    estimator = VideoPoseEstimator((model, cfg), boxes=GTBoxes())
    assert estimator.share_features  # the default for a crop_hold model
    predicted = []
    for seq in sequences:
        out = predict_to_files(estimator, seq.source, tmp_path / "predict", root=root, write_video=False)
        predicted.append(read_predictions(out.paths["posetrack"]))
    folder = tmp_path / "evaluate" / "predictions"
    for seq, pr in zip(sequences, predicted, strict=True):
        ev = read_predictions(folder / f"{seq.name}.json")
        for gt_frame, ev_frame, pr_frame in zip(seq.frames, ev.frames, pr.frames, strict=True):
            if gt_frame.is_labeled:
                pr_by_id = {p.track_id: p for p in pr_frame.persons}
                for p in ev_frame.persons:
                    np.testing.assert_allclose(pr_by_id[p.track_id].keypoints, p.keypoints, atol=1e-3)
    assert evaluate_ap(sequences, predicted).ap[-1] == pytest.approx(summary.ap.ap[-1], abs=1e-6)
