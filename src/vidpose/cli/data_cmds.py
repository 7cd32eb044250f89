"""Data commands: check-data, eval-posetrack."""

from __future__ import annotations

from pathlib import Path

import typer

from . import app
from .checks import check_output_dir

__all__ = ["check_data", "eval_posetrack"]


@app.command("check-data")
def check_data(
    root: Path = typer.Argument(..., help="dataset root (frame paths in the annotations are relative to it)"),
    fmt: str = typer.Option(..., "--format", help="pt17 | pt18 | pt21"),
    boxes: Path | None = typer.Option(None, "--boxes", help="person detection file to check as well"),
) -> None:
    """Check annotation files, frames on disk, frame counts and a boxes file; exit 1 on any problem."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from ..tasks.check_data import check_data as check_data_task
    from ..tasks.check_data import summary_rows

    report = check_data_task(root, fmt, boxes=boxes)
    console = Console()
    console.print(escape(f"{root} (format {fmt})"))
    summary = Table(show_header=False)
    for name, value in summary_rows(report):
        summary.add_row(name, value)
    console.print(summary)
    for path in report.detection_files:
        console.print(escape(f"detection file (not annotations; check it with --boxes {path})"))
    if report.problems:
        problems = Table(title="problems", show_lines=False)
        for col in ("file", "field", "problem"):
            problems.add_column(col, overflow="fold")
        for p in report.problems:
            problems.add_row(escape(p.file), escape(p.field), escape(p.message))
        console.print(problems)
        raise typer.Exit(1)


@app.command("eval-posetrack")
def eval_posetrack(
    gt_dir: Path = typer.Argument(..., help="ground-truth folder: one PoseTrack JSON per sequence"),
    pred_dir: Path = typer.Argument(..., help="prediction folder: one JSON per GT file, same file names"),
    out: Path = typer.Option(
        ...,
        "--out",
        help="folder for total_AP_metrics.json / total_MOT_metrics.json (and pose_hota_results.txt in pt21 "
        "mode with --tracking)",
    ),
    tracking: bool = typer.Option(
        False,
        "--tracking",
        help="also evaluate tracking: MOTA (poseval's metric) and, with --mode pt21, the PoseTrack21 kit's "
        "keypoint HOTA",
    ),
    mode: str = typer.Option(
        "pt18", "--mode", help="pt18 (poseval, PoseTrack17/18) | pt21 (PoseTrack21 kit)"
    ),
    strict_hota: bool = typer.Option(
        False,
        "--strict-hota",
        help="HOTA: a frame without predictions counts its own GT keypoints as misses, not the whole "
        "sequence's (fixes a PoseTrack21 kit bug; the default reproduces the kit)",
    ),
    errors: bool = typer.Option(
        False,
        "--errors",
        help="also classify each predicted joint's error (good, jitter, left/right inversion, swap with "
        "another person, miss), print the AP each fix would give and write error_diagnosis.json",
    ),
    joint_thr_sweep: str | None = typer.Option(
        None,
        "--joint-thr-sweep",
        help="comma-separated joint-score thresholds (e.g. 0,0.1,0.2,0.3,0.4,0.5): AP and MOTA with the "
        "joints at or below each dropped, as eval.joint_score_thr would write them; the best-MOTA one is "
        "marked; writes joint_threshold_sweep.json (needs --tracking)",
    ),
) -> None:
    """Evaluate predictions like poseval (and, in pt21 mode, the PoseTrack21 kit): print the tables and write
    the official output files."""
    from ..tasks.eval_posetrack import eval_posetrack as eval_posetrack_task
    from ..tasks.eval_posetrack import parse_thresholds

    if strict_hota and not (tracking and mode == "pt21"):
        raise typer.BadParameter("--strict-hota applies to keypoint HOTA: use it with --mode pt21 --tracking")
    if joint_thr_sweep is not None and not tracking:
        raise typer.BadParameter("--joint-thr-sweep chooses the threshold by MOTA: use it with --tracking")
    thresholds = None if joint_thr_sweep is None else parse_thresholds(joint_thr_sweep)
    check_output_dir(out)
    result = eval_posetrack_task(
        gt_dir, pred_dir, out, tracking=tracking, mode=mode, strict_hota=strict_hota, diagnose=errors,
        joint_thresholds=thresholds,
    )  # fmt: skip
    report = result.report
    typer.echo(f"# sequences: {len(report.sequences)}, # evaluated frames: {report.num_frames}")
    typer.echo(result.table)
    if result.hota is not None:
        title = "PoseTrack21 keypoint HOTA (HOTAeypoints)" + (", strict" if strict_hota else "")
        typer.echo(f"{title}:\n{result.hota}", nl=False)
    if result.diagnosis is not None:
        typer.echo(f"Error diagnosis (Ronchi and Perona's kinds, in PCKh units):\n{result.diagnosis}")
    if result.sweep_table is not None:
        typer.echo(f"Joint-score threshold sweep (Total over joints):\n{result.sweep_table}")
    for path in result.written:
        typer.echo(f"saved {path}")
