"""Inference command: predict (a video, frame folder or PoseTrack JSON in; tracked poses and a video out)."""

from __future__ import annotations

from pathlib import Path

import typer

from ..errors import ConfigError, DataFormatError
from . import app
from .checks import check_device, check_output_dir, check_positive

__all__ = ["predict", "default_out"]


def default_out(source: Path) -> Path:
    """``clip.mp4`` -> ``./clip_poses``: the output folder when ``--out`` is not given."""
    name = source.resolve().name if source.name in ("", ".", "..") else source.name
    return Path(f"{Path(name).stem or 'input'}_poses")


@app.command("predict")
def predict(
    source: Path = typer.Argument(..., help="video file, folder of frames, or PoseTrack JSON sequence"),
    checkpoint: Path = typer.Option(..., "--checkpoint", "-c", help="vidpose model file (.safetensors)"),
    out: Path | None = typer.Option(
        None, "--out", "-o", help="output folder (default: <input name>_poses in the current folder)"
    ),
    boxes: str | None = typer.Option(
        None, "--boxes", help="person boxes instead of a detector: a box file (COCO / PoseWarper) or 'gt'"
    ),
    detector: str = typer.Option("hog", "--detector", help="hog | whole | mediapipe (unused with --boxes)"),
    frames: int | None = typer.Option(None, "--frames", help="T frames per window (default: the model's)"),
    device: str = typer.Option("cpu", "--device", help="cpu | cuda | cuda:<index>"),
    batch_size: int | None = typer.Option(
        None, "--batch-size", help="windows per model call (eval.batch_size)"
    ),
    flip: bool | None = typer.Option(None, "--flip/--no-flip", help="flip test (default: eval.flip_test)"),
    detect_every: int = typer.Option(1, "--detect-every", help="detect every K frames; tracks fill the rest"),
    save_frames: bool = typer.Option(False, "--save-frames", help="also write the rendered frames/*.jpg"),
    share: bool | None = typer.Option(
        None,
        "--share/--no-share",
        help="reuse backbone features through stabilised crops (faster); default: share when the model was "
        "trained on them (data.crop_hold), else exact per-window crops (a held crop the model has not seen "
        "costs accuracy)",
    ),
    no_video: bool = typer.Option(False, "--no-video", help="do not write the rendered .mp4"),
    amp: bool = typer.Option(False, "--amp", help="bfloat16 autocast"),
    root: Path | None = typer.Option(
        None, "--root", help="dataset root of a PoseTrack JSON (default: found)"
    ),
    fps: float | None = typer.Option(None, "--fps", help="frame rate of a folder / JSON input (default 25)"),
    show_tentative: bool = typer.Option(
        False,
        "--show-tentative",
        help="also draw persons whose track is not confirmed yet (grey '?' boxes: seen in fewer than "
        "tracker.min_hits frames in a row); they are in the COCO JSON with track_id -1, never in the "
        "PoseTrack JSON",
    ),
    strict_frames: bool = typer.Option(
        False,
        "--strict-frames",
        help="a video that ends before the frame count its container announces is an error (default: a "
        "warning with the number of frames read)",
    ),
) -> None:
    """Estimate and track every person's pose in a video; write PoseTrack18 + COCO JSON and a rendered mp4."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from ..tasks.predict import box_source
    from ..tasks.predict import predict as predict_task

    # Everything the command can check is checked before the model is loaded and the first frame decoded.
    if not source.exists():
        raise DataFormatError(
            f"{source}: input not found (a video file, a folder of frames or a PoseTrack JSON)"
        )
    if not checkpoint.exists():
        raise DataFormatError(
            f"--checkpoint {checkpoint}: model file not found (see the README's predict section for where a "
            "model comes from)"
        )
    if checkpoint.is_dir():
        raise DataFormatError(f"--checkpoint {checkpoint}: is a folder, expected a .safetensors model file")
    if boxes is not None and boxes != "gt" and not Path(boxes).is_file():
        raise DataFormatError(
            f"--boxes {boxes}: file not found (relative to the current folder) and not 'gt'"
        )
    out = check_output_dir(default_out(source) if out is None else out)
    device = check_device(device)
    check_positive(fps, "--fps")
    check_positive(batch_size, "--batch-size", integer=True)
    check_positive(detect_every, "--detect-every", integer=True)
    if frames is not None and (frames < 1 or frames % 2 != 1):
        raise ConfigError(
            f"--frames {frames}: T must be a positive odd number (the key frame is the middle one)"
        )
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[fps]:.1f} frames/s"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, transient=False) as progress:
        task = progress.add_task(f"predict {source.name}", total=None, fps=0.0)

        def on_frame(result, total):  # noqa: ANN001 - a progress callback
            progress.update(task, advance=1, total=total)
            elapsed = progress.tasks[task].elapsed or 0.0
            done = progress.tasks[task].completed
            progress.update(task, fps=done / elapsed if elapsed > 0 else 0.0)

        summary = predict_task(
            source,
            checkpoint,
            out,
            root=root,
            fps=fps,
            strict_frames=strict_frames,
            save_frames=save_frames,
            write_video=not no_video,
            draw_tentative=show_tentative,
            on_frame=on_frame,
            device=device,
            detector=detector,
            boxes=box_source(boxes),
            flip_test=flip,
            batch_size=batch_size,
            amp=amp,
            detect_every=detect_every,
            share_features=share,
            num_frames=frames,
        )
    typer.echo(
        f"{summary.num_frames} frames, {summary.num_person_frames} person-frames, "
        f"{summary.num_tracks} tracks, {summary.fps:.2f} frames/s"
    )
    for kind, path in summary.paths.items():
        typer.echo(f"wrote {kind}: {path}")
