"""MOTA: CLEAR MOT events as py-motmetrics makes them, and poseval's quirks."""

from __future__ import annotations

import math

import numpy as np
import pytest

from vidpose.data.records import Frame, Person, Sequence
from vidpose.errors import DataFormatError
from vidpose.evaluation import ClearMotAccumulator, evaluate_mota
from vidpose.skeleton import POSEVAL_TO_PT18

J = 15
HEAD = np.array([0.0, 0.0, 30.0, 40.0])  # head size 30 px: threshold 15 px
NAN = np.nan


def person(x0: float, track: int, dx: float = 0.0, joints=range(J)) -> Person:
    kp = np.zeros((17, 3))
    for j in joints:
        kp[POSEVAL_TO_PT18[j]] = (x0 + 10 * j + dx, 100 + 5 * j, 1.0)
    return Person(keypoints=kp, head_box=HEAD.copy(), track_id=track, joint_scores=np.full(17, 0.9))


def seq(frames: list[list[Person]], name="seq") -> Sequence:
    return Sequence(
        name, [Frame(i, i, f"images/{name}/{i:05d}.jpg", persons=p) for i, p in enumerate(frames)]
    )


# ------------------------------------------------------------------------------------------ accumulator
def test_accumulator_counts_matches_misses_and_false_positives():
    acc = ClearMotAccumulator()
    acc.update([1, 2], [10, 20, 30], np.array([[0.1, NAN, NAN], [NAN, 0.2, NAN]]))
    acc.update([1, 2], [10], np.array([[0.1], [NAN]]))
    assert (acc.num_objects, acc.num_matches, acc.num_switches) == (4, 3, 0)
    assert (acc.num_misses, acc.num_false_positives) == (1, 1)


def test_accumulator_min_cost_assignment():
    acc = ClearMotAccumulator()
    acc.update([1, 2], [10, 20], np.array([[0.1, 0.2], [0.15, 0.45]]))  # 0.2 + 0.15 < 0.1 + 0.45
    assert acc.num_matches == 2 and acc.sum_matched == pytest.approx(0.35)


def test_switch_is_counted_against_the_last_match():
    acc = ClearMotAccumulator()
    acc.update([1, 2], [10, 20], np.array([[0.1, NAN], [NAN, 0.1]]))
    acc.update([1, 2], [10, 20], np.array([[NAN, 0.1], [0.1, NAN]]))
    assert acc.num_switches == 2 and acc.num_matches == 2


def test_last_match_is_kept_when_still_a_candidate():
    acc = ClearMotAccumulator()
    acc.update([1], [10], np.array([[0.1]]))
    acc.update([1], [10, 20], np.array([[0.4, 0.1]]))  # previous pairing still a candidate: kept
    assert acc.num_switches == 0 and acc.num_false_positives == 1 and acc.sum_matched == pytest.approx(0.5)


@pytest.mark.parametrize(
    "gap",
    [
        ([1], [10], np.array([[NAN]])),  # object 1 missed: its hypothesis is there, but too far
        ([], [10], np.zeros((0, 1))),  # object 1 lacks the joint
        ([], [], np.zeros((0, 0))),  # nobody has the joint
        ([2], [], np.zeros((1, 0))),  # no predictions
        None,  # poseval's frame without predictions
    ],
    ids=["missed", "joint_absent", "empty_frame", "no_predictions", "poseval_absent"],
)
def test_last_match_is_kept_across_any_gap(gap):
    # motmetrics 1.4.0: the continuation uses the object's last match however many frames ago it was
    acc = ClearMotAccumulator()
    acc.update([1], [10], np.array([[0.1]]))
    for _ in range(3):
        if gap is None:
            acc.update_absent()
        else:
            acc.update(*gap)
    acc.update([1], [10, 20], np.array([[0.4, 0.1]]))  # the closer hypothesis 20 loses to the last match
    assert acc.num_switches == 0 and acc.num_matches == 2
    assert acc.sum_matched == pytest.approx(0.5)


