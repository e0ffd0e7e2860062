"""The panoptic merge: scored instances (and optionally a semantic map of stuff) into one segment map.

The overlap rule is the instance-ID painter's: the higher-scoring instance owns a contested pixel.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np


def merge_to_panoptic(masks: np.ndarray, scores: np.ndarray, labels: Sequence[int], semantic: np.ndarray | None,
                      stuff_ids: Sequence[int] = (), score_threshold: float = 0.5, overlap_threshold: float = 0.5,
                      stuff_area_threshold: int = 64) -> tuple[np.ndarray, list[dict]]:
    """Instances first, best score first, then stuff into the pixels left.

    Args:
        masks: (N, H, W) bool instance masks; ``labels`` their category ids, ``scores`` their scores.
        semantic: (H, W) category id per pixel (stuff categories used), or None.
        overlap_threshold: an instance keeping less than this share of its mask (others took the rest) is
            dropped.
        stuff_area_threshold: smaller stuff regions are left void.
    Returns:
        (H, W) int32 segment ids (0 void) and the segments_info list (id, category_id, isthing, area, score).
    """
    height, width = semantic.shape if semantic is not None else masks.shape[1:]
    panoptic = np.zeros((height, width), dtype=np.int32)
    segments: list[dict] = []
    for index in np.argsort(-np.asarray(scores), kind="stable"):
        if scores[index] < score_threshold:
            break
        mask = masks[index].astype(bool)
        area = int(mask.sum())
        free = mask & (panoptic == 0)
        kept = int(free.sum())
        if area == 0 or kept / area < overlap_threshold:
            continue
        segments.append({"id": len(segments) + 1, "category_id": int(labels[index]), "isthing": 1, "area": kept,
                         "score": float(scores[index])})
        panoptic[free] = segments[-1]["id"]
    if semantic is not None:
        for category in stuff_ids:
            region = (semantic == category) & (panoptic == 0)
            area = int(region.sum())
            if area >= stuff_area_threshold:
                segments.append({"id": len(segments) + 1, "category_id": int(category), "isthing": 0, "area": area})
                panoptic[region] = segments[-1]["id"]
    return panoptic, segments
