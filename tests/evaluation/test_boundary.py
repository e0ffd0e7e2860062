"""Boundary bands, Boundary AP and boundary F1."""

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from instaseg.evaluation.boundary import boundary_band, boundary_f1, boundary_rle, dilation_pixels
from instaseg.evaluation.coco import evaluate_coco

from .coco_cases import random_case


def _square(size, top, left, side):
    mask = np.zeros((size, size), dtype=np.uint8)
    mask[top:top + side, left:left + side] = 1
    return mask


def test_band_is_the_inner_ring_of_the_dilation_width():
    band = boundary_band(_square(64, 10, 10, 20), 2)
    assert band.sum() == 20 * 20 - 16 * 16
    assert band[10:12, 10:30].all() and not band[12:28, 12:28].any()


def test_the_image_edge_counts_as_contour():
    band = boundary_band(_square(32, 0, 0, 32), 1)
    assert band.sum() == 32 * 4 - 4


def test_dilation_follows_the_image_diagonal():
    assert dilation_pixels(300, 400) == 10 and dilation_pixels(10, 10) == 1


def test_boundary_iou_is_the_smaller_of_mask_and_band_iou():
    rng = np.random.default_rng(0)
    ground_truth, results = random_case(rng)
    while not results or not ground_truth["annotations"]:
        ground_truth, results = random_case(rng)
    for annotation in ground_truth["annotations"]:
        annotation["iscrowd"] = 0
    boundary = evaluate_coco(ground_truth, results, "boundary")
    segm = evaluate_coco(ground_truth, results, "segm")
    # Boundary IoU never exceeds mask IoU here, so no detection does better under it.
    assert boundary.stats["AP"] <= segm.stats["AP"] + 1e-12


def _one_image_case(ground_truth_mask, predicted_mask):
    def rle(mask):
        encoded = mask_utils.encode(np.asfortranarray(mask))
        return {"size": encoded["size"], "counts": encoded["counts"].decode()}

    size = ground_truth_mask.shape[0]
    ground_truth = {"images": [{"id": 1, "height": size, "width": size}], "categories": [{"id": 1, "name": "a"}],
                    "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "iscrowd": 0,
                                     "segmentation": rle(ground_truth_mask), "area": float(ground_truth_mask.sum()),
                                     "bbox": [0, 0, 1, 1]}]}
    return ground_truth, [{"image_id": 1, "category_id": 1, "segmentation": rle(predicted_mask), "score": 0.9}]


def test_boundary_ap_punishes_a_shifted_large_mask_that_mask_ap_forgives():
    ground_truth, results = _one_image_case(_square(200, 20, 20, 150), _square(200, 26, 26, 150))
    segm = evaluate_coco(ground_truth, results, "segm").stats
    boundary = evaluate_coco(ground_truth, results, "boundary").stats
    assert segm["AP75"] == pytest.approx(1.0)  # mask IoU 0.85
    assert boundary["AP50"] == 0.0  # the 4-px boundary bands barely overlap after a 6-px shift
    exact = evaluate_coco(*_one_image_case(_square(200, 20, 20, 150), _square(200, 20, 20, 150)), "boundary").stats
    assert exact["AP"] == pytest.approx(1.0)


def test_boundary_f1():
    square = _square(64, 10, 10, 30)
    assert boundary_f1(square, square, 1) == 1.0
    assert boundary_f1(_square(64, 11, 10, 30), square, 2) == 1.0
    assert boundary_f1(_square(64, 11, 10, 30), square, 0) < 0.6
    assert boundary_f1(_square(64, 45, 45, 10), _square(64, 2, 2, 10), 2) == 0.0
    assert boundary_f1(np.zeros((8, 8)), np.zeros((8, 8)), 1) == 1.0


def test_band_of_the_bounding_box_equals_the_band_of_the_whole_image():
    rng = np.random.default_rng(4)
    for _ in range(20):
        size = int(rng.integers(20, 90))
        mask = np.zeros((size, size + 7), dtype=np.uint8)
        y0, x0 = (int(v) for v in rng.integers(0, size // 2, 2))
        mask[y0:y0 + int(rng.integers(1, size)), x0:x0 + int(rng.integers(1, size))] = 1  # may touch the edge
        mask[rng.random(mask.shape) < 0.05] = 0  # holes
        whole = boundary_band(mask, dilation_pixels(*mask.shape))
        rle = mask_utils.encode(np.asfortranarray(mask))
        assert np.array_equal(mask_utils.decode(boundary_rle(rle)), whole)
