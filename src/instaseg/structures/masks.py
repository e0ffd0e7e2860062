"""One instance's mask in any of the three encodings COCO uses: polygons, RLE, bitmap.

RLE encoding, decoding, polygon rasterisation, areas and boxes all go through pycocotools so that every
number agrees with the reference tools. Polygons are COCO-style flat lists ``[x0, y0, x1, y1, ...]`` in
pixel coordinates, where pixel ``(x, y)`` covers the square ``[x, x + 1) x [y, y + 1)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import cv2
import numpy as np
from pycocotools import mask as mask_utils

FlatPolygon = list[float]


def _compressed_counts(rle: dict) -> dict:
    """A copy of ``rle`` whose counts are bytes, as pycocotools' C API expects."""
    counts = rle["counts"]
    return {"size": [int(rle["size"][0]), int(rle["size"][1])],
            "counts": counts.encode("ascii") if isinstance(counts, str) else counts}


def _rle_to_json(rle: dict) -> dict:
    """An RLE whose counts are an ASCII string, as COCO JSON stores it."""
    counts = rle["counts"]
    return {"size": [int(rle["size"][0]), int(rle["size"][1])],
            "counts": counts.decode("ascii") if isinstance(counts, bytes) else counts}


def _check_compressed_counts(rle: dict) -> None:
    """pycocotools decodes a string that covers too few pixels into uninitialised memory: refuse it first."""
    from instaseg.structures.rle_strings import compressed_rle_totals

    height, width = (int(v) for v in rle["size"])
    totals, malformed = compressed_rle_totals([rle["counts"]])
    if 0 in malformed:
        raise ValueError(f"RLE counts cannot be decoded: {malformed[0]}")
    if int(totals[0]) != height * width:
        raise ValueError(f"RLE counts cover {int(totals[0])} pixels, but its size {height}x{width} has "
                         f"{height * width}")


def is_uncompressed_rle(rle: dict) -> bool:
    return isinstance(rle.get("counts"), list)


def polygons_to_rle(polygons: Sequence[Sequence[float]], height: int, width: int) -> dict:
    """Rasterise COCO polygons (their union) into one compressed RLE, exactly as pycocotools does; each
    polygon needs at least 3 points."""
    for polygon in polygons:
        if len(polygon) < 6 or len(polygon) % 2:
            raise ValueError(f"a polygon needs at least 3 points as x,y pairs; got {len(polygon)} numbers")
    return segmentation_to_rle([list(map(float, p)) for p in polygons], height, width)


def segmentation_to_rle(segmentation: list | dict, height: int, width: int) -> dict:
    """A COCO ``segmentation`` (polygons, uncompressed or compressed RLE) as one compressed RLE, as
    pycocotools' ``annToRLE`` makes it (the path every polygon and uncompressed RLE in instaseg takes)."""
    if isinstance(segmentation, list):
        return mask_utils.merge(mask_utils.frPyObjects(segmentation, height, width))
    if isinstance(segmentation.get("counts"), (str, bytes)):
        return segmentation
    return mask_utils.frPyObjects(segmentation, height, width)  # uncompressed; pycocotools refuses the rest


def uncompressed_to_rle(rle: dict) -> dict:
    """Uncompressed RLE (counts as a list, column-major) -> compressed RLE."""
    height, width = (int(v) for v in rle["size"])
    counts = [int(c) for c in rle["counts"]]
    if sum(counts) != height * width:
        raise ValueError(f"RLE counts sum to {sum(counts)}, but its size {height}x{width} has "
                         f"{height * width} pixels")
    return segmentation_to_rle({"size": [height, width], "counts": counts}, height, width)


# pycocotools' ``area`` sizes a uint8 array by the list length under NumPy 2, so a list of 256 or more RLEs
# overflows; this runs it in batches of 255.
_BATCH = 255


def rle_boxes_xywh(rles: Sequence[dict]) -> np.ndarray:
    """(N, 4) float64 COCO boxes [x, y, width, height] of compressed RLEs (pycocotools' ``toBbox``)."""
    if not rles:
        return np.zeros((0, 4))
    return np.asarray(mask_utils.toBbox([_compressed_counts(r) for r in rles]), dtype=np.float64).reshape(-1, 4)


