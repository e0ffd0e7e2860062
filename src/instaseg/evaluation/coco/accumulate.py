"""Precision and recall tables from matched detections, and the 12 summary stats, as pycocotools computes
them (same cumulative sums, precision envelope, recall sampling and tie order), without its Python loops
over detections."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from instaseg.evaluation.coco.params import STAT_NAMES, EvalParams


@dataclass
class MatchedDetections:
    """Detections that survived the per-(image, category) limit, one row each."""

    row: np.ndarray  # (N,) index into the prepared detections (``Annotations``)
    category_index: np.ndarray  # (N,)
    image_index: np.ndarray  # (N,)
    rank: np.ndarray  # (N,) position within its (image, category) group, best score first
    score: np.ndarray  # (N,)
    matched: np.ndarray  # (N, A, T) bool
    ignored: np.ndarray  # (N, A, T) bool


@dataclass
class Tables:
    precision: np.ndarray  # (T, R, K, A, M), -1 where a category has no counted ground truth
    recall: np.ndarray  # (T, K, A, M)
    scores: np.ndarray  # (T, R, K, A, M): the score at which each recall threshold is reached


def accumulate(detections: MatchedDetections, counted_ground_truth: np.ndarray, params: EvalParams) -> Tables:
    """Precision at each recall threshold and final recall, per IoU threshold, category, area and limit.

    Args:
        counted_ground_truth: (K, A) ground truth that is not ignored, per category and area range.
    """
    num_categories, num_areas = counted_ground_truth.shape
    thresholds, recall_points = params.iou_thresholds, params.recall_thresholds
    shape = (len(thresholds), len(recall_points), num_categories, num_areas, len(params.max_detections))
    precision, scores = -np.ones(shape), -np.ones(shape)
    recall = -np.ones((len(thresholds), num_categories, num_areas, len(params.max_detections)))
    # pycocotools concatenates images in id order, each in rank order, then sorts stably by score.
    order = np.lexsort((detections.rank, detections.image_index, -detections.score, detections.category_index))
    category = detections.category_index[order]
    bounds = np.searchsorted(category, np.arange(num_categories + 1))
    for k in range(num_categories):
        rows = order[bounds[k]:bounds[k + 1]]
        for area in range(num_areas):
            counted = counted_ground_truth[k, area]
            if counted == 0:
                continue
            for limit_index, limit in enumerate(params.max_detections):
                kept = rows[detections.rank[rows] < limit]
                result = precision_recall(detections.matched[kept, area].T, detections.ignored[kept, area].T,
                                           detections.score[kept], counted, recall_points)
                precision[:, :, k, area, limit_index], scores[:, :, k, area, limit_index] = result[0], result[1]
                recall[:, k, area, limit_index] = result[2]
    return Tables(precision=precision, recall=recall, scores=scores)


def precision_recall(matched: np.ndarray, ignored: np.ndarray, score: np.ndarray, counted: int,
                      recall_points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(T, R) interpolated precision, (T, R) scores, (T,) recall from (T, D) flags in score order."""
    num_thresholds, count = matched.shape
    true_positives = np.cumsum(matched & ~ignored, axis=1).astype(dtype=float)
    false_positives = np.cumsum(~matched & ~ignored, axis=1).astype(dtype=float)
    precision = np.zeros((num_thresholds, len(recall_points)))
    sampled_scores = np.zeros_like(precision)
    if count == 0:
        return precision, sampled_scores, np.zeros(num_thresholds)
    recall = true_positives / counted
    raw = true_positives / (false_positives + true_positives + np.spacing(1))
    envelope = np.maximum.accumulate(raw[:, ::-1], axis=1)[:, ::-1]  # precision never rises with recall
    for t in range(num_thresholds):
        points = np.searchsorted(recall[t], recall_points, side="left")
        reached = points[points < count]  # pycocotools stops at the first recall it never reaches
        precision[t, :len(reached)] = envelope[t, reached]
        sampled_scores[t, :len(reached)] = score[reached]
    return precision, sampled_scores, recall[:, -1]


def summarize(tables: Tables, params: EvalParams) -> dict[str, float]:
    """The 12 COCO stats; -1 where nothing defines them (no ground truth counted)."""
    stats = {}
    for name, kind, threshold, area, limit in params.stat_definitions():
        values = (tables.precision[:, :, :, area, limit] if kind == "precision"
                  else tables.recall[:, :, area, limit])
        if threshold is not None:
            values = values[np.where(threshold == params.iou_thresholds)[0]]
        defined = values[values > -1]
        stats[name] = float(np.mean(defined)) if defined.size else -1.0
    assert tuple(stats) == STAT_NAMES
    return stats


def per_category_ap(tables: Tables) -> np.ndarray:
    """(K,) AP at IoU 0.50:0.95, all areas, the largest limit; nan for categories without ground truth."""
    precision = tables.precision[:, :, :, 0, -1]  # (T, R, K)
    result = np.full(precision.shape[2], np.nan)
    for k in range(precision.shape[2]):
        defined = precision[:, :, k][precision[:, :, k] > -1]
        if defined.size:
            result[k] = float(np.mean(defined))
    return result
