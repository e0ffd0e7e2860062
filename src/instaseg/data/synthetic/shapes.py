"""The object classes as geometry: unit-size outlines, placement in the image, exact rasterisation.

A shape is a few filled polygons minus a few hole polygons (the ring's hole, the crescent's bite), so every
class rasterises with two ``cv2.fillPoly`` calls and its mask is exactly the pixels drawn.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from instaseg.data.synthetic.config import CLASS_NAMES

_SUBPIXEL_BITS = 4  # fillPoly fixed-point coordinates, so small shapes keep their exact outline
_CIRCLE_POINTS = 64

# Most a class is stretched (aspect ratio of its unit outline before rotation).
_MAX_ASPECT = {"ellipse": 2.2, "rectangle": 3.0, "triangle": 1.6, "star": 1.3, "hexagon": 1.4,
               "cross": 1.5, "ring": 1.7, "crescent": 1.4}


@dataclass(frozen=True)
class Outline:
    """A shape as polygons: ``fills`` are painted, then ``holes`` are cleared. Each polygon is (K, 2) x, y."""

    fills: tuple[np.ndarray, ...]
    holes: tuple[np.ndarray, ...] = ()

    def area(self) -> float:
        """Area of fills minus holes; holes are convex, so their overlap with a convex fill is exact."""
        total = sum(abs(cv2.contourArea(p.astype(np.float32))) for p in self.fills)
        for hole in self.holes:
            for fill in self.fills:
                overlap, _ = cv2.intersectConvexConvex(fill.astype(np.float32), hole.astype(np.float32))
                total -= max(overlap, 0.0)
        return float(total)

    def transformed(self, scale: float, aspect: float, angle: float, centre: tuple[float, float]
                    ) -> "Outline":
        """Stretch by ``aspect`` (area kept), rotate by ``angle`` radians, scale, then move to ``centre``."""
        stretch = np.array([np.sqrt(aspect), 1.0 / np.sqrt(aspect)])
        cos, sin = np.cos(angle), np.sin(angle)
        rotation = np.array([[cos, sin], [-sin, cos]])  # row vectors: p @ rotation
        offset = np.asarray(centre, dtype=np.float64)

        def move(polygon: np.ndarray) -> np.ndarray:
            return (polygon * stretch) @ rotation * scale + offset

        return Outline(tuple(move(p) for p in self.fills), tuple(move(p) for p in self.holes))

    def bounds(self) -> tuple[float, float, float, float]:
        """(x_min, y_min, x_max, y_max) of the fill polygons."""
        points = np.concatenate(self.fills)
        return (float(points[:, 0].min()), float(points[:, 1].min()), float(points[:, 0].max()),
                float(points[:, 1].max()))


def _regular_polygon(corners: int, radius: float = 1.0, phase: float = 0.0) -> np.ndarray:
    angles = phase + np.arange(corners) * (2 * np.pi / corners)
    return np.stack([radius * np.cos(angles), radius * np.sin(angles)], axis=1)


def _circle(radius: float = 1.0, centre: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
    return _regular_polygon(_CIRCLE_POINTS, radius) + np.asarray(centre)


def _star(rng: np.random.Generator) -> Outline:
    points = int(rng.choice([5, 5, 6]))
    inner = rng.uniform(0.4, 0.55)
    outer_ring = _regular_polygon(points, 1.0, -np.pi / 2)
    inner_ring = _regular_polygon(points, inner, -np.pi / 2 + np.pi / points)
    return Outline((np.stack([outer_ring, inner_ring], axis=1).reshape(-1, 2),))


def _cross(rng: np.random.Generator) -> Outline:
    arm = rng.uniform(0.28, 0.42)  # half-width of each bar
    outline = np.array([[-arm, -1], [arm, -1], [arm, -arm], [1, -arm], [1, arm], [arm, arm], [arm, 1],
                        [-arm, 1], [-arm, arm], [-1, arm], [-1, -arm], [-arm, -arm]], dtype=np.float64)
    return Outline((outline,))


def _triangle(rng: np.random.Generator) -> Outline:
    angles = np.deg2rad(np.array([-90.0, 30.0, 150.0]) + rng.uniform(-15, 15, size=3))
    return Outline((np.stack([np.cos(angles), np.sin(angles)], axis=1),))


def _ring(rng: np.random.Generator) -> Outline:
    hole = rng.uniform(0.45, 0.7)
    return Outline((_circle(),), (_circle(hole, (rng.uniform(-0.08, 0.08), rng.uniform(-0.08, 0.08))),))


def _crescent(rng: np.random.Generator) -> Outline:
    bite = rng.uniform(0.75, 1.0)
    shift = rng.uniform(0.4, 0.7)
    return Outline((_circle(),), (_circle(bite, (shift, 0.0)),))


def unit_outline(class_name: str, rng: np.random.Generator) -> Outline:
    """The class's outline about the origin, about radius 1, with its class-specific proportions drawn."""
    if class_name == "ellipse":
        return Outline((_circle(),))
    if class_name == "rectangle":
        return Outline((np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], dtype=np.float64) * 0.75,))
    if class_name == "hexagon":
        return Outline((_regular_polygon(6),))
    if class_name == "triangle":
        return _triangle(rng)
    if class_name == "star":
        return _star(rng)
    if class_name == "cross":
        return _cross(rng)
    if class_name == "ring":
        return _ring(rng)
    if class_name == "crescent":
        return _crescent(rng)
    raise ValueError(f"unknown synthetic class {class_name!r}; known: {', '.join(CLASS_NAMES)}")


