"""Data commands: check-data, eval-posetrack."""

from __future__ import annotations
