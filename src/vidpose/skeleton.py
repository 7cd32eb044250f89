"""Keypoint layouts: the PoseTrack18 17-joint layout, its flip pairs and limbs, and poseval's 15-joint ids.

Legend: K = 17 joints in PoseTrack18 order (:data:`PT18.names`).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Skeleton", "PT18", "POSEVAL_NAMES", "POSEVAL_TO_PT18", "PT17_ID_TO_PT18"]


@dataclass(frozen=True)
class Skeleton:
    """A keypoint layout.

    Args:
        names: joint names in channel order.
        flip_pairs: (left, right) index pairs swapped by a horizontal flip.
        limbs: (a, b) index pairs drawn as bones (0-based).
    """

    names: tuple[str, ...]
    flip_pairs: tuple[tuple[int, int], ...]
    limbs: tuple[tuple[int, int], ...]

    @property
    def num_joints(self) -> int:
        return len(self.names)

    def index(self, name: str) -> int:
        return self.names.index(name)

    def flip_permutation(self) -> list[int]:
        """Channel order after a horizontal flip: ``flipped[:, perm]`` swaps left and right joints."""
        perm = list(range(self.num_joints))
        for a, b in self.flip_pairs:
            perm[a], perm[b] = b, a
        return perm


PT18 = Skeleton(
    names=(
        "nose",
        "head_bottom",
        "head_top",
        "left_ear",
        "right_ear",
        "left_shoulder",
        "right_shoulder",
        "left_elbow",
        "right_elbow",
        "left_wrist",
        "right_wrist",
        "left_hip",
        "right_hip",
        "left_knee",
        "right_knee",
        "left_ankle",
        "right_ankle",
    ),
    flip_pairs=((3, 4), (5, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16)),
    # The PoseTrack18 `categories[0].skeleton`, converted from 1-based to 0-based indices.
    limbs=(
        (15, 13), (13, 11), (16, 14), (14, 12), (11, 12), (5, 11), (6, 12), (5, 6), (5, 7), (6, 8),
        (7, 9), (8, 10), (1, 2), (0, 1), (0, 2), (1, 3), (2, 4), (3, 5), (4, 6),
    ),
)  # fmt: skip

#: The 15 joints poseval scores, in poseval's id order (ears are never scored).
POSEVAL_NAMES: tuple[str, ...] = (
    "right_ankle",
    "right_knee",
    "right_hip",
    "left_hip",
    "left_knee",
    "left_ankle",
    "right_wrist",
    "right_elbow",
    "right_shoulder",
    "left_shoulder",
    "left_elbow",
    "left_wrist",
    "head_bottom",
    "nose",
    "head_top",
)

#: poseval id -> PT18 channel.
POSEVAL_TO_PT18: tuple[int, ...] = tuple(PT18.index(n) for n in POSEVAL_NAMES)

#: PoseTrack17 `annopoints` joint id (the same ids as poseval) -> PT18 channel.
PT17_ID_TO_PT18: dict[int, int] = dict(enumerate(POSEVAL_TO_PT18))
