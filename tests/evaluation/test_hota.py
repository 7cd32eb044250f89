"""PoseTrack21 keypoint HOTA: one test per rule of shared/design/POSETRACK21_HOTA.md, a loop-by-loop reference
implementation on random data, every golden case (byte for byte) and the CLI."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from golden_cases import HOTA_CASES
from scipy.optimize import linear_sum_assignment

from vidpose.cli import main as cli_main
from vidpose.data.records import Frame, Person, Sequence
from vidpose.errors import DataFormatError
from vidpose.evaluation import evaluate_hota, format_pose_hota_results, write_pose_hota_results
from vidpose.evaluation.matching import points_in_polygons
from vidpose.evaluation.pose_hota import ALPHAS, HOTA_JOINTS, SUMMARY_FIELDS
from vidpose.skeleton import PT18

GOLDEN = HOTA_CASES
J = 15
A = 19
CH = np.array([PT18.index(n) for n in HOTA_JOINTS])
HEAD = np.array([100.0, 100.0, 30.0, 40.0])  # head size 0.6 * 50 = 30 px
NOSE = HOTA_JOINTS.index("nose")


# ------------------------------------------------------------------------------------------------ builders
def pose(x0: float = 100.0, y0: float = 100.0) -> np.ndarray:
    """[J, 2] a person's 15 keypoints, distinct positions."""
    return np.stack([x0 + 10.0 * np.arange(J), y0 + 5.0 * np.arange(J)], axis=1)


def person(xy: np.ndarray, track: int = 0, head: np.ndarray | None = HEAD, vis: float = 1.0) -> Person:
    kp = np.zeros((17, 3))
    kp[CH, :2] = xy
    kp[CH, 2] = vis
    return Person(keypoints=kp, head_box=None if head is None else head.copy(), track_id=track)


def seq(frames, labeled=None, regions=None, name="s1_test", source=None) -> Sequence:
    out = []
    for i, persons in enumerate(frames):
        out.append(
            Frame(
                image_id=1000 + i,
                index=i,
                file_name=f"images/{name}/{i:06d}.jpg",
                is_labeled=True if labeled is None else labeled[i],
                ignore_regions=[] if regions is None else regions[i],
                persons=list(persons),
            )
        )
    return Sequence(name, out, source=source, format="pt21")


def hota(gt_frames, pred_frames, strict=False, **kw):
    return evaluate_hota([seq(gt_frames, **kw)], [seq(pred_frames, **kw)], strict=strict)


