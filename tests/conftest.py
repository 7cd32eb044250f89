"""Shared fixtures. Real data lives in ``../shared/data`` beside the checkout and is never copied here."""

from __future__ import annotations

import os
from pathlib import Path

import av
import numpy as np
import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("VIDPOSE_SHARED_DATA", REPO.parent / "shared" / "data"))

# Two CPU cores in CI: keep torch from oversubscribing when pytest runs alongside other work.
torch.set_num_threads(min(2, torch.get_num_threads()))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Path of ``../shared/data``; tests that use it are skipped with a reason when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(
            f"real sample data not found at {SHARED_DATA} (set VIDPOSE_SHARED_DATA or check out ../shared)"
        )
    return SHARED_DATA


def _make_video(tmp_path: Path) -> Path:
    """41 noisy 64x96 frames, H.264, remuxed with the index (moov) first so that a cut file still opens."""
    from vidpose.data.video_io import VideoWriter

    rng = np.random.default_rng(0)
    plain = tmp_path / "plain.mp4"
    with VideoWriter(plain, fps=25) as w:
        for i in range(41):
            f = rng.integers(0, 60, (64, 96, 3), dtype=np.uint8)
            f[:, (2 * i) % 86 : (2 * i) % 86 + 10] = 255
            w.write(f)
    fast = tmp_path / "fast.mp4"
    with av.open(str(plain)) as inp, av.open(str(fast), "w", options={"movflags": "faststart"}) as out:
        stream = out.add_stream_from_template(inp.streams.video[0])
        for packet in inp.demux(inp.streams.video[0]):
            if packet.dts is not None:
                packet.stream = stream
                out.mux(packet)
    return fast


@pytest.fixture(scope="session")
def make_video():
    """``make_video(folder)``: a 41-frame 64x96 H.264 mp4 with its index first (``fast.mp4``; ``plain.mp4``
    beside it has the index last), for tests that damage it."""
    return _make_video
