"""The demo command."""

from __future__ import annotations

from pathlib import Path

import typer

from ..errors import ConfigError
from . import app
from .checks import check_device, check_output_dir, check_positive


@app.command("demo")
def demo_cmd(
    out: Path = typer.Option(Path("demo_out"), "--out", help="output folder"),
    temporal_model: Path = typer.Option(
        None, "--temporal-model", help="temporal model file (default: the bundled one)"
    ),
    single_frame_model: Path = typer.Option(
        None, "--single-frame-model", help="single-frame model file (default: the bundled one)"
    ),
    clips: int = typer.Option(2, "--clips", help="synthetic test clips to generate"),
    frames: int = typer.Option(24, "--frames", help="frames per clip"),
    seed: int | None = typer.Option(None, "--seed", help="seed of the synthetic clips (default: the demo's)"),
    device: str = typer.Option("cpu", "--device", help="cpu, cuda or cuda:N"),
    drop_every: int | None = typer.Option(
        None, "--drop-every", help="drop (blacken) one frame in this many; 0: none (default: the demo's)"
    ),
) -> None:
    """Temporal model | single-frame baseline | ground truth on synthetic clips with occlusion, blur and
    dropped frames (mp4), both models' predictions (JSON) and AP / MOTA."""
    from ..tasks.demo import DEMO_SEED, DROP_EVERY, format_summary, run_demo

    check_output_dir(out)
    check_positive(clips, "--clips", integer=True)
    check_positive(frames, "--frames", integer=True)
    device = check_device(device)
    seed = DEMO_SEED if seed is None else seed
    drop_every = DROP_EVERY if drop_every is None else drop_every
    if drop_every < 0:
        raise ConfigError(f"--drop-every {drop_every}: expected 0 (no dropped frames) or a positive integer")
    typer.echo(
        f"generating {clips} synthetic test clip(s) and running the temporal and single-frame models ..."
    )
    summary = run_demo(
        out,
        temporal_model,
        single_frame_model,
        clips=clips,
        frames=frames,
        seed=seed,
        device=device,
        drop_every=drop_every,
    )
    typer.echo(format_summary(summary))
