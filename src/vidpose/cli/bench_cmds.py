"""Benchmark commands beyond ``bench model``: ``bench train`` (the training cost of a recipe)."""

from __future__ import annotations

from pathlib import Path

import typer

from ..errors import ConfigError
from .checks import check_device, check_output_file, check_positive
from .model_cmds import bench_app


@bench_app.command("train")
def bench_train_cmd(
    config: Path = typer.Argument(..., help="YAML recipe, e.g. configs/posetrack18_vitb.yaml"),
    overrides: list[str] = typer.Argument(None, help="dotted overrides, e.g. model.vit.size=large"),
    batch: int = typer.Option(2, "--batch", help="windows per step (one that fits this device)"),
    precisions: str = typer.Option("fp32,bf16", "--precisions", help="fp32,bf16,fp16 (fp16: CUDA only)"),
    grad_checkpointing: str = typer.Option("off,on", "--grad-checkpointing", help="off,on or one of them"),
    warmup: int = typer.Option(1, "--warmup", help="untimed steps first"),
    repeats: int = typer.Option(3, "--repeats", help="timed steps per variant"),
    device: str = typer.Option("cpu", "--device", help="cpu, cuda or cuda:N"),
    out: Path | None = typer.Option(None, "--out", help="also write the table (.md) there"),
) -> None:
    """Training step time (wall and CPU), windows/s, activation memory per window, peak memory and (CUDA) MFU
    of a recipe, per precision and grad-checkpointing setting; and the memory the recipe's own batch needs
    (estimate). A precision the device cannot train in (fp16 off CUDA) is listed as not timed, with why; the
    run's conditions (threads, nice, load average at start and end) are written under the table."""
    from ..config import load_config
    from ..fileio import atomic_write_text
    from ..tasks.bench_train import bench_train_report

    check_positive(batch, "--batch", integer=True)
    check_positive(repeats, "--repeats", integer=True)
    if out is not None:
        check_output_file(out)
    flags = {"off": False, "on": True}
    ckpt = [s.strip() for s in grad_checkpointing.split(",") if s.strip()]
    if not ckpt or any(s not in flags for s in ckpt):
        raise ConfigError(f"--grad-checkpointing {grad_checkpointing!r}: expected off, on or off,on")
    cfg = load_config(config, overrides or [])
    report = bench_train_report(
        cfg,
        batch=batch,
        precisions=[p.strip() for p in precisions.split(",") if p.strip()],
        grad_checkpointing=[flags[s] for s in ckpt],
        warmup=warmup,
        repeats=repeats,
        device=check_device(device),
    )
    typer.echo(report.table)
    typer.echo("\n".join(report.notes))
    if out is not None:
        atomic_write_text(out, report.markdown())
        typer.echo(f"wrote {out}")
