"""COCO's greedy matching of detections to ground truth, run for all (image, category) groups at once.

pycocotools matches one detection at a time in Python (loops over area ranges, IoU thresholds, detections
and ground truth). The greedy order within a group cannot be parallelised, but groups are independent: here
step ``d`` matches the d-th best detection of every group, for every IoU threshold, with array operations.
The rule is pycocotools', restated without its loop:
- a detection may take a ground truth whose IoU is at least the threshold and that is still free (crowd
  regions are always free);
- it prefers ground truth that is not ignored (crowd, or area outside the range); among the preferred set
  it takes the highest IoU, ties going to the later annotation;
- it inherits the ignore flag of what it matched; unmatched detections outside the area range are ignored.

Area ranges only change which ground truth is preferred, and only when a group mixes ignored and counted
ground truth; so each group is matched once per distinct preference (a "lane", usually one per group), not
once per area range. Groups with a single ground truth need no steps at all: the first detection that
reaches a threshold takes it (every one does, if it is a crowd region).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


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
    """Per detection position (all positions, grouped or not): the ground-truth position it matched in each
    area range and at each IoU threshold, (N, A, T), -1 for none; and at area 0, threshold 0 the IoU of that
    match (0 if none), (N,)."""

    gt_position: np.ndarray
    iou: np.ndarray


def match_groups(groups: Groups, ious: np.ndarray, gt_ignore: np.ndarray, gt_crowd: np.ndarray,
                 iou_thresholds: np.ndarray, num_detections: int) -> GroupMatches:
    """Match every group's detections, best score first, to its ground truth.

    Args:
        ious: the flat IoU buffer described by ``groups``.
        gt_ignore: (A, M) whether each ground-truth position is ignored in each area range.
        gt_crowd: (M,) crowd flags of the ground-truth positions.
        num_detections: how many detection positions there are (grouped or not).
    """
    num_areas, num_thresholds = gt_ignore.shape[0], len(iou_thresholds)
    thresholds = np.minimum(iou_thresholds, 1 - 1e-10)  # as pycocotools: an IoU of 1 still matches at 1.0
    gt_position = np.full((num_detections, num_areas, num_thresholds), -1, dtype=np.int32)
    matched_iou = np.zeros(num_detections)
    if not len(groups):
        return GroupMatches(gt_position=gt_position, iou=matched_iou)
    lanes = _lanes(groups, gt_ignore)
    # Column matched by each (lane, detection), at each threshold; lanes' detections laid end to end.
    lane_dt_count = groups.dt_count[lanes.group]
    lane_dt_offset = np.cumsum(lane_dt_count) - lane_dt_count
    columns = np.full((int(lane_dt_count.sum()), num_thresholds), -1, dtype=np.int32)
    single = groups.gt_count[lanes.group] == 1
    _match_single(groups, lanes.group[single], lane_dt_offset[single], ious, gt_crowd, thresholds, columns)
    widths = groups.gt_count[lanes.group]
    bucket_of = np.where(widths <= 4, widths, 2 ** np.ceil(np.log2(np.maximum(widths, 1))).astype(np.int64))
    for width in np.unique(bucket_of[~single]):
        members = np.flatnonzero(~single & (bucket_of == width))
        _match_padded(groups, lanes, members, lane_dt_offset, ious, gt_crowd, thresholds, columns)

    # Each detection reads, for each area, the lane that area's preference maps to.
    position, group, local = groups.detection_positions()
    column = columns[lane_dt_offset[lanes.lane_of[group]] + local[:, None]]  # (N, A, T)
    gt_position[position] = np.where(column >= 0, groups.gt_start[group][:, None, None] + column, -1)
    first = column[:, 0, 0]
    flat = groups.iou_offset[group] + np.maximum(first, 0) * groups.dt_count[group] + local
    matched_iou[position] = np.where(first >= 0, ious[flat], 0.0)
    return GroupMatches(gt_position=gt_position, iou=matched_iou)


@dataclass
class _Lanes:
    group: np.ndarray  # (L,) the group each lane matches
    prefer: np.ndarray  # (total ground truth of the lanes,) ignore flags that steer the preference, lane by lane
    prefer_offset: np.ndarray  # (L,) where each lane's flags start in ``prefer``
    lane_of: np.ndarray  # (NG, A) the lane each group uses for each area range


def _lanes(groups: Groups, gt_ignore: np.ndarray) -> _Lanes:
    """One lane per group and distinct effective preference. A preference only matters when the group mixes
    ignored and counted ground truth; otherwise it is the same as having none."""
    num_areas = gt_ignore.shape[0]
    gt_group = np.repeat(np.arange(len(groups)), groups.gt_count)
    gt_offset = np.cumsum(groups.gt_count) - groups.gt_count
    ignore = gt_ignore[:, groups.ground_truth_positions()]  # (A, total)
    ignored_count = np.add.reduceat(ignore.astype(np.int64), gt_offset, axis=1)  # (A, NG)
    mixed = (ignored_count > 0) & (ignored_count < groups.gt_count)
    effective = ignore & mixed[:, gt_group]  # (A, total)
    lane_of_area = np.tile(np.arange(num_areas), (len(groups), 1))  # (NG, A), as area indices for now
    for area in range(1, num_areas):
        for earlier in range(area - 1, -1, -1):  # the first earlier area with the same preference
            differs = np.add.reduceat((effective[area] != effective[earlier]).astype(np.int64), gt_offset) > 0
            lane_of_area[:, area] = np.where(~differs, earlier, lane_of_area[:, area])
    is_lane = lane_of_area == np.arange(num_areas)[None, :]  # (NG, A) the areas that open a lane
    lane_group, lane_area = np.nonzero(is_lane)  # group-major: a group's lanes are adjacent
    lane_id = np.full(is_lane.shape, -1, dtype=np.int64)
    lane_id[lane_group, lane_area] = np.arange(len(lane_group))
    lane_of = np.take_along_axis(lane_id, lane_of_area, axis=1)
    counts = groups.gt_count[lane_group]
    prefer_offset = np.cumsum(counts) - counts
    owner = np.repeat(np.arange(len(lane_group)), counts)
    local = np.arange(len(owner)) - prefer_offset[owner]
    prefer = effective[lane_area[owner], gt_offset[lane_group][owner] + local]
    return _Lanes(group=lane_group, prefer=prefer, prefer_offset=prefer_offset, lane_of=lane_of)


def _match_single(groups: Groups, lane_groups: np.ndarray, lane_offsets: np.ndarray, ious: np.ndarray,
                  gt_crowd: np.ndarray, thresholds: np.ndarray, columns: np.ndarray) -> None:
    """Lanes of one ground truth: the first detection reaching each threshold takes it; a crowd region is
    taken by every detection that reaches it."""
    if not len(lane_groups):
        return
    counts = groups.dt_count[lane_groups]
    starts = np.cumsum(counts) - counts
    owner = np.repeat(np.arange(len(lane_groups)), counts)
    local = np.arange(len(owner)) - starts[owner]
    iou = ious[groups.iou_offset[lane_groups][owner] + local]  # (n,)
    passes = iou[:, None] >= thresholds[None, :]  # (n, T)
    running = np.cumsum(passes, axis=0)
    before = running[starts] - passes[starts]  # (lanes, T) passes before each lane's first detection
    first = passes & (running - before[owner] == 1)
    crowd = gt_crowd[groups.gt_start[lane_groups]][owner]
    taken = np.where(crowd[:, None], passes, first)
    columns[lane_offsets[owner] + local] = np.where(taken, 0, -1)


def _match_padded(groups: Groups, lanes: _Lanes, members: np.ndarray, lane_dt_offset: np.ndarray,
                  ious: np.ndarray, gt_crowd: np.ndarray, thresholds: np.ndarray, columns: np.ndarray) -> None:
    """Lanes of similar width matched step by step, their ground truth padded to width W.

    Detections below the loosest threshold everywhere match nothing and change nothing, so they are dropped.
    The rest are laid out step-major: step ``s`` holds the s-th remaining detection of every lane that has
    one, lanes ordered by how many they have, so each step is one contiguous slice.

    Each ground truth gets an integer key per detection: its IoU's rank in the row (ties ranked by column, so
    the later annotation wins, as in pycocotools), plus W if it is preferred (not ignored). The match is the
    eligible column with the largest key: one argmax, no floating-point ties to break."""
    group = lanes.group[members]
    depths, widths = groups.dt_count[group], groups.gt_count[group]
    width = int(widths.max())
    # One row per (lane, detection), lane-major, with the IoUs against the lane's ground truth.
    lane = np.repeat(np.arange(len(members)), depths)
    detection = np.arange(len(lane)) - np.repeat(np.cumsum(depths) - depths, depths)
    w = np.arange(width)[None, :]
    valid = w < widths[lane][:, None]  # (E, W)
    flat = groups.iou_offset[group][lane][:, None] + w * depths[lane][:, None] + detection[:, None]
    iou = np.where(valid, ious[np.where(valid, flat, 0)], -1.0)  # padding never reaches a threshold
    can_match = (iou >= thresholds[0]).any(axis=1)
    lane, detection, iou = lane[can_match], detection[can_match], iou[can_match]
    if not len(lane):
        return
    # Step-major order: the k-th remaining detection of each lane goes to step k.
    remaining = np.bincount(lane, minlength=len(members))
    step = np.arange(len(lane)) - np.repeat(np.cumsum(remaining) - remaining, remaining)
    lane_order = np.argsort(-remaining, kind="stable")
    lane_rank = np.empty_like(lane_order)
    lane_rank[lane_order] = np.arange(len(lane_order))
    active = np.bincount(step)  # lanes taking part in each step (the first ``active`` in rank order)
    step_start = np.cumsum(active) - active
    slot = step_start[step] + lane_rank[lane]
    order = np.empty_like(slot)
    order[slot] = np.arange(len(slot))
    lane, detection, iou = lane[order], detection[order], iou[order]

    ranked = lane_order  # lane of each rank
    has_column = w < widths[ranked][:, None]  # (n, W)
    gt_at = groups.gt_start[group[ranked]][:, None] + np.minimum(w, widths[ranked][:, None] - 1)
    crowd = gt_crowd[gt_at] & has_column
    prefer_at = lanes.prefer_offset[members[ranked]][:, None] + np.minimum(w, widths[ranked][:, None] - 1)
    preferred = ~lanes.prefer[prefer_at] & has_column  # (n, W)
    rank = np.argsort(np.argsort(iou, axis=1, kind="stable"), axis=1, kind="stable")
    key = (rank + width * preferred[lane_rank[lane]]).astype(np.int16)  # (E, W)
    passes = iou[:, None, :] >= thresholds[None, :, None]  # (E, T, W)
    free = np.ones((len(ranked), len(thresholds), width), dtype=bool)  # crowd regions stay free
    result = np.full((len(lane), len(thresholds)), -1, dtype=np.int64)
    for start, n in zip(step_start.tolist(), active.tolist()):
        rows = slice(start, start + n)
        value = np.where(passes[rows] & free[:n], key[rows, None, :], -1)  # (n, T, W)
        best = value.argmax(axis=2)  # (n, T)
        lanes_found, levels = np.nonzero(np.take_along_axis(value, best[..., None], axis=2)[..., 0] >= 0)
        chosen = best[lanes_found, levels]
        result[start + lanes_found, levels] = chosen
        free[lanes_found, levels, chosen] = crowd[lanes_found, chosen]
    columns[lane_dt_offset[members[lane]] + detection] = result