# ------------------------------------------------------------------------------------- loop reference
def reference(pairs: list[tuple[Sequence, Sequence]], strict: bool = False) -> dict[str, np.ndarray]:
    """The specification, loop by loop: combined [A, J + 1] fields."""
    eps = np.finfo(float).eps
    seqs = []
    for gt, pr in pairs:
        frames = []
        for i, frame in enumerate(gt.frames):
            if not frame.is_labeled:
                continue
            sides = []
            for side in (gt, pr):
                persons = []
                for p in side.frames[i].persons:
                    xy = p.keypoints[CH, :2].copy()
                    if frame.ignore_regions:
                        xy[points_in_polygons(xy, frame.ignore_regions)] = 0.0
                        if np.all((xy[:, 0] <= 0) & (xy[:, 1] <= 0)):
                            continue
                    h = p.head_box
                    size = 0.6 * np.hypot(h[2], h[3]) if h is not None else 1.0
                    persons.append((p.track_id, xy, (xy[:, 0] > 0) & (xy[:, 1] > 0), size))
                sides.append(persons)
            frames.append(sides)
        res = {k: np.zeros((A, J)) for k in ("tp", "fn", "fp", "S", "ass_a", "ass_re", "ass_pr", "frag_a")}
        total_gt = np.array([sum(p[2][j] for g, _ in frames for p in g) for j in range(J)], dtype=float)
        no_preds = not any(pr_t for _, pr_t in frames)
        for j in range(J):
            cg, cp = {}, {}
            for g_t, p_t in frames:
                for tid, _, v, _ in g_t:
                    cg[tid] = cg.get(tid, 0) + int(v[j])
                for tid, _, v, _ in p_t:
                    cp[tid] = cp.get(tid, 0) + int(v[j])
            for a, alpha in enumerate(ALPHAS):
                M, runs, last = {}, {}, {}
                for g_t, p_t in frames:
                    n_gt = sum(int(p[2][j]) for p in g_t)
                    n_pr = sum(int(p[2][j]) for p in p_t)
                    if no_preds:
                        res["fn"][a, j] += n_gt
                        continue
                    if not p_t:
                        res["fn"][a, j] += n_gt if strict else (total_gt[j] if g_t else 0)
                        continue
                    sim = np.zeros((len(g_t), len(p_t)))
                    for r, (_, gxy, gv, s) in enumerate(g_t):
                        for c, (_, pxy, pv, _) in enumerate(p_t):
                            if gv[j] and pv[j]:
                                d = np.linalg.norm(gxy[j] - pxy[j]) / s
                                sim[r, c] = max(0.0, 1 + (-1 / 0.5001) * d)
                    rows, cols = linear_sum_assignment(-sim)
                    ok = sim[rows, cols] >= alpha - eps
                    rows, cols = rows[ok], cols[ok]
                    res["tp"][a, j] += len(rows)
                    res["fn"][a, j] += n_gt - len(rows)
                    res["fp"][a, j] += n_pr - len(rows)
                    res["S"][a, j] += sim[rows, cols].sum()
                    for r, c in zip(rows, cols, strict=True):
                        g, p = g_t[r][0], p_t[c][0]
                        M[g, p] = M.get((g, p), 0) + 1
                        if last.get(g) != p:
                            runs.setdefault((g, p), []).append(0)
                            last[g] = p
                        runs[g, p][-1] += 1
                tp = max(1, res["tp"][a, j])
                for (g, p), m in M.items():
                    D = max(1, cg[g] + cp[p] - m)
                    res["ass_a"][a, j] += m * m / D / tp
                    res["ass_re"][a, j] += m * m / max(1, cg[g]) / tp
                    res["ass_pr"][a, j] += m * m / max(1, cp[p]) / tp
                    res["frag_a"][a, j] += sum(r * r for r in runs[g, p]) / D / tp
        res["loc_a"] = np.maximum(1e-10, res.pop("S")) / np.maximum(1e-10, res["tp"])
        for k in list(res):
            res[k] = np.concatenate(
                [res[k], (res[k].sum(1) if k in ("tp", "fn", "fp") else res[k].mean(1))[:, None]], axis=1
            )
        seqs.append(res)
    out = {k: sum(s[k] for s in seqs) for k in ("tp", "fn", "fp")}
    tp = out["tp"]
    for k in ("ass_a", "ass_re", "ass_pr", "frag_a"):
        out[k] = sum(s[k] * s["tp"] for s in seqs) / np.maximum(1, tp)
    out["loc_a"] = np.maximum(1e-10, sum(s["loc_a"] * s["tp"] for s in seqs)) / np.maximum(1e-10, tp)
    out["det_a"] = tp / np.maximum(1, tp + out["fn"] + out["fp"])
    out["hota"] = np.sqrt(out["det_a"] * out["ass_a"])
    return out


def assert_matches_reference(pairs, strict=False):
    ours = evaluate_hota([g for g, _ in pairs], [p for _, p in pairs], strict=strict)
    ref = reference(pairs, strict)
    for key, value in ref.items():
        np.testing.assert_allclose(getattr(ours, key), value, rtol=1e-12, atol=1e-12, err_msg=key)
    return ours


# ----------------------------------------------------------------------------------------------- rules
def test_thresholds_are_the_kits():
    assert len(ALPHAS) == 19
    np.testing.assert_array_equal(ALPHAS, 0.05 + np.arange(19) * 0.05)
    assert HOTA_JOINTS[0] == "nose" and "left_ear" not in HOTA_JOINTS and len(HOTA_JOINTS) == J


