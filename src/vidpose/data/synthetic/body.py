"""A 2.5D articulated body: proportions, joint-angle motions and forward kinematics.

Lengths are in body heights (1 = ground to head top). The body frame is world-aligned with x right, y DOWN
(image convention) and z away from the camera; bodies are projected orthographically (z only orders the
drawing). A body facing the camera has ``yaw = 0``; ``yaw = +pi/2`` faces image right. Its unit vectors
are forward ``F = (sin yaw, 0, -cos yaw)``, left ``L = (cos yaw, 0, sin yaw)`` and down ``D = (0, 1, 0)``.
A limb direction is given by a swing ``s`` (forward rotation in the sagittal plane, 0 = hanging down) and an
abduction ``b`` (sideways, away from the body; pi = straight up), with ``side = +1`` for left limbs and ``-1``
for right ones:

    dir = cos(b) (cos(s) D + sin(s) F) + sin(b) side L

Legend: K = 17 joints in PoseTrack18 order, A = number of pose angles (:data:`ANGLE_NAMES`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = [
    "ANGLE_NAMES",
    "MOTION_KINDS",
    "BodyShape",
    "BodyPoints",
    "Motion",
    "sample_shape",
    "sample_motion",
    "body_points",
]

ANGLE_NAMES: tuple[str, ...] = (
    "yaw",
    "head_yaw",
    "lean",
    "roll",
    "nod",
    "l_arm_swing",
    "r_arm_swing",
    "l_arm_abd",
    "r_arm_abd",
    "l_fore_swing",
    "r_fore_swing",
    "l_fore_abd",
    "r_fore_abd",
    "l_leg_swing",
    "r_leg_swing",
    "l_leg_abd",
    "r_leg_abd",
    "l_shin_swing",
    "r_shin_swing",
    "lift",
)
_A = {n: i for i, n in enumerate(ANGLE_NAMES)}
NUM_ANGLES = len(ANGLE_NAMES)

MOTION_KINDS: tuple[str, ...] = ("walk", "wave", "jump", "turn", "random")

# PT18 channels.
_NOSE, _HEAD_BOTTOM, _HEAD_TOP, _L_EAR, _R_EAR = 0, 1, 2, 3, 4
_L_SHO, _R_SHO, _L_ELB, _R_ELB, _L_WRI, _R_WRI = 5, 6, 7, 8, 9, 10
_L_HIP, _R_HIP, _L_KNEE, _R_KNEE, _L_ANK, _R_ANK = 11, 12, 13, 14, 15, 16


@dataclass(frozen=True)
class BodyShape:
    """Proportions of one person, in body heights. ``*_w`` are limb diameters at the named end.

    Args:
        shin, thigh, upper_arm, forearm: bone lengths.
        hip_half, shoulder_half: half the distance between the hip / shoulder joints.
        hip_drop: hip joints below the pelvis centre.
        torso: pelvis centre to the shoulder-line centre.
        neck: shoulder-line centre to head_bottom (chin level).
        head: head_bottom to head_top.
        head_rx: half width of the head.
        ankle_height: ankle joint above the ground.
        foot: foot length.
        chest_depth: half depth of the chest (front to back).
        thigh_w, knee_w, ankle_w, arm_w, elbow_w, wrist_w: limb diameters.
    """

    shin: float
    thigh: float
    upper_arm: float
    forearm: float
    hip_half: float
    shoulder_half: float
    hip_drop: float
    torso: float
    neck: float
    head: float
    head_rx: float
    ankle_height: float
    foot: float
    chest_depth: float
    thigh_w: float
    knee_w: float
    ankle_w: float
    arm_w: float
    elbow_w: float
    wrist_w: float


def sample_shape(rng: np.random.Generator) -> BodyShape:
    """Adult proportions (roughly 1/7.5 head, legs ~0.52) with +-8 % per bone and a random build (width)."""

    def jitter(v: float, rel: float = 0.08) -> float:
        return float(v * rng.uniform(1.0 - rel, 1.0 + rel))

    build = float(rng.uniform(0.85, 1.3))
    shin, thigh, head = jitter(0.235), jitter(0.245), jitter(0.135, 0.06)
    hip_drop, ankle = 0.02, 0.04
    neck = jitter(0.045, 0.15)
    # Keep the total at 1: the torso absorbs the variation of the other vertical segments.
    torso = 1.0 - (ankle + shin + thigh + hip_drop + neck + head)
    return BodyShape(
        shin=shin,
        thigh=thigh,
        upper_arm=jitter(0.17),
        forearm=jitter(0.15),
        hip_half=jitter(0.085) * min(build, 1.15),
        shoulder_half=jitter(0.11) * min(build, 1.1),
        hip_drop=hip_drop,
        torso=torso,
        neck=neck,
        head=head,
        head_rx=jitter(0.052, 0.06),
        ankle_height=ankle,
        foot=jitter(0.13, 0.06),
        chest_depth=0.06 * build,
        thigh_w=0.09 * build,
        knee_w=0.062 * build,
        ankle_w=0.045 * build,
        arm_w=0.056 * build,
        elbow_w=0.046 * build,
        wrist_w=0.036 * build,
    )


@dataclass(frozen=True)
class BodyPoints:
    """Forward-kinematics output, in body heights, origin on the ground below the pelvis (y down).

    Attributes:
        joints: [K, 3] PT18 joints (the ears sit on the sides of the head; they are never labelled).
        toes: [2, 3] tip of the left and right foot.
        pelvis, neck_base, head_center: [3] each.
        head_up: [3] unit vector from head_bottom to head_top.
        head_forward: [3] unit vector the face looks along.
        forward, left: [3] the body's F and L vectors.
    """

    joints: np.ndarray
    toes: np.ndarray
    pelvis: np.ndarray
    neck_base: np.ndarray
    head_center: np.ndarray
    head_up: np.ndarray
    head_forward: np.ndarray
    forward: np.ndarray
    left: np.ndarray


def _unit(v: np.ndarray) -> np.ndarray:
    return v / max(float(np.linalg.norm(v)), 1e-9)


def _limb_dir(swing: float, abd: float, side: float, down: np.ndarray, fwd: np.ndarray, left: np.ndarray):
    return math.cos(abd) * (math.cos(swing) * down + math.sin(swing) * fwd) + math.sin(abd) * side * left


def body_points(shape: BodyShape, angles: np.ndarray) -> BodyPoints:
    """Forward kinematics. angles: [A] (:data:`ANGLE_NAMES`, radians; ``lift`` in body heights)."""
    a = angles
    yaw = float(a[_A["yaw"]])
    down = np.array([0.0, 1.0, 0.0])
    fwd = np.array([math.sin(yaw), 0.0, -math.cos(yaw)])
    left = np.array([math.cos(yaw), 0.0, math.sin(yaw)])
    lean, roll = float(a[_A["lean"]]), float(a[_A["roll"]])
    up_torso = _unit(-math.cos(lean) * math.cos(roll) * down + math.sin(lean) * fwd + math.sin(roll) * left)

    joints = np.zeros((17, 3))
    pelvis = np.zeros(3)
    for side, hip, knee, ankle, sw, ab, sh in (
        (1.0, _L_HIP, _L_KNEE, _L_ANK, "l_leg_swing", "l_leg_abd", "l_shin_swing"),
        (-1.0, _R_HIP, _R_KNEE, _R_ANK, "r_leg_swing", "r_leg_abd", "r_shin_swing"),
    ):
        joints[hip] = pelvis + side * shape.hip_half * left + shape.hip_drop * down
        thigh_dir = _limb_dir(a[_A[sw]], a[_A[ab]], side, down, fwd, left)
        joints[knee] = joints[hip] + shape.thigh * thigh_dir
        shin_dir = _limb_dir(a[_A[sh]], a[_A[ab]] * 0.7, side, down, fwd, left)
        joints[ankle] = joints[knee] + shape.shin * shin_dir

    neck_base = pelvis + shape.torso * up_torso
    joints[_L_SHO] = neck_base + shape.shoulder_half * left + 0.012 * down
    joints[_R_SHO] = neck_base - shape.shoulder_half * left + 0.012 * down
    for side, sho, elb, wri, sw, ab, fsw, fab in (
        (1.0, _L_SHO, _L_ELB, _L_WRI, "l_arm_swing", "l_arm_abd", "l_fore_swing", "l_fore_abd"),
        (-1.0, _R_SHO, _R_ELB, _R_WRI, "r_arm_swing", "r_arm_abd", "r_fore_swing", "r_fore_abd"),
    ):
        joints[elb] = joints[sho] + shape.upper_arm * _limb_dir(a[_A[sw]], a[_A[ab]], side, down, fwd, left)
        joints[wri] = joints[elb] + shape.forearm * _limb_dir(a[_A[fsw]], a[_A[fab]], side, down, fwd, left)

    head_yaw = yaw + float(a[_A["head_yaw"]])
    head_fwd0 = np.array([math.sin(head_yaw), 0.0, -math.cos(head_yaw)])
    nod = float(a[_A["nod"]])
    head_up = _unit(up_torso * math.cos(nod) + head_fwd0 * math.sin(nod))
    head_fwd = _unit(head_fwd0 - float(np.dot(head_fwd0, head_up)) * head_up)
    head_left = np.cross(head_up, head_fwd)  # the head's own left
    joints[_HEAD_BOTTOM] = neck_base + shape.neck * up_torso
    head_center = joints[_HEAD_BOTTOM] + 0.5 * shape.head * head_up
    joints[_HEAD_TOP] = joints[_HEAD_BOTTOM] + shape.head * head_up
    joints[_NOSE] = head_center + 0.95 * shape.head_rx * head_fwd - 0.12 * shape.head * head_up
    joints[_L_EAR] = head_center + shape.head_rx * head_left
    joints[_R_EAR] = head_center - shape.head_rx * head_left

    toes = np.stack(
        [
            joints[_L_ANK] + shape.foot * _unit(0.9 * fwd + 0.25 * down),
            joints[_R_ANK] + shape.foot * _unit(0.9 * fwd + 0.25 * down),
        ]
    )
    # Stand on the ground: the lowest ankle sits at ankle height, then the jump lifts everything.
    lowest = float(max(joints[_L_ANK, 1], joints[_R_ANK, 1]))
    shift = np.array([0.0, -(lowest + shape.ankle_height) - float(a[_A["lift"]]), 0.0])
    return BodyPoints(
        joints=joints + shift,
        toes=toes + shift,
        pelvis=pelvis + shift,
        neck_base=neck_base + shift,
        head_center=head_center + shift,
        head_up=head_up,
        head_forward=head_fwd,
        forward=fwd,
        left=left,
    )


# ---------------------------------------------------------------------------------------- motions
@dataclass(frozen=True)
class Motion:
    """A smooth joint-angle trajectory: ``angles(t) = base + wobble(t) + kind-specific terms(t)``.

    Attributes:
        kind: one of :data:`MOTION_KINDS`.
        base: [A] rest angles.
        amp, freq, phase: [A, M] smooth wobble, a sum of M sinusoids per angle (t in frames).
        period: frames of one gait / wave / jump cycle.
        cycle_phase: phase offset of the cycle (radians).
        strength: amplitude of the main movement (gait swing, wave arc, jump height), kind-specific units.
        side: +1 (left) or -1 (right) for one-sided movements (waving).
        yaw_from, yaw_to, turn_start, turn_frames: the yaw sweep of ``turn`` (others keep ``base`` yaw).
        jumping_jack: jump with arms and legs spreading instead of straight up.
    """

    kind: str
    base: np.ndarray
    amp: np.ndarray
    freq: np.ndarray
    phase: np.ndarray
    period: float
    cycle_phase: float
    strength: float
    side: float = 1.0
    yaw_from: float = 0.0
    yaw_to: float = 0.0
    turn_start: float = 0.0
    turn_frames: float = 1.0
    jumping_jack: bool = False

    def angles(self, t: float) -> np.ndarray:
        """Pose angles at time t (frames, continuous): [A]."""
        a = self.base + (self.amp * np.sin(self.freq * t + self.phase)).sum(axis=1)
        ph = 2.0 * math.pi * t / self.period + self.cycle_phase
        if self.kind == "walk":
            _walk(a, ph, self.strength)
        elif self.kind == "wave":
            _wave(a, ph, self.strength, self.side)
        elif self.kind == "jump":
            _jump(a, ph, self.strength, self.jumping_jack)
        elif self.kind == "turn":
            u = min(max((t - self.turn_start) / self.turn_frames, 0.0), 1.0)
            u = u * u * (3.0 - 2.0 * u)
            a[_A["yaw"]] += self.yaw_from + (self.yaw_to - self.yaw_from) * u
            a[_A["head_yaw"]] += 0.4 * (self.yaw_to - self.yaw_from) * u * (1.0 - u) * 4.0
            _walk(a, ph, 0.15)  # stepping while turning
        _limit(a)
        return a


def _walk(a: np.ndarray, ph: float, strength: float) -> None:
    """Gait. strength ~0.5 = brisk walk, ~1 = run."""
    legs = 0.35 + 0.3 * strength
    arms = 0.25 + 0.55 * strength
    for side_phase, sw, shin, arm, fore in (
        (0.0, "l_leg_swing", "l_shin_swing", "l_arm_swing", "l_fore_swing"),
        (math.pi, "r_leg_swing", "r_shin_swing", "r_arm_swing", "r_fore_swing"),
    ):
        p = ph + side_phase
        thigh = legs * math.sin(p)
        flex = 0.08 + (0.9 + 0.9 * strength) * max(0.0, math.cos(p - 0.25)) ** 2
        a[_A[sw]] += thigh
        a[_A[shin]] += thigh - flex
        swing = -arms * math.sin(p)
        a[_A[arm]] += swing
        a[_A[fore]] += swing + 0.15 + 0.9 * strength + 0.3 * max(0.0, -math.sin(p))
    a[_A["lean"]] += 0.04 + 0.12 * strength
    a[_A["lift"]] += 0.008 * strength * abs(math.cos(ph))


def _wave(a: np.ndarray, ph: float, strength: float, side: float) -> None:
    """One arm raised to the side, the forearm swinging over the head; strength = arc in radians."""
    s = "l" if side > 0 else "r"
    a[_A[f"{s}_arm_abd"]] += 1.35
    a[_A[f"{s}_arm_swing"]] += 0.25
    a[_A[f"{s}_fore_abd"]] += 2.55 + strength * math.sin(ph)
    a[_A[f"{s}_fore_swing"]] += 0.35


def _jump(a: np.ndarray, ph: float, strength: float, jumping_jack: bool) -> None:
    """Crouch for 40 % of the cycle, fly for 60 %; strength = jump height in body heights."""
    p = (ph / (2.0 * math.pi)) % 1.0
    crouch = math.sin(math.pi * p / 0.4) if p < 0.4 else 0.0
    air = math.sin(math.pi * (p - 0.4) / 0.6) if p >= 0.4 else 0.0
    a[_A["lift"]] += strength * air
    for s in ("l", "r"):
        a[_A[f"{s}_leg_swing"]] += 0.9 * crouch
        a[_A[f"{s}_shin_swing"]] += 0.9 * crouch - 1.8 * crouch
        if jumping_jack:
            a[_A[f"{s}_leg_abd"]] += 0.35 * air
            a[_A[f"{s}_arm_abd"]] += 0.3 + 2.3 * air
            a[_A[f"{s}_fore_abd"]] += 0.3 + 2.5 * air
        else:
            a[_A[f"{s}_arm_swing"]] += -0.6 * crouch + 2.2 * air
            a[_A[f"{s}_fore_swing"]] += -0.4 * crouch + 2.5 * air
    a[_A["lean"]] += 0.4 * crouch


_LIMITS = {
    "lean": (-0.3, 0.8),
    "roll": (-0.35, 0.35),
    "nod": (-0.5, 0.6),
    "head_yaw": (-1.2, 1.2),
    "l_leg_swing": (-0.7, 1.9),
    "r_leg_swing": (-0.7, 1.9),
    "l_leg_abd": (-0.25, 0.9),
    "r_leg_abd": (-0.25, 0.9),
    "l_arm_abd": (-0.3, 3.0),
    "r_arm_abd": (-0.3, 3.0),
    "l_fore_abd": (-0.5, 3.1),
    "r_fore_abd": (-0.5, 3.1),
    "lift": (0.0, 0.5),
}


def _limit(a: np.ndarray) -> None:
    for name, (lo, hi) in _LIMITS.items():
        i = _A[name]
        a[i] = min(max(a[i], lo), hi)
    for s in ("l", "r"):
        # Knees bend backwards only, elbows forwards only.
        a[_A[f"{s}_shin_swing"]] = min(a[_A[f"{s}_shin_swing"]], a[_A[f"{s}_leg_swing"]])
        a[_A[f"{s}_shin_swing"]] = max(a[_A[f"{s}_shin_swing"]], a[_A[f"{s}_leg_swing"]] - 2.4)
        a[_A[f"{s}_fore_swing"]] = max(a[_A[f"{s}_fore_swing"]], a[_A[f"{s}_arm_swing"]])
        a[_A[f"{s}_fore_swing"]] = min(a[_A[f"{s}_fore_swing"]], a[_A[f"{s}_arm_swing"]] + 2.5)


def _wobble(rng: np.random.Generator, scale: np.ndarray, m: int = 2) -> tuple[np.ndarray, ...]:
    amp = scale[:, None] * rng.uniform(0.3, 1.0, (NUM_ANGLES, m))
    freq = 2.0 * math.pi / rng.uniform(8.0, 40.0, (NUM_ANGLES, m))
    phase = rng.uniform(0.0, 2.0 * math.pi, (NUM_ANGLES, m))
    return amp, freq, phase


def _scale(values: dict[str, float], default: float = 0.0) -> np.ndarray:
    out = np.full(NUM_ANGLES, default)
    for name, v in values.items():
        out[_A[name]] = v
    return out


_REST = {
    "l_arm_abd": 0.12,
    "r_arm_abd": 0.12,
    "l_fore_abd": 0.08,
    "r_fore_abd": 0.08,
    "l_fore_swing": 0.15,
    "r_fore_swing": 0.15,
    "l_leg_abd": 0.04,
    "r_leg_abd": 0.04,
}
_SMALL = {
    "head_yaw": 0.25,
    "lean": 0.05,
    "roll": 0.04,
    "nod": 0.12,
    "l_arm_swing": 0.12,
    "r_arm_swing": 0.12,
    "l_arm_abd": 0.08,
    "r_arm_abd": 0.08,
    "l_fore_swing": 0.15,
    "r_fore_swing": 0.15,
    "l_fore_abd": 0.05,
    "r_fore_abd": 0.05,
    "l_leg_swing": 0.05,
    "r_leg_swing": 0.05,
    "l_shin_swing": 0.05,
    "r_shin_swing": 0.05,
}
_LARGE = {
    "yaw": 0.5,
    "head_yaw": 0.5,
    "lean": 0.25,
    "roll": 0.15,
    "nod": 0.3,
    "l_arm_swing": 1.1,
    "r_arm_swing": 1.1,
    "l_arm_abd": 0.9,
    "r_arm_abd": 0.9,
    "l_fore_swing": 1.2,
    "r_fore_swing": 1.2,
    "l_fore_abd": 0.9,
    "r_fore_abd": 0.9,
    "l_leg_swing": 0.5,
    "r_leg_swing": 0.5,
    "l_leg_abd": 0.2,
    "r_leg_abd": 0.2,
    "l_shin_swing": 0.3,
    "r_shin_swing": 0.3,
}


def sample_motion(rng: np.random.Generator, kind: str, yaw: float, speed: float) -> Motion:
    """Draw a motion of the given kind.

    Args:
        kind: one of :data:`MOTION_KINDS`.
        yaw: facing at rest (walkers face their heading).
        speed: walking speed in body heights per frame (sets the gait period and the stride).
    """
    if kind not in MOTION_KINDS:
        raise ValueError(f"unknown motion kind {kind!r}, expected one of {MOTION_KINDS}")
    base = _scale(_REST)
    base[_A["yaw"]] = yaw
    amp, freq, phase = _wobble(rng, _scale(_LARGE if kind == "random" else _SMALL))
    if kind == "random":
        base[_A["l_arm_abd"]] += rng.uniform(0.0, 0.8)
        base[_A["r_arm_abd"]] += rng.uniform(0.0, 0.8)
        base[_A["l_fore_swing"]] += rng.uniform(0.2, 1.2)
        base[_A["r_fore_swing"]] += rng.uniform(0.2, 1.2)
        base[_A["l_leg_swing"]] += rng.uniform(-0.2, 0.5)
        base[_A["r_leg_swing"]] += rng.uniform(-0.2, 0.5)
    cycle_phase = float(rng.uniform(0.0, 2.0 * math.pi))
    if kind == "walk":
        # Stride (two steps) ~0.8-1.1 body heights at a walk; faster gaits lengthen it.
        strength = float(min(max((speed - 0.025) / 0.05, 0.2), 1.0))
        stride = 0.8 + 0.4 * strength
        return Motion(kind, base, amp, freq, phase, stride / max(speed, 1e-3), cycle_phase, strength)
    if kind == "wave":
        side = 1.0 if rng.uniform() < 0.5 else -1.0
        return Motion(
            kind,
            base,
            amp,
            freq,
            phase,
            float(rng.uniform(5.0, 10.0)),
            cycle_phase,
            float(rng.uniform(0.35, 0.6)),
            side=side,
        )
    if kind == "jump":
        return Motion(
            kind,
            base,
            amp,
            freq,
            phase,
            float(rng.uniform(10.0, 16.0)),
            cycle_phase,
            float(rng.uniform(0.1, 0.22)),
            jumping_jack=bool(rng.uniform() < 0.5),
        )
    if kind == "turn":
        base[_A["yaw"]] = 0.0
        delta = float(rng.choice([-1.0, 1.0]) * rng.uniform(1.2, 2.6))
        return Motion(
            kind,
            base,
            amp,
            freq,
            phase,
            float(rng.uniform(12.0, 18.0)),
            cycle_phase,
            0.15,
            yaw_from=yaw,
            yaw_to=yaw + delta,
            turn_start=float(rng.uniform(0.0, 10.0)),
            turn_frames=float(rng.uniform(6.0, 14.0)),
        )
    return Motion(kind, base, amp, freq, phase, 20.0, cycle_phase, 0.0)
