"""Synthetic benchmark command: synth."""

from __future__ import annotations

from pathlib import Path

import typer

from ..errors import ConfigError
from . import app
from .checks import check_output_dir, check_positive

__all__ = ["synth"]


@app.command("synth")
def synth(
    out: Path = typer.Argument(..., help="dataset root; the split is written to OUT/<split>"),
    split: str = typer.Option("train", "--split", help="train | val | test (disjoint random streams)"),
    clips: int = typer.Option(48, "--clips", help="number of sequences"),
    seed: int = typer.Option(0, "--seed", help="the same seed gives the same bytes"),
    frames: int | None = typer.Option(
        None, "--frames", help="frames per sequence (default: SynthConfig's 24)"
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="replace an existing OUT/<split>"),
) -> None:
    """Generate a split of the synthetic degradation benchmark in the PoseTrack18 layout and print a
    summary."""
    from ..tasks.synth import SPLITS, format_synth_run
    from ..tasks.synth import synth as synth_task

    if split not in SPLITS:
        raise ConfigError(f"--split {split!r}: expected one of {', '.join(SPLITS)}")
    check_output_dir(out, "OUT")
    check_positive(clips, "--clips", integer=True)
    check_positive(frames, "--frames", integer=True)
    run = synth_task(out, split, clips, seed, frames=frames, overwrite=overwrite)
    typer.echo(format_synth_run(run))
