"""One synthetic image: cluttered background, textured objects that occlude each other, mild blur and noise,
and the exact visible mask of every object that stays visible enough to annotate.

Objects are drawn back to front into an owner map (pixel -> index of the object on top), so each mask is
exactly the pixels where its object can be seen, and masks of one image never overlap.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from instaseg.data.synthetic.config import CLASS_NAMES, SynthConfig
from instaseg.data.synthetic.distractors import draw_background_clutter, draw_occluding_line
from instaseg.data.synthetic.shapes import Outline, place_outline, random_aspect, rasterise, unit_outline
from instaseg.data.synthetic.textures import (TEXTURE_KINDS, background, jitter_colour, paint, random_colour,
                                                 texture)

# Object areas as fractions of the image area, chosen so that at 320 px they fall in COCO's small (< 32^2),
# medium and large (> 96^2) ranges; occlusion then moves some objects down a range.
SIZE_RANGES: dict[str, tuple[float, float]] = {"small": (0.0012, 0.0095), "medium": (0.0115, 0.085),
                                               "large": (0.1, 0.3)}
_MIN_AREA_PIXELS = 40.0  # at small image sizes a "small" object must still be recognisable
_TEXTURE_WEIGHTS = np.array([0.3, 0.2, 0.15, 0.15, 0.2])  # in TEXTURE_KINDS order
_CAMOUFLAGE_PROBABILITY = 0.12  # objects coloured like the background under them
_TRIANGULAR_STD = 255.0 * np.sqrt(2.0 / 12.0)  # standard deviation of the sum of two uniform bytes, minus 255


@dataclass
class Scene:
    """A rendered image and its annotations.

    Attributes:
        image: (H, W, 3) uint8 RGB.
        masks: (N, H, W) bool, the visible pixels of each annotated object, pairwise disjoint.
        category_ids: N category ids (1-based index into ``CLASS_NAMES``).
    """

    image: np.ndarray
    masks: np.ndarray
    category_ids: list[int]


@dataclass
class _Fill:
    kind: str
    first: np.ndarray
    second: np.ndarray


@dataclass
class _PlannedObject:
    category_id: int
    outline: Outline
    centre: tuple[float, float]
    fill: _Fill
    depth: float  # drawing order: smaller is drawn first, so it is occluded by the others


def _random_fill(rng: np.random.Generator) -> _Fill:
    kind = str(rng.choice(TEXTURE_KINDS, p=_TEXTURE_WEIGHTS))
    first = random_colour(rng)
    second = random_colour(rng) if rng.random() < 0.6 else jitter_colour(first, 50, rng)
    return _Fill(kind, first, second)


def _random_area(bucket: str, size: int, rng: np.random.Generator) -> float:
    low, high = SIZE_RANGES[bucket]
    return max(float(np.exp(rng.uniform(np.log(low), np.log(high)))) * size * size, _MIN_AREA_PIXELS)


def _random_outline(category_id: int, area: float, centre: tuple[float, float], rng: np.random.Generator,
                    ) -> Outline:
    name = CLASS_NAMES[category_id - 1]
    unit = unit_outline(name, rng)
    return place_outline(unit, area, random_aspect(name, rng), float(rng.uniform(0, 2 * np.pi)), centre)


def _depth(area: float, rng: np.random.Generator) -> float:
    # Mostly large behind small, with enough shuffling that small objects also get covered.
    return -float(np.log(area)) + float(rng.normal(0.0, 1.2))


def _bucket_counts(rng: np.random.Generator) -> dict[str, int]:
    return {"large": int(rng.choice(3, p=[0.3, 0.45, 0.25])), "medium": int(rng.integers(0, 5)),
            "small": int(rng.integers(0, 8))}


def _plan_scattered(config: SynthConfig, counts: dict[str, int], rng: np.random.Generator,
                    ) -> list[_PlannedObject]:
    """Objects of random classes at independent random places (they may overlap)."""
    size = config.size
    planned = []
    for bucket, count in counts.items():
        for _ in range(count):
            category_id = int(rng.integers(1, len(CLASS_NAMES) + 1))
            area = _random_area(bucket, size, rng)
            centre = (float(rng.uniform(0.05, 0.95) * size), float(rng.uniform(0.05, 0.95) * size))
            outline = _random_outline(category_id, area, centre, rng)
            planned.append(_PlannedObject(category_id, outline, centre, _random_fill(rng), _depth(area, rng)))
    return planned


def _overlaps(outline: Outline, occupied: np.ndarray) -> bool:
    bitmap, (y0, x0) = rasterise(outline, *occupied.shape)
    if bitmap.size == 0:
        return False
    return bool((occupied[y0:y0 + bitmap.shape[0], x0:x0 + bitmap.shape[1]] & bitmap).any())


def _reach(outline: Outline, centre: tuple[float, float]) -> float:
    """Largest distance from ``centre`` to the outline: moving two shapes this far apart separates them."""
    points = np.concatenate(outline.fills)
    return float(np.sqrt(((points - np.asarray(centre)) ** 2).sum(axis=1).max()))


def _place_touching(anchor: _PlannedObject, category_id: int, area: float, occupied: np.ndarray,
                    rng: np.random.Generator) -> _PlannedObject | None:
    """A new shape pushed out from ``anchor`` along a random direction until it just stops overlapping the
    shapes already in ``occupied``: the two end up edge to edge (gap under half a pixel in the geometry)."""
    size = occupied.shape[0]
    unit = unit_outline(CLASS_NAMES[category_id - 1], rng)
    aspect, angle = random_aspect(CLASS_NAMES[category_id - 1], rng), float(rng.uniform(0, 2 * np.pi))
    direction = rng.uniform(0, 2 * np.pi)
    step = np.array([np.cos(direction), np.sin(direction)])

    def at(distance: float) -> tuple[Outline, tuple[float, float]]:
        centre = tuple(float(v) for v in np.asarray(anchor.centre) + distance * step)
        return place_outline(unit, area, aspect, angle, centre), centre

    near = 0.0
    far = _reach(anchor.outline, anchor.centre) + _reach(*at(0.0))
    if _overlaps(at(far)[0], occupied):  # another cluster member is in the way
        return None
    # Binary search for the closest distance without overlap; near always overlaps, far never does.
    while far - near > 0.4:
        middle = 0.5 * (near + far)
        if _overlaps(at(middle)[0], occupied):
            near = middle
        else:
            far = middle
    outline, centre = at(far)
    if not (0 <= centre[0] < size and 0 <= centre[1] < size):
        return None
    return _PlannedObject(category_id, outline, centre, anchor.fill, anchor.depth)


def _plan_touching_cluster(config: SynthConfig, rng: np.random.Generator) -> list[_PlannedObject]:
    """2-4 shapes of one class and similar size and look, edge to edge: the hardest case to split."""
    size = config.size
    category_id = int(rng.integers(1, len(CLASS_NAMES) + 1))
    bucket = str(rng.choice(["small", "medium"]))
    base_area = _random_area(bucket, size, rng)
    centre = (float(rng.uniform(0.25, 0.75) * size), float(rng.uniform(0.25, 0.75) * size))
    first = _PlannedObject(category_id, _random_outline(category_id, base_area, centre, rng), centre,
                           _random_fill(rng), _depth(base_area, rng))
    cluster = [first]
    occupied = np.zeros((size, size), np.uint8)
    bitmap, (y0, x0) = rasterise(first.outline, size, size)
    occupied[y0:y0 + bitmap.shape[0], x0:x0 + bitmap.shape[1]] |= bitmap
    for _ in range(int(rng.integers(1, 4))):
        anchor = cluster[int(rng.integers(len(cluster)))]
        area = base_area * float(rng.uniform(0.75, 1.3))
        member = _place_touching(anchor, category_id, area, occupied, rng)
        if member is None:
            continue
        member.fill = _Fill(anchor.fill.kind, jitter_colour(anchor.fill.first, 12, rng),
                            jitter_colour(anchor.fill.second, 12, rng))
        cluster.append(member)
        bitmap, (y0, x0) = rasterise(member.outline, size, size)
        occupied[y0:y0 + bitmap.shape[0], x0:x0 + bitmap.shape[1]] |= bitmap
    return cluster


def _plan_objects(config: SynthConfig, rng: np.random.Generator) -> list[_PlannedObject]:
    """The objects of one image in drawing order (back to front)."""
    counts = _bucket_counts(rng)
    if sum(counts.values()) == 0:
        counts["small"] = 1
    planned = _plan_scattered(config, counts, rng)
    if rng.random() < config.touching_fraction:
        planned += _plan_touching_cluster(config, rng)
    # A stable sort keeps a cluster's members (equal depth) together and in order.
    planned.sort(key=lambda item: item.depth)
    if len(planned) > config.max_instances:
        keep = np.sort(rng.choice(len(planned), size=config.max_instances, replace=False))
        planned = [planned[i] for i in keep]
    return planned


def _draw_object(canvas: np.ndarray, owner: np.ndarray, index: int, item: _PlannedObject,
                 rng: np.random.Generator) -> int:
    """Paint one object and claim its pixels in ``owner``; returns how many pixels it covered."""
    size = canvas.shape[0]
    bitmap, (y0, x0) = rasterise(item.outline, size, size)
    if bitmap.size == 0:
        return 0
    fill = item.fill
    if rng.random() < _CAMOUFLAGE_PROBABILITY:
        under = canvas[y0:y0 + bitmap.shape[0], x0:x0 + bitmap.shape[1]].reshape(-1, 3).mean(axis=0)
        fill = _Fill(fill.kind, jitter_colour(under, 25, rng), jitter_colour(under, 40, rng))
    patch = texture(fill.kind, bitmap.shape[0], bitmap.shape[1], fill.first, fill.second, rng)
    paint(canvas, bitmap, (y0, x0), patch)
    owner[y0:y0 + bitmap.shape[0], x0:x0 + bitmap.shape[1]][bitmap.astype(bool)] = index
    return int(bitmap.sum())


def _degrade(canvas: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Mild camera effects: blur, exposure and contrast change, sensor noise (all in 8/16-bit integers,
    which is several times faster than float32 on full images)."""
    image = canvas
    if rng.random() < 0.7:
        image = cv2.GaussianBlur(image, (0, 0), float(rng.uniform(0.4, 1.1)))
    exposure = np.arange(256, dtype=np.float32) * np.float32(rng.uniform(0.85, 1.15)) + rng.uniform(-15, 15)
    image = cv2.LUT(image, np.clip(np.round(exposure), 0, 255).astype(np.uint8))
    # Two uniform bytes summed give triangular noise: close enough to Gaussian at a fifth of the cost.
    pair = rng.integers(0, 256, size=(2, *image.shape), dtype=np.uint8)
    noise = pair[0].astype(np.int16) + pair[1].astype(np.int16) - 255  # std _TRIANGULAR_STD
    gain = int(round(rng.uniform(1.0, 7.0) / _TRIANGULAR_STD * 256))  # fixed point, 8 fractional bits
    noisy = image.astype(np.int16) + ((noise * gain) >> 8)
    return np.clip(noisy, 0, 255).astype(np.uint8)


def render_scene(config: SynthConfig, rng: np.random.Generator) -> Scene:
    """Draw one image of ``config.size`` pixels square, with every random choice taken from ``rng``."""
    size = config.size
    canvas = background(size, rng)
    draw_background_clutter(canvas, rng)
    planned = [] if rng.random() < config.empty_fraction else _plan_objects(config, rng)
    owner = np.zeros((size, size), np.uint8)  # 0 = no object; k = planned[k - 1] on top
    drawn = np.array([_draw_object(canvas, owner, k, item, rng) for k, item in enumerate(planned, start=1)])
    if planned:
        for _ in range(int(rng.choice(3, p=[0.6, 0.3, 0.1]))):
            draw_occluding_line(canvas, owner, rng)
    masks = owner[None] == np.arange(1, len(planned) + 1, dtype=np.uint8)[:, None, None]  # (N, H, W)
    visible = masks.sum(axis=(1, 2))
    keep = (visible >= max(config.min_visible_pixels, 1)) & (visible >= config.min_visible_fraction * drawn)
    return Scene(image=_degrade(canvas, rng), masks=masks[keep],
                 category_ids=[item.category_id for item, kept in zip(planned, keep) if kept])
