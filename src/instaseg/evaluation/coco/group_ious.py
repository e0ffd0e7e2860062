"""IoU of every (image, category) group's detections with its ground truth, in one compiled pass.

Every IoU is bit-identical to pycocotools' (``rleIou`` and ``bbIou`` in its maskApi.c): the same integer
pixel counts divided once in float64; only mask IoUs that cannot reach a given floor (the smallest matching
threshold) may be left 0 unmeasured. Masks of different sizes are -1 (never a match) where their boxes
overlap; crowd ground truth divides by the detection's area. What changes is the work: pycocotools is called
once per group, decodes every string again and walks every run of both masks; here each string is decoded
once (the detections' group by group, here; the ground truth's in ``run_lengths``), all groups are one loop,
and only foreground intervals are walked (the union is the two areas less the intersection). Only where both
masks hold empty runs after the first, which encoders never write, is pycocotools' run-by-run loop repeated,
because it can stop early there.
"""

from __future__ import annotations

import numba
import numpy as np

from instaseg.evaluation.coco import chunks
from instaseg.evaluation.coco.chunks import in_background, run_in_chunks
from instaseg.evaluation.coco.matching import GreedyMatching, Groups, empty_matches, match_group, match_scratch
from instaseg.evaluation.coco.run_lengths import EncodedMasks, RunLengths, decode_mask, foreground_box


def mask_group_ious(groups: Groups, dt: RunLengths, dt_rows: np.ndarray, gt: RunLengths, gt_rows: np.ndarray,
                    gt_crowd: np.ndarray, floor: float = 0.0) -> np.ndarray:
    """The flat IoU buffer ``groups`` describes (each group's (G, D) block ground-truth-major).

    Args:
        dt_rows, gt_rows: the mask (row of ``dt`` / ``gt``) at each detection / ground-truth position.
        gt_crowd: (M,) crowd flags per ground-truth position: IoU is then over the detection's area.
        floor: IoUs that cannot reach it are left 0 unmeasured (the smallest IoU threshold: for matching, any
            IoU below it is the same as none). The bound is the two areas' ratio, whose division rounds no
            lower than the IoU's own.
    """
    out = np.zeros(groups.iou_size)
    run_in_chunks(_mask_ious, len(groups), groups.dt_start, groups.dt_count, groups.gt_start, groups.gt_count,
                  groups.iou_offset, np.asarray(dt_rows, dtype=np.int64), np.asarray(gt_rows, dtype=np.int64),
                  _kernel_arrays(dt), _kernel_arrays(gt), gt_crowd.astype(np.bool_), float(floor), out,
                  weights=groups.dt_count * groups.gt_count)
    return out


def _kernel_arrays(runs: RunLengths) -> tuple:
    """What ``_mask_ious`` reads of one side's masks, in the order it unpacks them."""
    return runs.ends, runs.starts, runs.stops, runs.heights, runs.widths, runs.areas, runs.empty_runs, runs.problem


LONE_CHUNK = 256  # masks in no group, decoded per claimed item


