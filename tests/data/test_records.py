"""Records: a subset of frames to score."""

from __future__ import annotations

import numpy as np

from vidpose.data.records import Frame, Person, Sequence
from vidpose.evaluation import evaluate_ap


def test_only_frames_keeps_the_persons_of_the_kept_frames_and_nothing_else():
    person = Person(keypoints=np.ones((17, 3)), track_id=3)
    frames = [Frame(image_id=10 + i, index=i, file_name=f"s/{i}.jpg", persons=[person]) for i in range(4)]
    seq = Sequence(name="s", frames=frames, images=[{"id": 10 + i} for i in range(4)])
    sub = seq.only_frames({1, 3})
    assert [len(f.persons) for f in sub.frames] == [0, 1, 0, 1]
    assert [f.is_labeled for f in sub.frames] == [False, True, False, True]
    assert [f.image_id for f in sub.frames] == [10, 11, 12, 13] and sub.images == seq.images
    assert [len(f.persons) for f in seq.frames] == [1, 1, 1, 1]  # the original is left as it was


def test_only_frames_subsets_score_the_kept_frames_in_both_modes():
    """PoseTrack21 mode evaluates every labelled frame, with persons or not: the dropped frames must be
    unlabelled too, or their predictions become false positives."""
    head = np.array([0.0, 0.0, 30.0, 40.0])
    kp = np.zeros((17, 3))
    kp[:, 0], kp[:, 1], kp[:, 2] = np.arange(17) * 50.0 + 10.0, 20.0, 1.0
    truth = [Person(kp.copy(), head_box=head, track_id=0) for _ in range(2)]
    frames = [Frame(image_id=i, index=i, file_name=f"s/{i}.jpg", persons=[p]) for i, p in enumerate(truth)]
    gt = Sequence(name="s", frames=frames)
    wrong = kp.copy()
    wrong[:, 1] += 500.0
    preds = [(kp, 0.9), (wrong, 0.5)]  # right in frame 0, wrong (and less sure) in frame 1
    pred = Sequence(
        name="s",
        frames=[
            Frame(image_id=i, index=i, file_name=f"s/{i}.jpg",
                  persons=[Person(p.copy(), track_id=0, joint_scores=np.full(17, score))])
            for i, (p, score) in enumerate(preds)
        ],
    )  # fmt: skip
    for mode in ("pt18", "pt21"):
        assert evaluate_ap([gt], [pred], mode=mode).ap[-1] == 50.0  # recall 1/2 at precision 1
        assert evaluate_ap([gt.only_frames({0})], [pred], mode=mode).ap[-1] == 100.0
