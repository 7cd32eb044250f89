"""Training cost of a recipe: step time, windows per second, memory and model FLOPs utilisation.

The step is the trainer's own (:meth:`vidpose.engine.trainer.Trainer.run_step`: autocast, the pose losses,
backward, grad scaler for fp16, clipping, AdamW) on random windows of the recipe's shape, so data loading is
not in it. For each precision (fp32 | bf16 | fp16; fp16 needs CUDA, as in training) and grad checkpointing
off / on it reports:

- ``step_ms``: median wall time of the timed steps (after warm-up steps), synchronised on CUDA;
- ``step_cpu_ms``: median CPU time of this process (all its threads) over the same steps. On a CPU shared
  with other jobs the wall time grows with their load while the CPU time stays near the step's own work
  (with one torch thread it is the wall time an idle core would take); on CUDA it is the host's share only;
- ``windows_per_s``: batch / step time;
- ``activation_mb_per_window``: bytes autograd saves for backward in one forward, per window (measured with
  :func:`torch.autograd.graph.saved_tensors_hooks`, each storage once); with grad checkpointing only what the
  checkpointed blocks keep;
- ``peak_mb``: CUDA ``max_memory_allocated`` over the timed steps (None on CPU: a process's peak RSS cannot be
  reset between variants);
- ``mfu``: model FLOPs per second / the device's peak for that precision (``peak_tflops``; CUDA only). Model
  FLOPs are counted once per recipe by :class:`torch.utils.flop_counter.FlopCounterMode` over a forward and
  backward without checkpointing (recomputation is not model work), a multiply-add as 2.

:func:`memory_estimate` turns a row into the memory a recipe needs at its configured batch: parameters,
gradients and the two AdamW moments in fp32 (16 bytes per parameter) plus the measured activations per window
times the batch. It is an estimate: allocator slack, CUDA workspaces and the data pipeline are not in it.

Shape legend: B windows, T frames, K joints, (H, W) input, (h, w) heatmap.
"""

from __future__ import annotations

import dataclasses
import gc
import statistics
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from ..config import Config
from ..errors import ConfigError

__all__ = [
    "TRAIN_PRECISIONS",
    "TrainBenchRow",
    "bench_train",
    "count_train_flops",
    "memory_estimate",
    "peak_tflops_for",
    "format_train_bench_markdown",
    "split_precisions",
    "host_note",
    "TrainBenchReport",
    "bench_train_report",
]

#: precision name -> (train.amp, train.amp_dtype)
TRAIN_PRECISIONS: dict[str, tuple[bool, str]] = {
    "fp32": (False, "bfloat16"),
    "bf16": (True, "bfloat16"),
    "fp16": (True, "float16"),
}

#: Dense peak TFLOP/s by device-name substring and precision (vendor data sheets; fp32 = TF32 tensor cores,
#: which the benchmark enables for its fp32 rows on CUDA: float32 matmul precision "high"). A device not
#: listed gets no MFU unless given a peak.
_PEAK_TFLOPS: dict[str, dict[str, float]] = {
    "H200": {"fp32": 494.7, "bf16": 989.4, "fp16": 989.4},
    "H100": {"fp32": 494.7, "bf16": 989.4, "fp16": 989.4},
    "A100": {"fp32": 156.0, "bf16": 312.0, "fp16": 312.0},
}


#: Why a precision cannot be timed on a device type (the training step refuses it there too).
_UNSUPPORTED = {("fp16", "cpu"): "fp16 needs CUDA (training uses fp16 only with a grad scaler on CUDA)"}


def split_precisions(precisions: Sequence[str], device: str) -> tuple[list[str], dict[str, str]]:
    """The requested precisions that ``device`` can time, and {precision: why not} for the others (fp16 off
    CUDA), so that a table can say what it left out. An unknown precision stays in the first list (and
    :func:`bench_train` names it)."""
    kind = torch.device(device).type
    run = [p for p in precisions if (p, kind) not in _UNSUPPORTED]
    return run, {p: _UNSUPPORTED[(p, kind)] for p in precisions if (p, kind) in _UNSUPPORTED}


def host_note(device: str) -> str:
    """One line on the conditions of a run: the device, torch's intra-op threads, this process's nice value,
    the CPUs and the 1-minute load average (other jobs' load inflates CPU wall times)."""
    import os

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    nice = os.nice(0) if hasattr(os, "nice") else 0
    return (
        f"device {device}, {torch.get_num_threads()} torch thread(s), nice {nice}, {os.cpu_count()} CPUs, "
        f"load average {load:.1f}"
    )


def peak_tflops_for(device_name: str, precision: str) -> float | None:
    """The dense peak of a known CUDA device for ``precision``, or None."""
    for key, peaks in _PEAK_TFLOPS.items():
        if key in device_name:
            return peaks.get(precision)
    return None


