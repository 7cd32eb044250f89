"""Precision names and their autocast dtypes: the one map that training (``train.amp_dtype``), evaluation
(``eval.precision``), inference and the model benchmark read.

    >>> autocast_dtype("bfloat16"), autocast_dtype("bf16"), autocast_dtype("float32")
    (torch.bfloat16, torch.bfloat16, None)
"""

from __future__ import annotations

import torch

from .errors import ConfigError

__all__ = ["AMP_DTYPES", "PRECISION_ALIASES", "autocast_dtype"]

#: precision name -> autocast dtype (None = plain float32, no autocast)
AMP_DTYPES: dict[str, torch.dtype | None] = {
    "float32": None,
    "bfloat16": torch.bfloat16,
    "float16": torch.float16,
}

#: short names (benchmark flags) -> precision names
PRECISION_ALIASES: dict[str, str] = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}


def autocast_dtype(name: str) -> torch.dtype | None:
    """``"float32"`` | ``"bfloat16"`` | ``"float16"`` (or fp32 / bf16 / fp16) -> the autocast dtype, None for
    float32. An unknown name is a :class:`ConfigError` listing the known ones."""
    full = PRECISION_ALIASES.get(name, name)
    if full not in AMP_DTYPES:
        known = ", ".join([*AMP_DTYPES, *PRECISION_ALIASES])
        raise ConfigError(f"unknown precision {name!r}: expected one of {known}")
    return AMP_DTYPES[full]
