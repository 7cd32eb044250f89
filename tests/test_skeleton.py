"""The PT18 skeleton is the one home of the per-joint facts: names, flip pairs, OKS sigmas, body halves."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from vidpose.data import transforms
from vidpose.inference import boxes_ops
from vidpose.skeleton import COCO_SIGMAS, POSEVAL_TO_PT18, PT18, Skeleton


def test_pt18_sigmas_by_name():
    sigmas = dict(zip(PT18.names, PT18.sigmas, strict=True))
    assert sigmas == {
        "nose": 0.026, "head_bottom": 0.079, "head_top": 0.079, "left_ear": 0.035, "right_ear": 0.035,
        "left_shoulder": 0.079, "right_shoulder": 0.079, "left_elbow": 0.072, "right_elbow": 0.072,
        "left_wrist": 0.062, "right_wrist": 0.062, "left_hip": 0.107, "right_hip": 0.107,
        "left_knee": 0.087, "right_knee": 0.087, "left_ankle": 0.089, "right_ankle": 0.089,
    }  # fmt: skip
    assert all(sigmas[n] == COCO_SIGMAS[n] for n in PT18.names if n in COCO_SIGMAS)
    # a flip swaps joints with equal sigmas
    assert all(PT18.sigmas[a] == PT18.sigmas[b] for a, b in PT18.flip_pairs)


def test_pt18_body_halves_by_name():
    names = PT18.names
    assert [names[i] for i in PT18.lower_body] == [
        "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle"
    ]  # fmt: skip
    assert [names[i] for i in PT18.upper_body] == list(names[:11])
    assert sorted(PT18.lower_body + PT18.upper_body) == list(range(17))
    # both halves are closed under the flip
    flip = PT18.flip_permutation()
    assert {flip[i] for i in PT18.lower_body} == set(PT18.lower_body)


def test_the_users_of_the_facts_read_them_from_the_skeleton():
    np.testing.assert_array_equal(boxes_ops.PT18_SIGMAS, np.array(PT18.sigmas))
    assert boxes_ops.PT18_SIGMAS.dtype == np.float64 and boxes_ops.COCO_SIGMAS is COCO_SIGMAS
    assert transforms.LOWER_BODY is PT18.lower_body
    assert list(transforms.UPPER_BODY) == list(PT18.upper_body)
    assert len(POSEVAL_TO_PT18) == 15 and {3, 4}.isdisjoint(POSEVAL_TO_PT18)  # ears are never scored


def test_a_skeleton_checks_its_per_joint_facts():
    with pytest.raises(ValueError, match="16 sigmas for 17 joints"):
        dataclasses.replace(PT18, sigmas=PT18.sigmas[:-1])
    with pytest.raises(ValueError, match="lower_body"):
        dataclasses.replace(PT18, lower_body=(17,))
    tiny = Skeleton(names=("a", "b"), flip_pairs=(), limbs=((0, 1),), sigmas=(0.1, 0.2), lower_body=(1,))
    assert (tiny.num_joints, tiny.upper_body) == (2, (0,))