def test_last_match_survives_its_hypothesis_matching_another_object():
    acc = ClearMotAccumulator()
    acc.update([1], [10], np.array([[0.1]]))
    acc.update([2], [10], np.array([[0.1]]))  # hypothesis 10 transferred to object 2, object 1 absent
    acc.update([1, 2], [10, 20], np.array([[0.4, 0.1], [0.1, 0.4]]))
    # object 1 comes first: it takes 10 back by continuation; object 2 (last match 10, taken) switches to 20
    assert (acc.num_matches, acc.num_switches) == (3, 1)
    assert acc.sum_matched == pytest.approx(0.1 + 0.1 + 0.4 + 0.4)


def test_continuation_goes_in_object_order():
    acc = ClearMotAccumulator()
    acc.update([1], [10], np.array([[0.1]]))
    acc.update([2], [10], np.array([[0.1]]))
    acc.update([2, 1], [10, 20], np.array([[0.3, 0.1], [0.1, 0.4]]))  # now object 2 is first: it keeps 10
    assert (acc.num_matches, acc.num_switches) == (3, 1)
    assert acc.sum_matched == pytest.approx(0.1 + 0.1 + 0.3 + 0.4)


def test_forced_last_match_can_leave_a_miss_and_a_false_positive():
    acc = ClearMotAccumulator()
    acc.update([1], [10], np.array([[0.1]]))
    acc.update([], [], np.zeros((0, 0)))
    # an assignment would match both (1-20, 2-10); the continuation 1-10 leaves 2 and 20 unmatched
    acc.update([1, 2], [10, 20], np.array([[0.4, 0.2], [0.1, NAN]]))
    assert (acc.num_matches, acc.num_switches, acc.num_misses, acc.num_false_positives) == (2, 0, 1, 1)


def test_last_match_that_is_no_candidate_now_is_a_switch_when_another_matches():
    acc = ClearMotAccumulator()
    acc.update([1], [10], np.array([[0.1]]))
    acc.update([1], [10], np.array([[NAN]]))  # missed
    acc.update([1], [10, 20], np.array([[NAN, 0.3]]))  # 10 present but not a candidate: 20 is a switch
    acc.update([1], [10, 20], np.array([[0.1, 0.3]]))  # the last match is now 20: kept
    assert (acc.num_matches, acc.num_switches, acc.num_misses) == (2, 1, 1)
    assert acc.sum_matched == pytest.approx(0.1 + 0.3 + 0.3)


def test_impossible_pairs_are_priced_so_that_the_matches_are_as_many_as_possible():
    # a chain o_k - h_k (0.49) and o_(k+1) - h_k (0.01): the 4 cheap pairs plus one impossible pair priced at
    # 2 * max + 1 would beat the 5 valid diagonal pairs; motmetrics' 2 * r * (max + 1) + 1 makes 5 matches
    n = 5
    d = np.full((n, n), NAN)
    d[np.arange(n), np.arange(n)] = 0.49
    d[np.arange(1, n), np.arange(n - 1)] = 0.01
    acc = ClearMotAccumulator()
    acc.update(list(range(n)), list(range(10, 10 + n)), d)
    assert (acc.num_matches, acc.num_misses, acc.num_false_positives) == (5, 0, 0)
    assert acc.sum_matched == pytest.approx(5 * 0.49)


def test_min_cost_among_the_largest_matchings_in_a_rectangular_frame():
    # 2 objects, 3 hypotheses, both want 10: the larger matching (1-10, 2-30) beats the cheaper 2-10 alone
    acc = ClearMotAccumulator()
    acc.update([1, 2], [10, 20, 30], np.array([[0.45, NAN, NAN], [0.01, NAN, 0.45]]))
    assert (acc.num_matches, acc.num_misses, acc.num_false_positives) == (2, 0, 1)
    assert acc.sum_matched == pytest.approx(0.9)