def test_a_keypoint_is_valid_iff_x_and_y_are_positive():
    xy = pose()
    gt_xy = xy.copy()
    gt_xy[0] = (0.0, 120.0)  # x = 0: not a GT keypoint
    gt_xy[1] = (130.0, -2.0)  # y < 0: not a GT keypoint
    pred_xy = xy.copy()
    pred_xy[2] = (140.0, 0.0)  # y = 0: not a prediction
    # visibility flags do not matter: a GT keypoint with v = 0 at (x > 0, y > 0) counts
    r = hota([[person(gt_xy, vis=0.0)]], [[person(pred_xy, track=3)]])
    tp, fn, fp = r.tp[0, :J], r.fn[0, :J], r.fp[0, :J]
    np.testing.assert_array_equal(tp, [0, 0, 0] + [1] * 12)
    np.testing.assert_array_equal(fn, [0, 0, 1] + [0] * 12)
    np.testing.assert_array_equal(fp, [1, 1, 0] + [0] * 12)


def test_ignore_regions_strictly_inside_and_person_dropping():
    square = [np.array([[50.0, 50.0], [300.0, 50.0], [300.0, 400.0], [50.0, 400.0]])]
    inside = pose(100.0, 100.0)  # all 15 keypoints strictly inside the square
    edge = inside.copy()
    edge[0] = (50.0, 100.0)  # on the left edge: outside (strictly-inside rule), stays a keypoint
    far = pose(600.0, 100.0)
    gt = [[person(far, 1), person(inside, 2), person(edge, 3)]]
    pred = [[person(far, 5), person(inside, 6), person(edge, 7)]]
    r = hota(gt, pred, regions=[square])
    # GT 2 and prediction 6 are dropped; 3 and 7 keep only the nose, which matches
    np.testing.assert_array_equal(r.tp[0, :J], [2] + [1] * 14)
    assert r.fn[0, J] == 0 and r.fp[0, J] == 0
    # without regions nothing is dropped
    r = hota(gt, pred)
    assert r.tp[0, J] == 3 * J


def test_ignore_regions_drop_a_person_whose_remaining_keypoints_are_all_zero():
    # the only prediction has 3 keypoints, all inside the region: it is dropped, so the frame has no
    # predicted person and the empty-frame rule applies (FN += the sequence's GT count)
    square = [np.array([[50.0, 50.0], [300.0, 50.0], [300.0, 400.0], [50.0, 400.0]])]
    gt_xy = pose(400.0, 100.0)
    pred_xy = np.zeros((J, 2))
    pred_xy[:3] = pose(100.0, 100.0)[:3]
    gt = [[person(gt_xy, 1)], [person(gt_xy, 1)]]
    pred = [[person(gt_xy, 4)], [person(pred_xy, 4)]]
    r = hota(gt, pred, regions=[[], square])
    assert r.tp[0, J] == J and r.fn[0, J] == 2 * J and r.fp[0, J] == 0
    # no region in frame 1: the prediction stays a person (3 unmatched keypoints), no empty frame
    r = hota(gt, pred)
    assert r.tp[0, J] == J and r.fn[0, J] == J and r.fp[0, J] == 3


@pytest.mark.parametrize(
    "d, matched_alphas",
    [(0.0, 19), (0.3, 8), (0.2, 12), (0.4999, 0), (0.6, 0)],
)
def test_head_size_similarity_and_alpha_thresholds(d, matched_alphas):
    # head box 30 x 40 -> head size 30 px; x1, y1 of the box do not matter
    shift = d * 30.0
    gt = [[person(pose(), head=np.array([-500.0, 7.0, 30.0, 40.0]))]]
    r = hota(gt, [[person(pose() + [shift, 0.0], 1)]])
    sim = max(0.0, 1 + (-1 / 0.5001) * d)
    expected = (np.arange(19) < matched_alphas).astype(float)
    np.testing.assert_array_equal(r.tp[:, 0], expected)
    loc = np.where(expected > 0, sim, 1.0)  # LocA = 1 where TP = 0
    np.testing.assert_allclose(r.loc_a[:, 0], loc, rtol=1e-12)


def only(joint: int, xy: tuple[float, float]) -> np.ndarray:
    """[J, 2] with one valid keypoint."""
    out = np.zeros((J, 2))
    out[joint] = xy
    return out


