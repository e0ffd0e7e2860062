"""Ground truth and results as flat arrays, prepared exactly as pycocotools' ``loadRes`` and ``_prepare`` do.

Two pycocotools rules kept on purpose, because every published COCO number follows them:
- ground-truth areas are the annotations' ``area`` fields, not measured from the masks;
- a detection's area (for the small / medium / large ranges) is its box's w * h whenever the results carry
  boxes (decided by the first result, as ``loadRes`` does), and its mask's pixel count otherwise.
Results naming images or categories the ground truth lacks are an error here (pycocotools silently drops
unknown categories and fails with an assertion on unknown images).
"""

from __future__ import annotations

from concurrent.futures import Future
from dataclasses import dataclass
from itertools import chain
from operator import itemgetter
from typing import Any, Callable, Sequence

import numpy as np
from pycocotools import mask as mask_utils

from instaseg.errors import InstasegError
from instaseg.evaluation.coco.run_lengths import (NOT_TEXT, PROBLEMS, RunLengths, decode_counts,
                                                   decode_counts_in_background, decode_rles)

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
    runs: RunLengths | None = None  # the masks decoded (segm and boundary)

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


def prepare_inputs(ground_truth: dict[str, Any], results: Sequence[dict[str, Any]], iou_type: str,
                   image_ids: Sequence[int] | None = None, results_name: str = "results") -> EvaluationInputs:
    """Validate and flatten COCO ground truth (a parsed COCO dict) and results (COCO result dicts).

    Args:
        image_ids: the images to evaluate (default: every ground-truth image).
        results_name: how error messages name the results (e.g. their file).
    Raises:
        EvaluationInputError: naming the record and field of the first problem found.
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
    # The detections' masks decode on other threads while the ground truth is prepared here.
    finish_detections = _detections(results, images, evaluated, category_ids, iou_type, results_name)
    prepared_ground_truth = _ground_truth(ground_truth["annotations"], images, evaluated, category_ids, iou_type)
    return EvaluationInputs(image_ids=evaluated, category_ids=category_ids,
                            category_names=[str(c.get("name", c["id"])) for c in categories],
                            ground_truth=prepared_ground_truth, detections=finish_detections())


def _index_of(values: np.ndarray, sorted_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Position of each value in ``sorted_ids`` and whether it is there."""
    position = np.searchsorted(sorted_ids, values).clip(max=max(len(sorted_ids) - 1, 0))
    found = (sorted_ids[position] == values) if len(sorted_ids) else np.zeros(len(values), dtype=bool)
    return position, found


def _ground_truth(annotations: list[dict], images: dict[int, dict], evaluated: np.ndarray,
                  category_ids: np.ndarray, iou_type: str) -> Annotations:
    image_index, in_images = _index_of(np.array([int(a["image_id"]) for a in annotations], dtype=np.int64),
                                       evaluated)
    category_index, known = _index_of(np.array([int(a["category_id"]) for a in annotations], dtype=np.int64),
                                      category_ids)
    keep = np.flatnonzero(in_images & known)
    kept = [annotations[i] for i in keep]
    runs = None
    if iou_type == "bbox":
        geometry = np.array([a["bbox"] for a in kept], dtype=np.float64).reshape(-1, 4)
        measured = geometry[:, 2] * geometry[:, 3]
    else:
        geometry = [_ground_truth_rle(a, images[int(a["image_id"])]) for a in kept]
        runs = decode_rles(geometry)
        for index in np.flatnonzero(runs.problem):
            raise EvaluationInputError(f"ground truth: annotation {kept[index].get('id')}, field 'segmentation': "
                                       f"the RLE {PROBLEMS[int(runs.problem[index])]}")
        measured = runs.areas
    # COCO requires ``area``; without it, use what the mask or box measures rather than fail.
    area = np.array([a["area"] if "area" in a else float(m) for a, m in zip(kept, measured.tolist())],
                    dtype=np.float64)
    crowd = np.array([bool(a.get("iscrowd", 0)) for a in kept], dtype=bool).reshape(-1)
    # pycocotools overwrites 'ignore' with 'iscrowd'; the Boundary IoU reference keeps either.
    ignore = crowd | (np.array([bool(a.get("ignore", 0)) for a in kept], dtype=bool).reshape(-1)
                      if iou_type == "boundary" else False)
    return Annotations(image_index=image_index[keep], category_index=category_index[keep], area=area,
                       crowd=crowd, ignore=ignore, score=np.ones(len(kept)), geometry=geometry, runs=runs)