def test_event_distance_sum_counts_raw_ascend_transfer_and_migrate():
    acc = ClearMotAccumulator()
    acc.update([1], [10], np.array([[0.1]]))  # RAW 0.1 + MATCH 0.1
    acc.update([1], [20], np.array([[0.2]]))  # RAW + ASCEND + SWITCH
    acc.update([2], [10], np.array([[0.3]]))  # RAW + MIGRATE + TRANSFER + MATCH
    assert acc.sum_matched == pytest.approx(0.6)
    assert acc.sum_events == pytest.approx(0.2 + 0.6 + 1.2)


# ------------------------------------------------------------------------------------ evaluate_mota
def test_perfect_tracking_and_last_frame_excluded():
    gt = seq([[person(100, 0), person(600, 1)] for _ in range(4)])
    pred = seq([[person(100, 5, dx=3), person(600, 7, dx=3)] for _ in range(4)])
    r = evaluate_mota([gt], [pred])
    assert np.all(r.num_objects == 6)  # 3 of 4 frames x 2 persons
    np.testing.assert_allclose(r.mota, 100.0)
    np.testing.assert_allclose(r.precision, 100.0)
    np.testing.assert_allclose(r.recall, 100.0)
    # matched distance 0.1 head sizes; poseval's MOTP adds the RAW candidate events too
    np.testing.assert_allclose(r.motp_clear, 90.0)
    np.testing.assert_allclose(r.motp, 80.0)


def test_identity_swap_costs_two_switches_per_joint():
    gt = seq([[person(100, 0), person(600, 1)] for _ in range(4)])
    frames = [[person(100, 0), person(600, 1)]] * 2 + [[person(100, 1), person(600, 0)]] * 2
    r = evaluate_mota([gt], [seq(frames)])
    assert np.all(r.num_switches == 2)
    np.testing.assert_allclose(r.mota[:J], 100 * (1 - 2 / 6))


def test_frame_without_predictions_costs_one_miss_and_one_false_positive():
    gt = seq([[person(100, 0), person(400, 1), person(700, 2)] for _ in range(3)])
    pred = seq([[person(100, 0), person(400, 1), person(700, 2)], [], [person(100, 0)]])
    r = evaluate_mota([gt], [pred])
    # frame 0: 3 objects matched; frame 1: poseval's quirk (1 object, 1 miss, 1 FP); frame 2 excluded
    assert np.all(r.num_objects == 4) and np.all(r.num_misses == 1) and np.all(r.num_false_positives == 1)
    np.testing.assert_allclose(r.mota[:J], 100 * (1 - 2 / 4))


def test_joint_without_detections_and_joint_without_gt():
    gt = seq([[person(100, 0, joints=range(13))] for _ in range(3)])  # no nose (13), no head_top (14)
    pred = seq([[person(100, 0, joints=[j for j in range(J) if j not in (5, 13)])] for _ in range(3)])
    r = evaluate_mota([gt], [pred])
    assert r.motp[5] == 0.0 and r.mota[5] == 0.0 and math.isnan(r.precision[5])  # all misses
    assert math.isnan(r.mota[13]) and r.motp[13] == 0.0 and math.isnan(r.precision[13])
    assert math.isnan(r.mota[14]) and r.precision[14] == 0.0  # predictions without GT: all false positives
    valid = ~np.isnan(r.mota[:J])
    assert r.mota[J] == pytest.approx(r.mota[:J][valid].mean())
    assert r.motp[J] == pytest.approx(r.motp[:J].mean())  # the zeros count


def test_sequences_are_tracked_separately():
    a = seq([[person(100, 0)] for _ in range(3)], name="a")
    b = seq([[person(100, 0)] for _ in range(3)], name="b")
    pa = seq([[person(100, 3)] for _ in range(3)], name="a")
    pb = seq([[person(100, 4)] for _ in range(3)], name="b")
    r = evaluate_mota([a, b], [pb, pa])  # paired by name, not by position
    assert np.all(r.num_switches == 0) and np.all(r.num_objects == 4)


