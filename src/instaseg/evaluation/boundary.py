"""Boundary bands for Boundary IoU and Boundary AP (Cheng et al., CVPR 2021), and boundary F1.

A mask's boundary band is its pixels within ``d`` of its contour, d = dilation_ratio x image diagonal
(at least 1 px); pixels on the image border count as contour, as in the reference API. Boundary AP is COCO
AP with IoU = min(mask IoU, boundary IoU) for non-crowd ground truth (crowd regions keep mask IoU).
"""

from __future__ import annotations

import math

import cv2
import numpy as np
from pycocotools import mask as mask_utils

from instaseg.structures.masks import rle_boxes_xywh

DILATION_RATIO = 0.02


def dilation_pixels(height: int, width: int, dilation_ratio: float = DILATION_RATIO) -> int:
    return max(1, int(round(dilation_ratio * math.sqrt(height ** 2 + width ** 2))))


def boundary_band(mask: np.ndarray, dilation: int) -> np.ndarray:
    """(H, W) uint8 band: the mask minus its erosion by ``dilation`` steps of a 3 x 3 square."""
    mask = mask.astype(np.uint8)
    padded = cv2.copyMakeBorder(mask, 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=0)  # the image edge is contour
    eroded = cv2.erode(padded, np.ones((3, 3), dtype=np.uint8), iterations=dilation)[1:-1, 1:-1]
    return mask - eroded


def boundary_rle(rle: dict, dilation_ratio: float = DILATION_RATIO) -> dict:
    """The boundary band of an RLE mask, as RLE.

    Only the mask's bounding box is eroded, framed by one zero pixel: every pixel outside the box is zero, so
    the nearest zero of any pixel inside is within the box or on that frame, and the band is exactly the one
    of the whole image (where the reference frames the image in zeros too).
    """
    height, width = (int(v) for v in rle["size"])
    band = np.zeros((height, width), dtype=np.uint8)
    x, y, w, h = (int(round(v)) for v in rle_boxes_xywh([rle])[0])
    if w > 0 and h > 0:
        crop = mask_utils.decode(rle)[y:y + h, x:x + w]
        band[y:y + h, x:x + w] = boundary_band(crop, dilation_pixels(height, width, dilation_ratio))
    return mask_utils.encode(np.asfortranarray(band))


def boundary_f1(prediction: np.ndarray, ground_truth: np.ndarray, tolerance: int) -> float:
    """F1 of contour pixels matched within ``tolerance`` pixels (a boundary F-measure in the spirit of
    DAVIS / BSDS, here with the image edge counted as contour and the Boundary IoU band width as tolerance).

    Precision: the share of the prediction's contour pixels within ``tolerance`` of the ground truth's
    contour; recall: the converse. Both contours empty: 1. Only the region around the two masks is processed.
    """
    both = (prediction > 0) | (ground_truth > 0)
    if not both.any():
        return 1.0
    rows, columns = np.flatnonzero(both.any(1)), np.flatnonzero(both.any(0))
    margin = tolerance + 1
    top, bottom = max(rows[0] - margin, 0), min(rows[-1] + margin + 1, both.shape[0])
    left, right = max(columns[0] - margin, 0), min(columns[-1] + margin + 1, both.shape[1])
    prediction, ground_truth = prediction[top:bottom, left:right], ground_truth[top:bottom, left:right]
    predicted_contour, true_contour = boundary_band(prediction, 1), boundary_band(ground_truth, 1)
    if not predicted_contour.any() or not true_contour.any():
        return 0.0
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * tolerance + 1, 2 * tolerance + 1))
    near_true = cv2.dilate(true_contour, kernel) > 0
    near_predicted = cv2.dilate(predicted_contour, kernel) > 0
    precision = float((predicted_contour.astype(bool) & near_true).sum() / predicted_contour.sum())
    recall = float((true_contour.astype(bool) & near_predicted).sum() / true_contour.sum())
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)
