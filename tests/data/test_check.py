"""check-data: dataset summary and problems naming file and field, library and command."""

from __future__ import annotations

import json
import shutil

import pytest

from vidpose.cli import main as cli_main
from vidpose.data.check import check_dataset, find_annotation_files
from vidpose.skeleton import PT18

MMPOSE = "mmpose_posetrack18"
DETECTIONS = "mmpose_posetrack18/annotations/test_posetrack18_human_detections.json"


def test_mmpose_sample_with_boxes(shared_data):
    report = check_dataset(shared_data / MMPOSE, "pt18", boxes=shared_data / DETECTIONS)
    assert (report.num_sequences, report.num_frames, report.num_labeled_frames) == (3, 3, 3)
    assert (report.num_persons, report.num_joints, report.num_boxes) == (14, 182, 278)
    # the sample keeps each video's nframes but lists one image per sequence: a real inconsistency
    assert [(p.file.split("/")[-1], p.field) for p in report.problems] == [
        ("003418_mpii_test.json", "images[0].nframes"),
        ("009473_mpii_test.json", "images[0].nframes"),
        ("012834_mpii_test.json", "images[0].nframes"),
    ]
    assert "says 149 frames but the file lists 1 images" in report.problems[0].message
    # the merged file beside the split folders is not a sequence
    names = [p.name for p in find_annotation_files(shared_data / MMPOSE)]
    assert "test_posetrack18_val.json" not in names and len(names) == 3


def test_bonn_dataset_is_clean(shared_data):
    report = check_dataset(shared_data / "bonn_multiperson_posetrack", "pt18")
    assert report.ok, [str(p) for p in report.problems]
    assert (report.num_sequences, report.num_frames, report.num_persons, report.num_joints) == (
        1,
        41,
        164,
        2296,
    )
    wrong = check_dataset(shared_data / "bonn_multiperson_posetrack", "pt17")
    assert not wrong.ok and wrong.problems[0].field == "top level"
    assert "pass --format pt18" in wrong.problems[0].message


def _pt17_root(shared_data, tmp_path):
    (tmp_path / "annotations" / "test").mkdir(parents=True)
    src = shared_data / "eval_golden/bonn1_noise15_swap_pt17gt/gt/060470979_bonn_test.json"
    shutil.copy(src, tmp_path / "annotations" / "test" / src.name)
    (tmp_path / "images").symlink_to(shared_data / "bonn_multiperson_posetrack" / "images")
    return tmp_path


def test_posetrack17_root(shared_data, tmp_path):
    root = _pt17_root(shared_data, tmp_path)
    report = check_dataset(root, "pt17")
    assert report.ok, [str(p) for p in report.problems]
    assert (report.num_sequences, report.num_frames, report.num_persons, report.num_joints) == (
        1,
        41,
        164,
        2296,
    )


def test_problems_name_file_and_field(shared_data, tmp_path):
    root = tmp_path
    ann = root / "annotations" / "val"
    ann.mkdir(parents=True)
    (root / "images" / "val" / "000001_bonn_test").mkdir(parents=True)
    (root / "images" / "val" / "000001_bonn_test" / "000000.jpg").write_bytes(b"jpg")
    kp = [10.0, 20.0, 1.0] * 17
    images = [
        {
            "id": 7 + i,
            "file_name": f"images/val/000001_bonn_test/{i:06d}.jpg",
            "nframes": 2,
            "is_labeled": True,
        }
        for i in range(2)
    ]
    persons = [
        {"image_id": 7, "track_id": 1, "keypoints": kp, "bbox_head": [0, 0, 10, 10]},
        {"image_id": 7, "track_id": 1, "keypoints": kp},  # repeated track id, no head box
    ]
    good = {"images": images, "annotations": persons, "categories": [{"keypoints": list(PT18.names)}]}
    (ann / "000001_bonn_test.json").write_text(json.dumps(good))
    (ann / "000002_bonn_test.json").write_text("{broken")
    bad = json.loads(json.dumps(good))
    bad["annotations"][0]["keypoints"] = kp[:-3]
    (ann / "000003_bonn_test.json").write_text(json.dumps(bad))
    boxes = root / "boxes.json"
    boxes.write_text(json.dumps([{"image_id": 7, "bbox": [1, 2, 3], "score": 0.9}]))
    report = check_dataset(root, "pt18", boxes=boxes)
    got = [(p.file.split("/")[-1], p.field, p.message) for p in report.problems]
    assert report.num_sequences == 1 and not report.ok
    assert got[0][:2] == ("000001_bonn_test.json", "images[].file_name")
    assert "1 of 2 frames not found" in got[0][2] and "000001.jpg" in got[0][2]
    assert got[1][:2] == ("000001_bonn_test.json", "frame 0 (images/val/000001_bonn_test/000000.jpg)")
    assert "track ids repeat: [1, 1]" in got[1][2]
    assert (
        got[2][1] == "frame 0 (images/val/000001_bonn_test/000000.jpg) person 1"
        and "no head box" in got[2][2]
    )
    assert got[3][0] == "000002_bonn_test.json" and "not valid JSON" in got[3][2]
    assert got[4][:2] == ("000003_bonn_test.json", "annotations[0].keypoints")
    assert "expected a list of 51 numbers, got a list of 48 values" in got[4][2]
    assert got[5][0] == "boxes.json" and "bbox" in got[5][1] + got[5][2]  # worded by vidpose.data.boxes


def test_cli_check_data_exit_codes(shared_data, tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        cli_main(["check-data", str(shared_data / "bonn_multiperson_posetrack"), "--format", "pt18"])
    assert info.value.code in (0, None)
    out = capsys.readouterr().out
    assert "sequences" in out and "2296" in out
    with pytest.raises(SystemExit) as info:
        cli_main(
            [
                "check-data",
                str(shared_data / MMPOSE),
                "--format",
                "pt18",
                "--boxes",
                str(shared_data / DETECTIONS),
            ]
        )
    assert info.value.code == 1
    out = capsys.readouterr().out
    assert "images[0].nframes" in out and "278" in out
    with pytest.raises(SystemExit) as info:
        cli_main(["check-data", str(tmp_path / "nowhere"), "--format", "pt18"])
    assert info.value.code == 2
    assert "dataset root not found" in capsys.readouterr().err


def test_detection_files_under_the_root_are_recognised_not_reported(tmp_path):
    """A generated split keeps its detection list beside the annotations: it is listed, not an error."""
    from vidpose.data.synthetic import SynthConfig, generate_split

    generate_split(tmp_path, "val", 1, 0, SynthConfig(frame_size=(96, 128), frames_per_clip=3))
    report = check_dataset(tmp_path, "pt18")
    assert report.ok, [str(p) for p in report.problems]
    assert report.num_sequences == 1 and report.num_frames == 3
    assert report.detection_files == [str(tmp_path / "val" / "detections.json")]
    checked = check_dataset(tmp_path, "pt18", boxes=tmp_path / "val" / "detections.json")
    assert checked.ok and checked.num_boxes and checked.num_boxes > 0
