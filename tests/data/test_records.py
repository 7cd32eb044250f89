"""Records: a subset of frames to score."""

from __future__ import annotations

import numpy as np

from vidpose.data.records import Frame, Person, Sequence


def test_only_frames_keeps_the_persons_of_the_kept_frames_and_nothing_else():
    person = Person(keypoints=np.ones((17, 3)), track_id=3)
    frames = [Frame(image_id=10 + i, index=i, file_name=f"s/{i}.jpg", persons=[person]) for i in range(4)]
    seq = Sequence(name="s", frames=frames, images=[{"id": 10 + i} for i in range(4)])
    sub = seq.only_frames({1, 3})
    assert [len(f.persons) for f in sub.frames] == [0, 1, 0, 1]
    assert [f.image_id for f in sub.frames] == [10, 11, 12, 13] and sub.images == seq.images
    assert [len(f.persons) for f in seq.frames] == [1, 1, 1, 1]  # the original is left as it was