def rle_areas(rles: Sequence[dict]) -> np.ndarray:
    """(N,) float64 pixel counts of compressed RLEs."""
    batches = [mask_utils.area(list(rles[start:start + _BATCH])) for start in range(0, len(rles), _BATCH)]
    return np.concatenate(batches).astype(np.float64) if batches else np.zeros(0)


def bitmap_to_rle(bitmap: np.ndarray) -> dict:
    return mask_utils.encode(np.asfortranarray(bitmap.astype(np.uint8)))


def bitmaps_to_rles(bitmaps: np.ndarray) -> list[dict]:
    """(N, H, W) bitmaps -> N compressed RLEs with string counts, in one pycocotools call."""
    if len(bitmaps) == 0:
        return []
    stacked = np.asfortranarray(np.transpose(bitmaps.astype(np.uint8), (1, 2, 0)))
    return [_rle_to_json(r) for r in mask_utils.encode(stacked)]


def rle_to_uncompressed(rle: dict) -> dict:
    """Compressed RLE -> uncompressed RLE (counts as a list of ints, column-major, starting with zeros)."""
    flat = mask_utils.decode(_compressed_counts(rle)).ravel(order="F")
    changes = np.flatnonzero(np.diff(flat)) + 1
    bounds = np.concatenate([[0], changes, [flat.size]])
    counts = np.diff(bounds).tolist()
    if flat.size and flat[0] == 1:
        counts = [0] + counts
    return {"size": [int(rle["size"][0]), int(rle["size"][1])], "counts": counts}


def _ring(contour: np.ndarray) -> np.ndarray:
    return contour.reshape(-1, 2).astype(np.float64)


def _splice(outer: np.ndarray, inner: np.ndarray) -> np.ndarray:
    """Join ``inner`` into ``outer`` by a zero-width bridge between their closest vertices.

    Under the even-odd fill that pycocotools and the YOLO-seg convention use, the bridge is traversed
    twice and adds no area, so a ring with a hole, or two separate parts, become one polygon.
    """
    distances = ((outer[:, None, :] - inner[None, :, :]) ** 2).sum(-1)
    i, j = np.unravel_index(int(np.argmin(distances)), distances.shape)
    inner_rolled = np.concatenate([inner[j:], inner[: j + 1]])
    return np.concatenate([outer[: i + 1], inner_rolled, outer[i:]])