def test_the_0_5001_cut_steers_the_assignment():
    # d = 0.5 head sizes still has similarity 0.0002 (> 0 only because the cut is 0.5001); it never matches,
    # but the assignment maximises it: P1 is marginally closer to G1 (sim x) than to G2 (sim y = x - 0.0001),
    # yet G1 - P2 (0.0002) + G2 - P1 (y) beats G1 - P1 (x) + nothing, so P1 goes to G2
    e = -0.0001 * 0.5001 * 15
    gt = [[person(only(0, (100.0, 100.0)), 1), person(only(0, (100.0, 120.0)), 2)]]
    pred = [[person(only(0, (100.0, 110.0 + e)), 5), person(only(0, (85.0, 100.0)), 6)]]
    x = 1 + (-1 / 0.5001) * ((10.0 + e) / 30.0)
    y = 1 + (-1 / 0.5001) * ((10.0 - e) / 30.0)
    r = hota(gt, pred)
    assert r.tp[0, 0] == 1
    np.testing.assert_allclose(r.loc_a[0, 0], y, rtol=1e-9)
    assert abs(r.loc_a[0, 0] - x) > 5e-5


def test_each_joint_has_its_own_optimal_assignment():
    g1, g2 = pose(100.0, 100.0), pose(100.0, 600.0)
    # prediction 5 sits on GT 1's joints 0-6 and on GT 2's joints 7-14; prediction 6 the other way round
    p5, p6 = g1.copy(), g2.copy()
    p5[7:], p6[7:] = g2[7:], g1[7:]
    r = hota([[person(g1, 1), person(g2, 2)]], [[person(p5, 5), person(p6, 6)]])
    assert r.tp[-1, J] == 2 * J  # exact at every joint although no person matches as a whole
    # optimal, not greedy: P1 is G1's best (sim 0.73) but G2's only candidate; G1 - P2 + G2 - P1 is optimal
    gt = [[person(only(0, (100.0, 100.0)), 1), person(only(0, (100.0, 112.0)), 2)]]
    pred = [[person(only(0, (100.0, 104.0)), 7), person(only(0, (100.0, 92.0)), 8)]]
    r = hota(gt, pred)
    np.testing.assert_array_equal(r.tp[:, 0], (ALPHAS <= 1 + (-1 / 0.5001) * 8 / 30).astype(float) * 2)
    assert_matches_reference([(seq(gt), seq(pred))])


def test_identical_duplicates_go_to_the_first():
    gt = [[person(pose(), 1)] for _ in range(2)]
    pred = [[person(pose(), 5), person(pose(), 6)] for _ in range(2)]
    r = hota(gt, pred)
    np.testing.assert_allclose(r.ass_a[:, J], 1.0)  # the same duplicate (the first) both times
    assert r.tp[0, J] == 2 * J and r.fp[0, J] == 2 * J


def test_empty_frame_fn_rule_and_strict():
    gt = [[person(pose(), 1)] for _ in range(3)]
    pred = [[person(pose(), 4)], [person(pose(), 4)], []]
    kit = hota(gt, pred)
    assert kit.tp[0, J] == 2 * J and kit.fn[0, J] == 3 * J  # the sequence's 3 keypoints per joint
    strict = hota(gt, pred, strict=True)
    assert strict.tp[0, J] == 2 * J and strict.fn[0, J] == J
    assert strict.strict and not kit.strict
    # two empty frames add the sequence's count twice
    kit = hota(gt, [[person(pose(), 4)], [], []])
    assert kit.fn[0, J] == 6 * J
    # a sequence without any predicted person counts its GT once, in both modes
    for mode in (False, True):
        r = hota(gt, [[], [], []], strict=mode)
        assert r.fn[0, J] == 3 * J and r.tp[0, J] == 0 and r.fp[0, J] == 0
        np.testing.assert_allclose(r.loc_a[:, J], 1.0)
    # a predicted person without valid keypoints is still a person: no empty frame
    r = hota(gt, [[person(pose(), 4)], [person(pose(), 4)], [person(np.zeros((J, 2)), 4)]])
    assert r.fn[0, J] == J


def test_unlabelled_frames_are_not_scored():
    gt = [[person(pose(), 1)], [person(pose(), 1)]]
    pred = [[person(pose(), 4)], [person(pose() + 500.0, 9)]]
    r = hota(gt, pred, labeled=[True, False])
    assert r.tp[0, J] == J and r.fn[0, J] == 0 and r.fp[0, J] == 0 and r.num_frames == 1


