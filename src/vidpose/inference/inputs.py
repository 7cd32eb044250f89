"""Inputs of the predict pipeline: a video file, a folder of images, a PoseTrack JSON or any iterable of
frames, opened lazily as one :class:`VideoInput` (frames are decoded as they are consumed).

A PoseTrack JSON's images are ``root / file_name``, ``root`` given or found as the nearest parent folder of
the JSON that holds the first image. Frames are RGB uint8 [H, W, 3].

    >>> video = open_input("clip.mp4")
    >>> for index, frame in video.frames: ...
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ..data.posetrack import read_sequence
from ..data.records import Sequence
from ..data.video_io import DEFAULT_FOLDER_FPS, ImageFolderSource, open_source, read_image
from ..errors import DataFormatError

__all__ = ["VideoInput", "open_input"]


@dataclass
class VideoInput:
    """An opened input: ``frames`` yields ``(index, frame [H, W, 3] RGB uint8)`` lazily.

    Attributes: ``name`` (output stem), ``kind`` (video | folder | posetrack | frames), ``num_frames``
    (None if unknown), ``fps``, ``sequence`` (PoseTrack input: its records, GT persons included),
    ``file_names`` (per frame, when known), ``path`` (the file or folder, None for an iterable).
    """

    name: str
    kind: Literal["video", "folder", "posetrack", "frames"]
    frames: Iterable[tuple[int, np.ndarray]]
    num_frames: int | None
    fps: float
    sequence: Sequence | None = None
    file_names: list[str] | None = None
    path: Path | None = None

    def frame_info(self, index: int) -> tuple[int | None, str | None]:
        """(image id, file name) of frame ``index`` when the input has them."""
        if self.sequence is not None and index < len(self.sequence.frames):
            frame = self.sequence.frames[index]
            return frame.image_id, frame.file_name
        if self.file_names is not None and index < len(self.file_names):
            return None, self.file_names[index]
        return None, None


def _find_root(json_path: Path, file_name: str) -> Path:
    for parent in json_path.resolve().parents:
        if (parent / file_name).is_file():
            return parent
    raise DataFormatError(
        f"{json_path}: cannot find its images: no parent folder of the file holds {file_name!r} (the first "
        "`images[].file_name`, relative to the dataset root); pass the dataset root (--root)"
    )


def _posetrack_frames(seq: Sequence, root: Path) -> Iterator[tuple[int, np.ndarray]]:
    for frame in seq.frames:
        yield frame.index, read_image(root / frame.file_name)


def _enumerate_frames(frames: Iterable[Any]) -> Iterator[tuple[int, np.ndarray]]:
    for i, item in enumerate(frames):
        frame = item[1] if isinstance(item, tuple) and len(item) == 2 else item
        yield i, frame


def open_input(
    source: str | Path | VideoInput | Iterable[Any], root: str | Path | None = None, fps: float | None = None
) -> VideoInput:
    """Open a video file, an image folder, a PoseTrack JSON (``root``: its dataset root, None = find it) or an
    iterable of frames as a lazy :class:`VideoInput`. ``fps``: rate of a folder, JSON or iterable (and of a
    video whose container has none). Raises :class:`DataFormatError` naming the input when it cannot be
    read."""
    if isinstance(source, VideoInput):
        return source
    rate = DEFAULT_FOLDER_FPS if fps is None else float(fps)
    if not isinstance(source, (str, Path)):
        num = len(source) if hasattr(source, "__len__") else None  # type: ignore[arg-type]
        return VideoInput("frames", "frames", _enumerate_frames(source), num, rate)
    path = Path(source)
    if path.suffix.lower() == ".json":
        seq = read_sequence(path)
        if not seq.frames:
            raise DataFormatError(f"{path}: the sequence has no images")
        base = _find_root(path, seq.frames[0].file_name) if root is None else Path(root)
        return VideoInput(
            seq.name, "posetrack", _posetrack_frames(seq, base), len(seq), rate, sequence=seq, path=path
        )
    src = open_source(path, fps=rate)
    if isinstance(src, ImageFolderSource):
        names = [f"{path.name}/{p.name}" for p in src.files]
        return VideoInput(path.name, "folder", src, src.num_frames, src.fps, file_names=names, path=path)
    return VideoInput(path.stem, "video", src, src.num_frames, src.fps, path=path)
