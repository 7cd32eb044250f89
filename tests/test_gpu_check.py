"""``benchmarks/gpu_check.py`` (the GPU path of the PoseTrack recipes) refuses cleanly without CUDA."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA: the script would run for real")
def test_gpu_check_refuses_without_cuda_in_one_line(tmp_path):
    out = tmp_path / "gpu.md"
    proc = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "gpu_check.py"), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "error: gpu_check needs a CUDA device (torch.cuda.is_available() is False); nothing was run"
    ]
    assert not out.exists()
