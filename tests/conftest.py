"""Shared fixtures. Real data lives in ``../shared/data`` beside the checkout and is never copied here."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("VIDPOSE_SHARED_DATA", REPO.parent / "shared" / "data"))

# Two CPU cores in CI: keep torch from oversubscribing when pytest runs alongside other work.
torch.set_num_threads(min(2, torch.get_num_threads()))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Path of ``../shared/data``; tests that use it are skipped with a reason when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(
            f"real sample data not found at {SHARED_DATA} (set VIDPOSE_SHARED_DATA or check out ../shared)"
        )
    return SHARED_DATA
