"""Error analysis at IoU 0.5: where the AP goes (after TIDE, Bolya et al. 2020), fragmentation and merging
counts, and a confusion matrix.

Each false positive of COCO's own matching (IoU 0.5, all areas, 100 detections) gets one cause, checked in
this order, with foreground IoU 0.5 and background IoU 0.1:
- duplicate: IoU >= 0.5 with a ground truth of its class that a higher-scoring detection already took;
- classification: IoU >= 0.5 with a ground truth of another class;
- localisation: 0.1 <= IoU < 0.5 with a ground truth of its class;
- both: 0.1 <= IoU < 0.5 with a ground truth of another class;
- background: IoU < 0.1 with everything.
Ground truth that no detection finds, and that no classification or localisation error points at, is
missed. The AP an error type costs is AP50 with that type fixed by an oracle minus AP50 as measured:
classification and localisation errors become true positives for their ground truth when it is still
free (otherwise they are dropped), the other false positives are dropped, and missed ground truth is
removed from the count.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
from pycocotools import mask as mask_utils

from instaseg.evaluation.coco.accumulate import precision_recall
from instaseg.evaluation.coco.evaluator import match_detections
from instaseg.evaluation.coco.inputs import EvaluationInputs, prepare_inputs
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
    params = EvalParams()
    inputs = prepare_inputs(ground_truth, results, iou_type, image_ids)
    detections, _, pairs = match_detections(inputs, iou_type, params)
    gt = inputs.ground_truth
    # Rows of the kept detections in the Annotations, and COCO's verdict at IoU 0.5, all areas.
    kept_rows = detections.row
    true_positive = detections.matched[:, 0, 0] & ~detections.ignored[:, 0, 0]
    counted = ~detections.ignored[:, 0, 0]
    matched_gt = np.full(len(kept_rows), -1)
    row_position = {int(r): i for i, r in enumerate(kept_rows)}
    for dt_row, gt_row in pairs:
        matched_gt[row_position[int(dt_row)]] = gt_row
    cause, target = _causes(inputs, kept_rows, true_positive & counted, counted, iou_type)

    num_categories = len(inputs.category_ids)
    npig = np.bincount(gt.category_index[~gt.crowd], minlength=num_categories)
    found = np.zeros(len(gt), dtype=bool)
    found[matched_gt[matched_gt >= 0]] = True
    explained = np.zeros(len(gt), dtype=bool)
    explained[target[np.isin(cause, ("classification", "localisation")) & (target >= 0)]] = True
    missed = ~gt.crowd & ~found & ~explained

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
    frag, merged = _fragmentation_and_merging(inputs, iou_type, score_threshold)
    return ErrorAnalysis(
        ap50=base, delta_ap=delta,
        counts={**{e: int((cause == e).sum()) for e in ERROR_TYPES[:-1]}, "missed": int(missed.sum())},
        fragmented=frag, merged=merged, confusion=_confusion(inputs, iou_type, score_threshold),
        category_names=inputs.category_names, score_threshold=score_threshold)


def _pairwise(inputs: EvaluationInputs, iou_type: str, dt_rows: np.ndarray, gt_rows: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray]:
    """(D, G) IoU and intersection area of detections and ground truth of one image, classes ignored."""
    dt, gt = inputs.detections, inputs.ground_truth
    if iou_type == "bbox":
        first, second = dt.geometry[dt_rows], gt.geometry[gt_rows]
        areas_d, areas_g = first[:, 2] * first[:, 3], second[:, 2] * second[:, 3]
    else:
        first, second = [dt.geometry[i] for i in dt_rows], [gt.geometry[i] for i in gt_rows]
        areas_d = np.asarray(mask_utils.area(first), dtype=np.float64)
        areas_g = np.asarray(mask_utils.area(second), dtype=np.float64)
    iou = np.asarray(mask_utils.iou(first, second, [0] * len(gt_rows)), dtype=np.float64).reshape(len(dt_rows), -1)
    intersection = iou * (areas_d[:, None] + areas_g[None, :]) / (1 + iou)
    return iou, intersection


def _by_image(values: np.ndarray, num_images: int) -> list[np.ndarray]:
    order = np.argsort(values, kind="stable")
    return np.split(order, np.searchsorted(values[order], np.arange(1, num_images)))


def _causes(inputs: EvaluationInputs, kept_rows: np.ndarray, true_positive: np.ndarray, counted: np.ndarray,
            iou_type: str) -> tuple[np.ndarray, np.ndarray]:
    """Per kept detection: its error cause ('' for true positives and ignored ones) and target ground truth."""
    dt, gt = inputs.detections, inputs.ground_truth
    cause = np.full(len(kept_rows), "", dtype=object)
    target = np.full(len(kept_rows), -1)
    real = np.flatnonzero(~gt.crowd)
    gt_rows_by_image = [real[p] for p in _by_image(gt.image_index[real], len(inputs.image_ids))]
    false_positive = np.flatnonzero(counted & ~true_positive)
    for image, positions in zip(range(len(inputs.image_ids)), _by_image(dt.image_index[kept_rows[false_positive]],
                                                                         len(inputs.image_ids))):
        positions = false_positive[positions]
        if not len(positions):
            continue
        gt_rows = gt_rows_by_image[image]
        if not len(gt_rows):
            cause[positions] = "background"
            continue
        iou, _ = _pairwise(inputs, iou_type, kept_rows[positions], gt_rows)
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
    values = []
    for k in np.flatnonzero(npig > 0):
        rows = order[category[order] == k]
        rows = rows[counted[rows]]
        precision, _, _ = precision_recall(true_positive[rows][None, :], np.zeros((1, len(rows)), dtype=bool),
                                            -negative_score[rows], int(npig[k]), params.recall_thresholds)
        values.append(precision.mean())
    return float(np.mean(values)) if values else -1.0


def _fragmentation_and_merging(inputs: EvaluationInputs, iou_type: str, score_threshold: float) -> tuple[int, int]:
    """Ground truths covered by >= 2 confident same-class predictions that each lie mostly inside it (and
    none matching it at IoU 0.5); predictions covering >= 2 same-class ground truths mostly (none matched)."""
    dt, gt = inputs.detections, inputs.ground_truth
    confident = np.flatnonzero(dt.score >= score_threshold)
    real = np.flatnonzero(~gt.crowd)
    gt_by_image = _by_image(gt.image_index[real], len(inputs.image_ids))
    fragmented = merged = 0
    for image, positions in enumerate(_by_image(dt.image_index[confident], len(inputs.image_ids))):
        dt_rows, gt_rows = confident[positions], real[gt_by_image[image]]
        if not len(dt_rows) or not len(gt_rows):
            continue
        iou, intersection = _pairwise(inputs, iou_type, dt_rows, gt_rows)
        same = dt.category_index[dt_rows][:, None] == gt.category_index[gt_rows][None, :]
        dt_area = _areas(inputs, iou_type, dt_rows, detections=True)
        gt_area = _areas(inputs, iou_type, gt_rows, detections=False)
        inside_gt = same & (intersection >= 0.5 * dt_area[:, None]) & (iou < FOREGROUND_IOU)  # piece of a GT
        covers_gt = same & (intersection >= 0.5 * gt_area[None, :]) & (iou < FOREGROUND_IOU)  # GT inside a piece
        found = (same & (iou >= FOREGROUND_IOU)).any(axis=0)
        fragmented += int(((inside_gt.sum(axis=0) >= 2) & ~found).sum())
        merged += int(((covers_gt & ~found[None, :]).sum(axis=1) >= 2).sum())
    return fragmented, merged


def _areas(inputs: EvaluationInputs, iou_type: str, rows: np.ndarray, detections: bool) -> np.ndarray:
    side = inputs.detections if detections else inputs.ground_truth
    if iou_type == "bbox":
        return side.geometry[rows][:, 2] * side.geometry[rows][:, 3]
    return np.asarray(mask_utils.area([side.geometry[i] for i in rows]), dtype=np.float64)


def _confusion(inputs: EvaluationInputs, iou_type: str, score_threshold: float) -> np.ndarray:
    """Class-agnostic one-to-one matching at IoU >= 0.5 (highest IoU first) of confident predictions."""
    dt, gt = inputs.detections, inputs.ground_truth
    num_categories = len(inputs.category_ids)
    background = num_categories
    matrix = np.zeros((num_categories + 1, num_categories + 1), dtype=np.int64)
    confident = np.flatnonzero(dt.score >= score_threshold)
    real = np.flatnonzero(~gt.crowd)
    gt_by_image = _by_image(gt.image_index[real], len(inputs.image_ids))
    for image, positions in enumerate(_by_image(dt.image_index[confident], len(inputs.image_ids))):
        dt_rows, gt_rows = confident[positions], real[gt_by_image[image]]
        used_dt, used_gt = np.zeros(len(dt_rows), dtype=bool), np.zeros(len(gt_rows), dtype=bool)
        if len(dt_rows) and len(gt_rows):
            iou, _ = _pairwise(inputs, iou_type, dt_rows, gt_rows)
            for d, g in zip(*np.unravel_index(np.argsort(-iou, axis=None, kind="stable"), iou.shape)):
                if iou[d, g] < FOREGROUND_IOU:
                    break
                if not used_dt[d] and not used_gt[g]:
                    used_dt[d] = used_gt[g] = True
                    matrix[gt.category_index[gt_rows[g]], dt.category_index[dt_rows[d]]] += 1
        np.add.at(matrix, (gt.category_index[gt_rows[~used_gt]], background), 1)
        np.add.at(matrix, (background, dt.category_index[dt_rows[~used_dt]]), 1)
    return matrix
