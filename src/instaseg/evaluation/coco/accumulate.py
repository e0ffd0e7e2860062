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
    # category, then a walk of its detections within the limit, a few word operations per area.
    num_limits = len(params.max_detections)
    within = np.stack([np.bincount(detections.category_index[detections.rank < limit], minlength=num_categories)
                       for limit in params.max_detections], axis=1)  # (K, M)
    weights = (np.diff(category_start)[:, None] + within * num_areas + 1).ravel()
    # The flags as bits in the walk's order: the walk then reads them in sequence, not a cache miss a detection.
    position = np.empty(len(order), dtype=np.int64)
    position[order] = np.arange(len(order))
    run_in_chunks(_accumulate, num_categories * num_limits, category_start, detections.rank[order],
                  detections.score[order], _lane_bits(detections.matched, detections.ignored, position),
                  _word_masks(num_thresholds), counted_ground_truth.astype(np.int64),
                  np.asarray(params.max_detections, dtype=np.int64),
                  np.asarray(params.recall_thresholds, dtype=np.float64), precision, scores, recall,
                  weights=weights)
    return Tables(precision=precision, recall=recall, scores=scores)


def _lane_bits(matched: np.ndarray, ignored: np.ndarray, position: np.ndarray) -> np.ndarray:
    """(N, A, T) bool flags as (N, A, W, 2) words, matched then ignored, row n's at ``position[n]``: threshold t
    at bit t % 64 of word t // 64. Up to 16 thresholds (COCO has 10) the words are 16-bit: a detection's fill
    16 bytes, and 100,000 detections' 1.6 MB of fresh memory rather than 6.4 MB."""
    dtype = np.uint16 if matched.shape[2] <= 16 else np.int64
    bits = np.empty(matched.shape[:2] + ((matched.shape[2] + 63) // 64, 2), dtype=dtype)
    _pack_bits(matched.view(np.uint8), ignored.view(np.uint8), position, bits)
    return bits


def _word_masks(num_thresholds: int) -> np.ndarray:
    """(W,) the bits of each word that hold a threshold."""
    words = (num_thresholds + 63) // 64
    masks = np.full(words, -1, dtype=np.int64)
    if num_thresholds % 64:
        masks[-1] = (1 << (num_thresholds % 64)) - 1
    return masks


@numba.njit(cache=True, nogil=True)
def _pack_bits(matched, ignored, position, bits):  # pragma: no cover - compiled
    num_thresholds = matched.shape[2]
    for n in range(matched.shape[0]):
        p = position[n]
        for a in range(matched.shape[1]):
            if num_thresholds <= 64:  # one word (the usual case: a loop the compiler unrolls)
                matched_word, ignored_word = np.int64(0), np.int64(0)
                for t in range(num_thresholds):
                    matched_word |= np.int64(matched[n, a, t]) << t
                    ignored_word |= np.int64(ignored[n, a, t]) << t
                bits[p, a, 0, 0], bits[p, a, 0, 1] = matched_word, ignored_word
                continue
            bits[p, a] = 0
            for t in range(num_thresholds):
                bits[p, a, t >> 6, 0] |= np.int64(matched[n, a, t]) << (t & 63)
                bits[p, a, t >> 6, 1] |= np.int64(ignored[n, a, t]) << (t & 63)


# Bit position of a single set bit: a de Bruijn sequence times the bit puts a distinct pattern in the top six bits.
_DE_BRUIJN = 0x03F79D71B4CB0A89


def _bit_positions() -> np.ndarray:
    positions = np.zeros(64, dtype=np.int64)
    for bit in range(64):
        positions[(((1 << bit) * _DE_BRUIJN) % (1 << 64)) >> 58] = bit
    return positions


_BIT_POSITION = _bit_positions()


@numba.njit(cache=True, nogil=True, inline="always")
def _lowest_bit(word):  # pragma: no cover - compiled
    """Position of ``word``'s lowest set bit (word != 0)."""
    return _BIT_POSITION[(((word & -word) * _DE_BRUIJN) >> 58) & 63]


@numba.njit(cache=True, nogil=True)
def _accumulate(start, stop, category_start, rank, score, bits, word_masks, counted, limits, recall_points,
                precision, scores, recall):  # pragma: no cover - compiled
    """Between true positives precision only falls, so only true positives are divided and remembered: the
    sampled points are true positives (or the first detection), and the envelope is their running maximum.
    A detection counts where it is not ignored, as a true positive where it also matched.

    The flags come as bits, a word per area (``_lane_bits``), so a detection costs a few word operations plus
    one step per true positive: a word that is entirely ignored (outside the area range, say) is counted once,
    and the counted detections before a true positive are its position less the ignored ones."""
    num_areas, num_words = bits.shape[1], bits.shape[2]
    num_thresholds = precision.shape[0]
    lanes = num_areas * num_thresholds
    num_limits = len(limits)
    first_category, stop_category = start // num_limits, (stop - 1) // num_limits + 1  # those of the units
    longest = np.max(np.diff(category_start[first_category:stop_category + 1])) if stop > start else 0
    selected = np.empty(longest, dtype=np.int64)
    # Per (area, threshold) lane and true positive: its precision and position. Each true positive holds a
    # distinct counted ground truth, so there are no more of them than that.
    capacity = counted[first_category:stop_category].max() if stop > start else 0
    event_precision = np.empty((lanes, capacity))
    event_position = np.empty((lanes, capacity), dtype=np.int64)
    true_positives = np.empty(lanes, dtype=np.int64)
    word_ignored = np.empty((num_areas, num_words), dtype=np.int64)  # detections ignored in a whole word
    lane_ignored = np.empty((num_areas, num_thresholds), dtype=np.int64)  # ... and in single lanes
    for unit in range(start, stop):
        k, m = unit // num_limits, unit % num_limits
        # This category's detections within the limit, best score first.
        n = 0
        for i in range(category_start[k], category_start[k + 1]):
            selected[n] = i
            n += rank[i] < limits[m]  # branch-free: which detections fall within a limit is unpredictable
        true_positives[:] = 0
        word_ignored[:] = 0
        lane_ignored[:] = 0
        for i in range(n):
            row = selected[i]
            for a in range(num_areas):
                for w in range(num_words):
                    ignored = np.int64(bits[row, a, w, 1])
                    whole = ignored == word_masks[w]  # e.g. outside the area range: counted once, no lanes
                    word_ignored[a, w] += whole
                    rest = ignored & (np.int64(whole) - 1)  # some lanes ignored (rare): counted one by one
                    while rest:
                        lane_ignored[a, 64 * w + _lowest_bit(rest)] += 1
                        rest &= rest - 1
                    hits = np.int64(bits[row, a, w, 0]) & ~ignored
                    while hits:
                        t = 64 * w + _lowest_bit(hits)
                        hits &= hits - 1
                        lane = a * num_thresholds + t
                        c = true_positives[lane]
                        if c == capacity:
                            raise AssertionError("more true positives than counted ground truth")
                        true_positives[lane] = c + 1
                        counted_so_far = i + 1 - word_ignored[a, w] - lane_ignored[a, t]  # = fp + tp
                        event_precision[lane, c] = float(c + 1) / (float(counted_so_far) + np.spacing(1))
                        event_position[lane, c] = i
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
