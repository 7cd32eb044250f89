"""Damaged videos made here: a corrupt mp4 names the file and the frame, a truncated one warns (or, strict,
fails) with the number of frames read, FFmpeg's own log stays quiet, a frame size change is an error."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from vidpose.data.video_io import open_source
from vidpose.errors import DataFormatError, VidposeWarning

FRAMES = 41  # the frames of conftest's make_video


@pytest.fixture(scope="module")
def video(tmp_path_factory, make_video) -> Path:
    return make_video(tmp_path_factory.mktemp("video"))


def test_the_intact_video_reads_every_announced_frame(video):
    src = open_source(video)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert src.num_frames == FRAMES and sum(1 for _ in src) == FRAMES


def test_a_truncated_video_warns_with_the_count_read_or_fails_when_strict(video, tmp_path):
    data = video.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    src = open_source(cut)
    assert src.num_frames == FRAMES
    with pytest.warns(
        VidposeWarning, match=rf"stream ended after (\d+) frames, the container announced {FRAMES}"
    ):
        n = sum(1 for _ in src)
    assert 0 < n < FRAMES
    strict = open_source(cut, strict=True)
    with pytest.raises(DataFormatError, match=rf"cut\.mp4: the stream ended after {n} frames"):
        list(strict)


def test_a_corrupt_video_names_the_file_and_the_frame(video, tmp_path):
    data = bytearray(video.read_bytes())
    rng = np.random.default_rng(1)
    mid = len(data) // 2
    data[mid : mid + 2000] = rng.integers(0, 256, 2000, dtype=np.uint8).tobytes()
    bad = tmp_path / "corrupt.mp4"
    bad.write_bytes(bytes(data))
    src = open_source(bad)
    expected = r"corrupt\.mp4: cannot decode frame (\d+) .*re-encode"
    with pytest.raises(DataFormatError, match=expected) as info, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        list(src)
    assert "\n" not in str(info.value)


def test_ffmpeg_log_is_quiet_for_an_unreadable_video(video, tmp_path, capfd, monkeypatch):
    monkeypatch.delenv("VIDPOSE_DEBUG", raising=False)
    monkeypatch.delenv("OPENCV_FFMPEG_LOGLEVEL", raising=False)
    plain = video.parent / "plain.mp4"  # index at the end: half of it has no moov atom
    data = plain.read_bytes()
    cut = tmp_path / "no_index.mp4"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataFormatError, match="not a readable video"):
        open_source(cut)
    captured = capfd.readouterr()
    assert "moov atom" not in captured.err + captured.out


def test_fps_must_be_positive(video):
    for fps in (0, -1):
        with pytest.raises(DataFormatError, match="frame rate must be > 0"):
            open_source(video, fps=fps)