class EncodedGroupIous:
    """``mask_group_ious`` for detections still encoded: each group's detections are decoded into a small
    buffer right before their IoUs, so the run ends of every detection are never held at once (100,000 masks
    would fill tens of megabytes that each evaluation touches afresh), and each is decoded once (but where
    both threads take one group, below), its measures filled in place (as ``EncodedMasks.measure`` fills
    them). A mask with a problem gets no IoU; the caller reports it.

    A background thread takes the groups from the first on as soon as this is made; ``finish`` takes them from
    the last back on the calling thread, so the caller's work in between overlaps the background's. Each group
    is claimed by the thread that takes it. The claims are plain loads and stores, not atomic: should both
    threads claim one group at once, both compute it, writing the same values; a thread stops at a group the
    other has claimed, so none is skipped.
    """

    def __init__(self, groups: Groups, dt: EncodedMasks, dt_rows: np.ndarray, gt: RunLengths, gt_rows: np.ndarray,
                 gt_crowd: np.ndarray, floor: float = 0.0, matching: GreedyMatching | None = None):
        """Arguments as ``mask_group_ious``'s, ``dt_rows`` being masks of ``dt``.

        Args:
            matching: if given, each group is also matched as soon as its IoUs are known, while they are in
                cache (its ``matches`` filled).
        """
        dt_rows = np.asarray(dt_rows, dtype=np.int64)
        lengths = dt.char_ends - dt.char_starts
        # The masks in no group are decoded too (measured, their runs dropped), LONE_CHUNK at a time, after
        # the groups: the caller, coming from the back, starts with them.
        grouped = np.zeros(len(dt), dtype=bool)
        grouped[dt_rows[groups.detection_positions()[0]]] = True
        lone = np.flatnonzero(~grouped & ~dt.decoded)
        self.out = np.zeros(groups.iou_size)
        self.claimed = np.zeros(len(groups) + -(-len(lone) // LONE_CHUNK), dtype=np.uint8)
        characters = np.concatenate([[0], np.cumsum(lengths[dt_rows])])
        group_characters = characters[groups.dt_start + groups.dt_count] - characters[groups.dt_start]
        # A run takes a character at least: a group's characters bound its detections' runs.
        longest = max(int(group_characters.max(initial=0)), int(lengths[lone].max(initial=0)))
        self._scratch_sizes = (longest + 1, int(groups.dt_count.max(initial=0)) + 1,
                               int(groups.gt_count.max(initial=0)))
        self._scratch_type = np.int64 if dt.wide_positions else np.int32
        self.matches = matching.matches if matching is not None else None
        if matching is None:  # nothing to match: empty arrays of the types the kernel takes
            matching = GreedyMatching(gt_ignore=np.zeros((0, 0), dtype=bool), thresholds=np.zeros(0),
                                      matches=empty_matches(0, 0, 0))
        self._thresholds = len(matching.thresholds)
        matches = matching.matches
        self._arguments = (lone, groups.dt_start, groups.dt_count, groups.gt_start, groups.gt_count,
                           groups.iou_offset, dt_rows, np.asarray(gt_rows, dtype=np.int64), _encoded_arrays(dt),
                           _kernel_arrays(gt), gt_crowd.astype(np.bool_), float(floor), self.claimed, self.out,
                           self.matches is not None, np.ascontiguousarray(matching.gt_ignore, dtype=np.bool_),
                           np.asarray(matching.thresholds, dtype=np.float64), matches.matched, matches.ignored,
                           matches.gt_position, matches.iou)
        threaded = chunks.workers() > 1 and len(self.claimed) > 1
        self._background = in_background(lambda: self._take(False)) if threaded else None

    def _take(self, backward: bool) -> None:
        longest, deepest, widest = self._scratch_sizes
        scratch = (np.empty(longest, dtype=self._scratch_type), np.zeros(deepest, dtype=np.int64),
                   *match_scratch(widest, deepest, self._thresholds))
        _encoded_ious(backward, *scratch, *self._arguments)

    def finish(self) -> np.ndarray:
        """The flat IoU buffer, once every group is done (the caller's thread helping)."""
        self._take(True)
        if self._background is not None:
            self._background()
        return self.out

    def cancel(self) -> None:
        """Stop the background thread at its next group, and wait for it."""
        self.claimed[:] = 1
        if self._background is not None:
            self._background()


def _encoded_arrays(masks: EncodedMasks) -> tuple:
    """What ``_encoded_ious`` reads and fills of the encoded detections, in the order it unpacks them."""
    return (masks.text, masks.char_starts, masks.char_ends, masks.heights, masks.widths, masks.areas,
            masks.empty_runs, masks.problem, masks.decoded)


def box_group_ious(groups: Groups, dt_boxes: np.ndarray, gt_boxes: np.ndarray, gt_crowd: np.ndarray
                   ) -> np.ndarray:
    """As ``mask_group_ious`` for (N, 4) and (M, 4) xywh boxes given per position."""
    out = np.zeros(groups.iou_size)
    _box_ious(groups.dt_start, groups.dt_count, groups.gt_start, groups.gt_count, groups.iou_offset,
              np.ascontiguousarray(dt_boxes, dtype=np.float64), np.ascontiguousarray(gt_boxes, dtype=np.float64),
              gt_crowd.astype(np.bool_), out)
    return out


@numba.njit(cache=True, nogil=True)
def _mask_ious(start, stop, dt_start, dt_count, gt_start, gt_count, iou_offset, dt_rows, gt_rows, dt, gt, gt_crowd,
               floor, out):  # pragma: no cover - compiled
    dt_ends, dt_starts, dt_stops, dt_heights, dt_widths, dt_areas, dt_empty_runs, dt_problem = dt
    deepest = dt_count[start:stop].max() if stop > start else 0
    first, last = np.empty(deepest, dtype=np.int64), np.empty(deepest, dtype=np.int64)
    boxes = np.zeros((2, 4), dtype=np.int64)
    for group in range(start, stop):
        for d in range(dt_count[group]):
            a = dt_rows[dt_start[group] + d]
            first[d], last[d] = dt_starts[a], dt_stops[a]
        _block_ious(group, dt_ends, first, last, dt_rows, dt_heights, dt_widths, dt_areas, dt_empty_runs, dt_problem,
                    gt, dt_start, dt_count, gt_start, gt_count, iou_offset, gt_rows, gt_crowd, floor, boxes, out)


@numba.njit(cache=True, nogil=True, inline="always")
def _block_ious(group, dt_ends, first, last, dt_rows, heights, widths, areas, empty_runs, problem, gt, dt_start,
                dt_count, gt_start, gt_count, iou_offset, gt_rows, gt_crowd, floor, boxes,
                out):  # pragma: no cover - compiled
    """One group's (G, D) block: detection d's runs are ``dt_ends[first[d]:last[d]]``, its measures at its row.
    A malformed mask gets no IoU (the caller reports it)."""
    gt_ends, gt_starts, gt_stops, gt_heights, gt_widths, gt_areas, gt_empty_runs, _ = gt
    depth = dt_count[group]
    for g in range(gt_count[group]):
        b = gt_rows[gt_start[group] + g]
        second = gt_ends[gt_starts[b]:gt_stops[b]]
        crowd = gt_crowd[gt_start[group] + g]
        for d in range(depth):
            a = dt_rows[dt_start[group] + d]
            if problem[a] == 0:
                out[iou_offset[group] + g * depth + d] = _pair_iou(
                    dt_ends[first[d]:last[d]], heights[a], widths[a], areas[a], empty_runs[a], second, gt_heights[b],
                    gt_widths[b], gt_areas[b], gt_empty_runs[b], crowd, floor, boxes)


@numba.njit(cache=True, nogil=True)
def _encoded_ious(backward, run_ends, local_stops, order, taken, chosen_first, lone, dt_start, dt_count, gt_start,
                  gt_count, iou_offset, dt_rows, gt_rows, dt, gt, gt_crowd, floor, claimed, out, match, gt_ignore,
                  thresholds, matched, ignored, gt_position, matched_iou):  # pragma: no cover - compiled
    """Claim items (the groups, then chunks of the ``lone`` masks) in order (or in reverse) until one is
    already claimed. A group's detections are decoded (the d-th into ``run_ends[local_stops[d]:local_stops[d +
    1]]``), their IoUs measured and, if ``match``, matched; a chunk's masks are decoded only."""
    text, char_starts, char_ends, heights, widths, areas, empty_runs, problem, decoded = dt
    boxes = np.zeros((2, 4), dtype=np.int64)
    count = len(claimed)
    for k in range(count):
        group = count - 1 - k if backward else k
        if claimed[group]:
            return
        claimed[group] = 1
        if group >= len(dt_start):
            first = (group - len(dt_start)) * LONE_CHUNK
            for a in lone[first:first + LONE_CHUNK]:
                decode_mask(text, char_starts, char_ends, heights, widths, a, run_ends, 0, areas, empty_runs,
                            problem, decoded)
            continue
        depth = dt_count[group]
        for d in range(depth):
            a = dt_rows[dt_start[group] + d]
            local_stops[d + 1] = local_stops[d] + decode_mask(text, char_starts, char_ends, heights, widths, a,
                                                              run_ends, local_stops[d], areas, empty_runs, problem,
                                                              decoded)
        _block_ious(group, run_ends, local_stops, local_stops[1:], dt_rows, heights, widths, areas, empty_runs,
                    problem, gt, dt_start, dt_count, gt_start, gt_count, iou_offset, gt_rows, gt_crowd, floor, boxes,
                    out)
        if match:
            match_group(group, dt_start, dt_count, gt_start, gt_count, iou_offset, out, gt_ignore, gt_crowd,
                        thresholds, matched, ignored, gt_position, matched_iou, order, taken, chosen_first)


@numba.njit(cache=True, nogil=True, inline="always")
def _pair_iou(first, dt_height, dt_width, dt_area, dt_empty, second, gt_height, gt_width, gt_area, gt_empty, crowd,
              floor, boxes):  # pragma: no cover - compiled
    """One detection's IoU with one ground truth, each given as its run ends and measures (0 where none is
    measured; ``boxes`` is (2, 4) scratch)."""
    if dt_height != gt_height or dt_width != gt_width:
        # rleIou: -1 (never a match) if the boxes overlap, else bbIou's 0
        boxes[:] = 0
        foreground_box(first, dt_height, dt_width, boxes[0])
        foreground_box(second, gt_height, gt_width, boxes[1])
        return -1.0 if _boxes_overlap(boxes[0], boxes[1]) else 0.0
    # Same size: boxes that do not overlap mean no shared pixel, so the intersection decides.
    if len(first) < 2 or len(second) < 2 or (first[0] >= second[(len(second) & -2) - 1]
                                             or second[0] >= first[(len(first) & -2) - 1]):
        return 0.0  # no foreground, or none in the same span of pixels
    if dt_empty and gt_empty:  # only here can pycocotools' loop stop early
        intersection, union = _reference_overlap(first, second)
    elif _cannot_reach(floor, dt_area, gt_area, crowd):
        return 0.0
    else:
        intersection = _intersection(first, second)
        union = dt_area + gt_area - intersection
    if intersection == 0:
        return 0.0
    if crowd:
        union = dt_area
    return intersection / union


@numba.njit(cache=True, nogil=True, inline="always")
def _cannot_reach(floor, dt_area, gt_area, crowd):  # pragma: no cover - compiled
    """Whether the IoU is surely below ``floor``: the intersection is at most the smaller area, the union at
    least the larger (the detection's, against a crowd)."""
    larger = dt_area if crowd else max(dt_area, gt_area)
    return larger > 0 and min(dt_area, gt_area) / larger < floor


@numba.njit(cache=True, nogil=True, inline="always")
def _intersection(first, second):  # pragma: no cover - compiled
    """Shared foreground pixels of two masks given as run ends (foreground intervals ``[e[k], e[k + 1])``,
    even ``k``), walking both interval lists together."""
    total = 0
    i = j = 0
    while i + 1 < len(first) and j + 1 < len(second):
        low, high = max(first[i], second[j]), min(first[i + 1], second[j + 1])
        if high > low:
            total += high - low
        if first[i + 1] < second[j + 1]:
            i += 2
        else:
            j += 2
    return total


@numba.njit(cache=True, nogil=True)
def _reference_overlap(first, second):  # pragma: no cover - compiled
    """Intersection and union as pycocotools' ``rleIou`` loop counts them, run by run. When both masks reach
    a run boundary at the same pixel and both next runs are empty, that loop stops there and leaves the rest
    of both masks out; encoders never write empty runs after the first, but hand-made RLEs can."""
    intersection = union = 0
    remaining_a, remaining_b = first[0], second[0]
    a = b = 1
    inside_a = inside_b = False
    while True:
        step = min(remaining_a, remaining_b)
        if inside_a or inside_b:
            union += step
            if inside_a and inside_b:
                intersection += step
        remaining_a -= step
        if remaining_a == 0 and a < len(first):
            remaining_a = first[a] - first[a - 1]
            a += 1
            inside_a = not inside_a
        remaining_b -= step
        if remaining_b == 0 and b < len(second):
            remaining_b = second[b] - second[b - 1]
            b += 1
            inside_b = not inside_b
        if remaining_a + remaining_b == 0:
            return intersection, union


@numba.njit(cache=True, nogil=True, inline="always")
def _boxes_overlap(first, second):  # pragma: no cover - compiled
    """bbIou > 0 for x, y, width, height boxes."""
    width = min(first[0] + first[2], second[0] + second[2]) - max(first[0], second[0])
    height = min(first[1] + first[3], second[1] + second[3]) - max(first[1], second[1])
    return width > 0 and height > 0


@numba.njit(cache=True, nogil=True)
def _box_ious(dt_start, dt_count, gt_start, gt_count, iou_offset, dt_boxes, gt_boxes, gt_crowd, out
              ):  # pragma: no cover - compiled
    for group in range(len(dt_start)):
        depth = dt_count[group]
        for g in range(gt_count[group]):
            b = gt_start[group] + g
            gt_area = gt_boxes[b, 2] * gt_boxes[b, 3]
            for d in range(depth):
                a = dt_start[group] + d
                width = (min(dt_boxes[a, 2] + dt_boxes[a, 0], gt_boxes[b, 2] + gt_boxes[b, 0])
                         - max(dt_boxes[a, 0], gt_boxes[b, 0]))
                if width <= 0:
                    continue
                height = (min(dt_boxes[a, 3] + dt_boxes[a, 1], gt_boxes[b, 3] + gt_boxes[b, 1])
                          - max(dt_boxes[a, 1], gt_boxes[b, 1]))
                if height <= 0:
                    continue
                intersection = width * height
                dt_area = dt_boxes[a, 2] * dt_boxes[a, 3]
                union = dt_area if gt_crowd[b] else dt_area + gt_area - intersection
                out[iou_offset[group] + g * depth + d] = intersection / union
