"""Generic helpers for modules and their state dicts: unwrap a wrapped model, strip a key prefix, and the one
state-dict diff (missing, unexpected and mis-shaped keys, with one readable report).

Neutral ground: ``models/`` (serialization, weight conversion) and ``engine/`` (checkpoints, EMA, optimiser)
both use it, and it imports neither.

    >>> diff = diff_state_dict(model.state_dict(), loaded)     # expected first, then what was found
    >>> if diff: raise CheckpointError(f"{path}: {diff.describe()}")
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from torch import nn
from torch.nn.parallel import DistributedDataParallel

__all__ = ["unwrap", "strip_prefix", "StateDiff", "diff_state_dict"]

_MAX_LISTED = 20


def unwrap(model: nn.Module) -> nn.Module:
    """The bare model inside DistributedDataParallel / DataParallel / ``torch.compile`` wrappers."""
    while True:
        if isinstance(model, (DistributedDataParallel, nn.DataParallel)):
            model = model.module
        elif isinstance(getattr(model, "_orig_mod", None), nn.Module):
            model = model._orig_mod
        else:
            return model


def strip_prefix(state: Mapping[str, Any], prefix: str = "module.") -> dict[str, Any]:
    """``state`` with ``prefix`` removed from every key, when every key has it (a DDP wrapper's
    ``module.``); otherwise an unchanged copy."""
    if state and all(k.startswith(prefix) for k in state):
        return {k[len(prefix) :]: v for k, v in state.items()}
    return dict(state)


def _shape(value: Any) -> tuple[int, ...]:
    return tuple(getattr(value, "shape", ()))


@dataclass
class StateDiff:
    """Differences between an expected state dict (a model's) and a found one (a file's).

    Attributes:
        missing: expected keys not found; unexpected: found keys not expected.
        mismatched: (key, expected shape, found shape) for keys in both with different shapes.
        shapes: the shape of every missing (expected) and unexpected (found) key, for the report.
    """

    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    mismatched: list[tuple[str, tuple[int, ...], tuple[int, ...]]] = field(default_factory=list)
    shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.missing or self.unexpected or self.mismatched)

    def describe(self, limit: int = _MAX_LISTED) -> str:
        """``"2 missing key(s): a (3,), b (3, 4); 1 mis-shaped key(s): c (expected (2,), got (3,))"``
        (at most ``limit`` keys listed per kind); empty when both match."""

        def listing(keys: list[str]) -> str:
            more = f", ... ({len(keys) - limit} more)" if len(keys) > limit else ""
            return ", ".join(keys[:limit]) + more

        parts = []
        for kind, keys in (("missing", self.missing), ("unexpected", self.unexpected)):
            if keys:
                parts.append(
                    f"{len(keys)} {kind} key(s): " + listing([f"{k} {self.shapes[k]}" for k in keys])
                )
        if self.mismatched:
            shapes = [f"{k} (expected {e}, got {g})" for k, e, g in self.mismatched]
            parts.append(f"{len(self.mismatched)} mis-shaped key(s): {listing(shapes)}")
        return "; ".join(parts)


def diff_state_dict(expected: Mapping[str, Any], got: Mapping[str, Any], sort: bool = True) -> StateDiff:
    """The :class:`StateDiff` of ``got`` against ``expected`` (keys sorted, or in dict order)."""
    order = sorted if sort else list
    missing = [k for k in order(expected) if k not in got]
    unexpected = [k for k in order(got) if k not in expected]
    return StateDiff(
        missing=missing,
        unexpected=unexpected,
        mismatched=[
            (k, _shape(expected[k]), _shape(got[k]))
            for k in order(expected)
            if k in got and _shape(expected[k]) != _shape(got[k])
        ],
        shapes={**{k: _shape(expected[k]) for k in missing}, **{k: _shape(got[k]) for k in unexpected}},
    )
