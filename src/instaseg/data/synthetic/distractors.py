"""Clutter that is not an object: lines, arcs, scribbles, letters, irregular blobs and shapes of kinds
outside the class list (L-shapes, arrows, chevrons). A model must learn to ignore all of it.
"""

from __future__ import annotations

import string

import cv2
import numpy as np

from instaseg.data.synthetic.shapes import Outline, place_outline, rasterise
from instaseg.data.synthetic.textures import TEXTURE_KINDS, jitter_colour, paint, random_colour, texture

DISTRACTOR_KINDS: tuple[str, ...] = ("line", "arc", "scribble", "letters", "blob", "foreign_shape",
                                     "speckles")

_FONTS = (cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_DUPLEX, cv2.FONT_HERSHEY_COMPLEX,
          cv2.FONT_HERSHEY_TRIPLEX, cv2.FONT_HERSHEY_SCRIPT_SIMPLEX)

# Shapes deliberately unlike every class: a model that fires on "any filled shape" is penalised.
_FOREIGN_OUTLINES = {
    "l_shape": Outline((np.array([[-1, -1], [-0.4, -1], [-0.4, 0.4], [1, 0.4], [1, 1], [-1, 1]], float),)),
    "arrow": Outline((np.array([[-1, -0.25], [0.2, -0.25], [0.2, -0.7], [1, 0], [0.2, 0.7], [0.2, 0.25],
                                [-1, 0.25]], float),)),
    "chevron": Outline((np.array([[-1, -1], [-0.45, -1], [0.55, 0], [-0.45, 1], [-1, 1], [0, 0]], float),)),
}


def _colour_tuple(colour: np.ndarray) -> tuple[float, float, float]:
    return tuple(float(c) for c in colour)


def _point(size: int, rng: np.random.Generator) -> tuple[int, int]:
    return int(rng.integers(0, size)), int(rng.integers(0, size))


def _blob_outline(rng: np.random.Generator) -> Outline:
    """An irregular lumpy outline: a circle whose radius wobbles with a few random harmonics."""
    angles = np.linspace(0, 2 * np.pi, 48, endpoint=False)
    radius = np.ones_like(angles)
    for harmonic in (2, 3, 4, 5):
        radius += rng.uniform(0.05, 0.3) * np.cos(harmonic * angles + rng.uniform(0, 2 * np.pi))
    radius = np.clip(radius, 0.3, None)
    return Outline((np.stack([radius * np.cos(angles), radius * np.sin(angles)], axis=1),))


def _draw_filled(canvas: np.ndarray, outline: Outline, rng: np.random.Generator, contrast: float) -> None:
    """Rasterise ``outline`` and fill it with a random texture blended ``contrast`` of the way from the
    background underneath."""
    size = canvas.shape[0]
    bitmap, origin = rasterise(outline, size, size)
    if bitmap.size == 0:
        return
    kind = str(rng.choice(TEXTURE_KINDS))
    patch = texture(kind, bitmap.shape[0], bitmap.shape[1], random_colour(rng), random_colour(rng), rng)
    y0, x0 = origin
    under = canvas[y0:y0 + bitmap.shape[0], x0:x0 + bitmap.shape[1]].astype(np.float32)
    paint(canvas, bitmap, origin, under + contrast * (patch - under))


