"""Ground truth and results as flat arrays, prepared exactly as pycocotools' ``loadRes`` and ``_prepare`` do.

Two pycocotools rules kept on purpose, because every published COCO number follows them:
- ground-truth areas are the annotations' ``area`` fields, not measured from the masks;
- a detection's area (for the small / medium / large ranges) is its box's w * h whenever the results carry
  boxes (decided by the first result, as ``loadRes`` does), and its mask's pixel count otherwise.
Results naming images or categories the ground truth lacks are an error here (pycocotools silently drops
unknown categories and fails with an assertion on unknown images).
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass
from itertools import chain, repeat
from operator import itemgetter, ne
from typing import Any, Callable, Sequence

import numpy as np

from instaseg.errors import InstasegError
from instaseg.structures.masks import segmentation_to_rle
from instaseg.evaluation.coco.chunks import in_background
from instaseg.evaluation.coco.run_lengths import (NOT_TEXT, PROBLEMS, EncodedMasks, PendingEncoding, RunLengths, decode,
                                                   encode_counts, encode_rles)

IOU_TYPES = ("segm", "bbox", "boundary")  # boundary: min(mask IoU, Boundary IoU), see evaluation.boundary


class EvaluationInputError(InstasegError):
    """Ground truth or results that cannot be evaluated; the message names the record and field."""


@dataclass
class Annotations:
    """One side (ground truth or detections) restricted to the evaluated images, one row per annotation.

    ``geometry`` holds RLE dicts for segm and boundary (boundary bands are computed later, only for the
    detections that get compared) and (N, 4) xywh boxes for bbox. Rows keep the source order, which breaks
    ties the way pycocotools' stable sorts do."""

    image_index: np.ndarray  # (N,) int, index into the sorted evaluated image ids
    category_index: np.ndarray  # (N,) int, index into the sorted category ids
    area: np.ndarray  # (N,) float64
    crowd: np.ndarray  # (N,) bool: IoU is over the detection's area, and it may match many (False for detections)
    ignore: np.ndarray  # (N,) bool: matches are not counted (crowd; for boundary also an 'ignore' field)
    score: np.ndarray  # (N,) float64 (ones for ground truth)
    geometry: list | np.ndarray
    # The masks (segm and boundary): the ground truth's decoded, the detections' encoded (decoded group by group
    # for their IoUs, which fills their areas and problems).
    runs: RunLengths | EncodedMasks | None = None

    def __len__(self) -> int:
        return len(self.image_index)


@dataclass
class EvaluationInputs:
    image_ids: np.ndarray  # (I,) sorted evaluated image ids
    category_ids: np.ndarray  # (K,) sorted category ids
    category_names: list[str]
    ground_truth: Annotations
    detections: Annotations


def _where(source: str, index: int, field: str) -> str:
    return f"{source}: record {index}, field '{field}'"


@dataclass
class SortKeys:
    """What ordering and grouping need of the detections, known before their masks are decoded."""

    image_index: np.ndarray  # (N,)
    category_index: np.ndarray  # (N,)
    score: np.ndarray  # (N,)


@dataclass
class PendingInputs:
    """The inputs read and checked, but for what ``read_remaining`` reads (the boxes and the masks' declared
    sizes: Python work to overlap with the masks' IoUs) and the masks themselves, still encoded. ``finish``
    decodes what nothing else has of the masks, raises for malformed ones and gives the ``EvaluationInputs``."""

    image_ids: np.ndarray
    category_ids: np.ndarray
    ground_truth: Annotations
    detection_keys: SortKeys
    detection_masks: EncodedMasks | None  # one per result, in the results' order (None for boxes alone)
    mask_rows: np.ndarray  # (N,) each kept detection's row of ``detection_masks``
    read_remaining: Callable[[], None]
    finish: Callable[[], EvaluationInputs]


