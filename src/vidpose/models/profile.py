"""Model cost: parameters, FLOPs per window and latency, measured the same way by the CLI and the benchmark.

FLOPs come from :class:`torch.utils.flop_counter.FlopCounterMode`, which counts a multiply-add as 2 FLOPs and
only matrix products and convolutions (attention included; LayerNorm, GELU, softmax and other element-wise ops
are not counted). Attention is counted through the MATH SDPA backend because the fused CPU kernel is not
registered with the counter (it would count 0).

Shape legend: B windows, T frames, (H, W) image size.
"""

from __future__ import annotations

import csv
import io
import os
import platform
import statistics
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import torch
from torch import Tensor, nn

from ..config import ModelConfig, ViTConfig
from ..errors import ConfigError
from ..fileio import atomic_write_text
from ..precision import PRECISION_ALIASES, autocast_dtype

__all__ = [
    "PRECISIONS",
    "ModelProfile",
    "count_params",
    "count_flops",
    "measure_latency",
    "model_config_for",
    "profile_model",
    "BenchRow",
    "bench_sizes",
    "machine_info",
    "format_bench_markdown",
    "format_bench_csv",
    "write_bench",
]

#: the benchmark's precision names (short aliases of :data:`vidpose.precision.AMP_DTYPES`)
PRECISIONS: tuple[str, ...] = tuple(PRECISION_ALIASES)


@dataclass(frozen=True)
class ModelProfile:
    """Cost of one model configuration at batch ``batch``.

    Args:
        size: row of ``VIT_SIZES``; embed_dim, depth, num_heads: the backbone built from it.
        image_size: (H, W) input.
        frames: T frames per window (1 = single-frame model).
        params_backbone, params_total: parameter counts.
        gflops: FLOPs of one forward of ``batch`` windows / 1e9 (multiply-add = 2 FLOPs).
        latency_ms: precision -> median latency in ms of one forward of ``batch`` windows.
        latency_min_ms: precision -> fastest of the timed forwards (least disturbed by other processes).
        repeats: timed forwards per precision (after ``warmup`` untimed ones).
    """

    size: str
    embed_dim: int
    depth: int
    num_heads: int
    image_size: tuple[int, int]
    frames: int
    batch: int
    params_backbone: int
    params_total: int
    gflops: float
    latency_ms: dict[str, float]
    latency_min_ms: dict[str, float]
    repeats: int
    warmup: int


def count_params(module: nn.Module) -> int:
    """Number of parameters (trainable or not)."""
    return sum(p.numel() for p in module.parameters())


def count_flops(model: nn.Module, inputs: Tensor) -> int:
    """FLOPs of ``model(inputs)`` in eval mode without grad (multiply-add = 2; see module docstring)."""
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with torch.no_grad(), sdpa_kernel([SDPBackend.MATH]), counter:
        model(inputs)
    return int(counter.get_total_flops())


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure_latency(
    model: nn.Module, inputs: Tensor, precision: str = "fp32", warmup: int = 1, repeats: int = 5
) -> list[float]:
    """Wall-clock ms of ``repeats`` forwards (after ``warmup`` untimed ones) under inference mode.

    ``precision``: fp32 | bf16 | fp16 (autocast on the inputs' device type).
    """
    if precision not in PRECISIONS:
        raise ConfigError(f"precision {precision!r} is not one of {list(PRECISIONS)}")
    dtype = autocast_dtype(precision)
    device = inputs.device
    times: list[float] = []
    with (
        torch.inference_mode(),
        torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None),
    ):
        for i in range(warmup + repeats):
            _synchronize(device)
            start = time.perf_counter()
            model(inputs)
            _synchronize(device)
            if i >= warmup:
                times.append((time.perf_counter() - start) * 1e3)
    return times


def model_config_for(
    size: str, frames: int, image_size: tuple[int, int], base: ModelConfig | None = None
) -> ModelConfig:
    """The benchmark's model: ViT ``size``, T = ``frames`` (1 = single-frame model), default temporal
    modules."""
    base = base if base is not None else ModelConfig()
    if frames < 1:
        raise ConfigError(f"frames must be >= 1, got {frames}")
    return replace(
        base,
        temporal=frames > 1,
        num_frames=frames,
        image_size=image_size,
        vit=replace(base.vit if base.vit.size == size else ViTConfig(), size=size),
        mlsme=replace(base.mlsme, frame_mask_count=min(base.mlsme.frame_mask_count, frames - 1)),
    )


