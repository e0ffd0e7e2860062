"""COCO AP / AR equal to pycocotools' COCOeval, with compiled IoU, matching and accumulation.

``evaluate_coco`` scores a COCO ground-truth dict against COCO results; ``COCOEvaluator`` wraps it in the
reset / process / evaluate interface the trainer uses. IoUs follow pycocotools' C routines (RLE and box IoU,
crowd-aware) operation for operation, so the numbers they feed are the reference's own.
"""

from __future__ import annotations

import contextlib
import gc
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
from pycocotools import mask as mask_utils

from instaseg.evaluation.coco.accumulate import MatchedDetections, Tables, accumulate, per_category_ap, summarize
from instaseg.evaluation.coco.group_ious import EncodedGroupIous, box_group_ious, mask_group_ious
from instaseg.evaluation.coco.inputs import Annotations, EvaluationInputs, PendingInputs, SortKeys, start_inputs
from instaseg.evaluation.coco.matching import (GreedyMatching, GroupMatches, Groups, empty_matches,
                                               ignore_unmatched_outside, match_groups, matching_thresholds)
from instaseg.evaluation.coco.ordering import dense_keys, order_by_key_then_score, score_ranks
from instaseg.evaluation.coco.run_lengths import RunLengths, decode_rles
from instaseg.evaluation.coco.params import EvalParams


@dataclass
class COCOEvaluation:
    """Everything one IoU type's evaluation produced; ``precision`` and ``recall`` are laid out as
    pycocotools' ``eval['precision']`` (T, R, K, A, M) and ``eval['recall']`` (T, K, A, M)."""

    iou_type: str
    stats: dict[str, float]
    tables: Tables
    category_ids: list[int]
    category_names: list[str]
    category_ap: np.ndarray  # (K,), nan without ground truth
    params: EvalParams
    matched_ious: np.ndarray  # IoU of each true positive at IoU 0.5 (all areas, largest limit)
    matched_pairs: np.ndarray  # (P, 2) detection and ground-truth rows of those true positives
    boundary_f1: float | None = None  # mean boundary F1 of those pairs (boundary evaluations only)
    inputs: EvaluationInputs | None = None  # the prepared ground truth and detections (for error analysis)
    detections: MatchedDetections | None = None  # the kept detections and their matches

    @property
    def precision(self) -> np.ndarray:
        return self.tables.precision

    @property
    def recall(self) -> np.ndarray:
        return self.tables.recall


def evaluate_coco(ground_truth: dict[str, Any], results: Sequence[dict[str, Any]], iou_type: str = "segm",
                  image_ids: Sequence[int] | None = None, params: EvalParams | None = None,
                  results_name: str = "results") -> COCOEvaluation:
    """Score ``results`` (COCO result dicts) against ``ground_truth`` (a COCO dict) for ``iou_type``.

    Args:
        image_ids: images to evaluate (default all ground-truth images), as pycocotools' ``params.imgIds``.
        results_name: how error messages name the results, e.g. their file name.
    Raises:
        EvaluationInputError: results naming unknown images or categories, or malformed fields.
    """
    params = params or EvalParams()
    with _collector_paused():
        pending = start_inputs(ground_truth, results, iou_type, image_ids, results_name)
        grouping = group_detections(pending.detection_keys, pending.ground_truth, len(pending.image_ids),
                                    len(pending.category_ids), params.max_detections[-1])
        # The masks' IoUs start in the background while the boxes and declared sizes are read here.
        measuring = _start_mask_ious(pending, grouping, iou_type, params)
        try:
            pending.read_remaining()
        except BaseException:
            if measuring is not None:
                measuring.cancel()
            raise
        ious = measuring.finish() if measuring is not None else None
        inputs = pending.finish()
        detections, matched_ious, pairs = match_detections(inputs, iou_type, params, grouping, ious,
                                                           measuring.matches if measuring is not None else None)
    counted = counted_ground_truth(inputs.ground_truth, len(inputs.category_ids), params)
    tables = accumulate(detections, counted, params)
    return COCOEvaluation(iou_type=iou_type, stats=summarize(tables, params), tables=tables,
                          category_ids=[int(c) for c in inputs.category_ids], category_names=inputs.category_names,
                          category_ap=per_category_ap(tables), params=params, matched_ious=matched_ious,
                          matched_pairs=pairs,
                          boundary_f1=_mean_boundary_f1(inputs, pairs) if iou_type == "boundary" else None,
                          inputs=inputs, detections=detections)


