"""COCO evaluation settings, the same values and construction as pycocotools' ``Params`` so results match bit
for bit (the IoU thresholds come from the same ``np.linspace`` call)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

STAT_NAMES = ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl")
AREA_NAMES = ("all", "small", "medium", "large")


def _iou_thresholds() -> np.ndarray:
    return np.linspace(.5, 0.95, int(np.round((0.95 - .5) / .05)) + 1, endpoint=True)


def _recall_thresholds() -> np.ndarray:
    return np.linspace(.0, 1.00, int(np.round((1.00 - .0) / .01)) + 1, endpoint=True)


@dataclass(frozen=True)
class EvalParams:
    """IoU thresholds (T), recall thresholds (R), area ranges (A, inclusive, in pixels) and detection limits
    (M, per image and category; the last is also where matching stops)."""

    iou_thresholds: np.ndarray = field(default_factory=_iou_thresholds)
    recall_thresholds: np.ndarray = field(default_factory=_recall_thresholds)
    area_ranges: tuple[tuple[float, float], ...] = ((0, 1e5 ** 2), (0, 32 ** 2), (32 ** 2, 96 ** 2),
                                                    (96 ** 2, 1e5 ** 2))
    max_detections: tuple[int, ...] = (1, 10, 100)

    def __post_init__(self) -> None:
        # The 12 summary stats read fixed positions: IoU 0.5 first, three detection limits, four area ranges.
        if len(self.max_detections) != 3 or list(self.max_detections) != sorted(self.max_detections):
            raise ValueError(f"max_detections must be three increasing limits, not {self.max_detections}")
        if len(self.area_ranges) != 4 or not np.isclose(self.iou_thresholds[0], 0.5):
            raise ValueError("area_ranges must be (all, small, medium, large) and the IoU thresholds start at 0.5")

    def stat_definitions(self) -> list[tuple[str, str, float | None, int, int]]:
        """(name, 'precision' or 'recall', IoU threshold or None for the mean over all, area index, maxDets
        index) for each of the 12 standard stats, in COCO's order."""
        last = len(self.max_detections) - 1
        return [("AP", "precision", None, 0, last), ("AP50", "precision", .5, 0, last),
                ("AP75", "precision", .75, 0, last), ("APs", "precision", None, 1, last),
                ("APm", "precision", None, 2, last), ("APl", "precision", None, 3, last),
                ("AR1", "recall", None, 0, 0), ("AR10", "recall", None, 0, 1), ("AR100", "recall", None, 0, 2),
                ("ARs", "recall", None, 1, last), ("ARm", "recall", None, 2, last), ("ARl", "recall", None, 3, last)]
