"""Synthetic benchmark command: synth."""

from __future__ import annotations

import time
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
    from ..data.synthetic import SPLITS, SynthConfig, generate_split

    if split not in SPLITS:
        raise ConfigError(f"--split {split!r}: expected one of {', '.join(SPLITS)}")
    check_output_dir(out, "OUT")
    check_positive(clips, "--clips", integer=True)
    check_positive(frames, "--frames", integer=True)
    cfg = SynthConfig() if frames is None else SynthConfig(frames_per_clip=frames)
    start = time.perf_counter()
    s = generate_split(out, split, clips, seed, cfg, overwrite=overwrite)
    seconds = time.perf_counter() - start
    typer.echo(
        f"{s.root}: {s.num_clips} sequences, {s.num_frames} frames ({seconds:.1f} s, "
        f"{s.num_frames / max(seconds, 1e-9):.0f} frames/s)"
    )
    typer.echo(
        f"  persons {s.num_persons}, hard {s.num_hard} ({100.0 * s.num_hard / max(s.num_persons, 1):.1f} %), "
        f"mean occlusion {s.mean_occlusion:.3f}, mean blur {s.mean_blur:.2f} px"
    )
    typer.echo(
        f"  detections {s.num_detections} in {s.root / 'detections.json'}, "
        f"frames with an ignore region {s.num_ignore_regions}"
    )