@contextlib.contextmanager
def _collector_paused():
    """Python's cyclic garbage collector off while the inputs are read: the evaluation makes no reference
    cycles, yet its allocations would trigger collections that walk every object the caller holds (measured:
    about 0.1 s of a 0.35 s evaluation just after parsing 100,000 results)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _start_mask_ious(pending: PendingInputs, grouping: Grouping, iou_type: str, params: EvalParams
                     ) -> EncodedGroupIous | None:
    """The detections' mask IoUs, started in the background (None for boxes); for masks (not boundaries), the
    greedy matching too, each group as soon as its IoUs are known."""
    if iou_type == "bbox" or pending.detection_masks is None:
        return None
    gt = pending.ground_truth
    gt_ignore, gt_crowd = _ground_truth_rules(gt, grouping.gt_order, params)
    thresholds = matching_thresholds(params.iou_thresholds)
    matching = GreedyMatching(gt_ignore=gt_ignore, thresholds=thresholds,
                              matches=empty_matches(len(grouping.dt_order), len(gt_ignore), len(thresholds))
                              ) if iou_type == "segm" else None
    return EncodedGroupIous(grouping.groups, pending.detection_masks, pending.mask_rows[grouping.dt_order], gt.runs,
                            grouping.gt_order, gt_crowd, _iou_floor(params), matching)


def _ground_truth_rules(gt: Annotations, gt_order: np.ndarray, params: EvalParams) -> tuple[np.ndarray, np.ndarray]:
    """Per ground-truth position: (A, M) whether it is ignored in each area range, and (M,) crowd flags."""
    ranges = np.array(params.area_ranges, dtype=np.float64)  # (A, 2)
    gt_area = gt.area[gt_order]
    gt_ignore = gt.ignore[gt_order][None, :] | (gt_area[None, :] < ranges[:, :1]) | (gt_area[None, :] > ranges[:, 1:])
    return gt_ignore, gt.crowd[gt_order]


def _iou_floor(params: EvalParams) -> float:
    """An IoU below every threshold matching uses is the same as none."""
    return float(matching_thresholds(params.iou_thresholds).min())


def match_detections(inputs: EvaluationInputs, iou_type: str, params: EvalParams, grouping: Grouping | None = None,
                     mask_ious: np.ndarray | None = None, greedy_matches: GroupMatches | None = None
                     ) -> tuple[MatchedDetections, np.ndarray, np.ndarray]:
    """Sort, limit and match the detections of every (image, category) group; also the true positives at
    IoU 0.5 (all areas) as their IoUs and (detection row, ground-truth row) pairs.

    Args:
        grouping: ``group_detections`` of these inputs, if already made.
        mask_ious: the groups' mask IoUs (``EncodedGroupIous``), if already measured.
        greedy_matches: their greedy matches, if already made (all but ``ignore_unmatched_outside``).
    """
    gt, dt = inputs.ground_truth, inputs.detections
    grouping = grouping or group_detections(dt, gt, len(inputs.image_ids), len(inputs.category_ids),
                                            params.max_detections[-1])
    dt_order, gt_order, groups = grouping.dt_order, grouping.gt_order, grouping.groups
    ranges = np.array(params.area_ranges, dtype=np.float64)  # (A, 2)
    if greedy_matches is not None:
        matches = greedy_matches
        ignore_unmatched_outside(matches, dt.area[dt_order], ranges)
    else:
        gt_ignore, gt_crowd = _ground_truth_rules(gt, gt_order, params)
        ious = _group_ious(groups, dt, gt, dt_order, gt_order, iou_type, _iou_floor(params), mask_ious)
        matches = match_groups(groups, ious, gt_ignore, gt_crowd, params.iou_thresholds, dt.area[dt_order], ranges)
    # The true positives at the loosest threshold, all areas: their IoUs (for the histogram) and rows.
    true_positive = matches.matched[:, 0, 0] & ~matches.ignored[:, 0, 0]
    pairs = np.stack([dt_order[true_positive], gt_order[matches.gt_position[true_positive]]], axis=1)
    kept = MatchedDetections(row=dt_order, category_index=dt.category_index[dt_order],
                             image_index=dt.image_index[dt_order], rank=grouping.rank, score=dt.score[dt_order],
                             matched=matches.matched, ignored=matches.ignored, by_category=grouping.by_category)
    return kept, matches.iou[true_positive], pairs


@dataclass
class Grouping:
    """Detections by (image, category) group, best score first (ties in input order, as pycocotools' stable
    sort), at most the limit per group; ground truth by group in annotation order; the groups with both."""

    dt_order: np.ndarray  # (N,) detection rows
    rank: np.ndarray  # (N,) position within the group
    gt_order: np.ndarray  # (M,) ground-truth rows
    groups: Groups  # positions in dt_order and gt_order
    by_category: np.ndarray  # (N,) positions in dt_order by category, best score first (for accumulation)


def group_detections(dt: SortKeys | Annotations, gt: Annotations, num_images: int, num_categories: int,
                     limit: int) -> Grouping:
    """Order the detections and ground truth by (image, category) group, keeping ``limit`` detections a group."""
    dt_key = dt.image_index * num_categories + dt.category_index
    gt_key = gt.image_index * num_categories + gt.category_index
    (dt_key, gt_key), num_keys = dense_keys([dt_key, gt_key], num_images * num_categories)
    ranks = score_ranks(dt.score)
    dt_order = order_by_key_then_score(dt_key, num_keys, dt.score, ranks)
    gt_order = np.argsort(gt_key, kind="stable")
    dt_count, gt_count = np.bincount(dt_key, minlength=num_keys), np.bincount(gt_key, minlength=num_keys)
    # Each group's detections past the limit are dropped; positions are counted in what is kept.
    rank = np.arange(len(dt_order)) - (np.cumsum(dt_count) - dt_count)[dt_key[dt_order]]
    keep = rank < limit
    dt_order, rank = dt_order[keep], rank[keep]
    kept_count = np.minimum(dt_count, limit)
    both = np.flatnonzero((dt_count > 0) & (gt_count > 0))
    groups = Groups(dt_start=(np.cumsum(kept_count) - kept_count)[both], dt_count=kept_count[both],
                    gt_start=(np.cumsum(gt_count) - gt_count)[both], gt_count=gt_count[both])
    by_category = order_by_key_then_score(dt.category_index[dt_order], num_categories, dt.score[dt_order],
                                          ranks[dt_order])
    return Grouping(dt_order=dt_order, rank=rank, gt_order=gt_order, groups=groups, by_category=by_category)


def _group_ious(groups: Groups, dt: Annotations, gt: Annotations, dt_order: np.ndarray, gt_order: np.ndarray,
                iou_type: str, floor: float, mask_ious: np.ndarray | None) -> np.ndarray:
    """Flat IoU buffer of the groups; for crowd ground truth, intersection over the detection's area. Mask IoUs
    that cannot reach ``floor`` may be left 0."""
    gt_crowd = gt.crowd[gt_order]
    if iou_type == "bbox":
        return box_group_ious(groups, dt.geometry[dt_order], gt.geometry[gt_order], gt_crowd)
    masks = mask_ious if mask_ious is not None else EncodedGroupIous(groups, dt.runs, dt_order, gt.runs, gt_order,
                                                                     gt_crowd, floor).finish()
    if iou_type == "segm":
        return masks
    # Boundary: the smaller of mask IoU and boundary-band IoU, except against crowd regions (mask IoU). Only
    # grouped detections and ground truth are ever compared, so only they get a band.
    dt_bands, dt_band_rows = _bands(dt.geometry, dt_order, groups.detection_positions()[0])
    gt_bands, gt_band_rows = _bands(gt.geometry, gt_order, groups.ground_truth_positions())
    bands = mask_group_ious(groups, dt_bands, dt_band_rows, gt_bands, gt_band_rows, gt_crowd, floor)
    return np.where(gt_crowd[groups.entry_ground_truth()], masks, np.minimum(masks, bands))


def _bands(masks: list[dict], order: np.ndarray, positions: np.ndarray) -> tuple[RunLengths, np.ndarray]:
    """The boundary bands of the masks at ``positions`` (of ``order``), decoded, and the band row of each
    position (-1 where none was made)."""
    from instaseg.evaluation.boundary import boundary_rle

    rows = np.full(len(order), -1, dtype=np.int64)
    rows[positions] = np.arange(len(positions))
    return decode_rles([boundary_rle(masks[i]) for i in order[positions].tolist()]), rows


def _mean_boundary_f1(inputs: EvaluationInputs, pairs: np.ndarray) -> float | None:
    """Mean boundary F1 of matched pairs, the tolerance being the boundary band's width."""
    from instaseg.evaluation.boundary import boundary_f1, dilation_pixels

    if not len(pairs):
        return None
    scores = []
    for dt_row, gt_row in pairs:
        predicted, true = inputs.detections.geometry[dt_row], inputs.ground_truth.geometry[gt_row]
        height, width = (int(v) for v in true["size"])
        tolerance = dilation_pixels(height, width)
        scores.append(boundary_f1(mask_utils.decode(predicted), mask_utils.decode(true), tolerance))
    return float(np.mean(scores))


def counted_ground_truth(gt: Annotations, num_categories: int, params: EvalParams) -> np.ndarray:
    """(K, A) ground truth that is neither ignored (crowd) nor outside the area range: recall's denominator."""
    ranges = np.array(params.area_ranges, dtype=np.float64)
    # The negation of matching's "outside" test, as pycocotools writes it: a NaN area counts in every range.
    inside = ~((gt.area[:, None] < ranges[None, :, 0]) | (gt.area[:, None] > ranges[None, :, 1]))
    counted = ~gt.ignore[:, None] & inside
    table = np.zeros((num_categories, len(ranges)), dtype=np.int64)
    np.add.at(table, gt.category_index, counted.astype(np.int64))
    return table