def profile_model(
    cfg: ModelConfig,
    *,
    batch: int = 1,
    precisions: Sequence[str] = ("fp32", "bf16"),
    warmup: int = 1,
    repeats: int = 5,
    device: str | torch.device = "cpu",
    seed: int = 0,
) -> ModelProfile:
    """Build the model of ``cfg`` (random weights), count its parameters and FLOPs, time its forward.

    The input is one random clip ``[batch, T, 3, H, W]``; ``precisions`` may be empty (no timing).
    """
    from .pose_model import build_model

    device = torch.device(device)
    torch.manual_seed(seed)
    model = build_model(cfg).to(device).eval()
    h, w = cfg.image_size
    clip = torch.randn(batch, cfg.num_frames, 3, h, w, device=device)
    flops = count_flops(model, clip)
    latency, fastest = {}, {}
    for precision in precisions:
        times = measure_latency(model, clip, precision, warmup, repeats)
        latency[precision], fastest[precision] = statistics.median(times), min(times)
    return ModelProfile(
        size=cfg.vit.size,
        embed_dim=model.backbone.embed_dim,
        depth=model.backbone.depth,
        num_heads=model.backbone.blocks[0].attn.num_heads if model.backbone.depth else 0,
        image_size=(h, w),
        frames=cfg.num_frames,
        batch=batch,
        params_backbone=count_params(model.backbone),
        params_total=count_params(model),
        gflops=flops / 1e9,
        latency_ms=latency,
        latency_min_ms=fastest,
        repeats=repeats,
        warmup=warmup,
    )


# -------------------------------------------------------------------------------------- benchmark
@dataclass(frozen=True)
class BenchRow:
    """One size of the model benchmark: the timed T-frame model and the single-frame model (not timed)."""

    temporal: ModelProfile
    single: ModelProfile


def bench_sizes(
    sizes: Sequence[str],
    *,
    frames: int = 5,
    image_size: tuple[int, int] = (256, 192),
    precisions: Sequence[str] = ("fp32", "bf16"),
    warmup: int = 1,
    repeats: int = 5,
    repeats_by_size: Mapping[str, int] | None = None,
    device: str | torch.device = "cpu",
) -> list[BenchRow]:
    """Profile each size as a T-frame model (params, GFLOPs, latency) and as a single-frame model (params,
    GFLOPs). ``repeats_by_size`` lowers the repeats of big sizes."""
    rows = []
    for size in sizes:
        n = (repeats_by_size or {}).get(size, repeats)
        temporal = profile_model(
            model_config_for(size, frames, image_size),
            precisions=precisions,
            warmup=warmup,
            repeats=n,
            device=device,
        )
        single = profile_model(model_config_for(size, 1, image_size), precisions=(), device=device)
        rows.append(BenchRow(temporal, single))
    return rows


def machine_info() -> dict[str, str]:
    """CPU model name, its bf16 instructions, logical CPUs, torch version and intra-op threads."""
    cpu = platform.processor() or platform.machine()
    flags: set[str] = set()
    try:
        with open("/proc/cpuinfo") as f:
            lines = f.read().splitlines()
        cpu = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), cpu)
        flags = set(next((line.split(":", 1)[1].split() for line in lines if line.startswith("flags")), []))
    except OSError:
        pass
    bf16 = [f for f in ("avx512_bf16", "amx_bf16") if f in flags]
    return {
        "cpu": cpu,
        "bf16_isa": ", ".join(bf16) if bf16 else "none reported",
        "logical_cpus": str(os.cpu_count()),
        "torch": torch.__version__,
        "threads": str(torch.get_num_threads()),
    }


_CSV_FIELDS = (
    "size", "embed_dim", "depth", "num_heads", "image_h", "image_w", "frames", "batch", "params_backbone",
    "params_total", "params_single", "gflops", "gflops_single", "latency_fp32_ms", "latency_fp32_min_ms",
    "latency_bf16_ms", "latency_bf16_min_ms", "warmup", "repeats", "torch", "threads",
)  # fmt: skip


