"""Pictures of a COCO evaluation: precision-recall curves, per-class AP bars, IoU histogram of true positives."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from instaseg.evaluation.coco.evaluator import COCOEvaluation
from instaseg.utils.files import atomic_write_bytes


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(figure, path: Path) -> None:
    buffer = io.BytesIO()
    figure.tight_layout()
    figure.savefig(buffer, format="png", dpi=100)
    _pyplot().close(figure)
    atomic_write_bytes(path, buffer.getvalue())


def plot_pr_curves(evaluation: COCOEvaluation, path: Path) -> None:
    """Left: all classes at IoU 0.50, 0.75 and averaged over 0.50:0.95. Right: each class at IoU 0.50."""
    plt = _pyplot()
    recall = evaluation.params.recall_thresholds
    precision = evaluation.precision[:, :, :, 0, -1]  # (T, R, K), all areas, largest limit
    figure, (overall, per_class) = plt.subplots(1, 2, figsize=(11, 4.5))
    for label, rows in (("IoU 0.50", [0]), ("IoU 0.75", [5]), ("IoU 0.50:0.95", list(range(precision.shape[0])))):
        curve = _mean_defined(precision[rows], axis=(0, 2))
        if curve is not None:
            overall.plot(recall, curve, label=f"{label} (AP {np.mean(curve):.3f})")
    overall.set(title=f"{evaluation.iou_type}: all classes", xlabel="recall", ylabel="precision", xlim=(0, 1),
                ylim=(0, 1.02))
    overall.legend(fontsize=8)
    for k, name in enumerate(evaluation.category_names):
        if (precision[0, :, k] > -1).any():
            per_class.plot(recall, precision[0, :, k], label=name, linewidth=1)
    per_class.set(title=f"{evaluation.iou_type}: per class at IoU 0.50", xlabel="recall", xlim=(0, 1), ylim=(0, 1.02))
    if len(evaluation.category_names) <= 20:
        per_class.legend(fontsize=7)
    _save(figure, path)


def _mean_defined(values: np.ndarray, axis) -> np.ndarray | None:
    defined = values > -1
    count = defined.sum(axis=axis)
    if not count.any():
        return None
    return np.where(defined, values, 0).sum(axis=axis) / np.maximum(count, 1)


def plot_class_ap(evaluations: dict[str, COCOEvaluation], path: Path) -> None:
    """Horizontal bars of AP per class, one bar per IoU type, worst classes at the top."""
    plt = _pyplot()
    first = next(iter(evaluations.values()))
    names = first.category_names
    order = np.argsort(np.nan_to_num(first.category_ap, nan=-1))
    figure, axes = plt.subplots(figsize=(7, 1.2 + 0.32 * len(names) * len(evaluations)))
    height = 0.8 / len(evaluations)
    for offset, (iou_type, evaluation) in enumerate(evaluations.items()):
        values = np.nan_to_num(evaluation.category_ap[order], nan=0.0)
        axes.barh(np.arange(len(names)) + offset * height, values, height=height, label=iou_type)
    axes.set_yticks(np.arange(len(names)) + height * (len(evaluations) - 1) / 2, [names[i] for i in order])
    axes.set(xlabel="AP (IoU 0.50:0.95)", xlim=(0, 1), title="AP per class")
    axes.legend(fontsize=8)
    _save(figure, path)


def plot_iou_histogram(evaluation: COCOEvaluation, path: Path) -> None:
    """How tight the true positives at IoU 0.5 are: the distribution of their IoU with the ground truth."""
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(6, 3.6))
    axes.hist(evaluation.matched_ious, bins=np.linspace(0.5, 1.0, 26), color="tab:green", edgecolor="white")
    median = float(np.median(evaluation.matched_ious)) if len(evaluation.matched_ious) else float("nan")
    axes.set(title=f"{evaluation.iou_type} IoU of matched pairs (n={len(evaluation.matched_ious)}, "
                   f"median {median:.3f})",
             xlabel="IoU with ground truth", ylabel="pairs")
    _save(figure, path)


def plot_error_breakdown(analysis, path: Path) -> None:
    """Left: AP50 gained by fixing each error type. Right: how many of each error there are."""
    plt = _pyplot()
    names = list(analysis.delta_ap)
    figure, (gain, count) = plt.subplots(1, 2, figsize=(11, 3.8))
    colours = plt.get_cmap("tab10")(np.arange(len(names)))
    gain.barh(names, [100 * analysis.delta_ap[n] for n in names], color=colours)
    gain.invert_yaxis()
    gain.set(title=f"AP50 lost to each error (AP50 {100 * analysis.ap50:.1f})", xlabel="AP50 points")
    count.barh(names, [analysis.counts[n] for n in names], color=colours)
    count.invert_yaxis()
    count.set(title=f"errors (fragmented {analysis.fragmented}, merged {analysis.merged})",
              xlabel="detections (missed: ground truths)")
    _save(figure, path)


def plot_confusion(analysis, path: Path) -> None:
    """Row-normalised confusion matrix of confident predictions, counts written in the cells."""
    plt = _pyplot()
    matrix = analysis.confusion
    labels = list(analysis.category_names) + ["background"]
    shares = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    size = 2.5 + 0.45 * len(labels)
    figure, axes = plt.subplots(figsize=(size + 1, size))
    image = axes.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    axes.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    axes.set_yticks(range(len(labels)), labels)
    if len(labels) <= 25:
        for row, column in zip(*np.nonzero(matrix)):
            axes.text(column, row, str(matrix[row, column]), ha="center", va="center", fontsize=7,
                      color="white" if shares[row, column] > 0.5 else "black")
    axes.set(xlabel="predicted", ylabel="true",
             title=f"confusion at IoU 0.5, score >= {analysis.score_threshold:g} (row-normalised)")
    figure.colorbar(image, ax=axes, fraction=0.046)
    _save(figure, path)
