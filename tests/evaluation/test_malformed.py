"""Malformed input: every reader and evaluator error is a DataFormatError that names the file, the entry and
the field, never a bare KeyError / IndexError / TypeError."""

from __future__ import annotations

import copy
import json
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vidpose.data.posetrack import parse_sequence, read_predictions, read_sequence
from vidpose.errors import DataFormatError
from vidpose.evaluation import evaluate_ap, evaluate_folders, evaluate_mota
from vidpose.skeleton import PT18

NAMES = list(PT18.names)


def _kp(x0: float) -> list[float]:
    out = []
    for c in range(17):
        out += [0.0, 0.0, 0.0] if c in (3, 4) else [x0 + 10 * c, 100.0 + 5 * c, 1.0]
    return out


def valid_pt18(scores: bool = True) -> dict:
    images = [
        {
            "id": 100 + i,
            "file_name": f"images/val/000001_bonn_test/{i:06d}.jpg",
            "is_labeled": True,
            "nframes": 2,
            "ignore_regions_x": [[0, 50, 50, 0]],
            "ignore_regions_y": [[0, 0, 50, 50]],
            "width": 640,
            "height": 480,
        }
        for i in range(2)
    ]
    anns = []
    for i, im in enumerate(images):
        for k in range(2 - i):
            ann = {
                "image_id": im["id"],
                "track_id": k,
                "keypoints": _kp(100 + 300 * k),
                "bbox": [90, 90, 200, 120],
                "bbox_head": [100, 60, 30, 40],
                "category_id": 1,
                "id": len(anns),
            }
            if scores:
                ann["scores"] = [0.5 + 0.01 * c for c in range(17)]
            anns.append(ann)
    return {
        "images": images,
        "annotations": anns,
        "categories": [{"name": "person", "keypoints": list(NAMES)}],
    }


def valid_pt17() -> dict:
    def rect(track: int, x0: float) -> dict:
        points = [{"id": [j], "x": [x0 + 7 * j], "y": [100 + 4 * j], "is_visible": [1]} for j in range(15)]
        return {
            "track_id": [track],
            "x1": [x0],
            "y1": [60],
            "x2": [x0 + 30],
            "y2": [100],
            "annopoints": [{"point": points}],
        }

    region = {"point": [{"x": [0], "y": [0]}, {"x": [50], "y": [0]}, {"x": [50], "y": [50]}]}
    return {
        "annolist": [
            {
                "image": [{"name": f"images/bonn/000001_bonn/{i:05d}.jpg"}],
                "imgnum": [i + 1],
                "ignore_regions": [region],
                "annorect": [rect(0, 100), rect(1, 400)][: 2 - i],
            }
            for i in range(2)
        ]
    }


def _paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, (*prefix, i))


def _get(node, path):
    for key in path:
        node = node[key]
    return node


VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**20), 10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=4),
    st.lists(st.integers(-5, 5), max_size=4),
    st.lists(st.floats(-1e6, 1e6), min_size=50, max_size=52),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)


@st.composite
def mutations(draw, base: dict):
    data = copy.deepcopy(base)
    for _ in range(draw(st.integers(1, 3))):
        paths = [p for p in _paths(data) if p]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent, key = _get(data, path[:-1]), path[-1]
        action = draw(st.sampled_from(["delete", "replace", "truncate", "extend"]))
        target = parent[key]
        if action == "delete":
            del parent[key]
        elif action in ("truncate", "extend") and isinstance(target, list):
            if action == "truncate" and target:
                del target[draw(st.integers(0, len(target) - 1))]
            else:
                target.append(draw(VALUES))
        else:
            parent[key] = draw(VALUES)
    return data


def _only_data_format_errors(fn) -> object | None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # no silent numpy warnings either
            return fn()
    except DataFormatError as e:
        assert "mut.json" in str(e) or "seq" in str(e), str(e)
        return None


def _evaluate(gt, pred) -> None:
    _only_data_format_errors(lambda: evaluate_ap([gt], [pred]))
    _only_data_format_errors(lambda: evaluate_ap([gt], [pred], mode="pt21"))
    _only_data_format_errors(lambda: evaluate_mota([gt], [pred]))


SETTINGS = settings(
    max_examples=400, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)


@SETTINGS
@given(data=mutations(valid_pt18()))
def test_mutated_pt18_raises_only_data_format_errors(data):
    good = parse_sequence(valid_pt18(), "seq.json")
    gt = _only_data_format_errors(lambda: parse_sequence(data, "mut.json"))
    pred = _only_data_format_errors(lambda: parse_sequence(data, "mut.json", predictions=True))
    for p in [pred] if pred is not None else []:
        p.name = good.name
        _evaluate(good, p)
    if gt is not None:
        gt.name = good.name
        _evaluate(gt, parse_sequence(valid_pt18(), "seq.json", predictions=True))


