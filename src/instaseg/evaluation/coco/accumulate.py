"""Precision and recall tables from matched detections, and the 12 summary stats, as pycocotools computes
them (same cumulative sums, precision envelope, recall sampling and tie order), without its Python loops
over detections."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

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


@dataclass
class Tables:
    precision: np.ndarray  # (T, R, K, A, M), -1 where a category has no counted ground truth
    recall: np.ndarray  # (T, K, A, M)
    scores: np.ndarray  # (T, R, K, A, M): the score at which each recall threshold is reached


def accumulate(detections: MatchedDetections, counted_ground_truth: np.ndarray, params: EvalParams) -> Tables:
    """Precision at each recall threshold and final recall, per IoU threshold, category, area and limit.

    pycocotools loops over categories, areas and limits and, for each, sorts, sums and samples one list of
    detections. Here each limit is one pass over all categories at once: running counts over the whole
    score-ordered list (categories are contiguous runs in it), the recall thresholds turned into counts of
    true positives, and the precision envelope taken over the blocks between sampled points. Every value
    is computed by the same floating-point operations as pycocotools', so the tables are bit-identical.

    Args:
        counted_ground_truth: (K, A) ground truth that is not ignored, per category and area range.
    """
    num_categories, num_areas = counted_ground_truth.shape
    num_thresholds, num_points = len(params.iou_thresholds), len(params.recall_thresholds)
    shape = (num_thresholds, num_points, num_categories, num_areas, len(params.max_detections))
    precision, scores = -np.ones(shape), -np.ones(shape)
    recall = -np.ones((num_thresholds, num_categories, num_areas, len(params.max_detections)))
    # pycocotools concatenates images in id order, each in rank order, then sorts stably by score: from rows
    # already in (image, category, rank) order, two stable sorts (by score, then by category) give that.
    order = np.argsort(-detections.score, kind="stable")
    order = order[np.argsort(detections.category_index[order], kind="stable")]
    needed = _true_positives_needed(counted_ground_truth, params.recall_thresholds)  # (K, A, R)
    has_ground_truth = counted_ground_truth > 0  # (K, A): pycocotools leaves the others at -1
    for limit_index, limit in enumerate(params.max_detections):
        rows = order[detections.rank[order] < limit]
        limit_precision, limit_scores, limit_recall = _accumulate_limit(detections, rows, counted_ground_truth,
                                                                        needed)
        # (A, T, K, R) -> (T, R, K, A); (A, T, K) -> (T, K, A)
        limit_precision = limit_precision.transpose(1, 3, 2, 0)
        limit_scores = limit_scores.transpose(1, 3, 2, 0)
        limit_recall = limit_recall.transpose(1, 2, 0)
        precision[..., limit_index] = np.where(has_ground_truth, limit_precision, -1.0)
        scores[..., limit_index] = np.where(has_ground_truth, limit_scores, -1.0)
        recall[..., limit_index] = np.where(has_ground_truth, limit_recall, -1.0)
    return Tables(precision=precision, recall=recall, scores=scores)


def _true_positives_needed(counted: np.ndarray, recall_points: np.ndarray) -> np.ndarray:
    """(K, A, R) the fewest true positives ``c`` whose recall ``c / counted`` (a float division, as
    pycocotools computes it) reaches each recall threshold: where ``searchsorted(recall, point)`` lands."""
    counted = np.maximum(counted, 1)[:, :, None].astype(np.float64)
    needed = np.ceil(recall_points * counted)
    for _ in range(2):  # the product may round either way; settle on the exact boundary
        needed = np.where((needed > 0) & ((needed - 1) / counted >= recall_points), needed - 1, needed)
        needed = np.where(needed / counted < recall_points, needed + 1, needed)
    assert ((needed / counted >= recall_points) & ((needed == 0) | ((needed - 1) / counted < recall_points))).all()
    return needed.astype(np.int64)


def _accumulate_limit(detections: MatchedDetections, rows: np.ndarray, counted: np.ndarray, needed: np.ndarray
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Precision (A, T, K, R), scores (A, T, K, R) and recall (A, T, K) for the detections ``rows``, which
    are in pycocotools' order: by category, then best score first.

    Work is done per (area, IoU threshold) lane on the true positives only: the sampled points are true
    positives (or a category's first detection), and between true positives precision only falls."""
    num_categories, num_areas = counted.shape
    num_points = needed.shape[-1]
    count = len(rows)
    num_thresholds = detections.matched.shape[2]
    lanes = num_areas * num_thresholds
    shape = (num_areas, num_thresholds, num_categories)
    if count == 0:  # no detections: precision, scores and recall are 0 wherever ground truth is counted
        return np.zeros((*shape, num_points)), np.zeros((*shape, num_points)), np.zeros(shape)
    category = detections.category_index[rows]
    bounds = np.searchsorted(category, np.arange(num_categories + 1))
    starts = bounds[:-1]  # (K,) where each category's run begins
    found = bounds[1:] > starts  # (K,)
    valid = ~detections.ignored[rows]  # (N, A, T)
    true_positive = (detections.matched[rows] & valid).reshape(count, lanes).T  # (L, N)
    # Detections that count (not ignored) up to each position, per lane, with a leading zero.
    valid_running = np.zeros((lanes, count + 1), dtype=np.int64)
    np.cumsum(valid.reshape(count, lanes).T, axis=1, out=valid_running[:, 1:])

    # The true positives, in (lane, position) order, and each (lane, category) run among them.
    lane, position = np.nonzero(true_positive)
    run = lane * num_categories + category[position]
    run_bounds = np.searchsorted(run, np.arange(lanes * num_categories + 1))
    run_start, run_end = run_bounds[:-1], run_bounds[1:]
    tp = (np.arange(len(run)) - run_start[run] + 1).astype(np.float64)  # true positives so far
    seen = valid_running[lane, position + 1] - valid_running[lane, starts[category[position]]]
    fp = seen.astype(np.float64) - tp
    pr = tp / (fp + tp + np.spacing(1))  # pycocotools' raw precision at each true positive

    tp_total = (run_end - run_start).reshape(lanes, num_categories)
    counted_lanes = np.repeat(counted.T, num_thresholds, axis=0)  # (L, K)
    recall = np.where(found, tp_total / np.maximum(counted_lanes, 1), 0.0)

    # Each recall threshold is reached at the needed-th true positive (at the category's first detection
    # when none is needed); unreached thresholds keep precision and score 0.
    needed_lanes = np.repeat(needed.transpose(1, 0, 2), num_thresholds, axis=0)  # (L, K, R)
    reached = np.where(needed_lanes == 0, found[None, :, None], needed_lanes <= tp_total[:, :, None])
    first = run_start.reshape(lanes, num_categories, 1)
    sample = first + np.maximum(needed_lanes - 1, 0)  # index among the true positives
    sample_position = np.where(needed_lanes == 0, starts[None, :, None],
                               position[np.minimum(sample, max(len(position) - 1, 0))] if len(position) else 0)
    sample_position = np.where(reached, sample_position, 0)
    # Interpolated precision is the largest precision from the sampled point to the category's end: the
    # maxima of the blocks between consecutive sampled points, then a running maximum from the end.
    last = run_end.reshape(lanes, num_categories, 1)
    boundaries = np.concatenate([sample, last], axis=2)  # (L, K, R + 1)
    keep = np.concatenate([reached, np.ones_like(last, dtype=bool)], axis=2)
    block_max = np.maximum.reduceat(np.append(pr, 0.0), boundaries[keep])
    blocks = np.zeros(keep.shape)
    blocks[keep] = block_max
    blocks = np.where(boundaries < last, blocks, 0.0)[:, :, :num_points]  # a category without true positives
    envelope = np.maximum.accumulate(blocks[:, :, ::-1], axis=2)[:, :, ::-1]
    precision = np.where(reached, envelope, 0.0)
    sampled_scores = np.where(reached, detections.score[rows][sample_position], 0.0)
    return (precision.reshape(*shape, num_points), sampled_scores.reshape(*shape, num_points),
            recall.reshape(shape))


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