@dataclass(frozen=True)
class TrainBenchRow:
    """One (precision, grad checkpointing) variant of a recipe's training step at ``batch`` windows."""

    recipe: str
    size: str
    params: int
    precision: str
    grad_checkpointing: bool
    batch: int
    step_ms: float
    step_min_ms: float
    step_cpu_ms: float
    windows_per_s: float
    activation_mb_per_window: float
    peak_mb: float | None
    gflops_per_window: float
    mfu: float | None
    repeats: int


class _RandomWindows:
    """A trainer data source: the same random batch of the recipe's shape, ``steps`` times per epoch."""

    def __init__(self, batch: dict[str, Tensor], steps: int) -> None:
        self.batch, self.steps = batch, steps

    def __len__(self) -> int:
        return self.steps

    def __call__(self, epoch: int, start_batch: int) -> Iterator[dict[str, Tensor]]:
        for _ in range(start_batch, self.steps):
            yield self.batch


def random_batch(cfg: Config, batch: int, seed: int = 0) -> dict[str, Tensor]:
    """clip [B, T, 3, H, W], target [B, K, h, w], target_weight [B, K] (all joints weighted)."""
    g = torch.Generator().manual_seed(seed)
    H, W = cfg.codec.input_size
    h, w = cfg.codec.heatmap_size
    K = cfg.model.num_joints
    return {
        "clip": torch.randn(batch, cfg.model.num_frames, 3, H, W, generator=g),
        "target": torch.rand(batch, K, h, w, generator=g),
        "target_weight": torch.ones(batch, K),
    }


def _variant(cfg: Config, precision: str, grad_checkpointing: bool, batch: int, device: str) -> Config:
    amp, amp_dtype = TRAIN_PRECISIONS[precision]
    model = dataclasses.replace(
        cfg.model,
        init_from=None,
        vit=dataclasses.replace(cfg.model.vit, grad_checkpointing=grad_checkpointing),
    )
    train = dataclasses.replace(
        cfg.train, amp=amp, amp_dtype=amp_dtype, batch_size=batch, accum_steps=1, ema_decay=0.0, device=device
    )
    return dataclasses.replace(cfg, model=model, train=train)


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _saved_bytes(model: torch.nn.Module, batch: dict[str, Tensor], cfg: Config, device: torch.device) -> int:
    """Bytes autograd keeps for backward after one training forward (each storage once)."""
    from .train import pose_step

    seen: dict[tuple[int, torch.device], int] = {}

    def pack(t: Tensor) -> Tensor:
        try:
            storage = t.untyped_storage()
            seen[(storage.data_ptr(), t.device)] = storage.nbytes()
        except (RuntimeError, NotImplementedError):  # tensors without storage (views of sparse, ...)
            seen[(id(t), t.device)] = t.numel() * t.element_size()
        return t

    batch = {k: v.to(device) for k, v in batch.items()}
    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    amp, dtype = cfg.train.amp, torch.float16 if cfg.train.amp_dtype == "float16" else torch.bfloat16
    model.train()
    with (
        torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t),
        torch.autocast(device.type, dtype=dtype, enabled=amp),
    ):
        losses = pose_step(model, batch)
    del losses
    return sum(n for (ptr, _), n in seen.items() if ptr not in params)


def count_train_flops(cfg: Config, batch: dict[str, Tensor]) -> int:
    """Model FLOPs of one training forward + backward of ``batch`` in fp32 without grad checkpointing."""
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from torch.utils.flop_counter import FlopCounterMode

    from ..models import build_model
    from .train import pose_step

    cfg = _variant(cfg, "fp32", False, batch["clip"].shape[0], "cpu")
    model = build_model(cfg.model).train()
    counter = FlopCounterMode(display=False)
    with sdpa_kernel([SDPBackend.MATH]), counter:
        losses = pose_step(model, batch)
        torch.stack(list(losses.values())).sum().backward()
    del losses, model  # a ViT-H's weights and gradients are 5.6 GB: free them before the timed variants
    gc.collect()
    return int(counter.get_total_flops())