def test_runs_and_frag_a():
    gt = [[person(pose(), 1)] for _ in range(4)]
    pred = [[person(pose(), t)] for t in (5, 5, 6, 5)]
    r = hota(gt, pred)
    # M(1,5) = 3, M(1,6) = 1, D = 4 for both: AssA = (9/4 + 1/4) / 4
    # runs 5,5 | 6 | 5: FragA = ((4 + 1) / 4 + 1 / 4) / 4
    np.testing.assert_allclose(r.ass_a[:, :J], 10 / 16)
    np.testing.assert_allclose(r.frag_a[:, :J], 6 / 16)
    # an unmatched frame does not break a run: 5, miss, 5
    pred = [[person(pose(), 5)], [person(pose() + 900.0, 5)], [person(pose(), 5)]]
    r = hota(gt[:3], pred)
    # M = 2, cG = 3, cP = 3 -> D = 4; one run of 2: FragA = 4/4/2 = AssA
    np.testing.assert_allclose(r.ass_a[:, :J], 0.5)
    np.testing.assert_allclose(r.frag_a[:, :J], 0.5)


def test_per_sequence_total_and_weighting_across_sequences():
    no_nose = pose()
    no_nose[NOSE] = 0.0
    s1 = (seq([[person(no_nose, 1)]], name="a_test"), seq([[person(no_nose, 3)]], name="a_test"))
    s2 = (
        seq([[person(pose(), 1)] for _ in range(3)], name="b_test"),
        seq([[person(pose(), t)] for t in (3, 4, 3)], name="b_test"),
    )
    r1 = evaluate_hota([s1[0]], [s1[1]])
    # no nose in the GT: the joint counts 0 AssA / FragA and LocA 1 in the sequence's mean
    np.testing.assert_allclose(r1.ass_a[:, J], 14 / 15)
    np.testing.assert_allclose(r1.loc_a[:, J], 1.0)
    assert r1.ass_a[0, NOSE] == 0 and r1.loc_a[0, NOSE] == 1
    r2 = evaluate_hota([s2[0]], [s2[1]])
    np.testing.assert_allclose(r2.ass_a[:, J], 5 / 9)
    both = evaluate_hota([s1[0], s2[0]], [s1[1], s2[1]])
    # weighted by TP: (14/15 * 14 + 5/9 * 45) / 59
    np.testing.assert_allclose(both.ass_a[:, J], (14 / 15 * 14 + 5 / 9 * 45) / 59)
    assert both.tp[0, J] == 59 and both.sequences == ("a_test", "b_test")
    assert_matches_reference([s1, s2])


def test_loca_is_one_where_nothing_matches():
    r = hota([[person(pose(), 1)]], [[person(pose() + 300.0, 2)]])
    s = r.summary
    assert s["LocA"] == 100 and s["LocA(0)"] == 100 and s["HOTA"] == 0 and s["DetA"] == 0
    assert s["HOTA_FN"] == J and s["HOTA_FP"] == J and s["HOTA_TP"] == 0


def test_summary_and_file_format(tmp_path):
    r = hota([[person(pose(), 1)]] * 2, [[person(pose() + [9.0, 0.0], 7)]] * 2)  # golden hota_mini1
    text = format_pose_hota_results(r)
    lines = text.split("\n")
    assert len(lines) == 3 and lines[2] == "" and lines[1].startswith(" & ")
    assert lines[0].startswith("Summary & DetPr & ") and lines[0].endswith("HOTA\\_FN(0)")
    assert lines[1] == (
        " & 42.105 & 42.105 & 42.105 & 42.105 & 42.105 & 42.105 & 74.742 & 42.105 & 42.105 & 42.105 & "
        "42.105 & 42.105 & 40.012 & 40.012 & 100 & 12 & 17 & 17 & 30 & 0 & 0"
    )
    assert list(r.summary) == list(SUMMARY_FIELDS)
    path = write_pose_hota_results(r, tmp_path / "out")
    assert path.name == "pose_hota_results.txt" and path.read_text() == text
    assert [p.name for p in path.parent.iterdir()] == ["pose_hota_results.txt"]  # no temp file left


