"""The COCO evaluator the trainer, ``instaseg eval --weights`` and benchmarks use: reset, process one image's
predictions, evaluate (see ``evaluation.base``)."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from instaseg.data.formats.coco import dataset_to_coco
from instaseg.data.records import InstanceDataset
from instaseg.errors import InstasegError
from instaseg.evaluation.coco.evaluator import COCOEvaluation, evaluate_coco
from instaseg.evaluation.coco.params import STAT_NAMES
from instaseg.evaluation.coco.results import instances_to_coco_results
from instaseg.structures.instances import Instances
from instaseg.utils.files import atomic_write_json


class COCOEvaluator:
    """Accumulate predictions image by image, then compute the 12 COCO stats per IoU type.

    Only the images passed to ``process`` are evaluated (all ground-truth images if none were), as when
    pycocotools' ``params.imgIds`` is set; ``evaluations`` keeps the full result of the last ``evaluate``.
    ``main_metric`` ('segm/AP', 'bbox/AP50', ...) is the value that ranks checkpoints.
    """

    def __init__(self, ground_truth: InstanceDataset, iou_types: Sequence[str] = ("segm", "bbox"),
                 main_metric: str = "segm/AP") -> None:
        iou_type, _, stat = main_metric.partition("/")
        if iou_type not in iou_types or stat not in STAT_NAMES:
            raise InstasegError(f"COCO evaluation of {', '.join(iou_types)} has no metric {main_metric!r}; "
                                f"use <iou type>/<stat> with a stat among {', '.join(STAT_NAMES)}")
        self.ground_truth = ground_truth
        self.iou_types = tuple(iou_types)
        self.main_metric = main_metric
        self.category_ids = sorted(c.id for c in ground_truth.categories)
        self._coco = dataset_to_coco(ground_truth, mask_format="rle")
        self.evaluations: dict[str, COCOEvaluation] = {}
        self.reset()

    def reset(self) -> None:
        self.results: list[dict] = []
        self.image_ids: set[int] = set()

    def process(self, image_id: int, instances: Instances) -> None:
        self.image_ids.add(int(image_id))
        self.results.extend(instances_to_coco_results(instances, image_id, self.category_ids))

    def evaluate(self) -> dict[str, dict[str, float]]:
        """{'segm': {'AP': ..., ...}, 'bbox': {...}}; values in [0, 1], -1 where undefined."""
        image_ids = sorted(self.image_ids) or None
        self.evaluations = {iou_type: evaluate_coco(self._coco, self.results, iou_type, image_ids)
                            for iou_type in self.iou_types}
        return {iou_type: dict(evaluation.stats) for iou_type, evaluation in self.evaluations.items()}

    def write_predictions(self, path: Path) -> None:
        """The COCO results processed so far, ready for ``instaseg eval --pred``."""
        atomic_write_json(path, self.results)