def bench_train(
    cfg: Config,
    *,
    batch: int,
    precisions: Sequence[str] = ("fp32", "bf16"),
    grad_checkpointing: Sequence[bool] = (False, True),
    warmup: int = 1,
    repeats: int = 3,
    device: str = "cpu",
    peak_tflops: dict[str, float] | None = None,
    flops_per_window: float | None = None,
) -> list[TrainBenchRow]:
    """Time the training step of ``cfg`` for every precision x grad-checkpointing variant (random weights).

    Args:
        batch: windows per step (the recipe's ``train.batch_size`` is not used: choose one that fits).
        peak_tflops: precision -> the device's dense peak TFLOP/s for MFU; None = the known-device table.
        flops_per_window: model FLOPs of one training window (skips counting; the count runs a forward and
            backward at batch 1 on the CPU).

    Raises:
        ConfigError: an unknown precision, fp16 off CUDA, batch < 1.
    """
    from ..engine.distributed import select_device

    if batch < 1 or repeats < 1 or warmup < 0:
        raise ConfigError(f"batch and repeats must be >= 1 and warmup >= 0, got {batch}, {repeats}, {warmup}")
    dev = select_device(device, field="--device")
    for p in precisions:
        if p not in TRAIN_PRECISIONS:
            raise ConfigError(f"precision {p!r}: expected one of {', '.join(TRAIN_PRECISIONS)}")
        if p == "fp16" and dev.type != "cuda":
            raise ConfigError(
                "precision fp16 trains with a grad scaler on CUDA only (as train.amp_dtype); use bf16"
            )
    if flops_per_window is None:
        flops_per_window = float(count_train_flops(cfg, random_batch(cfg, 1)))
    data = random_batch(cfg, batch)
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else ""
    rows: list[TrainBenchRow] = []
    matmul_precision = torch.get_float32_matmul_precision()
    if dev.type == "cuda":
        torch.set_float32_matmul_precision("high")  # TF32 for the fp32 rows, as their MFU peak assumes
    try:
        for precision in precisions:
            for ckpt in grad_checkpointing:
                args = (batch, dev, warmup, repeats, flops_per_window, peak_tflops, name)
                rows.append(_bench_variant(cfg, data, precision, ckpt, *args))
    finally:
        torch.set_float32_matmul_precision(matmul_precision)
    return rows


def _bench_variant(
    cfg: Config,
    data: dict[str, Tensor],
    precision: str,
    ckpt: bool,
    batch: int,
    dev: torch.device,
    warmup: int,
    repeats: int,
    flops_per_window: float,
    peak_tflops: dict[str, float] | None,
    device_name: str,
) -> TrainBenchRow:
    from ..engine.trainer import Trainer
    from ..models import build_model
    from ..models.profile import count_params
    from .train import pose_optimizer, pose_step

    vcfg = _variant(cfg, precision, ckpt, batch, str(dev))
    torch.manual_seed(vcfg.train.seed)
    model = build_model(vcfg.model)
    with tempfile.TemporaryDirectory() as out_dir:
        # warmup + repeats steps in all: one epoch of the random source (the recipe's epochs would repeat it)
        steps = warmup + repeats
        train = dataclasses.replace(vcfg.train, out_dir=out_dir, max_steps=steps, ckpt_every_steps=0)
        vcfg = dataclasses.replace(vcfg, train=train)
        timer = _timer_hook(warmup)
        trainer = Trainer(
            model,
            _RandomWindows(data, warmup + repeats),
            pose_optimizer(model, vcfg),
            pose_step,
            vcfg.train,
            hooks=[timer],
            device=dev,
        )
        trainer.train()
        times, cpu_times = timer.times, timer.cpu_times
    peak = torch.cuda.max_memory_allocated(dev) / 2**20 if dev.type == "cuda" else None
    # the AdamW moments and gradients (12 B per parameter) are not needed to count the saved activations
    trainer.optimizer.state.clear()
    trainer.optimizer.zero_grad(set_to_none=True)
    saved = _saved_bytes(trainer.module, data, vcfg, dev)
    step_s = statistics.median(times)
    peak_tf = (peak_tflops or {}).get(precision) if peak_tflops else peak_tflops_for(device_name, precision)
    mfu = flops_per_window * batch / step_s / (peak_tf * 1e12) if (peak_tf and dev.type == "cuda") else None
    row = TrainBenchRow(
        recipe=cfg.name,
        size=cfg.model.vit.size,
        params=count_params(model),
        precision=precision,
        grad_checkpointing=ckpt,
        batch=batch,
        step_ms=step_s * 1e3,
        step_min_ms=min(times) * 1e3,
        step_cpu_ms=statistics.median(cpu_times) * 1e3,
        windows_per_s=batch / step_s,
        activation_mb_per_window=saved / batch / 2**20,
        peak_mb=peak,
        gflops_per_window=flops_per_window / 1e9,
        mfu=mfu,
        repeats=len(times),
    )
    del trainer, model
    gc.collect()  # the trainer and its hooks reference each other: free this variant before the next one
    if dev.type == "cuda":
        torch.cuda.empty_cache()
    return row


