"""Model commands: version, convert, bench model."""

from __future__ import annotations

from pathlib import Path

import typer

from ..errors import ConfigError
from . import app
from .checks import check_device, check_output_file, check_positive

__all__ = ["bench_app", "parse_size"]

bench_app = typer.Typer(name="bench", help="Benchmarks (model cost, ...).", no_args_is_help=True)
app.add_typer(bench_app, name="bench")


def parse_size(text: str, option: str = "--image-size") -> tuple[int, int]:
    """``"256x192"`` -> (256, 192), i.e. (H, W)."""
    parts = text.lower().split("x")
    if len(parts) != 2 or not all(p.strip().isdigit() and int(p) > 0 for p in parts):
        raise ConfigError(f"{option} {text!r}: expected HxW, e.g. 256x192")
    return int(parts[0]), int(parts[1])


@app.command("version")
def version() -> None:
    """Print the vidpose version."""
    from .. import __version__

    typer.echo(__version__)


@app.command("convert")
def convert(
    source: Path = typer.Argument(..., help="official ViTPose .pth, or a Hugging Face VitPose folder"),
    out: Path = typer.Argument(..., help="vidpose model file to write (.safetensors)"),
    fmt: str | None = typer.Option(
        None, "--format", help="vitpose | hf-vitpose (default: told from the file or folder)"
    ),
    frames: int = typer.Option(1, "--frames", help="T: 1 = single-frame model, >1 = temporal model"),
    num_heads: int | None = typer.Option(
        None, "--num-heads", help="attention heads (default: from the size)"
    ),
    image_size: str | None = typer.Option(None, "--image-size", help="HxW input (default: the checkpoint's)"),
) -> None:
    """Convert ViTPose / Hugging Face VitPose weights into a vidpose model file.

    A Hugging Face folder's config.json is honoured (heads, layer_norm_eps, hidden_act, qkv_bias, image
    size, decoder, scale_factor, labels); a value vidpose cannot compute the same way is an error."""
    from ..tasks.convert import SOURCE_FORMATS
    from ..tasks.convert import convert as convert_task

    if fmt is not None and fmt not in SOURCE_FORMATS:
        raise ConfigError(f"--format {fmt!r}: expected one of {', '.join(SOURCE_FORMATS)}")
    size = parse_size(image_size) if image_size is not None else None
    if frames < 1 or frames % 2 != 1:
        raise ConfigError(
            f"--frames {frames}: T must be a positive odd number (the key frame is the middle one)"
        )
    check_positive(num_heads, "--num-heads", integer=True)
    check_output_file(out, "OUT")
    _, cfg, used = convert_task(source, out, fmt, frames=frames, num_heads=num_heads, image_size=size)
    m, v = cfg.model, cfg.model.vit
    typer.echo(
        f"wrote {out} (from {used}): ViT {v.embed_dim}x{v.depth} ({v.num_heads} heads), {m.head.kind} head, "
        f"{m.num_joints} joints, {m.image_size[0]}x{m.image_size[1]}, T={m.num_frames}; "
        f"LayerNorm eps {v.norm_eps:g}, {v.activation}, qkv bias {'on' if v.qkv_bias else 'off'}"
    )


@bench_app.command("model")
def bench_model_cmd(
    sizes: str = typer.Option("nano,tiny,small,base", "--sizes", help="comma-separated VIT_SIZES rows"),
    frames: int = typer.Option(5, "--frames", help="T frames per window"),
    image_size: str = typer.Option("256x192", "--image-size", help="HxW input"),
    repeats: int = typer.Option(5, "--repeats", help="timed forwards per precision"),
    warmup: int = typer.Option(1, "--warmup", help="untimed forwards before timing"),
    precisions: str = typer.Option(
        "fp32,bf16", "--precisions", help="fp32,bf16 (autocast); empty = no timing"
    ),
    device: str = typer.Option("cpu", "--device", help="torch device"),
    out: Path | None = typer.Option(
        None, "--out", help="also write the table: .md (with .csv beside) or .csv"
    ),
) -> None:
    """Parameters, GFLOPs per window and latency per window at batch 1, for each size."""
    from ..tasks.bench_model import bench_model

    if out is not None:
        check_output_file(out)
    check_positive(frames, "--frames", integer=True)
    check_positive(repeats, "--repeats", integer=True)
    device = check_device(device)
    result = bench_model(
        [s.strip() for s in sizes.split(",") if s.strip()],
        frames=frames,
        image_size=parse_size(image_size),
        precisions=[p.strip() for p in precisions.split(",") if p.strip()],
        warmup=warmup,
        repeats=repeats,
        device=device,
        out=out,
    )
    typer.echo(result.table)
    for path in result.written:
        typer.echo(f"wrote {path}")
