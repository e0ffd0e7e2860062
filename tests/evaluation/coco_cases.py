"""Random COCO ground truth and results that exercise every COCOeval rule, and pycocotools as the oracle."""

from __future__ import annotations

import contextlib
import copy
import io

import numpy as np
from pycocotools import mask as mask_utils


def _shape(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    mask = np.zeros((height, width), dtype=np.uint8)
    y0, x0 = int(rng.integers(0, height - 2)), int(rng.integers(0, width - 2))
    y1, x1 = int(rng.integers(y0 + 1, height + 1)), int(rng.integers(x0 + 1, width + 1))
    if rng.random() < 0.5:
        mask[y0:y1, x0:x1] = 1
    else:
        y, x = np.mgrid[:height, :width]
        cy, cx, ry, rx = (y0 + y1) / 2, (x0 + x1) / 2, max((y1 - y0) / 2, 0.7), max((x1 - x0) / 2, 0.7)
        mask[((y - cy) / ry) ** 2 + ((x - cx) / rx) ** 2 <= 1] = 1
    if not mask.any():
        mask[y0, x0] = 1
    return mask


def _shifted(rng: np.random.Generator, mask: np.ndarray) -> np.ndarray:
    moved = np.roll(mask, (int(rng.integers(-3, 4)), int(rng.integers(-3, 4))), axis=(0, 1))
    return moved if moved.any() else mask


def _rle(mask: np.ndarray, uncompressed: bool = False) -> dict:
    if uncompressed:  # column-major run lengths, as COCO's crowd annotations are stored
        flat = mask.flatten(order="F")
        changes = np.flatnonzero(np.diff(np.concatenate([[0], flat, [1 - flat[-1]]])))
        return {"size": list(mask.shape), "counts": np.diff(np.concatenate([[0], changes])).tolist()}
    rle = mask_utils.encode(np.asfortranarray(mask))
    return {"size": rle["size"], "counts": rle["counts"].decode("ascii")}


def random_case(rng: np.random.Generator, with_boxes: bool = True, max_detections: int = 16,
                max_instances: int = 7) -> tuple[dict, list]:
    """A small COCO ground truth and results with crowds, ties, perfect and duplicate detections, images
    without ground truth or detections, categories without ground truth, and areas across all ranges."""
    category_ids = sorted(int(c) for c in rng.choice(np.arange(1, 30), size=int(rng.integers(1, 5)), replace=False))
    gt_categories = category_ids[: max(1, len(category_ids) - int(rng.integers(0, 2)))]  # maybe one without GT
    image_ids = sorted(int(i) for i in rng.choice(np.arange(1, 500), size=int(rng.integers(1, 6)), replace=False))
    images, annotations, results = [], [], []
    for image_id in image_ids:
        height, width = int(rng.integers(12, 140)), int(rng.integers(12, 140))
        images.append({"id": image_id, "height": height, "width": width, "file_name": f"{image_id}.png"})
        masks = []
        for _ in range(int(rng.integers(0, max_instances))):
            mask, crowd = _shape(rng, height, width), bool(rng.random() < 0.15)
            area = float(mask.sum()) * (1.0 if rng.random() < 0.8 else float(rng.uniform(0.2, 30)))
            annotations.append({"id": len(annotations) + 1, "image_id": image_id,
                                "category_id": int(rng.choice(gt_categories)), "iscrowd": int(crowd),
                                "segmentation": _rle(mask, uncompressed=crowd and rng.random() < 0.7),
                                "area": area, "bbox": mask_utils.toBbox(mask_utils.encode(np.asfortranarray(mask))
                                                                        ).tolist()})
            masks.append((mask, annotations[-1]["category_id"]))
        for _ in range(int(rng.integers(0, max_detections))):
            if masks and rng.random() < 0.7:
                source, category = masks[int(rng.integers(len(masks)))]
                mask = source if rng.random() < 0.2 else _shifted(rng, source)  # some exact (IoU 1)
                if rng.random() < 0.2:
                    category = int(rng.choice(category_ids))
            else:
                mask, category = _shape(rng, height, width), int(rng.choice(category_ids))
            result = {"image_id": image_id, "category_id": category, "segmentation": _rle(mask),
                      "score": round(float(rng.random()), 1)}  # one decimal: many tied scores
            if with_boxes:
                box = mask_utils.toBbox(mask_utils.encode(np.asfortranarray(mask))).tolist()
                result["bbox"] = [v + float(rng.uniform(-1, 1)) for v in box[:2]] + box[2:]
            results.append(result)
            if rng.random() < 0.1:
                results.append(dict(result))  # a duplicate detection
    ground_truth = {"images": images, "annotations": annotations,
                    "categories": [{"id": c, "name": f"class{c}"} for c in category_ids]}
    return ground_truth, results


def pycocotools_eval(ground_truth: dict, results: list, iou_type: str, image_ids=None, iou_thresholds=None):
    """pycocotools' COCOeval after evaluate / accumulate / summarize (its output silenced)."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = copy.deepcopy(ground_truth)
        gt.createIndex()
        evaluation = COCOeval(gt, gt.loadRes(copy.deepcopy(results)), iou_type)
        if image_ids is not None:
            evaluation.params.imgIds = list(image_ids)
        if iou_thresholds is not None:
            evaluation.params.iouThrs = np.asarray(iou_thresholds)
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    return evaluation
