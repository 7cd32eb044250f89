"""The golden cases of ../shared/data/eval_golden, by the official tool whose output they carry."""

# poseval cases: expected/ holds total_AP_metrics.json (and total_MOT_metrics.json with tracking)
POSEVAL_CASES = [
    "bonn1_exact",
    "bonn1_noise15_swap",
    "bonn1_noise15_swap_pt17gt",
    "bonn1_noise30_fp30_drop20",
    "bonn30train_noise15_swap",
    "bonn30train_noise25_fp20_drop10",
    "mmpose3_noise15",
]
# PoseTrack21 keypoint-HOTA cases: expected/ holds the kit's pt21_pose_hota.txt
HOTA_CASES = [
    "bonn1_exact",
    "bonn1_noise15_swap",
    "bonn1_noise30_fp30_drop20",
    "bonn30train_noise15_swap",
    "bonn30train_noise25_fp20_drop10",
    "hota_mini1",
    "hota_mini2",
    "hota_mini3",
]