def draw_distractor(canvas: np.ndarray, kind: str, rng: np.random.Generator) -> None:
    """Draw one distractor of ``kind`` into ``canvas`` (size, size, 3) uint8, in place."""
    size = canvas.shape[0]
    colour = _colour_tuple(random_colour(rng))
    thickness = int(rng.integers(1, max(2, size // 100) + 1))
    if kind == "line":
        cv2.line(canvas, _point(size, rng), _point(size, rng), colour, thickness, cv2.LINE_AA)
    elif kind == "arc":
        axes = (int(rng.integers(size // 16, size // 2)), int(rng.integers(size // 16, size // 2)))
        start = float(rng.uniform(0, 360))
        cv2.ellipse(canvas, _point(size, rng), axes, float(rng.uniform(0, 180)), start,
                    start + float(rng.uniform(40, 200)), colour, thickness, cv2.LINE_AA)
    elif kind == "scribble":
        steps = rng.normal(0, size / 20, size=(int(rng.integers(4, 12)), 2))
        points = np.cumsum(steps, axis=0) + np.array(_point(size, rng))
        cv2.polylines(canvas, [points.astype(np.int32)], False, colour, thickness, cv2.LINE_AA)
    elif kind == "letters":
        text = "".join(rng.choice(list(string.ascii_letters + string.digits), size=int(rng.integers(1, 4))))
        scale = float(rng.uniform(0.3, 1.6)) * size / 320
        cv2.putText(canvas, text, _point(size, rng), _FONTS[int(rng.integers(len(_FONTS)))], scale, colour,
                    max(1, int(round(scale * rng.uniform(1, 3)))), cv2.LINE_AA)
    elif kind == "blob":
        area = rng.uniform(0.002, 0.05) * size * size
        outline = place_outline(_blob_outline(rng), area, 1.0, 0.0, _point(size, rng))
        _draw_filled(canvas, outline, rng, contrast=float(rng.uniform(0.2, 0.7)))
    elif kind == "foreign_shape":
        name = str(rng.choice(list(_FOREIGN_OUTLINES)))
        area = rng.uniform(0.002, 0.04) * size * size
        outline = place_outline(_FOREIGN_OUTLINES[name], area, float(rng.uniform(1.0, 1.6)),
                                float(rng.uniform(0, 2 * np.pi)), _point(size, rng))
        _draw_filled(canvas, outline, rng, contrast=float(rng.uniform(0.6, 1.0)))
    elif kind == "speckles":
        count = int(rng.integers(10, 60))
        centres = rng.integers(0, size, size=(count, 2))
        base = random_colour(rng)
        for x, y in centres:
            radius = int(rng.integers(1, 3))
            cv2.circle(canvas, (int(x), int(y)), radius, _colour_tuple(jitter_colour(base, 30, rng)), -1,
                       cv2.LINE_AA)
    else:
        raise ValueError(f"unknown distractor {kind!r}; known: {', '.join(DISTRACTOR_KINDS)}")


def draw_background_clutter(canvas: np.ndarray, rng: np.random.Generator) -> None:
    """A handful of random distractors under the objects."""
    count = int(rng.integers(3, 11))
    for kind in rng.choice(DISTRACTOR_KINDS, size=count):
        draw_distractor(canvas, str(kind), rng)


def draw_occluding_line(canvas: np.ndarray, owner: np.ndarray, rng: np.random.Generator) -> None:
    """A thin wire or arc drawn over the objects; it clears ``owner`` (H, W) where drawn so masks stay exactly
    the visible pixels. Drawn without anti-aliasing so the painted and cleared pixels are the same ones."""
    size = canvas.shape[0]
    colour = _colour_tuple(random_colour(rng))
    thickness = int(rng.integers(1, 3))
    if rng.random() < 0.5:
        ends = (_point(size, rng), _point(size, rng))
        cv2.line(canvas, *ends, colour, thickness, cv2.LINE_8)
        cv2.line(owner, *ends, 0, thickness, cv2.LINE_8)
    else:
        centre = _point(size, rng)
        axes = (int(rng.integers(size // 8, size // 2)), int(rng.integers(size // 8, size // 2)))
        angle, start = float(rng.uniform(0, 180)), float(rng.uniform(0, 360))
        end = start + float(rng.uniform(60, 220))
        cv2.ellipse(canvas, centre, axes, angle, start, end, colour, thickness, cv2.LINE_8)
        cv2.ellipse(owner, centre, axes, angle, start, end, 0, thickness, cv2.LINE_8)
