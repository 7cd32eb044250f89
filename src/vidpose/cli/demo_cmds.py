"""The demo command."""

from __future__ import annotations

from pathlib import Path

import typer

from . import app


@app.command("demo")
def demo_cmd(
    out: Path = typer.Option(Path("demo_out"), "--out", help="output folder"),
    checkpoint: Path = typer.Option(None, "--checkpoint", "-c", help="model file (default: the bundled one)"),
    clips: int = typer.Option(2, "--clips", help="synthetic test clips to generate"),
    frames: int = typer.Option(24, "--frames", help="frames per clip"),
    seed: int = typer.Option(2026, "--seed", help="seed of the synthetic clips"),
    device: str = typer.Option("cpu", "--device", help="cpu, cuda or cuda:N"),
) -> None:
    """Synthetic clips with occlusion and blur -> tracked poses beside the truth (mp4), JSON, metrics."""
    from ..inference.demo import run_demo

    typer.echo(f"generating {clips} synthetic test clip(s) and running the model ...")
    summary = run_demo(out, checkpoint, clips=clips, frames=frames, seed=seed, device=device)
    typer.echo(summary.table)
    typer.echo("")
    for video in summary.videos:
        typer.echo(f"video (prediction | ground truth, degraded frames marked): {video}")
    typer.echo(f"PoseTrack predictions: {out / 'predictions'}")
    typer.echo(f"metrics (poseval JSON + table): {out / 'metrics'}")
    timing = ", ".join(f"{k} {v:.1f} s" for k, v in summary.seconds.items())
    typer.echo(f"time: {timing}")
