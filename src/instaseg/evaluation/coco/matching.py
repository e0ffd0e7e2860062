"""COCO's greedy matching of detections to ground truth, for all (image, category) groups in one compiled pass.

pycocotools matches in Python, one detection at a time (loops over area ranges, IoU thresholds, detections
and ground truth). The greedy order within a group is inherently sequential, so here the same loops run as
compiled code (numba) over every group at once. The rule is pycocotools':
- ground truth is visited counted first, ignored (crowd, or area outside the range) last, otherwise in
  annotation order;
- a detection takes the visited ground truth with the highest IoU of at least the threshold that is still
  free (crowd regions are always free), ties going to the later one, and never an ignored one once it holds
  a counted one;
- it inherits the ignore flag of what it matched; unmatched detections outside the area range are ignored.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

from instaseg.evaluation.coco.chunks import run_in_chunks


@dataclass
class Groups:
    """The (image, category) groups that have both detections and ground truth. Detections and ground truth
    are positions in their group-sorted arrays (a group's are contiguous, detections best score first).
    Their IoUs are one flat buffer holding each group's (G, D) block, ground-truth-major: the layout
    pycocotools' ``rleIou`` and ``bbIou`` write."""

    dt_start: np.ndarray  # (NG,)
    dt_count: np.ndarray  # (NG,) > 0
    gt_start: np.ndarray  # (NG,)
    gt_count: np.ndarray  # (NG,) > 0

    def __len__(self) -> int:
        return len(self.dt_start)

    @property
    def iou_offset(self) -> np.ndarray:
        """(NG,) where each group's block starts in the flat IoU buffer."""
        sizes = self.dt_count * self.gt_count
        return np.cumsum(sizes) - sizes

    @property
    def iou_size(self) -> int:
        return int((self.dt_count * self.gt_count).sum())

    def detection_positions(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every grouped detection's position, its group and its index within the group (all (N,))."""
        group = np.repeat(np.arange(len(self)), self.dt_count)
        local = np.arange(len(group)) - np.repeat(np.cumsum(self.dt_count) - self.dt_count, self.dt_count)
        return self.dt_start[group] + local, group, local

    def ground_truth_positions(self) -> np.ndarray:
        """Every grouped ground truth's position, group after group: one per row of the IoU blocks."""
        offset = np.cumsum(self.gt_count) - self.gt_count
        return np.repeat(self.gt_start - offset, self.gt_count) + np.arange(int(self.gt_count.sum()))

    def entry_ground_truth(self) -> np.ndarray:
        """The ground-truth position of every entry of the flat IoU buffer."""
        return np.repeat(self.ground_truth_positions(), np.repeat(self.dt_count, self.gt_count))


@dataclass
class GroupMatches:
    """Per detection position (all positions, grouped or not), in each area range and at each IoU threshold,
    (N, A, T): whether it matched, and whether it is ignored there (it matched a crowd region or ground truth
    outside the range, or it is unmatched and itself outside the range). At area 0, threshold 0: the
    ground-truth position it matched (-1 for none) and the IoU (0), (N,)."""

    matched: np.ndarray
    ignored: np.ndarray
    gt_position: np.ndarray
    iou: np.ndarray


def matching_thresholds(iou_thresholds: np.ndarray) -> np.ndarray:
    """The thresholds as matching compares with them: as in pycocotools, an IoU of 1 still matches at 1.0."""
    return np.minimum(np.asarray(iou_thresholds, dtype=np.float64), 1 - 1e-10)


@dataclass
class GreedyMatching:
    """What greedy matching reads besides the IoUs and the ground truth's crowd flags, and the matches it
    fills, for matching each group as soon as its IoUs are known (``match_groups`` but for its last step,
    ``ignore_unmatched_outside``)."""

    gt_ignore: np.ndarray  # (A, M) bool, as match_groups takes it
    thresholds: np.ndarray  # (T,) matching_thresholds
    matches: GroupMatches  # (N, A, T), filled


def empty_matches(positions: int, area_ranges: int, thresholds: int) -> GroupMatches:
    """Matches of ``positions`` detections, none matched yet."""
    shape = (positions, area_ranges, thresholds)
    return GroupMatches(matched=np.zeros(shape, dtype=bool), ignored=np.zeros(shape, dtype=bool),
                        gt_position=np.full(positions, -1, dtype=np.int64), iou=np.zeros(positions))


def match_groups(groups: Groups, ious: np.ndarray, gt_ignore: np.ndarray, gt_crowd: np.ndarray,
                 iou_thresholds: np.ndarray, dt_area: np.ndarray, area_ranges: np.ndarray) -> GroupMatches:
    """Match every group's detections, best score first, to its ground truth.

    Args:
        ious: the flat IoU buffer described by ``groups``.
        gt_ignore: (A, M) whether each ground-truth position is ignored in each area range.
        gt_crowd: (M,) crowd flags of the ground-truth positions.
        dt_area: (N,) area of every detection position (grouped or not).
        area_ranges: (A, 2) the ranges' bounds.
    """
    thresholds = matching_thresholds(iou_thresholds)
    matches = empty_matches(len(dt_area), gt_ignore.shape[0], len(thresholds))
    run_in_chunks(_match, len(groups), groups.dt_start, groups.dt_count, groups.gt_start, groups.gt_count,
                  groups.iou_offset, ious, np.ascontiguousarray(gt_ignore, dtype=np.bool_), gt_crowd.astype(np.bool_),
                  thresholds, matches.matched, matches.ignored, matches.gt_position, matches.iou,
                  weights=groups.dt_count * groups.gt_count)
    ignore_unmatched_outside(matches, dt_area, area_ranges)
    return matches


def ignore_unmatched_outside(matches: GroupMatches, dt_area: np.ndarray, area_ranges: np.ndarray) -> None:
    """The last step of matching, once the greedy choices are made: unmatched detections outside an area range
    do not count in it (pycocotools' test, where a NaN area is inside every range)."""
    _ignore_unmatched_outside(np.asarray(dt_area, dtype=np.float64), np.asarray(area_ranges, dtype=np.float64),
                              matches.matched, matches.ignored)


@numba.njit(cache=True, nogil=True)
def _ignore_unmatched_outside(area, ranges, matched, ignored):  # pragma: no cover - compiled
    for n in range(matched.shape[0]):
        for a in range(matched.shape[1]):
            if area[n] < ranges[a, 0] or area[n] > ranges[a, 1]:
                for t in range(matched.shape[2]):
                    if not matched[n, a, t]:
                        ignored[n, a, t] = True


@numba.njit(cache=True, nogil=True)
def _match(start, stop, dt_start, dt_count, gt_start, gt_count, iou_offset, ious, gt_ignore, gt_crowd, thresholds,
           matched, ignored_match, first_gt_position, first_iou):  # pragma: no cover - compiled
    order, taken, chosen_first = match_scratch(gt_count[start:stop].max() if stop > start else 0,
                                               dt_count[start:stop].max() if stop > start else 0, len(thresholds))
    for group in range(start, stop):
        match_group(group, dt_start, dt_count, gt_start, gt_count, iou_offset, ious, gt_ignore, gt_crowd, thresholds,
                    matched, ignored_match, first_gt_position, first_iou, order, taken, chosen_first)


@numba.njit(cache=True, nogil=True)
def match_scratch(width, depth, thresholds):  # pragma: no cover - compiled
    """What ``match_group`` works in, for groups of at most ``width`` ground truth and ``depth`` detections."""
    return (np.empty(width, dtype=np.int64), np.empty(width, dtype=np.bool_),
            np.empty((depth, thresholds), dtype=np.int64))


@numba.njit(cache=True, nogil=True, inline="always")
def match_group(group, dt_start, dt_count, gt_start, gt_count, iou_offset, ious, gt_ignore, gt_crowd, thresholds,
                matched, ignored_match, first_gt_position, first_iou, order, taken,
                chosen_first):  # pragma: no cover - compiled
    """Greedy matching of one group in every area range at every threshold (``chosen_first``: each
    detection's choice in the first range)."""
    depth, first_dt = dt_count[group], dt_start[group]
    count, first_gt = gt_count[group], gt_start[group]
    for area in range(gt_ignore.shape[0]):
        ignore = gt_ignore[area, first_gt:first_gt + count]
        if area > 0 and _same_greedy_choices(ignore, gt_ignore[0, first_gt:first_gt + count]):
            # The choices of the first range hold here too; only what they inherit may differ.
            for d in range(depth):
                for t in range(len(thresholds)):
                    if chosen_first[d, t] > -1:
                        matched[first_dt + d, area, t] = True
                        ignored_match[first_dt + d, area, t] = ignore[chosen_first[d, t]]
            continue
        # Visit counted ground truth first, ignored last, each in annotation order (a stable sort).
        visited = 0
        for flag in (False, True):
            for g in range(count):
                if ignore[g] == flag:
                    order[visited] = g
                    visited += 1
        for t in range(len(thresholds)):
            taken[:count] = False
            for d in range(depth):
                best, chosen = thresholds[t], -1
                for k in range(count):
                    g = order[k]
                    if taken[g] and not gt_crowd[first_gt + g]:
                        continue
                    if chosen > -1 and not ignore[chosen] and ignore[g]:
                        break  # holding a counted one, and only ignored ones are left
                    value = ious[iou_offset[group] + g * depth + d]
                    if value < best:
                        continue
                    best, chosen = value, g
                if area == 0:
                    chosen_first[d, t] = chosen
                if chosen == -1:
                    continue
                taken[chosen] = True
                matched[first_dt + d, area, t] = True
                ignored_match[first_dt + d, area, t] = ignore[chosen]
                if area == 0 and t == 0:
                    first_gt_position[first_dt + d] = first_gt + chosen
                    first_iou[first_dt + d] = best


@numba.njit(cache=True, nogil=True, inline="always")
def _same_greedy_choices(ignore, first_ignore):  # pragma: no cover - compiled
    """Whether greedy matching under the ignore flags ``ignore`` makes the choices it made under
    ``first_ignore``: the same flags, or flags that are uniform under both (the visiting order is then
    annotation order, and the rule preferring counted ground truth never applies)."""
    same = uniform = first_uniform = True
    for g in range(len(ignore)):
        same &= ignore[g] == first_ignore[g]
        uniform &= ignore[g] == ignore[0]
        first_uniform &= first_ignore[g] == first_ignore[0]
    return same or (uniform and first_uniform)
