"""Fills for objects and backgrounds: solid with shading, gradients, stripes, checks and smooth noise.

Every texture is computed for one patch at once with numpy (no per-pixel Python), as float32 RGB in [0, 255].
"""

from __future__ import annotations

import colorsys

import cv2
import numpy as np

TEXTURE_KINDS: tuple[str, ...] = ("solid", "gradient", "stripes", "checks", "noise")


def random_colour(rng: np.random.Generator) -> np.ndarray:
    """(3,) float32 RGB, from vivid to dull to near-grey, light or dark."""
    hue = rng.random()
    saturation = rng.choice([rng.uniform(0.0, 0.25), rng.uniform(0.3, 1.0)], p=[0.25, 0.75])
    value = rng.uniform(0.2, 1.0)
    return np.array(colorsys.hsv_to_rgb(hue, saturation, value), dtype=np.float32) * 255.0


def jitter_colour(colour: np.ndarray, spread: float, rng: np.random.Generator) -> np.ndarray:
    return np.clip(colour + rng.normal(0.0, spread, size=3), 0, 255).astype(np.float32)


def smooth_noise(height: int, width: int, cell: float, rng: np.random.Generator) -> np.ndarray:
    """(height, width) float32 in about [0, 1]: random values on a coarse grid, upsampled bicubically."""
    grid_h, grid_w = max(2, int(np.ceil(height / cell)) + 1), max(2, int(np.ceil(width / cell)) + 1)
    coarse = rng.random((grid_h, grid_w), dtype=np.float32)
    return cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)


def _coordinates(height: int, width: int, angle: float) -> np.ndarray:
    """(height, width) float32 distance along direction ``angle`` (radians), from the patch's corner."""
    ys = np.arange(height, dtype=np.float32)[:, None]
    xs = np.arange(width, dtype=np.float32)[None, :]
    return xs * np.float32(np.cos(angle)) + ys * np.float32(np.sin(angle))


def _blend(weight: np.ndarray, first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """(H, W) weight in [0, 1] -> (H, W, 3) float32: colour ``first`` where 0, ``second`` where 1."""
    # cv2.transform maps each pixel w to M @ [w, 1] in one pass, several times faster than numpy broadcasting.
    matrix = np.stack([second - first, first], axis=1).astype(np.float32)  # (3, 2)
    return cv2.transform(np.ascontiguousarray(weight, dtype=np.float32)[..., None], matrix)


def texture(kind: str, height: int, width: int, first: np.ndarray, second: np.ndarray,
            rng: np.random.Generator) -> np.ndarray:
    """A (height, width, 3) float32 patch of ``kind`` mixing the colours ``first`` and ``second``."""
    angle = rng.uniform(0, np.pi)
    if kind == "solid":
        # A faint lighting ramp, so a flat fill is not one exact value a model could key on.
        ramp = _coordinates(height, width, angle) / max(height, width, 1)
        return _blend(ramp * rng.uniform(0.0, 0.35), first, second)
    if kind == "gradient":
        ramp = _coordinates(height, width, angle)
        ramp = (ramp - ramp.min()) / max(float(np.ptp(ramp)), 1.0)
        return _blend(ramp, first, second)
    if kind == "stripes":
        period = rng.uniform(3.0, 14.0)
        phase = np.sin(_coordinates(height, width, angle) * np.float32(2 * np.pi / period))
        hard = rng.random() < 0.5
        weight = (phase > 0).astype(np.float32) if hard else 0.5 + 0.5 * phase
        return _blend(weight, first, second)
    if kind == "checks":
        cell = rng.uniform(3.0, 12.0)
        along = np.floor(_coordinates(height, width, angle) / cell)
        across = np.floor(_coordinates(height, width, angle + np.pi / 2) / cell)
        return _blend(((along + across) % 2).astype(np.float32), first, second)
    if kind == "noise":
        weight = smooth_noise(height, width, rng.uniform(3.0, 16.0), rng)
        return _blend(np.clip(weight, 0.0, 1.0), first, second)
    raise ValueError(f"unknown texture {kind!r}; known: {', '.join(TEXTURE_KINDS)}")


def paint(canvas: np.ndarray, bitmap: np.ndarray, origin: tuple[int, int], patch: np.ndarray) -> None:
    """Copy ``patch`` (h, w, 3) float into ``canvas`` (H, W, 3) uint8 where ``bitmap`` (h, w) is set,
    with the patch's top-left corner at ``origin`` (y, x)."""
    y0, x0 = origin
    region = canvas[y0:y0 + bitmap.shape[0], x0:x0 + bitmap.shape[1]]
    inside = bitmap.astype(bool)
    region[inside] = np.clip(patch[inside], 0, 255).astype(np.uint8)


def background(size: int, rng: np.random.Generator) -> np.ndarray:
    """(size, size, 3) uint8 cluttered background: smooth colour fields under a low-contrast pattern."""
    cells = max(2, int(np.ceil(rng.uniform(1.5, 5.0))) + 1)
    # Blending is linear, so mixing colours on the coarse grid and then upsampling equals upsampling the
    # weights first, at a fraction of the cost.
    coarse = _blend(rng.random((cells, cells), dtype=np.float32), random_colour(rng), random_colour(rng))
    tint = rng.random((cells, cells, 1), dtype=np.float32) * np.float32(rng.uniform(0.2, 0.6))
    coarse = coarse + tint * (random_colour(rng) - coarse)
    base = cv2.resize(coarse, (size, size), interpolation=cv2.INTER_CUBIC)
    kind = str(rng.choice(("stripes", "checks", "noise", "gradient")))
    pattern = texture(kind, size, size, random_colour(rng), random_colour(rng), rng)
    strength = float(rng.uniform(0.1, 0.45))
    return cv2.addWeighted(base, 1.0 - strength, pattern, strength, 0.0, dtype=cv2.CV_8U)
