"""Training curves as a picture: losses over iterations, validation AP beside them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from instaseg.utils.files import atomic_write_bytes


def plot_training_curves(records: list[dict[str, Any]], path: Path) -> None:
    """Write a PNG with one panel of training losses and one of validation mask/box AP."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    train = [r for r in records if r.get("type") == "train"]
    val = [r for r in records if r.get("type") == "val"]
    figure, (loss_axes, ap_axes) = plt.subplots(1, 2, figsize=(11, 4))
    if train:
        keys = [k for k in train[-1] if k.startswith("loss")]
        iterations = [r["iteration"] for r in train]
        for key in keys:
            loss_axes.plot(iterations, [r.get(key) for r in train], label=key, linewidth=2 if key == "loss" else 1)
        loss_axes.set_yscale("log")
        loss_axes.legend(fontsize=7)
    loss_axes.set(title="training losses", xlabel="iteration")
    if val:
        iterations = [r["iteration"] for r in val]
        for iou_type, style in (("segm", "-o"), ("bbox", "--s")):
            ap_axes.plot(iterations, [r[iou_type]["AP"] for r in val], style, label=f"{iou_type} AP")
            ap_axes.plot(iterations, [r[iou_type]["AP50"] for r in val], style, alpha=0.5, label=f"{iou_type} AP50")
        ap_axes.legend(fontsize=7)
    ap_axes.set(title="validation (COCO)", xlabel="iteration", ylim=(0, 1))
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    plt.close(figure)
    atomic_write_bytes(path, buffer.getvalue())
