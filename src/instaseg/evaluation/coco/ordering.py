"""Detections ordered by a key (their group or category), then best score first, ties in input order: the
order pycocotools reaches with stable sorts, by one sort of integers made of key, score rank and row (or, where
those would not fit in 64 bits, a counting sort and small per-key sorts on all cores)."""

from __future__ import annotations

import numba
import numpy as np

from instaseg.evaluation.coco.chunks import run_in_chunks


def dense_keys(keys: list[np.ndarray], num_keys: int) -> tuple[list[np.ndarray], int]:
    """Keys in [0, num_keys) renumbered, in order, to the ones that occur (in any of the arrays) when they are
    sparse (e.g. LVIS' images x categories), so counting them takes memory for those only."""
    if num_keys <= 2 * sum(map(len, keys)) + 1024:
        return keys, num_keys
    used, inverse = np.unique(np.concatenate(keys), return_inverse=True)
    return np.split(inverse.reshape(-1), np.cumsum(list(map(len, keys)))[:-1]), len(used)


COMPOSITE_LIMIT = 2 ** 62  # the integers sorted stay below this (int64)


def score_ranks(scores: np.ndarray) -> np.ndarray:
    """Each score's place among the distinct scores, best first (0 for the highest; equal scores share one)."""
    scores = np.asarray(scores, dtype=np.float64)
    order = np.argsort(-scores)
    ordered = scores[order]
    ranks = np.empty(len(scores), dtype=np.int64)
    ranks[order] = np.cumsum(np.concatenate([[False], ordered[1:] != ordered[:-1]]))
    return ranks


def order_by_key_then_score(keys: np.ndarray, num_keys: int, scores: np.ndarray,
                            ranks: np.ndarray | None = None) -> np.ndarray:
    """Rows sorted by ``keys`` (ints in [0, num_keys)) ascending, then by ``scores`` descending, ties keeping
    their order.

    Args:
        ranks: ``score_ranks(scores)``, if already known.
    """
    [keys], num_keys = dense_keys([np.asarray(keys, dtype=np.int64)], num_keys)
    count = len(keys)
    ranks = score_ranks(scores) if ranks is None else ranks
    distinct = int(ranks.max(initial=0)) + 1
    if num_keys * distinct * max(count, 1) < COMPOSITE_LIMIT:
        # One unique integer a row (key, then rank, then row): NumPy's vectorised sort of it, unstable but of
        # distinct values, is the stable order, several times faster than a stable sort of the scores.
        return np.sort((keys * distinct + ranks) * count + np.arange(count)) % max(count, 1)
    key_start = np.zeros(num_keys + 1, dtype=np.int64)
    np.cumsum(np.bincount(keys, minlength=num_keys), out=key_start[1:])
    by_key = _counting_sort(keys, key_start)
    order = np.empty_like(by_key)
    run_in_chunks(_sort_each_key, num_keys, key_start, by_key, np.asarray(scores, dtype=np.float64), order,
                  weights=np.diff(key_start) + 1)
    return order


@numba.njit(cache=True, nogil=True)
def _counting_sort(keys, key_start):  # pragma: no cover - compiled
    """Rows grouped by key, each key's rows in input order."""
    cursor = key_start[:-1].copy()
    rows = np.empty(len(keys), dtype=np.int64)
    for row in range(len(keys)):
        rows[cursor[keys[row]]] = row
        cursor[keys[row]] += 1
    return rows


SHORT = 48  # keys with at most this many rows are insertion-sorted in place (no allocations)


@numba.njit(cache=True, nogil=True)
def _sort_each_key(start, stop, key_start, by_key, scores, order):  # pragma: no cover - compiled
    for key in range(start, stop):
        low, high = key_start[key], key_start[key + 1]
        if high - low > SHORT:
            rows = by_key[low:high]
            order[low:high] = rows[np.argsort(-scores[rows], kind="mergesort")]
            continue
        for i in range(low, high):  # each row goes after every row scoring at least as high: stable
            row, score = by_key[i], scores[by_key[i]]
            j = i
            while j > low and scores[order[j - 1]] < score:
                order[j] = order[j - 1]
                j -= 1
            order[j] = row