def _ground_truth_rle(annotation: dict, image: dict) -> dict:
    """pycocotools' ``annToRLE``: polygons merged into one RLE, uncompressed RLE compressed."""
    if "segmentation" not in annotation:
        raise EvaluationInputError(f"ground truth: annotation {annotation.get('id')}, field 'segmentation' is "
                                   "missing; mask evaluation needs it (use --iou-type bbox for boxes only)")
    segmentation, height, width = annotation["segmentation"], int(image["height"]), int(image["width"])
    if isinstance(segmentation, list):
        return mask_utils.merge(mask_utils.frPyObjects(segmentation, height, width))
    if isinstance(segmentation["counts"], list):
        return mask_utils.frPyObjects(segmentation, height, width)
    return segmentation


def _detections(results: Sequence[dict], images: dict[int, dict], evaluated: np.ndarray, category_ids: np.ndarray,
                iou_type: str, source: str) -> Callable[[], Annotations]:
    """Check and flatten the results. Their masks start decoding in the background as soon as they are read;
    the returned function waits for them (raising for malformed ones) and gives the ``Annotations``."""
    boxes_given = bool(results) and _has_box(results[0])  # loadRes decides from the first result
    needs_masks = iou_type != "bbox" or not boxes_given  # boxes of box-less results come from their masks
    fields = ("image_id", "category_id", "score") + ("bbox",) * boxes_given + ("segmentation",) * needs_masks
    columns = dict(zip(fields, _columns(results, fields, source)))
    decoding = _start_decoding(columns["segmentation"]) if needs_masks else None
    image_ids = _numbers(columns["image_id"], "image_id", source, integer=True)
    category_ids_of = _numbers(columns["category_id"], "category_id", source, integer=True)
    scores = _numbers(columns["score"], "score", source)
    for index in np.flatnonzero(~np.isin(image_ids, np.array(sorted(images), dtype=np.int64))):
        raise EvaluationInputError(f"{_where(source, int(index), 'image_id')}: image {int(image_ids[index])} is not "
                                   "in the ground truth")
    for index in np.flatnonzero(~np.isin(category_ids_of, category_ids)):
        raise EvaluationInputError(f"{_where(source, int(index), 'category_id')}: category "
                                   f"{int(category_ids_of[index])} is not in the ground truth")
    image_index, in_evaluated = _index_of(image_ids, evaluated)
    category_index, _ = _index_of(category_ids_of, category_ids)
    keep = np.flatnonzero(in_evaluated)
    every = len(keep) == len(results)
    boxes = None
    if boxes_given:
        boxes = _boxes(columns["bbox"] if every else [columns["bbox"][i] for i in keep], keep, source)

    def annotations(geometry: list | np.ndarray, area: np.ndarray, runs: RunLengths | None) -> Annotations:
        return Annotations(image_index=image_index[keep], category_index=category_index[keep],
                           area=np.asarray(area, dtype=np.float64).reshape(-1), crowd=np.zeros(len(keep), dtype=bool),
                           ignore=np.zeros(len(keep), dtype=bool), score=scores[keep], geometry=geometry, runs=runs)

    if not needs_masks:
        return lambda: annotations(boxes, boxes[:, 2] * boxes[:, 3], None)

    def finish() -> Annotations:
        image_sizes = np.array([[images[i]["height"], images[i]["width"]] for i in evaluated.tolist()],
                               dtype=np.int64).reshape(-1, 2)[image_index[keep]]
        masks = columns["segmentation"] if every else [columns["segmentation"][i] for i in keep]
        runs = None
        if decoding is not None:
            sizes, pending = decoding
            runs = pending.result()
            runs = runs if every else runs.take(keep)
            if not np.array_equal(sizes[keep], image_sizes) or (runs.problem == NOT_TEXT).any():
                runs = None
        if runs is None:  # record by record, converting what can be and naming what cannot
            masks = [_result_rle(results[i], images[int(image_ids[i])], source, int(i)) for i in keep]
            runs = decode_counts([m["counts"] for m in masks], image_sizes)
        for index in np.flatnonzero(runs.problem):
            raise EvaluationInputError(f"{_where(source, int(keep[index]), 'segmentation')}: the RLE "
                                       f"{PROBLEMS[int(runs.problem[index])]}")
        area = boxes[:, 2] * boxes[:, 3] if boxes_given else runs.areas
        # Results without boxes get their masks' boxes, as loadRes derives them (toBbox).
        if iou_type == "bbox":
            return annotations(runs.boxes(), area, None)
        return annotations(masks, area, runs)

    return finish


