"""Image degradations and their per-frame schedule: motion-blur bursts (long exposure + camera shake),
defocus, sensor noise, JPEG compression bursts and low light.

A burst lasts a few frames with a smooth envelope (peak in the middle); a dim clip is dim throughout. Motion
blur itself is rendered by averaging sub-frames (see ``clip.py``); this module only decides the exposure and
shake. Images are BGR float32 in 0..255, [H, W, 3].
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import cv2
import numpy as np

from .config import SynthConfig

__all__ = [
    "FrameDegradation",
    "sample_schedule",
    "defocus",
    "low_light",
    "noise_bank",
    "add_noise",
    "encode_jpeg",
    "blur_length",
]


@dataclass(frozen=True)
class FrameDegradation:
    """What happens to one frame.

    Attributes:
        exposure: shutter time as a fraction of the frame interval (motion-blur length).
        shake: camera-shake amplitude in pixels.
        defocus_sigma: Gaussian defocus sigma in pixels (0 = sharp).
        noise_sigma: sensor-noise sigma on the 0..255 scale.
        jpeg_quality: quality the frame is saved with.
        light_gain: brightness gain (1 = normal light).
        light_gamma: gamma applied with the gain (1 = none).
    """

    exposure: float
    shake: float
    defocus_sigma: float
    noise_sigma: float
    jpeg_quality: int
    light_gain: float
    light_gamma: float

    def to_json(self) -> dict:
        return {k: (round(v, 3) if isinstance(v, float) else v) for k, v in asdict(self).items()}


def _bursts(rng: np.random.Generator, p: float, num_frames: int, length: tuple[int, int]) -> np.ndarray:
    """[T] envelope in 0..1: one burst per started 24 frames with probability p each, sin-shaped."""
    env = np.zeros(num_frames)
    for _ in range(int(math.ceil(num_frames / 24))):
        if rng.uniform() >= p:
            continue
        n = int(rng.integers(length[0], length[1] + 1))
        start = int(rng.integers(-(n // 2), max(num_frames - n // 2, 1)))
        w = np.sin(math.pi * (np.arange(n) + 1) / (n + 1))
        for i in range(n):
            if 0 <= start + i < num_frames:
                env[start + i] = max(env[start + i], w[i])
    return env


def sample_schedule(rng: np.random.Generator, cfg: SynthConfig, num_frames: int) -> list[FrameDegradation]:
    """The degradation of every frame of one clip."""
    T = num_frames
    base_exposure = rng.uniform(*cfg.exposure_range)
    blur = _bursts(rng, cfg.p_blur_burst, T, cfg.burst_length)
    peak_exposure, peak_shake = rng.uniform(0.7, 1.0), rng.uniform(*cfg.shake_px_range)
    focus = _bursts(rng, cfg.p_defocus_burst, T, cfg.burst_length)
    peak_sigma = rng.uniform(*cfg.defocus_sigma_range)
    noise = _bursts(rng, cfg.p_noise_burst, T, cfg.burst_length)
    base_noise, peak_noise = rng.uniform(1.0, 3.0), rng.uniform(*cfg.noise_sigma_range)
    jpeg = _bursts(rng, cfg.p_jpeg_burst, T, cfg.burst_length)
    low_q = rng.uniform(*cfg.jpeg_burst_quality)
    dim = rng.uniform() < cfg.p_low_light
    gain, gamma = (rng.uniform(0.2, 0.5), rng.uniform(1.1, 1.5)) if dim else (1.0, 1.0)
    dim_noise = rng.uniform(3.0, 8.0) if dim else 0.0
    out = []
    for i in range(T):
        out.append(
            FrameDegradation(
                exposure=float(base_exposure + (peak_exposure - base_exposure) * blur[i]),
                shake=float(peak_shake * blur[i]),
                defocus_sigma=float(peak_sigma * focus[i]) if focus[i] > 0.2 else 0.0,
                noise_sigma=float(base_noise + dim_noise + peak_noise * noise[i]),
                jpeg_quality=int(round(cfg.jpeg_quality - (cfg.jpeg_quality - low_q) * jpeg[i])),
                light_gain=float(gain),
                light_gamma=float(gamma),
            )
        )
    return out


def defocus(img: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian defocus; sigma in pixels (0 = unchanged)."""
    if sigma <= 0.0:
        return img
    return cv2.GaussianBlur(img, (0, 0), sigmaX=sigma, sigmaY=sigma, borderType=cv2.BORDER_REFLECT)


def low_light(img: np.ndarray, gain: float, gamma: float) -> np.ndarray:
    """Dim the frame: ``255 * gain * (img / 255) ** gamma`` with a slight blue cast."""
    if gain >= 1.0 and gamma == 1.0:
        return img
    out = 255.0 * gain * np.power(img / 255.0, gamma)
    return out * np.array([1.1, 1.0, 0.88], np.float32)


def noise_bank(rng: np.random.Generator, frame_hw: tuple[int, int], margin: int = 32) -> np.ndarray:
    """Unit Gaussian noise [H + margin, W + margin, 4] (3 chroma channels + 1 luminance) that a clip's frames
    crop at random offsets: drawing fresh normals for every frame would cost more than rendering it."""
    H, W = frame_hw
    return rng.standard_normal((H + margin, W + margin, 4), dtype=np.float32)


def add_noise(img: np.ndarray, sigma: float, bank: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Sensor noise: luminance noise plus weaker per-channel noise (sigma on the 0..255 scale), cropped from
    ``bank`` at a random offset with a random sign and channel order."""
    if sigma <= 0.0:
        return img
    H, W = img.shape[:2]
    oy = int(rng.integers(0, bank.shape[0] - H + 1))
    ox = int(rng.integers(0, bank.shape[1] - W + 1))
    crop = bank[oy : oy + H, ox : ox + W]
    sign = 1.0 if rng.uniform() < 0.5 else -1.0
    order = [int(c) for c in rng.permutation(3)]
    return img + (0.45 * sigma * sign) * crop[:, :, order] + (0.85 * sigma * sign) * crop[:, :, 3:]


def encode_jpeg(img: np.ndarray, quality: int) -> bytes:
    """[H, W, 3] BGR (any dtype, clipped to 0..255) -> JPEG bytes (deterministic for the same input)."""
    u8 = np.clip(np.round(img), 0, 255).astype(np.uint8) if img.dtype != np.uint8 else img
    ok, buf = cv2.imencode(".jpg", u8, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    assert ok, "cv2.imencode failed"
    return buf.tobytes()


def blur_length(motion_px: float, defocus_sigma: float) -> float:
    """Effective blur as a box length in pixels: motion length and Gaussian defocus combined by variance
    (a box of length L has variance L^2 / 12)."""
    return math.sqrt(motion_px**2 + 12.0 * defocus_sigma**2)
