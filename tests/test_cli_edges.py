"""The CLI at the edges: bad output locations, devices and values give one line and exit 2, before any
work; --debug shows the traceback; internal errors are one line with exit 1."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from vidpose.cli import main
from vidpose.cli.predict_cmds import default_out

ASSETS = Path(__file__).resolve().parents[1] / "src" / "vidpose" / "assets"
BUNDLED = ASSETS / "synthetic_temporal.safetensors"


def run(args: list[str], capsys) -> tuple[int, str]:
    with pytest.raises(SystemExit) as info:
        main(args)
    err = capsys.readouterr().err
    return info.value.code, err


def one_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


@pytest.fixture
def a_file(tmp_path) -> Path:
    p = tmp_path / "a_file"
    p.write_text("x")
    return p


def commands_writing_to(out: Path, tmp_path: Path) -> list[list[str]]:
    recipe = tmp_path / "r.yaml"
    recipe.write_text(f"name: r\ntrain: {{out_dir: {out}}}\n")
    return [
        ["synth", str(out), "--clips", "1"],
        ["eval-posetrack", str(tmp_path), str(tmp_path), "--out", str(out)],
        ["demo", "--out", str(out)],
        ["predict", str(tmp_path), "-c", str(BUNDLED), "--out", str(out)],
        ["train", str(recipe)],
        ["evaluate", str(recipe), "-c", str(BUNDLED), "--out", str(out)],
        ["convert", str(recipe), str(out), "--format", "vitpose"],
        ["bench", "model", "--sizes", "nano", "--precisions", "", "--out", str(out)],
    ]


def test_an_output_that_is_a_file_or_under_a_file_is_refused_before_work(a_file, tmp_path, capsys):
    for out, expected in ((a_file, "is a file"), (a_file / "sub", "is a file, not a folder")):
        for args in commands_writing_to(out, tmp_path):
            if args[0] in ("convert", "bench") and out == a_file:
                continue  # these write a file: replacing an existing file is allowed
            code, err = run(args, capsys)
            line = one_line(err)
            assert code == 2, (args, err)
            assert expected in line and str(a_file) in line, (args, line)


def test_a_file_output_that_is_a_folder_is_refused(tmp_path, capsys):
    code, err = run(["convert", str(tmp_path / "x.pth"), str(tmp_path), "--format", "vitpose"], capsys)
    assert code == 2 and "is a folder, expected a file name" in one_line(err)


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_an_unwritable_output_is_refused(tmp_path, capsys):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        code, err = run(["synth", str(locked / "new"), "--clips", "1"], capsys)
        assert code == 2 and "not writable" in one_line(err)
    finally:
        locked.chmod(0o700)


@pytest.mark.parametrize(
    "device, message",
    [
        ("gpu", "--device: 'gpu' is not one of 'auto', 'cpu', 'cuda', 'cuda:<index>'"),
        ("cuda:x", "--device"),
        ("cuda:99", "--device"),
    ],
)
def test_device_strings_give_one_line(device, message, tmp_path, capsys):
    code, err = run(["demo", "--out", str(tmp_path / "o"), "--device", device], capsys)
    assert code == 2 and message in one_line(err)


def test_cuda_without_cuda_is_one_line(tmp_path, capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    code, err = run(["demo", "--out", str(tmp_path / "o"), "--device", "cuda"], capsys)
    line = one_line(err)
    assert code == 2 and "'cuda' asked for" in line and "cpu" in line


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--fps", "0"], "--fps 0.0: expected a positive number"),
        (["--fps", "-1"], "--fps -1.0: expected a positive number"),
        (["--detect-every", "0"], "--detect-every 0"),
        (["--frames", "4"], "--frames 4: T must be a positive odd number"),
        (["--device", "gpu"], "--device: 'gpu'"),
        (["--boxes", "nope.json"], "--boxes nope.json: file not found"),
    ],
)
def test_predict_values_are_checked_before_the_model_is_loaded(extra, message, tmp_path, capsys):
    code, err = run(["predict", str(tmp_path), "-c", str(BUNDLED), "-o", str(tmp_path / "o"), *extra], capsys)
    assert code == 2 and message in one_line(err)


def test_predict_checkpoint_folder_and_missing_input(tmp_path, capsys):
    code, err = run(["predict", str(tmp_path), "-c", str(tmp_path)], capsys)
    assert code == 2 and "is a folder, expected a .safetensors" in one_line(err)
    code, err = run(["predict", str(tmp_path / "clip.mp4"), "-c", str(BUNDLED)], capsys)
    assert code == 2 and "input not found" in one_line(err)


def test_predict_out_defaults_to_a_folder_named_after_the_input():
    assert default_out(Path("videos/clip.mp4")) == Path("clip_poses")
    assert default_out(Path("frames/seq01")) == Path("seq01_poses")


def test_convert_refuses_an_even_frame_count(tmp_path, capsys):
    code, err = run(
        ["convert", str(tmp_path / "v.pth"), str(tmp_path / "o"), "--format", "vitpose", "--frames", "4"],
        capsys,
    )
    assert code == 2 and "--frames 4" in one_line(err)


def test_evaluate_boxes_are_relative_to_the_current_folder(tmp_path, capsys, monkeypatch):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        f"name: r\ndata: {{root: {tmp_path / 'data'}}}\ntrain: {{out_dir: {tmp_path / 'run'}}}\n"
    )
    monkeypatch.chdir(tmp_path)
    code, err = run(["evaluate", str(recipe), "-c", str(BUNDLED), "--boxes", "dets.json"], capsys)
    line = one_line(err)
    assert code == 2 and "--boxes dets.json: file not found (relative to the current folder)" in line
    assert "data/dets.json" not in line


def test_config_errors_name_the_command_line(tmp_path, capsys):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("name: r\n")
    code, err = run(["train", str(recipe), "train.epohcs=3"], capsys)
    line = one_line(err)
    assert code == 2 and line.startswith("error: command-line override 'train.epohcs=3': unknown key")
    code, err = run(["train", str(recipe), "train.epochs=-3"], capsys)
    assert code == 2 and "train.epochs must be >= 1, got -3" in one_line(err)
    recipe.write_text("")
    code, err = run(["train", str(recipe)], capsys)
    assert code == 2 and "the recipe is empty" in one_line(err)


def test_os_errors_are_one_line_and_debug_shows_the_traceback(tmp_path, capsys, monkeypatch):
    import vidpose.cli.synth_cmds as synth_cmds

    def boom(*args, **kwargs):
        raise PermissionError(13, "Permission denied", str(tmp_path / "x"))

    monkeypatch.setattr("vidpose.data.synthetic.generate_split", boom)
    assert synth_cmds  # the command imports generate_split at call time
    code, err = run(["synth", str(tmp_path / "s"), "--clips", "1"], capsys)
    line = one_line(err)
    assert code == 2 and "Permission denied" in line and "choose a location you can write to" in line
    with pytest.raises(PermissionError):
        main(["--debug", "synth", str(tmp_path / "s"), "--clips", "1"])
    monkeypatch.setenv("VIDPOSE_DEBUG", "1")
    with pytest.raises(PermissionError):
        main(["synth", str(tmp_path / "s"), "--clips", "1"])


def test_an_internal_error_is_one_line_with_exit_1(tmp_path, capsys, monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError("something inside broke\nsecond line")

    monkeypatch.setattr("vidpose.data.synthetic.generate_split", boom)
    code, err = run(["synth", str(tmp_path / "s"), "--clips", "1"], capsys)
    line = one_line(err)
    assert code == 1 and "internal error RuntimeError: something inside broke" in line and "--debug" in line


def test_a_checkpoint_folder_is_named_as_a_folder(tmp_path):
    from vidpose.errors import CheckpointError
    from vidpose.models.serialization import load_model

    with pytest.raises(CheckpointError, match="is a folder, expected a vidpose model file"):
        load_model(tmp_path)


def test_ctrl_c_in_any_command_is_one_line_with_exit_130(tmp_path, capsys, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("vidpose.data.synthetic.generate_split", interrupted)
    code, err = run(["synth", str(tmp_path / "s"), "--clips", "1"], capsys)
    assert code == 130 and "interrupted (Ctrl-C)" in one_line(err)
