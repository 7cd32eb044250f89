"""``vidpose bench train`` (vidpose.tasks.bench_train) on a tiny recipe: every variant is timed, grad
checkpointing keeps fewer activations, fp16 is refused off CUDA, the memory estimate is its formula."""

from __future__ import annotations

from pathlib import Path

import pytest

from vidpose.config import load_config
from vidpose.errors import ConfigError
from vidpose.tasks.bench_train import (
    bench_train,
    count_train_flops,
    format_train_bench_markdown,
    host_note,
    memory_estimate,
    peak_tflops_for,
    random_batch,
    split_precisions,
)

REPO = Path(__file__).resolve().parents[2]
TINY = [
    "model.image_size=[64,48]",
    "codec.input_size=[64,48]",
    "codec.heatmap_size=[16,12]",
    "model.vit.embed_dim=64",
    "model.vit.num_heads=2",
    "model.vit.depth=2",
    "model.mlsme.dim=64",
    "model.mlsme.num_heads=2",
    "model.smml.num_heads=2",
    "model.head.deconv_channels=32",
]


def _cfg():
    return load_config(REPO / "configs" / "synthetic_nano.yaml", TINY)


def test_every_variant_is_timed_and_checkpointing_saves_activations():
    cfg = _cfg()
    rows = bench_train(cfg, batch=2, precisions=("fp32", "bf16"), warmup=0, repeats=1, flops_per_window=1e9)
    assert [(r.precision, r.grad_checkpointing) for r in rows] == [
        ("fp32", False), ("fp32", True), ("bf16", False), ("bf16", True)
    ]  # fmt: skip
    for r in rows:
        assert r.step_ms > 0 and r.windows_per_s == pytest.approx(2 / (r.step_ms / 1e3))
        assert r.step_cpu_ms > 0  # the process's CPU time over the same steps
        assert r.peak_mb is None and r.mfu is None  # CPU: no resettable peak, no peak FLOP/s
        assert r.activation_mb_per_window > 0 and r.params > 0 and r.gflops_per_window == 1.0
        assert r.repeats == 1  # timed steps: warmup + repeats in all, not the recipe's 12 epochs of them
    by = {(r.precision, r.grad_checkpointing): r for r in rows}
    assert by["fp32", True].activation_mb_per_window < by["fp32", False].activation_mb_per_window
    table = format_train_bench_markdown(rows)
    assert table.count("\n") == 5 and "| fp32 | on |" in table
    assert "| step CPU ms |" in table and f"| {by['bf16', True].step_cpu_ms:.0f} |" in table


def test_precisions_a_device_cannot_train_in_are_named_with_why():
    assert split_precisions(["fp32", "bf16", "fp16"], "cpu") == (
        ["fp32", "bf16"],
        {"fp16": "fp16 needs CUDA (training uses fp16 only with a grad scaler on CUDA)"},
    )
    assert split_precisions(["fp16", "bf16"], "cuda:0") == (["fp16", "bf16"], {})
    assert split_precisions(["fp64"], "cpu") == (["fp64"], {})  # bench_train names unknown ones
    import torch

    note = host_note("cpu")
    assert note.startswith(f"device cpu, {torch.get_num_threads()} torch thread(s), nice ")
    assert "load average " in note


def test_flops_count_is_about_three_forwards():
    from vidpose.models.profile import count_flops

    cfg = _cfg()
    batch = random_batch(cfg, 1)
    train_flops = count_train_flops(cfg, batch)
    from vidpose.models import build_model

    forward = count_flops(build_model(cfg.model), batch["clip"])
    assert 2.5 * forward < train_flops < 4.0 * forward  # backward ~2 forwards, plus training-only heads


def test_fp16_needs_cuda_and_memory_estimate_is_its_formula():
    cfg = _cfg()
    with pytest.raises(ConfigError, match="fp16"):
        bench_train(cfg, batch=1, precisions=("fp16",), device="cpu", flops_per_window=1.0)
    with pytest.raises(ConfigError, match="precision 'fp64'"):
        bench_train(cfg, batch=1, precisions=("fp64",), flops_per_window=1.0)
    (row,) = bench_train(cfg, batch=1, precisions=("fp32",), grad_checkpointing=(False,), warmup=0, repeats=1)
    expected = (16 * row.params + row.activation_mb_per_window * 2**20 * 32) / 2**30
    assert memory_estimate(row, 32) == pytest.approx(expected)
    assert peak_tflops_for("NVIDIA H200", "bf16") == pytest.approx(989.4)
    assert peak_tflops_for("cpu", "bf16") is None


def test_cli_bench_train_writes_the_table(tmp_path, capsys):
    from vidpose.cli import main

    out = tmp_path / "train-tiny.md"
    args = ["bench", "train", str(REPO / "configs" / "synthetic_nano.yaml"), *TINY, "--batch", "1"]
    with pytest.raises(SystemExit) as info:
        main(
            [*args, "--precisions", "fp32", "--grad-checkpointing", "on", "--repeats", "1", "--out", str(out)]
        )
    assert info.value.code in (0, None), capsys.readouterr().err
    text = out.read_text()
    assert "| fp32 | on |" in text and "GiB per GPU at the recipe's batch" in text
    assert "- run at start: device cpu, " in text and "- run at end: device cpu, " in text
    # fp16 on CPU: the other precisions are timed and the table says why fp16 is not
    main_args = [*args, "--precisions", "fp32,fp16", "--grad-checkpointing", "on", "--repeats", "1"]
    with pytest.raises(SystemExit) as info:
        main([*main_args, "--warmup", "0", "--out", str(out)])
    assert info.value.code in (0, None), capsys.readouterr().err
    text = out.read_text()
    assert "| fp32 | on |" in text and "| fp16 |" not in text
    assert "- fp16: not timed: fp16 needs CUDA" in text
    with pytest.raises(SystemExit) as info:
        main([*args, "--precisions", "fp16"])  # nothing left to time
    assert info.value.code == 2
    with pytest.raises(SystemExit) as info:
        main([*args, "--grad-checkpointing", "maybe"])
    assert info.value.code == 2
