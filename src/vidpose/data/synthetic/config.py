"""The knobs of the synthetic degradation benchmark, in one frozen dataclass.

Sizes are ``(H, W)``. Lengths that scale with a person are fractions of that person's standing height; rates
are per clip (``p_*``: probability that a clip has the event) or per frame (``*_per_frame``).
"""

from __future__ import annotations

from dataclasses import dataclass

from ...errors import ConfigError

__all__ = ["SynthConfig"]


@dataclass(frozen=True)
class SynthConfig:
    """Everything that shapes a generated split. The defaults make the reference benchmark.

    Args:
        frame_size: (H, W) of every frame in pixels.
        frames_per_clip: frames per sequence (every frame is labelled).
        people_range: (min, max) annotated people per clip.
        person_height_range: (min, max) standing height of a person at the middle of the clip, as a fraction
            of the frame height (people walking in depth leave this range a little).
        motion_weights: relative frequency of the motions walk, wave, jump, turn, random (smooth angles).
        walk_speed_range: (min, max) walking speed in body heights per frame (0.04 at 15 fps is 1 m/s).
        p_camera_pan: probability that a clip has a smooth camera pan.
        max_pan_speed: pan speed limit in pixels per frame.
        occluders_per_clip: mean number (Poisson) of foreground occluders, each timed to cross a person.
        p_ignore_region: probability of an ignore region holding a small unannotated crowd.
        exposure_range: (min, max) baseline exposure as a fraction of the frame interval (motion blur length).
        p_blur_burst: probability of a motion-blur burst (long exposure plus camera shake).
        shake_px_range: (min, max) camera-shake amplitude in pixels during a blur burst.
        p_defocus_burst: probability of a defocus burst.
        defocus_sigma_range: (min, max) peak Gaussian defocus sigma in pixels.
        p_noise_burst: probability of a sensor-noise burst.
        noise_sigma_range: (min, max) peak noise sigma on the 0..255 scale (a 1-3 baseline is always added).
        p_jpeg_burst: probability of a compression burst.
        jpeg_burst_quality: (min, max) JPEG quality inside a compression burst.
        p_low_light: probability that a whole clip is dim (gain 0.2-0.5, gamma, blue tint, more noise).
        burst_length: (min, max) frames of one burst.
        jpeg_quality: JPEG quality outside compression bursts.
        max_subframes: most sub-frame renders averaged for motion blur (an odd number is used).
        subframe_step_px: a new sub-frame per this many pixels of joint displacement within the exposure.
        supersample: people are rasterised at this factor and area-downsampled (anti-aliasing).
        hard_occlusion: a person is hard when more than this fraction of its silhouette is hidden ...
        hard_blur_head_ratio: ... or when its blur length exceeds this multiple of its PCKh head size
            (0.6 x head-box diagonal; 0.5 = the PCKh@0.5 match radius).
        min_joints_in_frame: a person is annotated in a frame when at least this many joints lie inside it
            (1: every drawn person is annotated; the unannotated crowd lives in ignore regions).
        det_jitter: detection box noise: centre sigma and log-size sigma relative to the box size.
        det_miss_rate: baseline probability of missing a clean person (grows with occlusion and blur).
        det_false_per_frame: mean number (Poisson) of false boxes per frame.
    """

    frame_size: tuple[int, int] = (288, 384)
    frames_per_clip: int = 24
    people_range: tuple[int, int] = (1, 4)
    person_height_range: tuple[float, float] = (0.4, 0.85)
    motion_weights: tuple[float, float, float, float, float] = (0.4, 0.15, 0.15, 0.1, 0.2)
    walk_speed_range: tuple[float, float] = (0.03, 0.065)
    p_camera_pan: float = 0.6
    max_pan_speed: float = 4.0
    occluders_per_clip: float = 1.2
    p_ignore_region: float = 0.15
    exposure_range: tuple[float, float] = (0.1, 0.4)
    p_blur_burst: float = 0.5
    shake_px_range: tuple[float, float] = (4.0, 14.0)
    p_defocus_burst: float = 0.3
    defocus_sigma_range: tuple[float, float] = (1.5, 4.5)
    p_noise_burst: float = 0.3
    noise_sigma_range: tuple[float, float] = (8.0, 25.0)
    p_jpeg_burst: float = 0.3
    jpeg_burst_quality: tuple[int, int] = (6, 25)
    p_low_light: float = 0.15
    burst_length: tuple[int, int] = (2, 7)
    jpeg_quality: int = 90
    max_subframes: int = 7
    subframe_step_px: float = 3.0
    supersample: int = 2
    hard_occlusion: float = 0.4
    hard_blur_head_ratio: float = 0.5
    min_joints_in_frame: int = 1
    det_jitter: float = 0.05
    det_miss_rate: float = 0.03
    det_false_per_frame: float = 0.3

    def __post_init__(self) -> None:
        h, w = self.frame_size
        if h < 32 or w < 32:
            raise ConfigError(f"SynthConfig.frame_size: got {self.frame_size}, expected (H, W) both >= 32")
        if self.frames_per_clip < 1 or self.frames_per_clip > 9999:
            raise ConfigError(f"SynthConfig.frames_per_clip: got {self.frames_per_clip}, expected 1..9999")
        lo, hi = self.people_range
        if not 1 <= lo <= hi <= 99:
            raise ConfigError(
                f"SynthConfig.people_range: got {self.people_range}, expected 1 <= min <= max <= 99"
            )
        if len(self.motion_weights) != 5 or min(self.motion_weights) < 0 or sum(self.motion_weights) <= 0:
            raise ConfigError(
                f"SynthConfig.motion_weights: got {self.motion_weights}, expected 5 non-negative weights "
                "(walk, wave, jump, turn, random) with a positive sum"
            )
        for name in (
            "p_camera_pan",
            "p_ignore_region",
            "p_blur_burst",
            "p_defocus_burst",
            "p_noise_burst",
            "p_jpeg_burst",
            "p_low_light",
            "det_miss_rate",
        ):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ConfigError(f"SynthConfig.{name}: got {value}, expected a probability in [0, 1]")
        if not 1 <= self.jpeg_quality <= 100:
            raise ConfigError(f"SynthConfig.jpeg_quality: got {self.jpeg_quality}, expected 1..100")
        if self.max_subframes < 1 or self.supersample < 1:
            raise ConfigError("SynthConfig.max_subframes and supersample must be >= 1")
