"""Detections ordered by a key (their group or category), then best score first, ties in input order: the
order pycocotools reaches with stable sorts, by one counting sort and small per-key sorts on all cores."""

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


def order_by_key_then_score(keys: np.ndarray, num_keys: int, scores: np.ndarray) -> np.ndarray:
    """Rows sorted by ``keys`` (ints in [0, num_keys)) ascending, then by ``scores`` descending, ties keeping
    their order."""
    [keys], num_keys = dense_keys([np.asarray(keys, dtype=np.int64)], num_keys)
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


@numba.njit(cache=True, nogil=True)
def _sort_each_key(start, stop, key_start, by_key, scores, order):  # pragma: no cover - compiled
    for key in range(start, stop):
        rows = by_key[key_start[key]:key_start[key + 1]]
        order[key_start[key]:key_start[key + 1]] = rows[np.argsort(-scores[rows], kind="mergesort")]
