"""Devices: the torch device a task runs on, from the name a user gives (``--device``, ``train.device``):
``resolve_device("auto")`` is "cuda:0" with a GPU, else "cpu"."""

from __future__ import annotations

from ..engine.distributed import select_device

__all__ = ["resolve_device"]


def resolve_device(name: str, field: str = "--device") -> str:
    """``name`` ("auto", "cpu", "cuda", "cuda:N") -> the device string a task gets ("auto" becomes cuda:0
    or cpu); a :class:`~vidpose.errors.ConfigError` naming ``field`` when the device is unusable."""
    return str(select_device(name, field=field))
