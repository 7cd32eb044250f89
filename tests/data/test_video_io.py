"""Frame sources (image folders, videos via PyAV and OpenCV) and the atomic H.264 writer."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from vidpose.data import video_io
from vidpose.data.video_io import (
    IMAGE_EXTENSIONS,
    ImageFolderSource,
    OpenCVVideoSource,
    PyAVVideoSource,
    VideoWriter,
    natural_key,
    open_source,
)
from vidpose.errors import DataFormatError

BONN = "bonn_multiperson_posetrack/images/060470979_bonn_test"
MP4_DIR = "mmpose_posetrack18/videos/000001_mpiinew_test"


def _imread_rgb(path: Path) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


def test_natural_key_orders_numbers_by_value():
    names = ["10.jpg", "2.jpg", "1.jpg", "frame_11.png", "frame_9.png"]
    assert sorted(names, key=natural_key) == ["1.jpg", "2.jpg", "10.jpg", "frame_9.png", "frame_11.png"]


def test_bonn_folder_is_streamed_in_order(shared_data: Path):
    src = open_source(shared_data / BONN, fps=30.0)
    assert isinstance(src, ImageFolderSource)
    assert (src.num_frames, src.size, src.fps) == (41, (540, 960), 30.0)
    it = iter(src)
    index, first = next(it)  # a generator: nothing beyond the first frame has been read
    assert index == 0 and first.dtype == np.uint8 and first.shape == (540, 960, 3)
    np.testing.assert_array_equal(first, _imread_rgb(shared_data / BONN / "00001.jpg"))  # RGB, not BGR
    indices = [0] + [i for i, _ in it]
    assert indices == list(range(41))
    assert [p.name for p in src.files[:3]] == ["00001.jpg", "00002.jpg", "00003.jpg"]


def test_folder_natural_order_and_varying_sizes(tmp_path: Path):
    sizes = {"10.png": (30, 40), "2.jpg": (20, 16), "1.bmp": (12, 18), "3.JPEG": (8, 8)}
    for name, (h, w) in sizes.items():
        cv2.imwrite(str(tmp_path / name), np.full((h, w, 3), 100, np.uint8))
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / ".hidden.jpg").write_bytes(b"")
    src = open_source(tmp_path)
    assert [p.name for p in src.files] == ["1.bmp", "2.jpg", "3.JPEG", "10.png"]
    assert src.num_frames == 4 and src.size == (12, 18)
    assert [src.frame_size(i) for i in range(4)] == [(12, 18), (20, 16), (8, 8), (30, 40)]
    assert [f.shape[:2] for _, f in src] == [(12, 18), (20, 16), (8, 8), (30, 40)]


def test_mp4_decoded_by_pyav_matches_its_jpeg_frames(shared_data: Path):
    path = shared_data / MP4_DIR / "000001_mpiinew_test.mp4"
    src = open_source(path)
    assert isinstance(src, PyAVVideoSource)
    assert (src.num_frames, src.size, src.fps) == (5, (720, 1280), 30.0)
    frames = [f for _, f in src]
    assert len(frames) == 5 and all(f.shape == (720, 1280, 3) and f.dtype == np.uint8 for f in frames)
    for i, f in enumerate(frames):  # the mp4 was encoded from these jpgs (lossy: about 2.5 grey levels off)
        err = np.abs(f.astype(int) - _imread_rgb(shared_data / MP4_DIR / f"{i:06d}.jpg")).mean()
        assert err < 6.0


def test_opencv_fallback_when_pyav_fails(shared_data: Path, monkeypatch: pytest.MonkeyPatch):
    path = shared_data / MP4_DIR / "000001_mpiinew_test.mp4"

    def broken(*args, **kwargs):
        raise RuntimeError("simulated PyAV failure")

    monkeypatch.setattr(video_io, "PyAVVideoSource", broken)
    src = open_source(path)
    assert isinstance(src, OpenCVVideoSource)
    assert (src.num_frames, src.size, src.fps) == (5, (720, 1280), 30.0)
    frames = [f for _, f in src]
    reference = [f for _, f in PyAVVideoSource(path)]
    assert len(frames) == 5
    assert np.abs(frames[2].astype(int) - reference[2]).mean() < 2.0  # same decoder output, RGB order


def test_clear_errors(tmp_path: Path):
    with pytest.raises(DataFormatError, match="no such file or folder"):
        open_source(tmp_path / "missing.mp4")
    empty_dir = tmp_path / "empty"
    empty_dir.mkdir()
    (empty_dir / "readme.txt").write_text("x")
    with pytest.raises(DataFormatError, match="no images") as info:
        open_source(empty_dir)
    assert all(ext in str(info.value) for ext in IMAGE_EXTENSIONS) and str(empty_dir) in str(info.value)
    (tmp_path / "zero.mp4").write_bytes(b"")
    with pytest.raises(DataFormatError, match="empty"):
        open_source(tmp_path / "zero.mp4")
    (tmp_path / "junk.mp4").write_bytes(b"this is not a video file at all" * 100)
    with pytest.raises(DataFormatError, match="junk.mp4"):
        open_source(tmp_path / "junk.mp4")
    bad = tmp_path / "frames"
    bad.mkdir()
    (bad / "0.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(DataFormatError, match="0.jpg"):
        list(ImageFolderSource(bad))


def test_write_then_read_back(shared_data: Path, tmp_path: Path):
    src = open_source(shared_data / BONN)
    frames = []
    for i, f in src:
        if i == 8:
            break
        frames.append(f[:271, :481])  # odd size (271, 481): padded to (272, 482) for yuv420p
    out = tmp_path / "sub" / "clip.mp4"
    with VideoWriter(out, fps=29.97) as writer:
        for f in frames:
            writer.write(f)
            assert not out.exists()  # only the temporary name exists while writing
    assert out.is_file() and sorted(p.name for p in out.parent.iterdir()) == ["clip.mp4"]
    back = open_source(out)
    assert isinstance(back, PyAVVideoSource)
    assert back.size == (272, 482) and abs(back.fps - 29.97) < 1e-3
    decoded = [f for _, f in back]
    assert len(decoded) == len(frames) == 8
    errors = [np.abs(d[:271, :481].astype(int) - f).mean() for d, f in zip(decoded, frames, strict=True)]
    assert max(errors) < 4.0, errors


def test_writer_letterboxes_other_sizes(tmp_path: Path):
    out = tmp_path / "mixed.mp4"
    with VideoWriter(out, fps=10) as writer:
        writer.write(np.full((64, 96, 3), 200, np.uint8))
        writer.write(np.full((32, 32, 3), 200, np.uint8))  # fitted into 64x96, centred, black bars
    frames = [f for _, f in open_source(out)]
    assert [f.shape for f in frames] == [(64, 96, 3)] * 2
    assert frames[1][32, 48].mean() > 180 and frames[1][32, 5].mean() < 30


def test_writer_never_leaves_a_half_file(tmp_path: Path):
    out = tmp_path / "crash.mp4"
    with pytest.raises(RuntimeError, match="boom"), VideoWriter(out, fps=25) as writer:
        writer.write(np.zeros((32, 32, 3), np.uint8))
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(DataFormatError, match="no frames"):
        VideoWriter(tmp_path / "nothing.mp4", fps=25).close()
    with pytest.raises(ValueError, match="RGB uint8"), VideoWriter(tmp_path / "x.mp4", fps=25) as writer:
        writer.write(np.zeros((32, 32), np.uint8))
    assert list(tmp_path.iterdir()) == []
