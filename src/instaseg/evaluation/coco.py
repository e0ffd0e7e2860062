"""COCO mask and box AP through pycocotools' COCOeval, behind reset / process / evaluate.

This evaluator is the reference implementation; issue 4 adds a vectorised one that must agree with it.
"""

from __future__ import annotations

import contextlib
import io
from typing import Sequence

import numpy as np

from instaseg.data.formats.coco import dataset_to_coco
from instaseg.data.records import InstanceDataset
from instaseg.structures.instances import Instances

STAT_NAMES = ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl")


def instances_to_coco_results(instances: Instances, image_id: int, category_ids: Sequence[int]
                              ) -> list[dict]:
    """Predictions of one image as COCO result dicts (RLE masks, xywh boxes); labels index ``category_ids``."""
    if len(instances) == 0:
        return []
    boxes = instances.boxes.detach().cpu().numpy().astype(np.float64)
    xywh = np.column_stack([boxes[:, 0], boxes[:, 1], boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]])
    scores = instances.scores.detach().cpu().numpy() if instances.scores is not None else np.ones(len(boxes))
    labels = instances.labels.cpu().numpy()
    return [{"image_id": int(image_id), "category_id": int(category_ids[int(label)]),
             "segmentation": rle, "bbox": [round(float(v), 2) for v in box], "score": float(score)}
            for rle, box, score, label in zip(instances.mask_rles(), xywh, scores, labels)]


class COCOEvaluator:
    """Accumulate predictions image by image, then compute the 12 COCO stats per IoU type."""

    def __init__(self, ground_truth: InstanceDataset, iou_types: Sequence[str] = ("segm", "bbox")) -> None:
        self.ground_truth = ground_truth
        self.iou_types = tuple(iou_types)
        self.category_ids = sorted(c.id for c in ground_truth.categories)
        self.reset()

    def reset(self) -> None:
        self.results: list[dict] = []
        self.image_ids: set[int] = set()

    def process(self, image_id: int, instances: Instances) -> None:
        self.image_ids.add(int(image_id))
        self.results.extend(instances_to_coco_results(instances, image_id, self.category_ids))

    def evaluate(self) -> dict[str, dict[str, float]]:
        """{'segm': {'AP': ..., ...}, 'bbox': {...}}; AP values in [0, 1], -1 where undefined."""
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval

        with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints progress chatter
            gt = COCO()
            gt.dataset = dataset_to_coco(self.ground_truth, mask_format="rle")
            gt.createIndex()
            metrics: dict[str, dict[str, float]] = {}
            for iou_type in self.iou_types:
                if not self.results:
                    metrics[iou_type] = {name: 0.0 for name in STAT_NAMES}
                    continue
                detections = gt.loadRes([dict(r) for r in self.results])
                evaluator = COCOeval(gt, detections, iou_type)
                evaluator.params.imgIds = sorted(self.image_ids) or sorted(gt.getImgIds())
                evaluator.evaluate()
                evaluator.accumulate()
                evaluator.summarize()
                metrics[iou_type] = {name: float(v) for name, v in zip(STAT_NAMES, evaluator.stats)}
        return metrics