@SETTINGS
@given(data=mutations(valid_pt17()))
def test_mutated_pt17_raises_only_data_format_errors(data):
    gt = _only_data_format_errors(lambda: parse_sequence(data, "mut.json"))
    pred = _only_data_format_errors(lambda: parse_sequence(data, "mut.json", predictions=True))
    good = parse_sequence(valid_pt17(), "seq.json")
    if gt is not None:
        gt.name = good.name
        _evaluate(gt, good)
    if pred is not None:
        pred.name = good.name
        _evaluate(good, pred)


# ---------------------------------------------------------------------------------- named culprits
@pytest.mark.parametrize(
    "path, message",
    [
        (
            ("images",),
            "top level: expected a PoseTrack file: an object with 'annolist' (PoseTrack17) or 'images'",
        ),
        (("annotations",), "annotations: expected this field to be present"),
        (("images", 1, "id"), "images[1].id: expected this field to be present"),
        (("images", 0, "file_name"), "images[0].file_name: expected this field"),
        (("annotations", 2, "keypoints"), "annotations[2].keypoints: expected this field"),
        (("annotations", 1, "image_id"), "annotations[1].image_id: expected this field"),
        (("annotations", 0, "track_id"), "annotations[0].track_id: expected this field"),
        (
            ("images", 0, "ignore_regions_y"),
            "images[0].ignore_regions_y: expected this field to be present together",
        ),
        (("categories", 0, "keypoints"), "categories[0].keypoints: expected this field"),
    ],
)
def test_deleted_required_pt18_field_is_named(path, message):
    data = valid_pt18()
    del _get(data, path[:-1])[path[-1]]
    with pytest.raises(DataFormatError) as info:
        parse_sequence(data, "mut.json")
    assert str(info.value).startswith("mut.json: ") and message in str(info.value)


@pytest.mark.parametrize(
    "path, value, message",
    [
        (
            ("annotations", 1, "keypoints"),
            list(range(50)),
            "annotations[1].keypoints: expected a list of 51 numbers, got a list of 50",
        ),
        (
            ("annotations", 1, "keypoints"),
            "abc",
            'annotations[1].keypoints: expected a list of numbers, got "abc"',
        ),
        (
            ("annotations", 0, "keypoints", 4),
            None,
            "annotations[0].keypoints[4]: expected a number, got null",
        ),
        (
            ("annotations", 0, "keypoints", 4),
            float("nan"),
            "annotations[0].keypoints[4]: expected a finite number",
        ),
        (("annotations", 0, "scores"), [0.5] * 16, "annotations[0].scores: expected a list of 17 numbers"),
        (
            ("annotations", 0, "bbox_head"),
            [1, 2, 3],
            "annotations[0].bbox_head: expected a list of 4 numbers",
        ),
        (("annotations", 0, "track_id"), 1.5, "annotations[0].track_id: expected an integer, got 1.5"),
        (("annotations", 0, "track_id"), "7", "annotations[0].track_id: expected an integer"),
        (
            ("annotations", 2, "image_id"),
            555,
            "annotations[2].image_id: expected the id of an entry of `images`",
        ),
        (("images", 1, "id"), 100, "images[1].id: expected a unique image id"),
        (("images", 0, "is_labeled"), "yes", "images[0].is_labeled: expected true/false"),
        (
            ("images", 0, "ignore_regions_x", 0),
            [1, 2],
            "images[0].ignore_regions_y[0]: expected a list of 2 numbers",
        ),
        (
            ("categories", 0, "keypoints", 3),
            "left_eye",
            "categories[0].keypoints[3]: expected a PoseTrack18 joint",
        ),
        (("categories",), [], "categories: expected at least one category"),
        (("images", 0), 3, "images[0]: expected an object, got 3"),
    ],
)
def test_wrong_pt18_field_is_named(path, value, message):
    data = valid_pt18()
    _get(data, path[:-1])[path[-1]] = value
    with pytest.raises(DataFormatError) as info:
        parse_sequence(data, "mut.json")
    assert message in str(info.value)


@pytest.mark.parametrize(
    "path, value, message",
    [
        (
            ("annolist", 0, "annorect", 1, "annopoints", 0, "point", 3, "id"),
            [15],
            "point[3].id: expected a PoseTrack17 joint id 0..14",
        ),
        (
            ("annolist", 0, "annorect", 1, "annopoints", 0, "point", 3, "x"),
            [1, 2],
            "point[3].x: expected a one-element list",
        ),
        (("annolist", 0, "annorect", 0, "x2"), ["a"], "annolist[0].annorect[0].x2: expected a number"),
        (("annolist", 1, "image"), [], "annolist[1].image: expected a one-element list"),
        (
            ("annolist", 0, "ignore_regions", 0, "point", 1),
            {"x": [3]},
            "ignore_regions[0].point[1].y: expected this field",
        ),
    ],
)
def test_wrong_pt17_field_is_named(path, value, message):
    data = valid_pt17()
    _get(data, path[:-1])[path[-1]] = value
    with pytest.raises(DataFormatError) as info:
        parse_sequence(data, "mut.json")
    assert message in str(info.value)