def _csv_record(row: BenchRow, info: Mapping[str, str]) -> dict[str, object]:
    t, s = row.temporal, row.single
    return {
        "size": t.size, "embed_dim": t.embed_dim, "depth": t.depth, "num_heads": t.num_heads,
        "image_h": t.image_size[0], "image_w": t.image_size[1], "frames": t.frames, "batch": t.batch,
        "params_backbone": t.params_backbone, "params_total": t.params_total, "params_single": s.params_total,
        "gflops": round(t.gflops, 3), "gflops_single": round(s.gflops, 3),
        **{
            f"latency_{p}{stat}_ms": round(values[p], 1) if p in values else ""
            for p in ("fp32", "bf16")
            for stat, values in (("", t.latency_ms), ("_min", t.latency_min_ms))
        },
        "warmup": t.warmup, "repeats": t.repeats, "torch": info["torch"], "threads": info["threads"],
    }  # fmt: skip


def format_bench_csv(rows: Sequence[BenchRow], info: Mapping[str, str] | None = None) -> str:
    """The benchmark as CSV text (one line per size; columns in ``_CSV_FIELDS``)."""
    info = info if info is not None else machine_info()
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=_CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow(_csv_record(row, info))
    return buf.getvalue()


def format_bench_markdown(rows: Sequence[BenchRow]) -> str:
    """The benchmark as a Markdown table (params in millions, GFLOPs and ms per window)."""
    if not rows:
        return "(no sizes)"
    t0 = rows[0].temporal
    precisions = list(t0.latency_ms)
    frames = t0.frames
    head = (
        f"| size | C x depth (heads) | backbone params (M) | total params T={frames} (M) "
        "| total params T=1 (M) "
        f"| GFLOPs T={frames} | GFLOPs T=1 | T={frames} / T=1 |"
        + "".join(f" {p} ms median (min) |" for p in precisions)
        + " repeats |"
    )
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for row in rows:
        t, s = row.temporal, row.single
        ratio = t.gflops / s.gflops if s.gflops else float("nan")
        lines.append(
            f"| {t.size} | {t.embed_dim} x {t.depth} ({t.num_heads}) | {t.params_backbone / 1e6:.2f} "
            f"| {t.params_total / 1e6:.2f} | {s.params_total / 1e6:.2f} | {t.gflops:.1f} | {s.gflops:.1f} "
            f"| {ratio:.2f} |"
            + "".join(f" {t.latency_ms[p]:.0f} ({t.latency_min_ms[p]:.0f}) |" for p in precisions)
            + f" {t.repeats} |"
        )
    return "\n".join(lines)


def write_bench(
    rows: Sequence[BenchRow],
    out: str | Path,
    notes: Sequence[str] = (),
    info: Mapping[str, str] | None = None,
) -> list[Path]:
    """Write ``out``: .md gives a report (machine, ``notes``) plus a .csv beside it; .csv the CSV only.

    Files are written to a temporary name and renamed. Returns the paths written.
    """
    info = info if info is not None else machine_info()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    outputs: dict[Path, str] = {}
    csv_path = out if out.suffix == ".csv" else out.with_suffix(".csv")
    outputs[csv_path] = format_bench_csv(rows, info)
    if out.suffix != ".csv":
        t0 = rows[0].temporal if rows else None
        setup = (
            f"{t0.image_size[0]}x{t0.image_size[1]} input, T={t0.frames}, batch {t0.batch}, "
            f"{t0.warmup} warm-up forward(s), median of the repeats"
            if t0
            else ""
        )
        text = [
            "# Model cost",
            "",
            f"- machine: {info['cpu']} ({info['logical_cpus']} logical CPUs; bf16 instructions: "
            f"{info['bf16_isa']}), torch {info['torch']}, {info['threads']} intra-op threads",
            f"- setup: {setup}",
            "- FLOPs: torch.utils.flop_counter.FlopCounterMode, a multiply-add counts as 2 FLOPs; matrix "
            "products, convolutions and attention only (no LayerNorm / GELU / softmax); per window.",
            "- latency: one forward of one window in eval mode under torch.inference_mode; bf16 = "
            "torch.autocast(bfloat16).",
            *[f"- {n}" for n in notes],
            "",
            format_bench_markdown(rows),
            "",
        ]
        outputs[out] = "\n".join(text)
    for path, content in outputs.items():
        atomic_write_text(path, content)
    return list(outputs)