def bitmap_to_polygons(bitmap: np.ndarray, join_all: bool = False) -> list[FlatPolygon]:
    """Trace a bitmap into COCO polygons, one per connected part, holes joined into their part.

    Vertices are placed on pixel corners (the traced contour of the mask upsampled by 2), so that
    pycocotools rasterises the polygon back to nearly the same pixels. With ``join_all`` every part is
    bridged into a single polygon, as YOLO-seg expects one polygon per instance.
    """
    mask = np.ascontiguousarray(bitmap.astype(np.uint8))
    if not mask.any():
        return []
    # Upsample x2 so contours run along pixel edges: vertex k/2 in the big grid is a pixel corner.
    big = cv2.resize(mask, (mask.shape[1] * 2, mask.shape[0] * 2), interpolation=cv2.INTER_NEAREST)
    big = cv2.copyMakeBorder(big, 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=0)
    contours, hierarchy = cv2.findContours(big, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
    if hierarchy is None:
        return []
    hierarchy = hierarchy[0]
    parts: list[np.ndarray] = []
    for index, contour in enumerate(contours):
        if hierarchy[index][3] != -1:  # a hole; joined into its parent below
            continue
        ring = _corner_ring(contour)
        child = hierarchy[index][2]
        while child != -1:
            ring = _splice(ring, _corner_ring(contours[child]))
            child = hierarchy[child][0]
        parts.append(ring)
    if join_all and len(parts) > 1:
        joined = parts[0]
        for part in parts[1:]:
            joined = _splice(joined, part)
        parts = [joined]
    return [p.ravel().tolist() for p in parts if len(p) >= 3]


def _corner_ring(contour: np.ndarray) -> np.ndarray:
    """Map a contour traced in the 2x-upsampled, 1-padded grid back to pixel-corner coordinates.

    Outer and hole contours both run through foreground big pixels on the boundary; big index p (after
    removing the padding) lies in original pixel p // 2, and ceil(p / 2) is the pixel edge it touches.
    """
    return np.ceil((_ring(contour) - 1.0) / 2.0)


@dataclass(frozen=True, eq=False)
class Mask:
    """One instance's mask, stored in the encoding it came in and converted on demand.

    ``polygons`` (COCO flat lists), ``rle`` (compressed, counts as str) or ``bitmap`` (bool HxW): exactly
    one is set. ``height`` and ``width`` are the image's size.
    """

    height: int
    width: int
    polygons: tuple[tuple[float, ...], ...] | None = None
    rle: dict | None = None
    bitmap: np.ndarray | None = None

    # Constructors
    @classmethod
    def from_polygons(cls, polygons: Sequence[Sequence[float]], height: int, width: int) -> "Mask":
        polygons_to_rle(polygons, height, width)  # validates
        return cls(int(height), int(width), polygons=tuple(tuple(map(float, p)) for p in polygons))

    @classmethod
    def from_rle(cls, rle: dict) -> "Mask":
        """Compressed (counts str/bytes) or uncompressed (counts list) COCO RLE."""
        if is_uncompressed_rle(rle):
            compressed = uncompressed_to_rle(rle)
        else:
            compressed = _compressed_counts(rle)
            _check_compressed_counts(compressed)
        height, width = (int(v) for v in compressed["size"])
        return cls(height, width, rle=_rle_to_json(compressed))

    @classmethod
    def from_bitmap(cls, bitmap: np.ndarray) -> "Mask":
        bitmap = np.asarray(bitmap).astype(bool)
        if bitmap.ndim != 2:
            raise ValueError(f"a mask bitmap must be 2-D (H, W); got shape {bitmap.shape}")
        return cls(bitmap.shape[0], bitmap.shape[1], bitmap=bitmap)

    @classmethod
    def from_coco(cls, segmentation: Any, height: int, width: int) -> "Mask":
        """From a COCO ``segmentation`` field: a list of polygons or an RLE dict."""
        if isinstance(segmentation, dict):
            return cls.from_rle(segmentation)
        return cls.from_polygons(segmentation, height, width)

    # Views
    @property
    def kind(self) -> str:
        return "polygons" if self.polygons is not None else "rle" if self.rle is not None else "bitmap"

    def to_rle(self) -> dict:
        """Compressed RLE with string counts (COCO JSON form)."""
        if self.rle is not None:
            return dict(self.rle)
        if self.polygons is not None:
            return _rle_to_json(polygons_to_rle(self.polygons, self.height, self.width))
        return _rle_to_json(bitmap_to_rle(self.bitmap))

    def to_uncompressed_rle(self) -> dict:
        return rle_to_uncompressed(self.to_rle())

    def to_bitmap(self) -> np.ndarray:
        if self.bitmap is not None:
            return self.bitmap
        return mask_utils.decode(_compressed_counts(self.to_rle())).astype(bool)

    def to_polygons(self, join_all: bool = False) -> list[FlatPolygon]:
        """COCO polygons; kept as given when the mask came as polygons, traced otherwise."""
        if self.polygons is not None and not (join_all and len(self.polygons) > 1):
            return [list(p) for p in self.polygons]
        return bitmap_to_polygons(self.to_bitmap(), join_all=join_all)

    def to_coco(self) -> list[FlatPolygon] | dict:
        """The COCO ``segmentation`` field: polygons when the mask came as polygons, RLE otherwise."""
        return [list(p) for p in self.polygons] if self.polygons is not None else self.to_rle()

    @property
    def area(self) -> int:
        return int(mask_utils.area(_compressed_counts(self.to_rle())))

    @property
    def bbox_xywh(self) -> list[float]:
        """COCO box [x, y, w, h] of the mask's pixels, as pycocotools computes it."""
        return rle_boxes_xywh([self.to_rle()])[0].tolist()

    @property
    def box_xyxy(self) -> list[float]:
        x, y, w, h = self.bbox_xywh
        return [x, y, x + w, y + h]

    def has_holes(self) -> bool:
        """True when some part of the mask encloses background (a polygon list cannot say so directly)."""
        bitmap = self.to_bitmap().astype(np.uint8)
        if not bitmap.any():
            return False
        _, hierarchy = cv2.findContours(bitmap, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
        return hierarchy is not None and bool((hierarchy[0][:, 3] != -1).any())

    def num_parts(self) -> int:
        count, _ = cv2.connectedComponents(self.to_bitmap().astype(np.uint8), connectivity=8)
        return count - 1
