"""Bench model: parameters, GFLOPs per window and latency per window of each ViT size, as a table and
optionally files (the job behind ``vidpose bench model``; the training cost is :mod:`.bench_train`).

    >>> result = bench_model(["nano", "tiny"], precisions=["fp32"], out="benchmarks/results/model-cpu2.md")
    >>> print(result.table); result.written
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..models.profile import BenchRow, bench_sizes, format_bench_markdown, write_bench

__all__ = ["BenchModelResult", "bench_model"]


@dataclass(frozen=True)
class BenchModelResult:
    """``rows`` (one per size), their Markdown ``table`` and the files ``written`` (none without ``out``)."""

    rows: list[BenchRow]
    table: str
    written: list[Path]


def bench_model(
    sizes: Sequence[str],
    *,
    frames: int = 5,
    image_size: tuple[int, int] = (256, 192),
    precisions: Sequence[str] = ("fp32", "bf16"),
    warmup: int = 1,
    repeats: int = 5,
    device: str = "cpu",
    out: str | Path | None = None,
) -> BenchModelResult:
    """Profile each size at batch 1 (:func:`vidpose.models.profile.bench_sizes`: the T-frame model timed in
    each precision, the single-frame model counted) and, with ``out``, write the table: ``.md`` gives a
    report plus a ``.csv`` beside it, ``.csv`` the CSV only (:func:`~vidpose.models.profile.write_bench`).

    Args:
        sizes: rows of ``VIT_SIZES``; frames: T; image_size: (H, W); precisions: fp32 / bf16 (autocast),
            empty = no timing; warmup, repeats: untimed and timed forwards per precision.
    """
    rows = bench_sizes(
        list(sizes),
        frames=frames,
        image_size=image_size,
        precisions=list(precisions),
        warmup=warmup,
        repeats=repeats,
        device=device,
    )
    written = [] if out is None else write_bench(rows, out)
    return BenchModelResult(rows, format_bench_markdown(rows), written)
