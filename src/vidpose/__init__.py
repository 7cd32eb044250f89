"""vidpose: video-based multi-person 2D human pose estimation.

The public API is imported lazily so that ``import vidpose`` has no side effects and stays fast:

    >>> import vidpose
    >>> model, cfg = vidpose.load_model("model.safetensors")
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# public name -> module that defines it (imported on first access)
_LAZY = {
    "load_model": "vidpose.models.serialization",
    "save_model": "vidpose.models.serialization",
    "build_model": "vidpose.models.pose_model",
    "load_config": "vidpose.config",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'vidpose' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