# ------------------------------------------------------------------------------------------------ errors
def _error(gt_frames, pred_frames, **kw) -> str:
    gt = seq(gt_frames, source=Path("gt/s1_test.json"))
    pred = seq(pred_frames, source=Path("pred/s1_test.json"))
    for key, value in kw.items():
        setattr(pred.frames[0], key, value)
    with pytest.raises(DataFormatError) as info:
        evaluate_hota([gt], [pred])
    msg = str(info.value)
    assert "\n" not in msg
    return msg


def test_negative_track_id_is_an_error():
    msg = _error([[person(pose(), 1)]], [[person(pose(), -1)]])
    assert "pred/s1_test.json" in msg and "track_id -1" in msg and "negative" in msg
    msg = _error([[person(pose(), -3)]], [[person(pose(), 1)]])
    assert "gt/s1_test.json" in msg and "track_id -3" in msg and "ground truth" in msg


def test_other_inputs_the_kit_mis_scores_or_rejects():
    msg = _error([[person(pose(), 1)]], [[person(pose(), 2), person(pose(), 2)]])
    assert "pred/s1_test.json" in msg and "track_id 2" in msg
    msg = _error([[person(pose(), 1, head=None)]], [[person(pose(), 2)]])
    assert "gt/s1_test.json" in msg and "bbox_head" in msg
    msg = _error([[person(pose(), 1, head=np.array([5.0, 5.0, 0.0, 0.0]))]], [[person(pose(), 2)]])
    assert "zero size" in msg and "bbox_head" in msg
    msg = _error([[person(pose(), 1)]], [[person(pose(), 2)]], image_id=77)
    assert "images[0].id" in msg and "77" in msg
    # a GT person without valid keypoints needs no head box
    r = hota([[person(pose(), 1), person(np.zeros((J, 2)), 2, head=None)]], [[person(pose(), 3)]])
    assert r.tp[0, J] == J
    gt = seq([[person(pose(), 1)]])
    with pytest.raises(DataFormatError, match="PoseTrack17"):
        evaluate_hota([Sequence(gt.name, gt.frames, format="pt17")], [seq([[person(pose(), 1)]])])
    with pytest.raises(DataFormatError, match="frames"):
        evaluate_hota([gt], [seq([[person(pose(), 1)]] * 2)])


# ------------------------------------------------------------------------------------- random reference
def _random_pair(rng: np.random.Generator, name: str) -> tuple[Sequence, Sequence]:
    num_frames = int(rng.integers(1, 7))
    num_tracks = int(rng.integers(1, 5))
    base = {t: pose(100.0 + 40.0 * t, 100.0 + 15.0 * t) for t in range(num_tracks)}  # crowded on purpose
    gt_frames, pred_frames, regions, labeled = [], [], [], []
    for _ in range(num_frames):
        g, p = [], []
        for t in range(num_tracks):
            if rng.random() < 0.8:
                xy = base[t] + rng.normal(0, 3, (J, 2))
                xy[rng.random(J) < 0.15] = 0.0
                g.append(person(xy, t + 10 * int(rng.integers(0, 2))))
        for t in rng.permutation(num_tracks + 1):
            if rng.random() < 0.75 and (t < num_tracks or rng.random() < 0.5):
                ref = base[min(int(t), num_tracks - 1)]
                xy = ref + rng.normal(0, 6, (J, 2))
                xy[rng.random(J) < 0.1] = 0.0
                p.append(person(xy, int(rng.integers(0, 4)) * 7 + int(t)))
        # unique ids per frame
        g = list({q.track_id: q for q in g}.values())
        p = list({q.track_id: q for q in p}.values())
        gt_frames.append(g)
        pred_frames.append(p)
        if rng.random() < 0.3:
            x0, y0 = rng.uniform(80, 220, 2)
            regions.append([np.array([[x0, y0], [x0 + 90, y0], [x0 + 90, y0 + 70], [x0, y0 + 70]])])
        else:
            regions.append([])
        labeled.append(bool(rng.random() < 0.85))
    if rng.random() < 0.15:
        pred_frames = [[] for _ in pred_frames]
    return (
        seq(gt_frames, labeled=labeled, regions=regions, name=name),
        seq(pred_frames, labeled=labeled, regions=regions, name=name),
    )


