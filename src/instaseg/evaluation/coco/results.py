"""Predictions as COCO result records: the pure converter the evaluators and the predict CLI share."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from instaseg.structures.instances import Instances


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
