"""Model commands: convert, bench."""

from __future__ import annotations
