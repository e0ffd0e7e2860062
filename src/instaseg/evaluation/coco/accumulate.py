"""Precision and recall tables from matched detections, and the 12 summary stats, as pycocotools computes
them (same cumulative sums, precision envelope, recall sampling and tie order), in compiled loops instead of
its Python ones."""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

from instaseg.evaluation.coco.chunks import run_in_chunks
from instaseg.evaluation.coco.ordering import order_by_key_then_score

from instaseg.evaluation.coco.params import STAT_NAMES, EvalParams


@dataclass
class MatchedDetections:
    """Detections that survived the per-(image, category) limit, one row each, ordered by image, category
    and rank (as ``match_detections`` builds them)."""

    row: np.ndarray  # (N,) index into the prepared detections (``Annotations``)
    category_index: np.ndarray  # (N,)
    image_index: np.ndarray  # (N,)
    rank: np.ndarray  # (N,) position within its (image, category) group, best score first
    score: np.ndarray  # (N,)
    matched: np.ndarray  # (N, A, T) bool
    ignored: np.ndarray  # (N, A, T) bool
    by_category: np.ndarray | None = None  # (N,) rows by category, best score first (made here if None)


@dataclass
class Tables:
    precision: np.ndarray  # (T, R, K, A, M), -1 where a category has no counted ground truth
    recall: np.ndarray  # (T, K, A, M)
    scores: np.ndarray  # (T, R, K, A, M): the score at which each recall threshold is reached


def accumulate(detections: MatchedDetections, counted_ground_truth: np.ndarray, params: EvalParams) -> Tables:
    """Precision at each recall threshold and final recall, per IoU threshold, category, area and limit.

    pycocotools loops in Python over categories, areas and limits and, for each, concatenates, sorts, sums and
    samples one list of detections. Here the detections are sorted once (by category, then score) and one
    compiled pass (numba) walks each category's run for every limit, area and threshold, with pycocotools'
    arithmetic: the same running counts, float divisions, precision envelope and recall sampling, so the
    tables are bit-identical.

    Args:
        counted_ground_truth: (K, A) ground truth that is not ignored, per category and area range.
    """
    num_categories, num_areas = counted_ground_truth.shape
    num_thresholds, num_points = len(params.iou_thresholds), len(params.recall_thresholds)
    shape = (num_thresholds, num_points, num_categories, num_areas, len(params.max_detections))
    precision, scores = -np.ones(shape), -np.ones(shape)
    recall = -np.ones((num_thresholds, num_categories, num_areas, len(params.max_detections)))
    # pycocotools concatenates images in id order, each in rank order, then sorts stably by score: rows are
    # already in (image, category, rank) order, so by category, then score, ties kept, gives that.
    order = detections.by_category
    if order is None:
        order = order_by_key_then_score(detections.category_index, num_categories, detections.score)
    category_start = np.searchsorted(detections.category_index[order], np.arange(num_categories + 1))
    # One unit of work per (category, limit), more units than categories to balance the threads: a scan of the
    # category, then a walk of its detections within the limit over every (area, threshold) lane.
    num_limits = len(params.max_detections)
    within = np.stack([np.bincount(detections.category_index[detections.rank < limit], minlength=num_categories)
                       for limit in params.max_detections], axis=1)  # (K, M)
    weights = (np.diff(category_start)[:, None] + within * num_areas * num_thresholds + 1).ravel()
    run_in_chunks(_accumulate, num_categories * num_limits, order, category_start, detections.rank,
                  detections.score, detections.matched.view(np.uint8), detections.ignored.view(np.uint8),
                  counted_ground_truth.astype(np.int64), np.asarray(params.max_detections, dtype=np.int64),
                  np.asarray(params.recall_thresholds, dtype=np.float64), precision, scores, recall,
                  weights=weights)
    return Tables(precision=precision, recall=recall, scores=scores)


@numba.njit(cache=True, nogil=True)
def _accumulate(start, stop, order, category_start, rank, score, matched, ignored, counted, limits, recall_points,
                precision, scores, recall):  # pragma: no cover - compiled
    """Between true positives precision only falls, so only true positives are divided and remembered: the
    sampled points are true positives (or the first detection), and the envelope is their running maximum.
    A detection counts where it is not ignored, as a true positive where it also matched."""
    num_areas, num_thresholds = matched.shape[1], matched.shape[2]
    lanes = num_areas * num_thresholds
    num_limits = len(limits)
    first_category, stop_category = start // num_limits, (stop - 1) // num_limits + 1  # those of the units
    longest = np.max(np.diff(category_start[first_category:stop_category + 1])) if stop > start else 0
    selected = np.empty(longest, dtype=np.int64)
    matched = matched.reshape(len(matched), lanes)
    ignored = ignored.reshape(len(ignored), lanes)
    # Per (area, threshold) lane and true positive: its precision and position. Each true positive holds a
    # distinct counted ground truth, so there are no more of them than that.
    capacity = counted[first_category:stop_category].max() if stop > start else 0
    event_precision = np.empty((lanes, capacity))
    event_position = np.empty((lanes, capacity), dtype=np.int64)
    true_positives = np.empty(lanes, dtype=np.int64)
    false_positives = np.empty(lanes, dtype=np.int64)
    for unit in range(start, stop):
        k, m = unit // num_limits, unit % num_limits
        # This category's detections within the limit, best score first.
        n = 0
        for i in range(category_start[k], category_start[k + 1]):
            if rank[order[i]] < limits[m]:
                selected[n] = order[i]
                n += 1
        true_positives[:] = 0
        false_positives[:] = 0
        for i in range(n):
            row = selected[i]
            for lane in range(lanes):
                if ignored[row, lane]:
                    continue
                if matched[row, lane]:
                    c = true_positives[lane]
                    if c == capacity:
                        raise AssertionError("more true positives than counted ground truth")
                    true_positives[lane] = c + 1
                    tp, fp = float(c + 1), float(false_positives[lane])
                    event_precision[lane, c] = tp / (fp + tp + np.spacing(1))
                    event_position[lane, c] = i
                else:
                    false_positives[lane] += 1
        for lane in range(lanes):
            a, t = lane // num_thresholds, lane % num_thresholds
            total = counted[k, a]
            if total == 0:
                continue  # pycocotools leaves -1 where no ground truth counts
            events = true_positives[lane]
            recall[t, k, a, m] = float(events) / total if n else 0.0
            # Interpolated precision: the best precision at this recall or beyond.
            for c in range(events - 1, 0, -1):
                if event_precision[lane, c] > event_precision[lane, c - 1]:
                    event_precision[lane, c - 1] = event_precision[lane, c]
            # Each recall threshold samples the first detection whose recall reaches it (searchsorted
            # 'left'): the first detection while recall is 0, else the true positive that reaches it.
            # Thresholds never reached are 0.
            c = 0
            for r in range(len(recall_points)):
                if n and recall_points[r] <= 0.0:  # the first detection's recall, 0 or more, reaches it
                    precision[t, r, k, a, m] = event_precision[lane, 0] if events else 0.0
                    scores[t, r, k, a, m] = score[selected[0]]
                    continue
                while c < events and float(c + 1) / total < recall_points[r]:
                    c += 1
                if c == events:
                    precision[t, r:, k, a, m] = 0.0
                    scores[t, r:, k, a, m] = 0.0
                    break
                precision[t, r, k, a, m] = event_precision[lane, c]
                scores[t, r, k, a, m] = score[selected[event_position[lane, c]]]


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
