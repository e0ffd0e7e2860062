"""The teacher of a distilled run (``instaseg train --teacher CHECKPOINT``): a trained model, frozen, that
predicts for each ground-truth object of every training batch what the student then learns to imitate
(``models.losses.distillation``)."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import torch

from instaseg.data.dataset import CategoryMap
from instaseg.errors import InstasegError
from instaseg.inference.predictor import Predictor
from instaseg.models.base import InstanceSegmentationModel
from instaseg.models.losses import SoftTargets
from instaseg.structures.instances import Instances


class Teacher:
    """A checkpoint's model in eval mode (BatchNorms folded, as the predictor runs it), never trained."""

    def __init__(self, model: InstanceSegmentationModel, name: str) -> None:
        self.model, self.name = model, name

    @classmethod
    def from_checkpoint(cls, path: str | Path, categories: CategoryMap, device: str = "cpu") -> "Teacher":
        """Load and check a teacher for a run on ``categories``: the same category ids, in the same order."""
        predictor = Predictor.from_checkpoint(path, device=device)
        metadata = predictor.metadata
        if list(metadata.category_ids) != list(categories.ids):
            raise InstasegError(f"--teacher {path}: trained on category ids {list(metadata.category_ids)}, the "
                                f"training data has {list(categories.ids)}; a teacher must know the same classes")
        if type(predictor.model).predict_objects is InstanceSegmentationModel.predict_objects:
            raise InstasegError(f"--teacher {path}: model {metadata.model!r} cannot teach (no predict_objects); "
                                "the mask_rcnn_* and yolact_* models can")
        return cls(predictor.model, metadata.model)

    def __call__(self, images: Sequence[torch.Tensor], targets: Sequence[Instances]) -> list[SoftTargets]:
        return self.model.predict_objects(images, targets)  # teachers' predict_objects run without gradients


def check_student(model: InstanceSegmentationModel, name: str) -> None:
    if not type(model).learns_from_teacher:
        raise InstasegError(f"--teacher: model {name!r} does not learn from a teacher; the yolact_* models do")
