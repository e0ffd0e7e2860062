"""Overlays: translucent filled masks, contours, boxes, class names and scores on the image.

Drawn with OpenCV's built-in Hershey font, so nothing is downloaded and every machine draws the same.
"""

from __future__ import annotations

import colorsys
from typing import Sequence

import cv2
import numpy as np

from instaseg.structures.boxes import boxes_from_bitmaps

_GOLDEN_RATIO = 0.618033988749895


def instance_color(key: int) -> tuple[int, int, int]:
    """A saturated RGB colour that depends only on ``key``, so an instance keeps its colour across pictures;
    hues step by the golden ratio so neighbouring keys look clearly different."""
    hue = (key * _GOLDEN_RATIO) % 1.0
    value = 0.95 if key % 2 == 0 else 0.8
    red, green, blue = colorsys.hsv_to_rgb(hue, 0.85, value)
    return int(red * 255), int(green * 255), int(blue * 255)


def _label_text(name: str | None, score: float | None) -> str:
    parts = [name] if name else []
    if score is not None:
        parts.append(f"{score:.2f}")
    return " ".join(parts)


def _draw_label(canvas: np.ndarray, text: str, anchor: tuple[int, int], color: tuple[int, int, int],
                scale: float) -> None:
    """Text on a filled box of the instance colour, white or black by contrast: readable on any image."""
    font = cv2.FONT_HERSHEY_SIMPLEX
    thickness = max(1, int(round(scale * 2)))
    (text_w, text_h), baseline = cv2.getTextSize(text, font, scale, thickness)
    height, width = canvas.shape[:2]
    x = int(np.clip(anchor[0], 0, max(0, width - text_w - 2)))
    y = int(anchor[1]) - text_h - baseline - 2
    if y < 0:  # no room above the box: put the label inside it
        y = int(anchor[1]) + 1
    y = int(np.clip(y, 0, max(0, height - text_h - baseline - 2)))
    cv2.rectangle(canvas, (x, y), (x + text_w + 2, y + text_h + baseline + 2), color, -1)
    luminance = 0.299 * color[0] + 0.587 * color[1] + 0.114 * color[2]
    text_color = (0, 0, 0) if luminance > 140 else (255, 255, 255)
    cv2.putText(canvas, text, (x + 1, y + text_h + 1), font, scale, text_color, thickness, cv2.LINE_AA)


def draw_instances(image: np.ndarray, masks: np.ndarray | None, labels: Sequence[int] | None = None,
                   *, boxes: np.ndarray | None = None, scores: Sequence[float] | None = None,
                   class_names: dict[int, str] | None = None, color_keys: Sequence[int] | None = None,
                   alpha: float = 0.45, draw_boxes: bool = True, draw_contours: bool = True) -> np.ndarray:
    """Draw instances over a copy of ``image``.

    Args:
        image: (H, W, 3) uint8 RGB.
        masks: (N, H, W) bool, or None to draw boxes only.
        labels: N class ids, looked up in ``class_names`` for the text.
        boxes: (N, 4) xyxy pixels; computed from the masks when None.
        scores: N confidences, shown after the name when given.
        color_keys: N integers that fix each instance's colour (e.g. annotation or track ids); the
            instance index when None.

    Returns:
        (H, W, 3) uint8 RGB overlay.
    """
    canvas = image.copy()
    count = len(masks) if masks is not None else len(boxes) if boxes is not None else 0
    if count == 0:
        return canvas
    keys = list(color_keys) if color_keys is not None else list(range(count))
    colors = [instance_color(int(k)) for k in keys]
    scale = max(0.35, min(canvas.shape[:2]) / 900.0)

    if masks is not None:
        # Fill all masks in one blend so overlapping translucent fills do not darken each other.
        fill = canvas.copy()
        for mask, color in zip(masks, colors):
            fill[mask] = color
        covered = masks.any(axis=0)
        canvas[covered] = (canvas[covered] * (1 - alpha) + fill[covered] * alpha).astype(np.uint8)
        if draw_contours:
            for mask, color in zip(masks, colors):
                contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_CCOMP, cv2.CHAIN_APPROX_NONE)
                cv2.drawContours(canvas, contours, -1, (255, 255, 255), 2, cv2.LINE_AA)
                cv2.drawContours(canvas, contours, -1, color, 1, cv2.LINE_AA)
        if boxes is None:
            boxes = boxes_from_bitmaps(masks)

    for index in range(count):
        color = colors[index]
        x0, y0, x1, y1 = (int(round(v)) for v in boxes[index])
        if draw_boxes:
            cv2.rectangle(canvas, (x0, y0), (max(x0, x1 - 1), max(y0, y1 - 1)), color, 1, cv2.LINE_AA)
        name = None
        if labels is not None:
            label = int(labels[index])
            name = class_names.get(label, str(label)) if class_names else str(label)
        text = _label_text(name, None if scores is None else float(scores[index]))
        if text:
            _draw_label(canvas, text, (x0, y0), color, scale)
    return canvas
