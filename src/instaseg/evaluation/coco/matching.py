"""COCO's greedy matching of detections to ground truth, run for all (image, category) groups at once.

pycocotools matches one detection at a time in Python (loops over IoU thresholds, detections and ground
truth). The greedy order within a group cannot be parallelised, but groups are independent: here step ``d``
matches the d-th best detection of every group, for every area range and IoU threshold, with array
operations. The rule is pycocotools', restated without its loop:
- a detection may take a ground truth whose IoU is at least the threshold and that is still free (crowd
  regions are always free);
- it prefers ground truth that is not ignored (crowd, or area outside the range); among the preferred set
  it takes the highest IoU, ties going to the later annotation;
- it inherits the ignore flag of what it matched; unmatched detections outside the area range are ignored.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class GroupMatches:
    """Per detection: matched and ignored flags (D, A, T); at the loosest threshold over all areas, the IoU
    with what it matched (0 if nothing) and that ground truth's column in its group's IoU matrix (-1), (D,)."""

    matched: np.ndarray
    ignored: np.ndarray
    iou: np.ndarray
    column: np.ndarray


def match_groups(ious: list[np.ndarray], gt_ignore: list[np.ndarray], gt_crowd: list[np.ndarray],
                 iou_thresholds: np.ndarray) -> GroupMatches:
    """Match every group's detections (rows of its IoU matrix, best score first) to its ground truth.

    Args:
        ious: per group, (D_g, G_g) IoU of detections with ground truth, D_g and G_g > 0.
        gt_ignore: per group, (A, G_g) whether each ground truth is ignored in each area range.
        gt_crowd: per group, (G_g,) crowd flags.
        iou_thresholds: (T,).
    Returns:
        Flags for the groups' detections concatenated in group order, (sum D_g, A, T) each.
    """
    num_areas, num_thresholds = gt_ignore[0].shape[0] if gt_ignore else 0, len(iou_thresholds)
    sizes = np.array([m.shape[0] for m in ious], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    matched = np.zeros((int(offsets[-1]), num_areas, num_thresholds), dtype=bool)
    ignored = np.zeros_like(matched)
    matched_iou = np.zeros(len(matched))
    matched_column = np.full(len(matched), -1, dtype=np.int64)
    # Buckets of similar ground-truth and detection counts keep the padding small when a few groups are large.
    widths = np.array([m.shape[1] for m in ious], dtype=np.int64)
    bucket_of = (np.ceil(np.log2(np.maximum(widths, 1))) * 64 + np.ceil(np.log2(np.maximum(sizes, 1)))).astype(np.int64)
    for bucket in np.unique(bucket_of):
        members = np.flatnonzero(bucket_of == bucket)
        members = members[np.argsort(-sizes[members], kind="stable")]  # most detections first
        bucket_matched, bucket_ignored, bucket_iou, bucket_column = _match_padded(
            [ious[g] for g in members], [gt_ignore[g] for g in members], [gt_crowd[g] for g in members],
            iou_thresholds)
        for row, group in enumerate(members):
            start, count = offsets[group], sizes[group]
            matched[start:start + count] = bucket_matched[row, :count]
            ignored[start:start + count] = bucket_ignored[row, :count]
            matched_iou[start:start + count] = bucket_iou[row, :count]
            matched_column[start:start + count] = bucket_column[row, :count]
    return GroupMatches(matched=matched, ignored=ignored, iou=matched_iou, column=matched_column)


def _match_padded(ious: list[np.ndarray], gt_ignore: list[np.ndarray], gt_crowd: list[np.ndarray],
                  iou_thresholds: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Groups sorted by detection count, padded to (N, D, G); returns (N, D, A, T) matched and ignored, and
    (N, D) IoU and column of the match at area 0, threshold 0."""
    count, num_areas = len(ious), gt_ignore[0].shape[0]
    depth = max(m.shape[0] for m in ious)
    width = max(m.shape[1] for m in ious)
    iou = np.full((count, depth, width), -1.0)  # padding never reaches a threshold
    ignore = np.ones((count, num_areas, width), dtype=bool)
    crowd = np.zeros((count, width), dtype=bool)
    for row, (group_iou, group_ignore, group_crowd) in enumerate(zip(ious, gt_ignore, gt_crowd)):
        iou[row, :group_iou.shape[0], :group_iou.shape[1]] = group_iou
        ignore[row, :, :group_ignore.shape[1]] = group_ignore
        crowd[row, :len(group_crowd)] = group_crowd
    active = np.searchsorted(-np.array([m.shape[0] for m in ious]), -np.arange(depth), side="left")
    thresholds = np.minimum(iou_thresholds, 1 - 1e-10)  # as pycocotools: an IoU of 1 still matches at 1.0
    taken = np.zeros((count, num_areas, len(thresholds), width), dtype=bool)  # ground truth already matched
    matched = np.zeros((count, depth, num_areas, len(thresholds)), dtype=bool)
    ignored = np.zeros_like(matched)
    matched_iou = np.zeros((count, depth))
    matched_column = np.full((count, depth), -1, dtype=np.int64)
    for step in range(depth):
        n = int(active[step])  # groups with more than ``step`` detections
        row_iou = iou[:n, step]  # (n, G)
        passes = row_iou[:, None, None, :] >= thresholds[None, None, :, None]  # (n, 1, T, G)
        eligible = passes & (~taken[:n] | crowd[:n, None, None, :])  # (n, A, T, G)
        row_ignore = ignore[:n, :, None, :]  # (n, A, 1, G)
        preferred = eligible & ~row_ignore
        candidates = np.where(preferred.any(-1, keepdims=True), preferred, eligible)
        found = candidates.any(-1)  # (n, A, T)
        value = np.where(candidates, row_iou[:, None, None, :], -1.0)
        best = width - 1 - np.argmax(value[..., ::-1], axis=-1)  # the last of equal IoUs, as pycocotools
        best_ignored = np.take_along_axis(np.broadcast_to(row_ignore, candidates.shape), best[..., None], -1)[..., 0]
        matched[:n, step] = found
        ignored[:n, step] = found & best_ignored
        matched_iou[:n, step] = np.where(found[:, 0, 0], value[:, 0, 0].max(-1), 0.0)
        matched_column[:n, step] = np.where(found[:, 0, 0], best[:, 0, 0], -1)
        rows, areas, levels = np.nonzero(found)
        taken[rows, areas, levels, best[rows, areas, levels]] = True
    return matched, ignored, matched_iou, matched_column