@pytest.mark.parametrize("seed", range(12))
def test_random_cases_equal_the_loop_reference(seed):
    rng = np.random.default_rng(seed)
    pairs = [_random_pair(rng, f"s{k}_test") for k in range(int(rng.integers(1, 4)))]
    for strict in (False, True):
        assert_matches_reference(pairs, strict)


# ------------------------------------------------------------------------------------------------- golden
def _case(shared_data: Path, name: str) -> Path:
    path = shared_data / "eval_golden" / name
    if not (path / "expected" / "pt21_pose_hota.txt").is_file():
        pytest.skip(f"golden case {name} with expected/pt21_pose_hota.txt not found in {path.parent}")
    return path


def _numbers(text: str) -> list[float]:
    return [float(v) for v in re.split(r"\s*&\s*", text.splitlines()[1].strip())[1:]]


def test_all_hota_golden_cases_are_listed(shared_data):
    found = sorted(p.parent.parent.name for p in (shared_data / "eval_golden").glob("*/expected/pt21_*"))
    assert found == sorted(GOLDEN)


@pytest.mark.parametrize("name", GOLDEN)
def test_golden_pose_hota_results(shared_data, name):
    from vidpose.data.posetrack import read_prediction_folder, read_sequences

    case = _case(shared_data, name)
    result = evaluate_hota(read_sequences(case / "gt"), read_prediction_folder(case / "pred"))
    ours = format_pose_hota_results(result)
    expected = (case / "expected" / "pt21_pose_hota.txt").read_text()
    np.testing.assert_allclose(_numbers(ours), _numbers(expected), rtol=0, atol=0.01)
    assert ours == expected  # byte for byte


def test_cli_pt21_tracking_prints_and_writes_the_kits_file(shared_data, tmp_path, capsys):
    case = _case(shared_data, "hota_mini3")
    expected = (case / "expected" / "pt21_pose_hota.txt").read_text()
    args = ["eval-posetrack", str(case / "gt"), str(case / "pred"), "--mode", "pt21", "--tracking"]
    with pytest.raises(SystemExit) as exit_info:
        cli_main([*args, "--out", str(tmp_path / "kit")])
    assert exit_info.value.code in (0, None)
    out = capsys.readouterr().out
    assert "Average Precision (AP) metric:" in out and "Multiple Object Tracking (MOT) metrics:" in out
    assert expected in out
    assert (tmp_path / "kit" / "pose_hota_results.txt").read_text() == expected
    assert sorted(p.name for p in (tmp_path / "kit").iterdir()) == [
        "pose_hota_results.txt",
        "total_AP_metrics.json",
        "total_MOT_metrics.json",
    ]
    with pytest.raises(SystemExit):
        cli_main([*args, "--out", str(tmp_path / "strict"), "--strict-hota"])
    strict = _numbers((tmp_path / "strict" / "pose_hota_results.txt").read_text())
    assert strict[SUMMARY_FIELDS.index("HOTA_FN")] == 15  # frame 2 counts its own 15 keypoints, not 45
    # pt18 mode: no HOTA file; --strict-hota needs pt21 tracking
    with pytest.raises(SystemExit):
        cli_main(["eval-posetrack", str(case / "gt"), str(case / "pred"), "--out", str(tmp_path / "p18")])
    assert not (tmp_path / "p18" / "pose_hota_results.txt").exists()
    with pytest.raises(SystemExit) as exit_info:
        cli_main([*args[:3], "--out", str(tmp_path / "x"), "--strict-hota"])
    assert exit_info.value.code == 2


def test_cli_negative_track_id_is_a_one_line_error(shared_data, tmp_path, capsys):
    case = _case(shared_data, "hota_mini1")
    (tmp_path / "pred").mkdir()
    for src in (case / "pred").glob("*.json"):
        data = json.loads(src.read_text())
        data["annotations"][0]["track_id"] = -2
        (tmp_path / "pred" / src.name).write_text(json.dumps(data))
    with pytest.raises(SystemExit) as exit_info:
        cli_main(
            ["eval-posetrack", str(case / "gt"), str(tmp_path / "pred"), "--out", str(tmp_path / "o")]
            + ["--mode", "pt21", "--tracking"]
        )
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "seqA_test.json" in err and "track_id -2" in err
