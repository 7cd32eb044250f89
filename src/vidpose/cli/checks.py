"""Checks a command runs on its arguments before any work starts: output locations and device strings.

Each failure is a :class:`ConfigError` naming the option, the path and what to do, so that a long
evaluation never ends in a ``PermissionError`` when it writes its first file.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import ConfigError

__all__ = ["check_output_dir", "check_output_file", "check_device", "check_positive"]


def _check_creatable(path: Path, option: str) -> None:
    """``path`` does not exist yet: its first existing ancestor must be a writable folder."""
    parent = path.parent
    while not parent.exists():
        if parent == parent.parent:
            break
        parent = parent.parent
    if parent.exists() and not parent.is_dir():
        raise ConfigError(f"{option} {path}: {parent} is a file, not a folder; choose another location")
    if parent.exists() and not os.access(parent, os.W_OK | os.X_OK):
        raise ConfigError(
            f"{option} {path}: cannot create it, {parent} is not writable; choose another location"
        )


def check_output_dir(path: str | Path, option: str = "--out") -> Path:
    """An output folder: absent (and creatable) or an existing, writable folder."""
    path = Path(path)
    if path.exists():
        if not path.is_dir():
            raise ConfigError(
                f"{option} {path}: is a file, expected a folder; remove it or choose another {option}"
            )
        if not os.access(path, os.W_OK | os.X_OK):
            raise ConfigError(f"{option} {path}: the folder is not writable; choose another {option}")
        return path
    _check_creatable(path, option)
    return path


def check_output_file(path: str | Path, option: str = "--out") -> Path:
    """An output file: absent (and creatable) or an existing, writable file (replaced)."""
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"{option} {path}: is a folder, expected a file name; choose another {option}")
    if path.exists():
        if not os.access(path, os.W_OK) or not os.access(path.parent, os.W_OK | os.X_OK):
            raise ConfigError(
                f"{option} {path}: the file cannot be replaced (not writable); choose another {option}"
            )
        return path
    _check_creatable(path, option)
    return path


def check_device(name: str, option: str = "--device") -> str:
    """A device string the command can use; "auto" becomes cuda:0 or cpu. One line when it is unusable."""
    from ..tasks.devices import resolve_device

    return resolve_device(name, field=option)


def check_positive(value: float | None, option: str, *, integer: bool = False) -> None:
    """``value`` (when given) must be > 0."""
    if value is not None and not value > 0:
        kind = "a positive integer" if integer else "a positive number"
        raise ConfigError(f"{option} {value}: expected {kind}")