def test_head_box_corners_come_together():
    data = valid_pt17()
    del data["annolist"][0]["annorect"][0]["y2"]
    with pytest.raises(
        DataFormatError, match=r"annolist\[0\]\.annorect\[0\]\.y2: expected all four head-box"
    ):
        parse_sequence(data, "mut.json")


# ------------------------------------------------------------------------------------- file level
def test_file_level_errors(tmp_path):
    with pytest.raises(DataFormatError, match="file not found"):
        read_sequence(tmp_path / "nope.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(DataFormatError, match="bad.json: not valid JSON"):
        read_sequence(bad)
    other = tmp_path / "list.json"
    other.write_text("[1, 2]")
    with pytest.raises(DataFormatError, match="list.json: top level: expected an object"):
        read_sequence(other)
    pt18 = tmp_path / "x.json"
    pt18.write_text(json.dumps(valid_pt18()))
    with pytest.raises(DataFormatError, match="pass --format pt18"):
        read_sequence(pt18, format="pt17")
    no_cat = valid_pt18()
    del no_cat["categories"]
    pt18.write_text(json.dumps(no_cat))
    assert len(read_sequence(pt18)) == 2  # ground truth: PoseTrack18 order assumed
    with pytest.raises(DataFormatError, match="x.json: categories: expected this field .* copy `categories`"):
        read_predictions(pt18)


def _folders(tmp_path, gt: dict, pred: dict | None, name="000001_bonn_test.json"):
    (tmp_path / "gt").mkdir(exist_ok=True)
    (tmp_path / "pred").mkdir(exist_ok=True)
    (tmp_path / "gt" / name).write_text(json.dumps(gt))
    if pred is not None:
        (tmp_path / "pred" / name).write_text(json.dumps(pred))
    return tmp_path / "gt", tmp_path / "pred"


def test_evaluation_errors_name_file_frame_and_field(tmp_path):
    gt_dir, pred_dir = _folders(tmp_path, valid_pt18(False), None)
    with pytest.raises(
        DataFormatError, match=r"pred/000001_bonn_test.json: prediction file missing .* same file name"
    ):
        evaluate_folders(gt_dir, pred_dir)

    pred = valid_pt18()
    pred["images"] = pred["images"][:1]
    pred["annotations"] = [a for a in pred["annotations"] if a["image_id"] == 100]
    gt_dir, pred_dir = _folders(tmp_path, valid_pt18(False), pred)
    with pytest.raises(
        DataFormatError, match="1 frames but the ground truth .* has 2: a prediction file must repeat"
    ):
        evaluate_folders(gt_dir, pred_dir)

    pred = valid_pt18()
    pred["annotations"][1]["track_id"] = 0
    gt_dir, pred_dir = _folders(tmp_path, valid_pt18(False), pred)
    with pytest.raises(
        DataFormatError, match=r"frame 0 \(images/val/000001_bonn_test/000000.jpg\): track_id 0 appears"
    ):
        evaluate_folders(gt_dir, pred_dir)

    pred = valid_pt18()
    pred["annotations"][0]["track_id"] = 10000
    gt_dir, pred_dir = _folders(tmp_path, valid_pt18(False), pred)
    with pytest.raises(DataFormatError, match="track_id 10000 of the prediction is too large"):
        evaluate_folders(gt_dir, pred_dir)

    gt = valid_pt18(False)
    del gt["annotations"][0]["bbox_head"]
    gt_dir, pred_dir = _folders(tmp_path, gt, valid_pt18())
    with pytest.raises(
        DataFormatError, match=r"frame 0 .* person 0 \(track_id 0\) has keypoints but no head box"
    ):
        evaluate_folders(gt_dir, pred_dir)


def test_valid_fixtures_evaluate_cleanly(tmp_path):
    gt_dir, pred_dir = _folders(tmp_path, valid_pt18(False), valid_pt18())
    report = evaluate_folders(gt_dir, pred_dir, tracking=True)
    # joints 0..2 of the first person fall into the 50x50 ignore square? no: x >= 100; every joint is exact
    np.testing.assert_allclose(report.ap.ap, 100.0)
    np.testing.assert_allclose(report.mot.mota, 100.0)
