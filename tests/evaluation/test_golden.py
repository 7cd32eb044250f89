"""Every golden case of ../shared/data/eval_golden reproduced against official poseval's own output."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from golden_cases import HOTA_CASES, POSEVAL_CASES

from vidpose.cli import main as cli_main
from vidpose.evaluation import evaluate_folders, format_table, write_poseval_json

CASES = POSEVAL_CASES
# percentage points, as poseval stores them. MOTA, MOTP, precision and recall (of both tables) have a single
# right answer; AP may move by about 1e-4 with the rank of tied scores (POSETRACK_EVAL.md, "Golden cases").
TOL = 1e-6
AP_TOL = 1e-4


def _case(shared_data: Path, name: str) -> Path:
    path = shared_data / "eval_golden" / name
    if not path.is_dir():
        pytest.skip(f"golden case {name} not found in {shared_data / 'eval_golden'}")
    return path


def _has_tracking(case: Path) -> bool:
    return (case / "expected" / "total_MOT_metrics.json").is_file()


def _assert_close(ours: np.ndarray, expected: list, what: str, tol: float = TOL) -> None:
    exp = np.asarray(expected, dtype=np.float64)
    assert ours.shape == exp.shape, what
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(exp), err_msg=f"{what}: NaN pattern")
    ok = ~np.isnan(exp)
    np.testing.assert_allclose(ours[ok], exp[ok], rtol=0, atol=tol, err_msg=what)


def test_all_golden_cases_are_listed(shared_data):
    cases = sorted(p for p in (shared_data / "eval_golden").iterdir() if p.is_dir())
    assert cases, "no golden cases found"
    poseval = sorted(p.name for p in cases if (p / "expected" / "total_AP_metrics.json").is_file())
    hota = sorted(p.name for p in cases if (p / "expected" / "pt21_pose_hota.txt").is_file())
    assert poseval == sorted(CASES)
    assert hota == sorted(HOTA_CASES)
    unlisted = sorted(p.name for p in cases if p.name not in CASES and p.name not in HOTA_CASES)
    assert not unlisted, f"golden cases with neither poseval nor HOTA output: {unlisted}"


@pytest.mark.parametrize("name", CASES)
def test_golden_numbers(shared_data, name):
    case = _case(shared_data, name)
    tracking = _has_tracking(case)
    report = evaluate_folders(case / "gt", case / "pred", tracking=tracking)
    expected = json.loads((case / "expected" / "total_AP_metrics.json").read_text())
    _assert_close(report.ap.ap, expected["ap"], f"{name} AP", tol=AP_TOL)
    _assert_close(report.ap.precision, expected["pre"], f"{name} AP precision")
    _assert_close(report.ap.recall, expected["rec"], f"{name} AP recall")
    if tracking:
        expected = json.loads((case / "expected" / "total_MOT_metrics.json").read_text())
        for ours, key in (
            (report.mot.mota, "mota"),
            (report.mot.motp, "motp"),
            (report.mot.precision, "pre"),
            (report.mot.recall, "rec"),
        ):
            _assert_close(ours, expected[key], f"{name} {key}")


@pytest.mark.parametrize("name", CASES)
def test_golden_tables_match_poseval_stdout(shared_data, name):
    case = _case(shared_data, name)
    report = evaluate_folders(case / "gt", case / "pred", tracking=_has_tracking(case))
    stdout = (case / "expected" / "poseval_stdout.txt").read_text().splitlines()
    table = format_table(report).splitlines()
    start = stdout.index("Average Precision (AP) metric:")
    assert table[:3] == stdout[start : start + 3]
    if report.mot is not None:
        start = stdout.index("Multiple Object Tracking (MOT) metrics:")
        assert table[3:] == stdout[start : start + 4]


@pytest.mark.parametrize("name", ["bonn1_noise15_swap", "mmpose3_noise15"])
def test_written_json_has_poseval_schema(shared_data, tmp_path, name):
    case = _case(shared_data, name)
    tracking = _has_tracking(case)
    report = evaluate_folders(case / "gt", case / "pred", tracking=tracking)
    written = write_poseval_json(report, tmp_path)
    assert [p.name for p in written] == ["total_AP_metrics.json"] + (
        ["total_MOT_metrics.json"] if tracking else []
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in written)  # no temp files left
    for path in written:
        ours = json.loads(path.read_text())
        exp = json.loads((case / "expected" / path.name).read_text())
        assert list(ours) == list(exp)  # same keys, same order
        assert list(ours["names"].items()) == list(exp["names"].items())
        for key in ours:
            if key != "names":
                tol = AP_TOL if (path.name, key) == ("total_AP_metrics.json", "ap") else TOL
                _assert_close(np.asarray(ours[key], dtype=np.float64), exp[key], f"{path.name}:{key}", tol)


def test_cli_eval_posetrack_writes_poseval_files(shared_data, tmp_path, capsys):
    case = _case(shared_data, "bonn1_noise15_swap_pt17gt")
    with pytest.raises(SystemExit) as exit_info:
        cli_main(
            ["eval-posetrack", str(case / "gt"), str(case / "pred"), "--out", str(tmp_path), "--tracking"]
        )
    assert exit_info.value.code in (0, None)
    out = capsys.readouterr().out
    stdout = (case / "expected" / "poseval_stdout.txt").read_text()
    assert "& 63.0 & 95.1 & 93.9 & 92.4 & 94.5 & 95.1 & 95.7 & 88.2 \\\\" in out
    assert "&  nan & 85.6 & 85.0 & 83.4 & 85.0 & 85.9 & 86.2 & 85.4 & 57.9 & 92.4 & 94.4 \\\\" in stdout
    assert "&  nan & 85.6 & 85.0 & 83.4 & 85.0 & 85.9 & 86.2 & 85.4 & 57.9 & 92.4 & 94.4 \\\\" in out
    assert {p.name for p in tmp_path.iterdir()} == {"total_AP_metrics.json", "total_MOT_metrics.json"}


def test_cli_eval_posetrack_missing_prediction_is_a_clear_error(shared_data, tmp_path, capsys):
    case = _case(shared_data, "bonn1_exact")
    with pytest.raises(SystemExit) as exit_info:
        cli_main(["eval-posetrack", str(case / "gt"), str(tmp_path), "--out", str(tmp_path / "out")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "060470979_bonn_test.json" in err and "prediction file missing" in err
