"""Error analysis at IoU 0.5: where the AP goes (after TIDE, Bolya et al. 2020), fragmentation and merging
counts, and a confusion matrix.

Each false positive of COCO's own matching (IoU 0.5, all areas, 100 detections) gets one cause, with TIDE's
definitions (foreground IoU 0.5, background IoU 0.1); where two apply, the first in this list wins (tidecv's
code checks localisation first, so ambiguous cases can differ from it):
- duplicate: IoU >= 0.5 with a ground truth of its class that a higher-scoring detection already took;
- classification: IoU >= 0.5 with a ground truth of another class;
- localisation: 0.1 <= IoU < 0.5 with a ground truth of its class;
- both: 0.1 <= IoU < 0.5 with a ground truth of another class;
- background: IoU < 0.1 with everything.
Ground truth that no detection finds, and that no classification or localisation error points at, is
missed. The AP an error type costs is AP50 with that type fixed by an oracle minus AP50 as measured:
classification and localisation errors become true positives for their ground truth when it is still
free (otherwise they are dropped), the other false positives are dropped, and missed ground truth is
removed from the count (a class left without ground truth then drops out of the mean, as in COCO).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
from pycocotools import mask as mask_utils

from instaseg.evaluation.coco.accumulate import precision_recall
from instaseg.evaluation.coco.evaluator import COCOEvaluation, counted_ground_truth, evaluate_coco
from instaseg.evaluation.coco.inputs import EvaluationInputs
from instaseg.evaluation.coco.params import EvalParams

FOREGROUND_IOU, BACKGROUND_IOU = 0.5, 0.1
ERROR_TYPES = ("classification", "localisation", "both", "duplicate", "background", "missed")


@dataclass
class ErrorAnalysis:
    ap50: float
    delta_ap: dict[str, float]  # AP50 gained by fixing each error type
    counts: dict[str, int]  # detections (or, for missed, ground truths) with each error
    fragmented: int  # ground truths split over several confident predictions
    merged: int  # confident predictions covering several ground truths
    confusion: np.ndarray  # (K+1, K+1): rows true class, columns predicted class; last = background
    category_names: list[str] = field(default_factory=list)
    score_threshold: float = 0.5


def analyse_errors(ground_truth: dict[str, Any], results: Sequence[dict[str, Any]], iou_type: str = "segm",
                   score_threshold: float = 0.5, image_ids: Sequence[int] | None = None) -> ErrorAnalysis:
    """Error breakdown of ``results`` against ``ground_truth`` (COCO dicts), for segm or bbox.

    Args:
        score_threshold: detections at or above it count for fragmentation, merging and the confusion matrix
            (the AP breakdown uses every detection, as AP does).
    """
    if iou_type not in ("segm", "bbox"):
        raise ValueError(f"error analysis works on 'segm' or 'bbox', not {iou_type!r}")
    return analyse_evaluation(evaluate_coco(ground_truth, results, iou_type, image_ids), score_threshold)


def analyse_evaluation(evaluation: COCOEvaluation, score_threshold: float = 0.5) -> ErrorAnalysis:
    """The error breakdown of a finished segm or bbox evaluation, reusing its prepared inputs and matches."""
    if evaluation.iou_type not in ("segm", "bbox"):
        raise ValueError(f"error analysis works on 'segm' or 'bbox', not {evaluation.iou_type!r}")
    params, inputs, iou_type = evaluation.params, evaluation.inputs, evaluation.iou_type
    detections, pairs = evaluation.detections, evaluation.matched_pairs
    gt = inputs.ground_truth
    overlaps = _ImageOverlaps(inputs, iou_type)
    # COCO's verdict at IoU 0.5, all areas, for the kept detections (rows of ``detections``).
    true_positive = detections.matched[:, 0, 0] & ~detections.ignored[:, 0, 0]
    counted = ~detections.ignored[:, 0, 0]
    cause, target = _causes(inputs, detections.row, true_positive & counted, counted, overlaps)

    num_categories = len(inputs.category_ids)
    npig = counted_ground_truth(gt, num_categories, params)[:, 0]
    found = np.zeros(len(gt), dtype=bool)
    found[pairs[:, 1]] = True
    explained = np.zeros(len(gt), dtype=bool)
    explained[target[np.isin(cause, ("classification", "localisation")) & (target >= 0)]] = True
    missed = ~gt.ignore & ~found & ~explained

    order_keys = (detections.rank, detections.image_index, -detections.score)
    base = _ap50(detections.category_index, order_keys, true_positive, counted, npig, params)
    delta = {}
    for error in ERROR_TYPES:
        category, tp, keep, counts = detections.category_index.copy(), true_positive.copy(), counted.copy(), npig
        if error == "missed":
            counts = npig - np.bincount(gt.category_index[missed], minlength=num_categories)
        elif error in ("classification", "localisation"):
            taken = found.copy()
            for index in np.flatnonzero(cause == error)[np.lexsort((-detections.score[cause == error],))]:
                goal = target[index]
                if not taken[goal]:
                    taken[goal], tp[index], category[index] = True, True, gt.category_index[goal]
                else:
                    keep[index] = False
        else:
            keep &= cause != error
        delta[error] = _ap50(category, order_keys, tp & keep, keep, counts, params) - base
    frag, merged = _fragmentation_and_merging(inputs, overlaps, score_threshold)
    return ErrorAnalysis(
        ap50=base, delta_ap=delta,
        counts={**{e: int((cause == e).sum()) for e in ERROR_TYPES[:-1]}, "missed": int(missed.sum())},
        fragmented=frag, merged=merged, confusion=_confusion(inputs, overlaps, score_threshold),
        category_names=inputs.category_names, score_threshold=score_threshold)


class _ImageOverlaps:
    """IoU and intersection of every detection with every non-crowd ground truth of the same image, classes
    ignored; computed once per image, on first use. ``dt_area`` and ``gt_area`` are measured areas (mask
    pixels or box w x h) by row, measured once."""

    def __init__(self, inputs: EvaluationInputs, iou_type: str) -> None:
        self.inputs, self.iou_type = inputs, iou_type
        dt, gt = inputs.detections, inputs.ground_truth
        self.dt_area, self.gt_area = _measured_areas(dt, iou_type), _measured_areas(gt, iou_type)
        count = len(inputs.image_ids)
        self.dt_rows = _by_image(dt.image_index, count)  # ascending rows per image
        real = np.flatnonzero(~gt.crowd)
        self.gt_rows = [real[p] for p in _by_image(gt.image_index[real], count)]
        self.cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def __call__(self, image: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(detection rows, ground-truth rows, (D, G) IoU, (D, G) intersection area) of ``image``."""
        dt_rows, gt_rows = self.dt_rows[image], self.gt_rows[image]
        if image not in self.cache:
            if len(dt_rows) and len(gt_rows):
                self.cache[image] = self._pairwise(dt_rows, gt_rows)
            else:
                self.cache[image] = np.zeros((len(dt_rows), len(gt_rows))), np.zeros((len(dt_rows), len(gt_rows)))
        return (dt_rows, gt_rows, *self.cache[image])

    def _pairwise(self, dt_rows: np.ndarray, gt_rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        dt, gt = self.inputs.detections, self.inputs.ground_truth
        if self.iou_type == "bbox":
            first, second = dt.geometry[dt_rows], gt.geometry[gt_rows]
        else:
            first, second = [dt.geometry[i] for i in dt_rows], [gt.geometry[i] for i in gt_rows]
        iou = np.asarray(mask_utils.iou(first, second, [0] * len(gt_rows)), dtype=np.float64).reshape(
            len(dt_rows), -1)
        areas = self.dt_area[dt_rows][:, None] + self.gt_area[gt_rows][None, :]
        return iou, iou * areas / (1 + iou)  # IoU = I / (A + B - I), so I = IoU (A + B) / (1 + IoU)


def _measured_areas(side, iou_type: str) -> np.ndarray:
    if iou_type == "bbox":
        return side.geometry[:, 2] * side.geometry[:, 3]
    return side.runs.areas.astype(np.float64)  # measured already, by the evaluation's decoding


def _by_image(values: np.ndarray, num_images: int) -> list[np.ndarray]:
    order = np.argsort(values, kind="stable")
    return np.split(order, np.searchsorted(values[order], np.arange(1, num_images)))


def _causes(inputs: EvaluationInputs, kept_rows: np.ndarray, true_positive: np.ndarray, counted: np.ndarray,
            overlaps: _ImageOverlaps) -> tuple[np.ndarray, np.ndarray]:
    """Per kept detection: its error cause ('' for true positives and ignored ones) and target ground truth."""
    dt, gt = inputs.detections, inputs.ground_truth
    cause = np.full(len(kept_rows), "", dtype=object)
    target = np.full(len(kept_rows), -1)
    false_positive = np.flatnonzero(counted & ~true_positive)
    for image, positions in enumerate(_by_image(dt.image_index[kept_rows[false_positive]], len(inputs.image_ids))):
        positions = false_positive[positions]
        if not len(positions):
            continue
        dt_rows, gt_rows, all_iou, _ = overlaps(image)
        if not len(gt_rows):
            cause[positions] = "background"
            continue
        iou = all_iou[np.searchsorted(dt_rows, kept_rows[positions])]
        same = dt.category_index[kept_rows[positions]][:, None] == gt.category_index[gt_rows][None, :]
        same_iou, other_iou = np.where(same, iou, -1.0), np.where(same, -1.0, iou)
        best_same, best_other = same_iou.max(1), other_iou.max(1)
        arg_same, arg_other = gt_rows[same_iou.argmax(1)], gt_rows[other_iou.argmax(1)]
        for index, s, o, gs, go in zip(positions, best_same, best_other, arg_same, arg_other):
            if s >= FOREGROUND_IOU:
                cause[index], target[index] = "duplicate", gs
            elif o >= FOREGROUND_IOU:
                cause[index], target[index] = "classification", go
            elif s >= BACKGROUND_IOU:
                cause[index], target[index] = "localisation", gs
            elif o >= BACKGROUND_IOU:
                cause[index], target[index] = "both", go
            else:
                cause[index] = "background"
    return cause, target


def _ap50(category: np.ndarray, order_keys: tuple, true_positive: np.ndarray, counted: np.ndarray,
          npig: np.ndarray, params: EvalParams) -> float:
    """COCO AP at IoU 0.5 (101-point interpolation, mean over categories with ground truth)."""
    rank, image, negative_score = order_keys
    order = np.lexsort((rank, image, negative_score, category))
    order = order[counted[order]]
    bounds = np.searchsorted(category[order], np.arange(len(npig) + 1))
    values = []
    for k in np.flatnonzero(npig > 0):
        rows = order[bounds[k]:bounds[k + 1]]
        precision, _, _ = precision_recall(true_positive[rows][None, :], np.zeros((1, len(rows)), dtype=bool),
                                           -negative_score[rows], int(npig[k]), params.recall_thresholds)
        values.append(precision.mean())
    return float(np.mean(values)) if values else -1.0


def _confident_overlaps(inputs: EvaluationInputs, overlaps: _ImageOverlaps, image: int, score_threshold: float):
    """The image's confident detection rows, its ground-truth rows, and their IoU and intersection."""
    dt_rows, gt_rows, iou, intersection = overlaps(image)
    confident = inputs.detections.score[dt_rows] >= score_threshold
    return dt_rows[confident], gt_rows, iou[confident], intersection[confident]


def _fragmentation_and_merging(inputs: EvaluationInputs, overlaps: _ImageOverlaps, score_threshold: float
                               ) -> tuple[int, int]:
    """Ground truths covered by >= 2 confident same-class predictions that each lie mostly inside it (and
    none matching it at IoU 0.5); predictions covering >= 2 same-class ground truths mostly (none matched)."""
    dt, gt = inputs.detections, inputs.ground_truth
    fragmented = merged = 0
    for image in range(len(inputs.image_ids)):
        dt_rows, gt_rows, iou, intersection = _confident_overlaps(inputs, overlaps, image, score_threshold)
        if not len(dt_rows) or not len(gt_rows):
            continue
        same = dt.category_index[dt_rows][:, None] == gt.category_index[gt_rows][None, :]
        dt_area, gt_area = overlaps.dt_area[dt_rows], overlaps.gt_area[gt_rows]
        inside_gt = same & (intersection >= 0.5 * dt_area[:, None]) & (iou < FOREGROUND_IOU)  # piece of a GT
        covers_gt = same & (intersection >= 0.5 * gt_area[None, :]) & (iou < FOREGROUND_IOU)  # GT inside a piece
        found = (same & (iou >= FOREGROUND_IOU)).any(axis=0)
        fragmented += int(((inside_gt.sum(axis=0) >= 2) & ~found).sum())
        merged += int(((covers_gt & ~found[None, :]).sum(axis=1) >= 2).sum())
    return fragmented, merged


def _confusion(inputs: EvaluationInputs, overlaps: _ImageOverlaps, score_threshold: float) -> np.ndarray:
    """Class-agnostic one-to-one matching at IoU >= 0.5 (highest IoU first) of confident predictions."""
    dt, gt = inputs.detections, inputs.ground_truth
    num_categories = len(inputs.category_ids)
    background = num_categories
    matrix = np.zeros((num_categories + 1, num_categories + 1), dtype=np.int64)
    for image in range(len(inputs.image_ids)):
        dt_rows, gt_rows, iou, _ = _confident_overlaps(inputs, overlaps, image, score_threshold)
        used_dt, used_gt = np.zeros(len(dt_rows), dtype=bool), np.zeros(len(gt_rows), dtype=bool)
        if len(dt_rows) and len(gt_rows):
            for d, g in zip(*np.unravel_index(np.argsort(-iou, axis=None, kind="stable"), iou.shape)):
                if iou[d, g] < FOREGROUND_IOU:
                    break
                if not used_dt[d] and not used_gt[g]:
                    used_dt[d] = used_gt[g] = True
                    matrix[gt.category_index[gt_rows[g]], dt.category_index[dt_rows[d]]] += 1
        np.add.at(matrix, (gt.category_index[gt_rows[~used_gt]], background), 1)
        np.add.at(matrix, (background, dt.category_index[dt_rows[~used_dt]]), 1)
    return matrix
