"""vidpose: video-based multi-person 2D human pose estimation.

The public API is imported lazily so that ``import vidpose`` has no side effects and stays fast.
"""

from __future__ import annotations

__version__ = "0.1.0"
