"""Atomic file writes: data goes to a temporary file in the target folder, then is renamed over the target,
so a reader (or a crash) never sees half a file. The one implementation every writer of vidpose uses."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

__all__ = [
    "atomic_write_with",
    "atomic_write_bytes",
    "atomic_write_text",
    "atomic_write_json",
    "default_file_mode",
]


def default_file_mode() -> int:
    """The mode a plain ``open(path, "w")`` would give a new file under the current umask (temporary files
    are created private, 0600, and are widened to this before the rename)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def atomic_write_with(path: str | Path, write: Callable[[BinaryIO], Any], fsync: bool = False) -> Path:
    """Write ``path`` atomically through ``write(file)`` (a binary file open on a temporary name in the
    target folder; e.g. ``lambda f: torch.save(state, f)``), then rename it over ``path`` (parents created).

    ``fsync``: flush the data to disk before the rename (checkpoints: the previous file stays intact until
    the new one is durable). A failure removes the temporary file and leaves ``path`` as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            if fsync:
                f.flush()
                os.fsync(f.fileno())
        os.chmod(tmp, default_file_mode())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_bytes(path: str | Path, data: bytes, fsync: bool = False) -> Path:
    """Write ``data`` to ``path`` atomically (parents created); returns the path."""
    return atomic_write_with(path, lambda f: f.write(data), fsync)


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | Path, obj: Any, **dump_kwargs: Any) -> Path:
    """Write ``obj`` as JSON to ``path`` atomically (``dump_kwargs`` go to :func:`json.dumps`)."""
    return atomic_write_text(path, json.dumps(obj, **dump_kwargs))