class _StepTimer:
    """A trainer hook: wall time and process CPU time of each step after the first ``warmup`` (synchronised
    on CUDA); the CUDA peak memory counter is reset when timing starts."""

    priority = 50

    def __init__(self, warmup: int) -> None:
        self.warmup = warmup
        self.times: list[float] = []
        self.cpu_times: list[float] = []
        self._start = self._cpu_start = 0.0

    def before_step(self) -> None:
        dev = self.trainer.device
        if self.trainer.step == self.warmup and dev.type == "cuda":
            torch.cuda.reset_peak_memory_stats(dev)
        _synchronize(dev)
        self._start, self._cpu_start = time.perf_counter(), time.process_time()

    def after_step(self) -> None:
        _synchronize(self.trainer.device)
        if self.trainer.step > self.warmup:
            self.times.append(time.perf_counter() - self._start)
            self.cpu_times.append(time.process_time() - self._cpu_start)


def _timer_hook(warmup: int):  # noqa: ANN202 - a HookBase subclass built on demand (no engine import at load)
    from ..engine.hooks import HookBase

    return type("StepTimer", (_StepTimer, HookBase), {})(warmup)


def memory_estimate(row: TrainBenchRow, batch: int) -> float:
    """GiB a recipe needs at ``batch`` windows per GPU: 16 bytes per parameter (fp32 weights, gradients, two
    AdamW moments) + the row's measured activations per window x ``batch``. An estimate (see module doc)."""
    return (16 * row.params + row.activation_mb_per_window * 2**20 * batch) / 2**30


def format_train_bench_markdown(rows: Sequence[TrainBenchRow]) -> str:
    """The rows as a Markdown table."""
    if not rows:
        return "(no rows)"
    head = (
        "| recipe | size | params (M) | precision | grad ckpt | batch | step ms median (min) | step CPU ms "
        "| windows/s | activations MB/window | peak MB | GFLOPs/window (fwd+bwd) | MFU |"
    )
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        lines.append(
            f"| {r.recipe} | {r.size} | {r.params / 1e6:.1f} | {r.precision} "
            f"| {'on' if r.grad_checkpointing else 'off'} "
            f"| {r.batch} | {r.step_ms:.0f} ({r.step_min_ms:.0f}) | {r.step_cpu_ms:.0f} "
            f"| {r.windows_per_s:.2f} "
            f"| {r.activation_mb_per_window:.0f} | {'-' if r.peak_mb is None else f'{r.peak_mb:.0f}'} "
            f"| {r.gflops_per_window:.0f} | {'-' if r.mfu is None else f'{100 * r.mfu:.1f} %'} |"
        )
    return "\n".join(lines)


@dataclass(frozen=True)
class TrainBenchReport:
    """What ``vidpose bench train`` prints and writes: the ``rows``, their Markdown ``table`` and the
    ``notes`` under it (memory estimates at the recipe's batch, precisions not timed and why, the run's
    conditions at start and end)."""

    name: str
    rows: list[TrainBenchRow]
    table: str
    notes: list[str]

    def markdown(self) -> str:
        """The results file: a title, the table and the notes."""
        return f"# Training cost of {self.name}\n\n{self.table}\n\n" + "\n".join(self.notes) + "\n"


def bench_train_report(
    cfg: Config,
    *,
    batch: int,
    precisions: Sequence[str],
    grad_checkpointing: Sequence[bool],
    warmup: int,
    repeats: int,
    device: str,
) -> TrainBenchReport:
    """:func:`bench_train` of the precisions ``device`` can time (:func:`split_precisions`), with the notes
    of :class:`TrainBenchReport`. Raises ConfigError when none of ``precisions`` can be timed there."""
    run, not_timed = split_precisions(list(precisions), device)
    if not run:
        raise ConfigError(
            f"--precisions {','.join(precisions)!r}: none can be timed on {device}: {not_timed}"
        )
    start = host_note(device)
    rows = bench_train(
        cfg,
        batch=batch,
        precisions=run,
        grad_checkpointing=list(grad_checkpointing),
        warmup=warmup,
        repeats=repeats,
        device=device,
    )
    end = host_note(device)
    at = cfg.train.batch_size
    notes = [
        f"- {r.precision}, grad checkpointing {'on' if r.grad_checkpointing else 'off'}: "
        f"~{memory_estimate(r, at):.1f} GiB per GPU at the recipe's batch {at} (estimate: 16 B/parameter + "
        f"{r.activation_mb_per_window:.0f} MB activations/window x {at})"
        for r in rows
    ]
    notes += [f"- {p}: not timed: {why}" for p, why in not_timed.items()]
    notes += [f"- run at start: {start}", f"- run at end: {end}"]
    return TrainBenchReport(cfg.name, rows, format_train_bench_markdown(rows), notes)