def start_inputs(ground_truth: dict[str, Any], results: Sequence[dict[str, Any]], iou_type: str,
                 image_ids: Sequence[int] | None = None, results_name: str = "results") -> PendingInputs:
    """Validate and flatten COCO ground truth (a parsed COCO dict) and results (COCO result dicts), leaving the
    results' masks encoded.

    Args:
        image_ids: the images to evaluate (default: every ground-truth image).
        results_name: how error messages name the results (e.g. their file).
    Raises:
        EvaluationInputError: naming the record and field of the first problem found: here for the ids,
            scores and masks that cannot be converted (polygons and uncompressed RLEs are converted here); for
            the boxes and the masks' declared sizes, from ``read_remaining``; for malformed RLE strings, from
            ``finish``.
    """
    if iou_type not in IOU_TYPES:
        raise EvaluationInputError(f"unknown IoU type {iou_type!r}; choose from {', '.join(IOU_TYPES)}")
    images = {int(image["id"]): image for image in ground_truth["images"]}
    categories = sorted(ground_truth["categories"], key=lambda c: int(c["id"]))
    category_ids = np.array([int(c["id"]) for c in categories], dtype=np.int64)
    if image_ids is None:
        evaluated = np.array(sorted(images), dtype=np.int64)
    else:
        evaluated = np.unique(np.asarray(list(image_ids), dtype=np.int64))
        unknown = [int(i) for i in evaluated if int(i) not in images]
        if unknown:
            raise EvaluationInputError(f"images to evaluate not in the ground truth: {unknown[:5]}")
    # The ground truth's masks decode in the background while the results are read.
    finish_ground_truth = _ground_truth(ground_truth["annotations"], images, evaluated, category_ids, iou_type)
    try:
        detections = _detections(results, images, evaluated, category_ids, iou_type, results_name)
    except BaseException:
        with contextlib.suppress(Exception):  # no thread left running; the results' error is the one to name
            finish_ground_truth()
        raise
    prepared_ground_truth = finish_ground_truth()

    def finish() -> EvaluationInputs:
        return EvaluationInputs(image_ids=evaluated, category_ids=category_ids,
                                category_names=[str(c.get("name", c["id"])) for c in categories],
                                ground_truth=prepared_ground_truth, detections=detections.finish())

    return PendingInputs(image_ids=evaluated, category_ids=category_ids, ground_truth=prepared_ground_truth,
                         detection_keys=detections.keys, detection_masks=detections.masks,
                         mask_rows=detections.mask_rows, read_remaining=detections.read_remaining, finish=finish)


@dataclass
class _PendingDetections:
    """``_detections``' part of ``PendingInputs``."""

    keys: SortKeys
    masks: EncodedMasks | None
    mask_rows: np.ndarray
    read_remaining: Callable[[], None]
    finish: Callable[[], Annotations]


