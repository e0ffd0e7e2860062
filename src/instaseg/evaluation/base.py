"""The evaluator protocol the trainer's validation and ``instaseg eval --weights`` use.

An evaluator is reset, fed one image's predictions at a time, then asked for its metrics: a nested dict
such as ``{"segm": {"AP": 0.41, ...}, "bbox": {...}}``. ``main_metric`` names the value that ranks
checkpoints, as a path into that dict (``"segm/AP"``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from instaseg.errors import InstasegError


class Evaluator(Protocol):
    main_metric: str

    def reset(self) -> None: ...

    def process(self, image_id: int, instances: Any) -> None:
        """Record the predictions (``Instances``) of ground-truth image ``image_id``."""

    def evaluate(self) -> dict[str, Any]:
        """Metrics of everything processed since the last reset."""

    def write_predictions(self, path: Path) -> None:
        """Save what was processed in the task's standard result format (COCO results JSON for instances)."""


def metric_value(metrics: dict[str, Any], path: str) -> float:
    """The value at ``path`` ('segm/AP') of a nested metrics dict; a clear error when it is not there."""
    value: Any = metrics
    for part in path.split("/"):
        if not isinstance(value, dict) or part not in value:
            raise InstasegError(f"metric {path!r} is not among the evaluator's metrics ({', '.join(metrics)})")
        value = value[part]
    return float(value)