def random_aspect(class_name: str, rng: np.random.Generator) -> float:
    """Log-uniform stretch in [1, class maximum]; the random rotation covers the other orientation."""
    return float(np.exp(rng.uniform(0.0, np.log(_MAX_ASPECT[class_name]))))


def place_outline(outline: Outline, area: float, aspect: float, angle: float,
                  centre: tuple[float, float]) -> Outline:
    """Scale a unit outline so its area is ``area`` pixels, then stretch, rotate and move it."""
    scale = float(np.sqrt(area / outline.area()))
    return outline.transformed(scale, aspect, angle, centre)


def rasterise(outline: Outline, height: int, width: int) -> tuple[np.ndarray, tuple[int, int]]:
    """Pixels of a placed outline, clipped to the image.

    Returns:
        (h, w) uint8 0/1 bitmap of the outline's bounding box inside the image, and its (y0, x0) offset.
        The bitmap is empty (0 x 0) when the outline lies outside the image.
    """
    x_min, y_min, x_max, y_max = outline.bounds()
    x0, y0 = max(int(np.floor(x_min)), 0), max(int(np.floor(y_min)), 0)
    x1, y1 = min(int(np.ceil(x_max)) + 1, width), min(int(np.ceil(y_max)) + 1, height)
    if x1 <= x0 or y1 <= y0:
        return np.zeros((0, 0), np.uint8), (0, 0)
    bitmap = np.zeros((y1 - y0, x1 - x0), np.uint8)
    # Pixel (x, y) covers [x, x+1): its centre, where fillPoly samples, is at x + 0.5.
    origin = np.array([x0 + 0.5, y0 + 0.5])

    def fixed(polygon: np.ndarray) -> np.ndarray:
        return np.round((polygon - origin) * (1 << _SUBPIXEL_BITS)).astype(np.int32)

    cv2.fillPoly(bitmap, [fixed(p) for p in outline.fills], 1, cv2.LINE_8, _SUBPIXEL_BITS)
    if outline.holes:
        cv2.fillPoly(bitmap, [fixed(p) for p in outline.holes], 0, cv2.LINE_8, _SUBPIXEL_BITS)
    return bitmap, (y0, x0)
