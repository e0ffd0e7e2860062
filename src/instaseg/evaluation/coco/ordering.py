"""Detections ordered by a key (their group or category), then best score first, ties in input order: the
order pycocotools reaches with stable sorts, by one counting sort and small per-key sorts on all cores."""

from __future__ import annotations

import numba
import numpy as np

from instaseg.evaluation.coco.chunks import run_in_chunks


def order_by_key_then_score(keys: np.ndarray, num_keys: int, scores: np.ndarray) -> np.ndarray:
    """Rows sorted by ``keys`` (ints in [0, num_keys)) ascending, then by ``scores`` descending, ties keeping
    their order."""
    keys = np.asarray(keys, dtype=np.int64)
    if num_keys > 2 * len(keys) + 1024:  # sparse keys (e.g. images x categories of LVIS): count only those used
        keys = np.unique(keys, return_inverse=True)[1].reshape(-1)
        num_keys = int(keys.max(initial=-1)) + 1
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
