"""Keypoint layouts: the PoseTrack18 17-joint layout, its flip pairs, limbs, OKS sigmas and body halves, and
poseval's 15-joint ids. Every per-joint fact has its home here.

Legend: K = 17 joints in PoseTrack18 order (:data:`PT18.names`).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Skeleton", "COCO_SIGMAS", "PT18", "POSEVAL_NAMES", "POSEVAL_TO_PT18", "PT17_ID_TO_PT18"]

#: COCO keypoint sigmas (the per-joint falloff of Object Keypoint Similarity), by joint name.
COCO_SIGMAS: dict[str, float] = {
    "nose": 0.026,
    "left_eye": 0.025,
    "right_eye": 0.025,
    "left_ear": 0.035,
    "right_ear": 0.035,
    "left_shoulder": 0.079,
    "right_shoulder": 0.079,
    "left_elbow": 0.072,
    "right_elbow": 0.072,
    "left_wrist": 0.062,
    "right_wrist": 0.062,
    "left_hip": 0.107,
    "right_hip": 0.107,
    "left_knee": 0.087,
    "right_knee": 0.087,
    "left_ankle": 0.089,
    "right_ankle": 0.089,
}


@dataclass(frozen=True)
class Skeleton:
    """A keypoint layout.

    Args:
        names: joint names in channel order.
        flip_pairs: (left, right) index pairs swapped by a horizontal flip.
        limbs: (a, b) index pairs drawn as bones (0-based).
        sigmas: per-joint OKS sigma, in channel order (the falloff of Object Keypoint Similarity, used by the
            tracker's keypoint similarity).
        lower_body: channels of the lower body (for the half-body crop); every other channel is
            :attr:`upper_body`.
    """

    names: tuple[str, ...]
    flip_pairs: tuple[tuple[int, int], ...]
    limbs: tuple[tuple[int, int], ...]
    sigmas: tuple[float, ...]
    lower_body: tuple[int, ...]

    def __post_init__(self) -> None:
        if len(self.sigmas) != len(self.names):
            raise ValueError(f"Skeleton: {len(self.sigmas)} sigmas for {len(self.names)} joints")
        if not all(0 <= i < len(self.names) for i in self.lower_body):
            raise ValueError(
                f"Skeleton: lower_body {self.lower_body} has a channel outside 0..{len(self.names) - 1}"
            )

    @property
    def num_joints(self) -> int:
        return len(self.names)

    @property
    def upper_body(self) -> tuple[int, ...]:
        """Channels not in :attr:`lower_body`, in channel order."""
        return tuple(i for i in range(self.num_joints) if i not in self.lower_body)

    def index(self, name: str) -> int:
        return self.names.index(name)

    def flip_permutation(self) -> list[int]:
        """Channel order after a horizontal flip: ``flipped[:, perm]`` swaps left and right joints."""
        perm = list(range(self.num_joints))
        for a, b in self.flip_pairs:
            perm[a], perm[b] = b, a
        return perm


_PT18_NAMES = (
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
)

PT18 = Skeleton(
    names=_PT18_NAMES,
    flip_pairs=((3, 4), (5, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16)),
    # The PoseTrack18 `categories[0].skeleton`, converted from 1-based to 0-based indices.
    limbs=(
        (15, 13), (13, 11), (16, 14), (14, 12), (11, 12), (5, 11), (6, 12), (5, 6), (5, 7), (6, 8),
        (7, 9), (8, 10), (1, 2), (0, 1), (0, 2), (1, 3), (2, 4), (3, 5), (4, 6),
    ),
    # The 15 joints PT18 shares with COCO keep COCO's sigmas. PT18 has no eyes but has `head_bottom` (the
    # upper neck) and `head_top`: both get 0.079, the value CrowdPose (Li et al., CVPR 2019, whose "neck" and
    # "top_head" are the same two landmarks) uses for them. It is also the shoulder value, which fits: both
    # points lie on a smooth contour (top of the skull, base of the head) whose exact position annotators
    # disagree on far more than on the nose or the eyes.
    sigmas=tuple(COCO_SIGMAS.get(name, 0.079) for name in _PT18_NAMES),
    lower_body=tuple(i for i, n in enumerate(_PT18_NAMES) if n.endswith(("hip", "knee", "ankle"))),
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
