"""The tasks behind synth, check-data, eval-posetrack, bench model and the device check (the CLI's only road
to the library): each gives what the library it composes gives, and writes what the command reports."""

from __future__ import annotations

import csv
import json

import pytest

from vidpose.data.check import check_dataset
from vidpose.data.synthetic import SynthConfig, generate_split
from vidpose.errors import ConfigError
from vidpose.evaluation import evaluate_folders, format_table
from vidpose.tasks.bench_model import bench_model
from vidpose.tasks.check_data import check_data, summary_rows
from vidpose.tasks.devices import resolve_device
from vidpose.tasks.eval_posetrack import eval_posetrack
from vidpose.tasks.synth import SPLITS, format_synth_run, synth


def test_synth_writes_the_generators_bytes_and_reports_its_summary(tmp_path):
    run = synth(tmp_path / "a", "val", clips=1, seed=2, frames=3)
    ref = generate_split(tmp_path / "b", "val", 1, 2, SynthConfig(frames_per_clip=3))
    assert SPLITS == ("train", "val", "test")
    assert (run.summary.num_clips, run.summary.num_frames) == (1, 3) and run.seconds > 0
    assert run.summary.num_persons == ref.num_persons and run.summary.num_hard == ref.num_hard
    ours = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    theirs = sorted(p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*") if p.is_file())
    assert ours == theirs and len(ours) >= 4
    for rel in ours:
        if rel.suffix in (".jpg", ".json"):
            assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes(), rel
    lines = format_synth_run(run).splitlines()
    assert len(lines) == 3 and lines[0].startswith(f"{run.summary.root}: 1 sequences, 3 frames (")
    assert f"persons {ref.num_persons}, hard {ref.num_hard}" in lines[1]
    assert f"detections {ref.num_detections} in {run.summary.root / 'detections.json'}" in lines[2]


def test_check_data_is_the_library_check_with_its_summary_rows(tmp_path):
    synth(tmp_path, "val", clips=1, seed=2, frames=3)
    report = check_data(tmp_path, "pt18")
    ref = check_dataset(tmp_path, format="pt18")
    assert report == ref and report.ok and report.num_frames == 3
    rows = dict(summary_rows(report))
    assert list(rows) == [
        "sequences", "frames", "labelled frames", "persons", "annotated joints", "boxes", "problems",
    ]  # fmt: skip
    assert rows["sequences"] == "1" and rows["frames"] == "3" and rows["boxes"] == "-"
    assert rows["persons"] == str(ref.num_persons) and rows["problems"] == "0"


def test_eval_posetrack_gives_the_table_and_writes_the_official_files(tmp_path):
    synth(tmp_path, "val", clips=1, seed=2, frames=3)
    gt = tmp_path / "val" / "annotations"
    result = eval_posetrack(gt, gt, tmp_path / "out", tracking=True)  # the GT scored against itself
    assert result.table == format_table(evaluate_folders(gt, gt, tracking=True))
    assert result.hota is None
    assert [p.name for p in result.written] == ["total_AP_metrics.json", "total_MOT_metrics.json"]
    ap = json.loads((tmp_path / "out" / "total_AP_metrics.json").read_text())
    assert ap["ap"][-1] == pytest.approx(100.0)
    assert result.report.ap.ap[-1] == pytest.approx(100.0)


def test_bench_model_gives_rows_a_table_and_the_files(tmp_path):
    out = tmp_path / "bench.md"
    args = dict(frames=3, image_size=(64, 48), precisions=["fp32"], warmup=0, repeats=1)
    result = bench_model(["nano"], **args, out=out)
    assert [r.temporal.size for r in result.rows] == ["nano"]
    assert result.table.splitlines()[2].startswith("| nano | 128 x 4 (4) |")
    assert result.written == [out.with_suffix(".csv"), out]
    rows = list(csv.DictReader(out.with_suffix(".csv").read_text().splitlines()))
    assert rows[0]["size"] == "nano" and rows[0]["frames"] == "3"
    assert bench_model(["nano"], **args).written == []


def test_resolve_device_names_the_field():
    assert resolve_device("cpu") == "cpu"
    with pytest.raises(ConfigError, match="train.device: 'tpu' is not one of"):
        resolve_device("tpu", field="train.device")