def _columns(results: Sequence[dict], fields: tuple[str, ...], source: str) -> list[list]:
    """The ``fields`` of every result as one list per field; the first record lacking one is named."""
    try:  # one pass per field: no per-record tuples for the garbage collector to chase
        return [list(map(itemgetter(field), results)) for field in fields]
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
        array = array.astype(np.float64).reshape(-1) if array.dtype.kind in "iuf" else None  # no strings, bools
    except (TypeError, ValueError):
        array = None
    bad = (np.flatnonzero(~np.isfinite(array) | (integer & (array != np.round(array))))
           if array is not None and len(array) == len(values) else None)
    if bad is None or len(bad):
        index = next(i for i, v in enumerate(values) if not _is_number(v, integer)) if bad is None else int(bad[0])
        kind = "an integer" if integer else "a finite number"
        raise EvaluationInputError(f"{_where(source, index, field)} must be {kind}, got {values[index]!r}")
    return array.astype(np.int64) if integer else array


def _is_number(value: Any, integer: bool) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
        return False
    return np.isfinite(value) and (not integer or float(value).is_integer())


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


def _start_decoding(masks: list) -> tuple[np.ndarray, Future] | None:
    """When every mask is an RLE dict: their declared (N, 2) sizes, and their decoding (in the background, each
    against its declared size; the caller checks those against the images). None otherwise."""
    if not masks:
        return None
    try:
        counts = list(map(itemgetter("counts"), masks))
        sizes = np.fromiter(chain.from_iterable(map(itemgetter("size"), masks)), dtype=np.int64,
                            count=2 * len(masks)).reshape(-1, 2)
    except (KeyError, TypeError, ValueError):
        return None
    return sizes, decode_counts_in_background(counts, sizes)


def _result_rle(result: dict, image: dict, source: str, index: int) -> dict:
    segmentation = result["segmentation"]
    height, width = int(image["height"]), int(image["width"])
    if isinstance(segmentation, dict) and isinstance(segmentation.get("counts"), (str, bytes)):
        if list(segmentation.get("size", ())) != [height, width]:
            raise EvaluationInputError(f"{_where(source, index, 'segmentation')}: RLE size "
                                       f"{segmentation.get('size')!r} is not the image's [{height}, {width}]")
        return segmentation
    try:  # polygons or uncompressed RLE: pycocotools would fail; convert them as annToRLE does
        if isinstance(segmentation, list):
            return mask_utils.merge(mask_utils.frPyObjects(segmentation, height, width))
        return mask_utils.frPyObjects(segmentation, height, width)
    except Exception as error:  # pycocotools raises bare Exceptions and TypeErrors on malformed input
        raise EvaluationInputError(f"{_where(source, index, 'segmentation')} is not an RLE or polygon list: "
                                   f"{error}") from None
