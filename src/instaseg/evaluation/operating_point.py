"""The score threshold at which to show or use a model's predictions: the one with the best F1 at IoU 0.5
over every class, read from a finished COCO evaluation. AP ranks predictions and never picks a threshold;
a person looking at overlays, or a program acting on them, needs one, and a fixed 0.5 means nothing for a
model whose scores are low after a short training."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from instaseg.evaluation.coco.evaluator import COCOEvaluation, counted_ground_truth


@dataclass(frozen=True)
class OperatingPoint:
    score: float  # keep predictions scoring at least this
    f1: float
    precision: float
    recall: float


def best_f1_operating_point(evaluation: COCOEvaluation) -> OperatingPoint | None:
    """The threshold of best F1 over the evaluation's kept detections (IoU 0.5, all areas, every class
    pooled), or None without detections or ground truth."""
    detections, inputs = evaluation.detections, evaluation.inputs
    counted = ~detections.ignored[:, 0, 0]  # crowd matches and the like count neither way, as in COCO
    total = int(counted_ground_truth(inputs.ground_truth, len(inputs.category_ids), evaluation.params)[:, 0].sum())
    scores = detections.score[counted]
    if total == 0 or len(scores) == 0:
        return None
    order = np.argsort(-scores, kind="stable")
    scores, hits = scores[order], detections.matched[counted, 0, 0][order]
    true_positives = np.cumsum(hits)
    precision = true_positives / np.arange(1, len(hits) + 1)
    recall = true_positives / total
    f1 = np.where(true_positives > 0, 2 * precision * recall / np.maximum(precision + recall, 1e-12), 0.0)
    # A threshold keeps every detection of its score: only the last of a run of equal scores is a choice.
    ends = np.flatnonzero(np.append(scores[1:] != scores[:-1], True))
    best = ends[np.argmax(f1[ends])]
    return OperatingPoint(float(scores[best]), float(f1[best]), float(precision[best]), float(recall[best]))