def _index_of(values: np.ndarray, sorted_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Position of each value in ``sorted_ids`` and whether it is there."""
    if not len(sorted_ids):
        return np.zeros(len(values), dtype=np.int64), np.zeros(len(values), dtype=bool)
    low, span = int(sorted_ids[0]), int(sorted_ids[-1]) - int(sorted_ids[0]) + 1
    if span <= max(1 << 20, 8 * len(values)):  # ids in a modest range (the usual case): a lookup table, which
        table = np.full(span + 1, -1, dtype=np.int64)  # is several times faster than binary searches
        table[sorted_ids - low] = np.arange(len(sorted_ids))
        position = table[np.clip(values, low - 1, low + span) - low]  # outside the range: the table's -1 ends
        return position.clip(min=0), position >= 0
    position = np.searchsorted(sorted_ids, values).clip(max=len(sorted_ids) - 1)
    return position, sorted_ids[position] == values


def _ground_truth(annotations: list[dict], images: dict[int, dict], evaluated: np.ndarray,
                  category_ids: np.ndarray, iou_type: str) -> Callable[[], Annotations]:
    """Read the ground truth; its masks decode in the background until the returned function is called."""
    image_ids = np.array(list(map(int, map(itemgetter("image_id"), annotations))), dtype=np.int64)
    image_index, in_images = _index_of(image_ids, evaluated)
    category_index, known = _index_of(np.array(list(map(int, map(itemgetter("category_id"), annotations))),
                                               dtype=np.int64), category_ids)
    keep = np.flatnonzero(in_images & known)
    kept = [annotations[i] for i in keep] if len(keep) < len(annotations) else annotations
    decoding = None
    if iou_type == "bbox":
        geometry = np.array([a["bbox"] for a in kept], dtype=np.float64).reshape(-1, 4)
    else:
        geometry = _compressed_rles(kept)
        if geometry is None:  # polygons or uncompressed RLEs among them: converted one by one
            geometry = [_ground_truth_rle(a, images[int(a["image_id"])]) for a in kept]
        encoded = encode_rles(geometry)
        decoding = in_background(lambda: decode(encoded))
    crowd = np.array(list(map(bool, map(dict.get, kept, repeat("iscrowd"), repeat(0)))), dtype=bool)
    # pycocotools overwrites 'ignore' with 'iscrowd'; the Boundary IoU reference keeps either.
    ignore = crowd | (np.array(list(map(bool, map(dict.get, kept, repeat("ignore"), repeat(0)))), dtype=bool)
                      if iou_type == "boundary" else False)

    def finish() -> Annotations:
        runs = decoding() if decoding is not None else None
        if runs is not None:
            for index in np.flatnonzero(runs.problem):
                raise EvaluationInputError(f"ground truth: annotation {kept[index].get('id')}, field "
                                           f"'segmentation': the RLE {PROBLEMS[int(runs.problem[index])]}")
        measured = runs.areas if runs is not None else geometry[:, 2] * geometry[:, 3]
        # COCO requires ``area``; without it, use what the mask or box measures rather than fail.
        area = np.array(list(map(dict.get, kept, repeat("area"), measured.tolist())), dtype=np.float64)
        return Annotations(image_index=image_index[keep], category_index=category_index[keep],
                           area=area.reshape(-1), crowd=crowd.reshape(-1), ignore=ignore, score=np.ones(len(kept)),
                           geometry=geometry, runs=runs)

    return finish


def _compressed_rles(annotations: list[dict]) -> list[dict] | None:
    """The annotations' segmentations when every one is a compressed RLE dict (the usual case), else None."""
    try:  # a polygon list or a missing field fails the lookups
        segmentations = list(map(itemgetter("segmentation"), annotations))
        kinds = set(map(type, segmentations)) | set(map(type, map(itemgetter("counts"), segmentations)))
    except (KeyError, TypeError):
        return None
    return segmentations if kinds <= {dict, str, bytes} else None


def _ground_truth_rle(annotation: dict, image: dict) -> dict:
    """pycocotools' ``annToRLE``: polygons merged into one RLE, uncompressed RLE compressed."""
    if "segmentation" not in annotation:
        raise EvaluationInputError(f"ground truth: annotation {annotation.get('id')}, field 'segmentation' is "
                                   "missing; mask evaluation needs it (use --iou-type bbox for boxes only)")
    return segmentation_to_rle(annotation["segmentation"], int(image["height"]), int(image["width"]))


def _detections(results: Sequence[dict], images: dict[int, dict], evaluated: np.ndarray, category_ids: np.ndarray,
                iou_type: str, source: str) -> _PendingDetections:
    """Check and flatten the results, their masks left encoded."""
    boxes_given = bool(results) and _has_box(results[0])  # loadRes decides from the first result
    needs_masks = iou_type != "bbox" or not boxes_given  # boxes of box-less results come from their masks
    fields = ("image_id", "category_id", "score") + ("bbox",) * boxes_given + ("segmentation",) * needs_masks
    known_ids = np.array(sorted(images), dtype=np.int64)
    # The masks' strings are joined first, so that their compiled scan (in the background, for long texts) runs
    # while the ids are read; a missing segmentation is named after the ids' checks, as before.
    masks, encoding = _start_encoding(results) if needs_masks else (None, None)
    try:
        keys, image_ids, in_evaluated = _keys(results, images, evaluated, known_ids, category_ids, fields, source)
        keep = np.flatnonzero(in_evaluated)
        every = len(keep) == len(results)
        encoded, converted = None, None
        if needs_masks:
            sizes = np.zeros((len(results), 2), dtype=np.int64)  # each kept result's image's [h, w]; the others
            sizes[keep] = _image_sizes(images, evaluated)[keys.image_index]  # are never decoded
            if masks is None:
                masks = _column(results, "segmentation", fields, source)  # raises, naming the record
            encoded = encoding.finish(sizes) if encoding is not None else None
            if encoded is None or (encoded.problem == NOT_TEXT).any():  # record by record, converting what can be
                converted = [_result_rle(results[i], images[int(image_ids[i])], source, int(i)) for i in keep]
                counts = [b""] * len(results)
                for row, rle in zip(keep.tolist(), converted):
                    counts[row] = rle["counts"]
                encoded = encode_counts(counts, sizes)
            encoded.decoded[~in_evaluated] = True
    except BaseException:
        if encoding is not None:
            with contextlib.suppress(Exception):  # no thread left running; the error above is the one to name
                encoding.wait()
        raise
    read: dict[str, Any] = {}

    def annotations(geometry: list | np.ndarray, area: np.ndarray, runs: EncodedMasks | None) -> Annotations:
        return Annotations(image_index=keys.image_index, category_index=keys.category_index,
                           area=np.asarray(area, dtype=np.float64).reshape(-1), crowd=np.zeros(len(keep), dtype=bool),
                           ignore=np.zeros(len(keep), dtype=bool), score=keys.score, geometry=geometry, runs=runs)

    def read_remaining() -> None:
        read["done"] = True
        if boxes_given:
            boxes = _column(results, "bbox", fields, source)
            read["boxes"] = _boxes(boxes if every else [boxes[i] for i in keep], keep, source)
        if needs_masks and converted is None:
            read["masks"] = masks if every else [masks[i] for i in keep]
            if not _declared_sizes_match(read["masks"], sizes[keep]):  # name the first that does not
                for i in keep:
                    _result_rle(results[i], images[int(image_ids[i])], source, int(i))

    def finish() -> Annotations:
        if not read:
            read_remaining()
        boxes = read.get("boxes")
        if not needs_masks:
            return annotations(boxes, boxes[:, 2] * boxes[:, 3], None)
        kept = encoded if every else encoded.take(keep)
        # Results without boxes get their masks' boxes, as loadRes derives them (toBbox); otherwise only what
        # the IoUs did not decode is decoded here.
        runs = decode(kept) if iou_type == "bbox" else kept.measure()
        for index in np.flatnonzero(kept.problem):
            raise EvaluationInputError(f"{_where(source, int(keep[index]), 'segmentation')}: the RLE "
                                       f"{PROBLEMS[int(kept.problem[index])]}")
        area = boxes[:, 2] * boxes[:, 3] if boxes_given else kept.areas
        if runs is not None:
            return annotations(runs.boxes(), area, None)
        return annotations(converted if converted is not None else read["masks"], area, kept)

    return _PendingDetections(keys=keys, masks=encoded, mask_rows=keep, read_remaining=read_remaining, finish=finish)


def _keys(results: Sequence[dict], images: dict[int, dict], evaluated: np.ndarray, known_ids: np.ndarray,
          category_ids: np.ndarray, fields: tuple[str, ...], source: str) -> tuple[SortKeys, np.ndarray, np.ndarray]:
    """The kept results' sort keys, every result's image id, and whether each is evaluated; unknown images and
    categories are named."""
    image_ids = _numbers(_column(results, "image_id", fields, source), "image_id", source, integer=True)
    category_ids_of = _numbers(_column(results, "category_id", fields, source), "category_id", source, integer=True)
    scores = _numbers(_column(results, "score", fields, source), "score", source)
    image_index, in_evaluated = _index_of(image_ids, evaluated)
    known_image = in_evaluated if len(evaluated) == len(known_ids) else _index_of(image_ids, known_ids)[1]
    for index in np.flatnonzero(~known_image):
        raise EvaluationInputError(f"{_where(source, int(index), 'image_id')}: image {int(image_ids[index])} is not "
                                   "in the ground truth")
    category_index, known_category = _index_of(category_ids_of, category_ids)
    for index in np.flatnonzero(~known_category):
        raise EvaluationInputError(f"{_where(source, int(index), 'category_id')}: category "
                                   f"{int(category_ids_of[index])} is not in the ground truth")
    keep = np.flatnonzero(in_evaluated)
    return (SortKeys(image_index=image_index[keep], category_index=category_index[keep], score=scores[keep]),
            image_ids, in_evaluated)


def _image_sizes(images: dict[int, dict], ids: np.ndarray) -> np.ndarray:
    """(I, 2) [height, width] of the ground truth's images ``ids``."""
    chosen = list(map(images.__getitem__, ids.tolist()))
    try:  # the usual case: non-negative integers throughout
        sizes = np.array([list(map(dict.get, chosen, repeat(field))) for field in ("height", "width")]).T
        if sizes.dtype.kind in "iu" and (sizes >= 0).all():
            return sizes.reshape(-1, 2).astype(np.int64)
    except (TypeError, ValueError):
        pass
    sizes = np.zeros((len(ids), 2), dtype=np.int64)
    for row, image_id in enumerate(ids.tolist()):
        for column, field in enumerate(("height", "width")):
            value = images[image_id].get(field)
            if not _is_number(value, integer=True) or value < 0:
                raise EvaluationInputError(f"ground truth: image {image_id}, field '{field}' must be a "
                                           f"non-negative integer, got {value!r}")
            sizes[row, column] = value
    return sizes


def _column(results: Sequence[dict], field: str, fields: tuple[str, ...], source: str) -> list:
    """``field`` of every result; if a result lacks it, the first record lacking any of ``fields`` is named."""
    try:
        return list(map(itemgetter(field), results))
    except (KeyError, TypeError):
        pass
    for index, result in enumerate(results):
        if not isinstance(result, dict):
            raise EvaluationInputError(f"{source}: record {index} is {type(result).__name__}, not an object")
        missing = [f for f in fields if f not in result]
        if missing:
            raise EvaluationInputError(f"{_where(source, index, missing[0])} is missing")
    raise AssertionError("unreachable: every record has every field")


def _has_box(result: dict) -> bool:
    box = result.get("bbox")
    return box is not None and len(box) > 0


def _numbers(values: Sequence, field: str, source: str, integer: bool = False) -> np.ndarray:
    try:
        array = np.array(values)
        if array.dtype.kind == "i" and array.shape == (len(values),):  # integers (no bools, strings or lists)
            return array.astype(np.int64 if integer else np.float64)
        array = array.astype(np.float64).reshape(-1) if array.dtype.kind in "uf" else None  # uint64: beyond int64
    except (TypeError, ValueError, OverflowError):
        array = None
    bad = (np.flatnonzero(~np.isfinite(array) | (((array != np.round(array)) | (np.abs(array) >= 2.0 ** 63))
                                                  if integer else False))
           if array is not None and len(array) == len(values) else None)
    if bad is None or len(bad):
        index = next(i for i, v in enumerate(values) if not _is_number(v, integer)) if bad is None else int(bad[0])
        kind = "an integer of at most 64 bits" if integer else "a finite number"
        raise EvaluationInputError(f"{_where(source, index, field)} must be {kind}, got {values[index]!r}")
    return array.astype(np.int64) if integer else array


def _is_number(value: Any, integer: bool) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
        return False
    try:
        number = float(value)
    except OverflowError:  # an int beyond float's range
        return False
    return math.isfinite(number) and (not integer or (number.is_integer() and abs(number) < 2.0 ** 63))


def _boxes(boxes: Sequence, keep: np.ndarray, source: str) -> np.ndarray:
    """(N, 4) xywh boxes of the kept results; the first malformed one is named."""
    if not boxes:
        return np.zeros((0, 4))
    try:  # fast path: every box is four plain numbers
        array = np.fromiter(chain.from_iterable(boxes), dtype=np.float64, count=4 * len(boxes)).reshape(-1, 4)
        if set(map(len, boxes)) == {4} and np.isfinite(array).all():
            return array
    except (TypeError, ValueError):
        pass
    for index, box in zip(keep, boxes):
        if not (isinstance(box, (list, tuple)) and len(box) == 4 and all(_is_number(v, False) for v in box)):
            raise EvaluationInputError(f"{_where(source, int(index), 'bbox')} must be [x, y, width, height], "
                                       f"got {box!r}")
    raise AssertionError("unreachable: some box was malformed")


def _start_encoding(results: Sequence[dict]) -> tuple[list | None, PendingEncoding | None]:
    """Every result's segmentation and, when each is a dict holding counts, those counts joined and their scan
    started; (None, None) when some result lacks a segmentation (or is not a dict)."""
    try:
        masks = list(map(itemgetter("segmentation"), results))
    except (KeyError, TypeError):
        return None, None
    try:
        counts = list(map(itemgetter("counts"), masks))
    except (KeyError, TypeError):
        return masks, None
    return masks, PendingEncoding(counts)


def _declared_sizes_match(masks: list, sizes: np.ndarray) -> bool:
    """Whether every mask's ``size`` is its image's (N, 2) [h, w]. List comparisons in C: when every image
    has one size (common), one ``list.count``."""
    try:
        declared = list(map(itemgetter("size"), masks))
        if len(sizes) and (sizes == sizes[0]).all():
            return declared.count(sizes[0].tolist()) == len(declared)
        return not any(map(ne, declared, sizes.tolist()))
    except (KeyError, TypeError, ValueError):  # no size, not a list, or an array (whose == is elementwise)
        return False


def _result_rle(result: dict, image: dict, source: str, index: int) -> dict:
    segmentation = result["segmentation"]
    height, width = int(image["height"]), int(image["width"])
    if isinstance(segmentation, dict) and isinstance(segmentation.get("counts"), (str, bytes)):
        if list(segmentation.get("size", ())) != [height, width]:
            raise EvaluationInputError(f"{_where(source, index, 'segmentation')}: RLE size "
                                       f"{segmentation.get('size')!r} is not the image's [{height}, {width}]")
        return segmentation
    try:  # polygons or uncompressed RLE: pycocotools would fail; convert them as annToRLE does
        return segmentation_to_rle(segmentation, height, width)
    except Exception as error:  # pycocotools raises bare Exceptions and TypeErrors on malformed input
        raise EvaluationInputError(f"{_where(source, index, 'segmentation')} is not an RLE or polygon list: "
                                   f"{error}") from None