def test_duplicate_track_ids_are_errors():
    gt = seq([[person(100, 0), person(600, 0)] for _ in range(2)])
    pred = seq([[person(100, 0)] for _ in range(2)])
    with pytest.raises(DataFormatError, match="ground-truth track_id 0 appears more than once"):
        evaluate_mota([gt], [pred])
    gt = seq([[person(100, 0), person(600, 1)] for _ in range(2)])
    pred = seq([[person(100, 3), person(600, 3)] for _ in range(2)])
    with pytest.raises(
        DataFormatError, match=r"frame 0 \(images/seq/00000.jpg\): track_id 3 appears more than once"
    ):
        evaluate_mota([gt], [pred])


def test_frame_count_mismatch_is_an_error():
    gt = seq([[person(100, 0)] for _ in range(3)])
    pred = seq([[person(100, 0)] for _ in range(2)])
    with pytest.raises(DataFormatError, match="2 frames but the ground truth .* has 3"):
        evaluate_mota([gt], [pred])


def _reference_events(frames):
    """A dense, always-solve transcription of motmetrics 1.4.0's update and its event distances."""
    from scipy.optimize import linear_sum_assignment

    pairing, last, seen, owner = {}, {}, set(), {}
    out = dict(obj=0, det=0, sw=0, miss=0, fp=0, sum=0.0)
    for t, (oids, hids, d) in enumerate(frames):
        out["obj"] += len(oids)
        out["sum"] += float(np.nansum(d))
        done_o, done_h = np.zeros(len(oids), bool), np.zeros(len(hids), bool)
        for i, o in enumerate(oids):
            if o in pairing and pairing[o] in hids:
                c = hids.index(pairing[o])
                if not done_h[c] and np.isfinite(d[i, c]):
                    done_o[i] = done_h[c] = True
                    last[o] = t
                    seen.add(pairing[o])
                    out["det"] += 1
                    out["sum"] += d[i, c]
        rest = d.copy()
        rest[done_o, :] = np.nan
        rest[:, done_h] = np.nan
        invalid = ~np.isfinite(rest)
        if (~invalid).any():
            rest[invalid] = 2 * min(rest.shape) * (np.abs(rest[~invalid]).max() + 1) + 1
            for i, c in zip(*linear_sum_assignment(rest), strict=True):
                if invalid[i, c]:
                    continue
                o, h, x = oids[i], hids[c], d[i, c]
                if o in pairing and pairing[o] != h:
                    out["sw"] += 1
                    out["sum"] += 0.0 if h in seen else x
                if h in owner and owner[h] != o:
                    out["sum"] += x if o in last else 2 * x
                seen.add(h)
                last[o], pairing[o], owner[h] = t, h, o
                out["det"] += 1
                out["sum"] += x
                done_o[i] = done_h[c] = True
        out["miss"] += int((~done_o).sum())
        out["fp"] += int((~done_h).sum())
    return out


def test_accumulator_equals_a_dense_always_solving_reference():
    rng = np.random.default_rng(0)
    for _ in range(300):
        frames = []
        for _ in range(int(rng.integers(1, 7))):
            oids = sorted(rng.choice(6, int(rng.integers(0, 5)), replace=False).tolist())
            hids = rng.choice(8, int(rng.integers(0, 5)), replace=False).tolist()
            d = rng.uniform(0, 0.5, (len(oids), len(hids)))
            d[rng.random(d.shape) < 0.5] = np.nan
            frames.append((oids, hids, np.round(d, 1) if rng.random() < 0.3 else d))  # ties too
        acc = ClearMotAccumulator()
        for oids, hids, d in frames:
            acc.update(oids, hids, d)
        want = _reference_events(frames)
        assert (acc.num_objects, acc.num_detections, acc.num_switches) == (
            want["obj"],
            want["det"],
            want["sw"],
        )
        assert (acc.num_misses, acc.num_false_positives) == (want["miss"], want["fp"])
        assert acc.sum_events == pytest.approx(want["sum"])
