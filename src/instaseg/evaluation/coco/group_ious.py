"""IoU of every (image, category) group's detections with its ground truth, by pycocotools' own routine.

One ``mask_utils.iou`` call per group: its C code parses each RLE string and compares only pairs whose
boxes overlap. Calling pycocotools' C functions directly through ctypes was tried and measured slower (a
ctypes call per string costs more than pycocotools' Cython loop saves), so the public API stays.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from pycocotools import mask as mask_utils

from instaseg.evaluation.coco.matching import Groups


def group_ious(groups: Groups, dt_geometry: Sequence | np.ndarray, gt_geometry: Sequence | np.ndarray,
               gt_crowd: np.ndarray) -> np.ndarray:
    """The flat IoU buffer ``groups`` describes (each group's (G, D) block ground-truth-major).

    Args:
        dt_geometry, gt_geometry: per detection / ground-truth position, compressed RLE dicts, or (N, 4) xywh
            boxes.
        gt_crowd: (M,) crowd flags per ground-truth position: IoU is then over the detection's area.
    """
    out = np.empty(groups.iou_size)
    crowd = gt_crowd.astype(np.uint8)
    for ds, dn, gs, gn, offset in zip(groups.dt_start.tolist(), groups.dt_count.tolist(), groups.gt_start.tolist(),
                                      groups.gt_count.tolist(), groups.iou_offset.tolist()):
        values = mask_utils.iou(dt_geometry[ds:ds + dn], gt_geometry[gs:gs + gn], crowd[gs:gs + gn])
        out[offset:offset + dn * gn] = np.asarray(values, dtype=np.float64).ravel(order="F")
    return out
