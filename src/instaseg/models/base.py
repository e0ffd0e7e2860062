"""The model protocol: what every model family implements, and all that the engine and predictor rely on.

A trainable model is an ``InstanceSegmentationModel`` (an ``nn.Module``) with two explicit calls:

- ``loss(images, targets) -> dict[str, Tensor]``: named scalar losses, summed by the trainer. It computes
  losses whatever ``self.training`` says (train/eval mode changes only layers such as BatchNorm and dropout).
- ``predict(images, *, output_sizes, score_threshold, max_instances) -> list[Instances]``: one ``Instances``
  per image, with scores, labels 0..num_classes-1, xyxy boxes and bool masks at each ``output_sizes`` entry.
  Limits are arguments: a model never changes its own settings to honour them.

``images`` are lists of (3, H, W) float tensors in [0, 1] of any sizes (the model normalises and pads them
itself); ``targets`` are ``Instances`` at the same sizes. ``forward`` is not part of the protocol.

Distillation (``instaseg train --teacher``) adds two optional calls. A teacher implements
``predict_objects(images, targets) -> list[SoftTargets]``: its class probabilities and mask for each
ground-truth object. A student sets ``learns_from_teacher`` and takes ``loss(images, targets, soft_targets=...)``,
adding imitation terms to its losses (``models.losses.distillation``).

Each model class declares its ``task`` and its ``ranking_metric``: the key (``"segm/AP"``) of the
evaluator's metrics that the trainer keeps the best checkpoint by. Methods that need no training (the
classical ones) implement only ``predict`` and ``task`` (``Predicts``); everything downstream of prediction
(predictor, writers, evaluation) takes either.
"""

from __future__ import annotations

from typing import ClassVar, Literal, Protocol, Sequence, runtime_checkable

import torch
from torch import nn

from instaseg.models.losses.distillation import SoftTargets
from instaseg.structures.instances import Instances

Task = Literal["instance", "panoptic", "semantic", "prompt-conditioned"]
TASKS: tuple[str, ...] = ("instance", "panoptic", "semantic", "prompt-conditioned")
ImageSize = tuple[int, int]


@runtime_checkable
class Predicts(Protocol):
    """The prediction half of the protocol: what a classical method or an exported model implements."""

    task: Task

    def predict(self, images: Sequence[torch.Tensor], *, output_sizes: Sequence[ImageSize] | None = None,
                score_threshold: float = 0.05, max_instances: int = 100) -> list[Instances]: ...


class InstanceSegmentationModel(nn.Module):
    """Base class of the trainable models; see the module docstring for the contract."""

    task: ClassVar[Task] = "instance"
    ranking_metric: ClassVar[str] = "segm/AP"
    # The layout the network's convolutions read; the predictor stores the weights in it too.
    memory_format: ClassVar[torch.memory_format] = torch.contiguous_format
    learns_from_teacher: ClassVar[bool] = False  # its ``loss`` takes ``soft_targets``

    def loss(self, images: Sequence[torch.Tensor], targets: Sequence[Instances]) -> dict[str, torch.Tensor]:
        """Named scalar losses of one batch (the trainer sums them)."""
        raise NotImplementedError

    def predict(self, images: Sequence[torch.Tensor], *, output_sizes: Sequence[ImageSize] | None = None,
                score_threshold: float = 0.05, max_instances: int = 100) -> list[Instances]:
        """One ``Instances`` per image at ``output_sizes`` (default: each input's size), best first, keeping
        scores above ``score_threshold`` and at most ``max_instances``."""
        raise NotImplementedError

    def predict_objects(self, images: Sequence[torch.Tensor], targets: Sequence[Instances]) -> list[SoftTargets]:
        """As a teacher: this model's class probabilities and mask for each of the targets' objects."""
        raise NotImplementedError(f"{type(self).__name__} cannot teach")

    def forward(self, *args, **kwargs):
        raise TypeError(f"{type(self).__name__}: call .loss(images, targets) to train or .predict(images, ...) "
                        "to infer; models have no forward()")


def resolve_output_sizes(images: Sequence[torch.Tensor], output_sizes: Sequence[ImageSize] | None
                         ) -> list[ImageSize]:
    """``output_sizes`` as int pairs, defaulting to each image's own (H, W)."""
    if output_sizes is None:
        return [(int(image.shape[-2]), int(image.shape[-1])) for image in images]
    if len(output_sizes) != len(images):
        raise ValueError(f"{len(images)} images but {len(output_sizes)} output sizes")
    return [(int(height), int(width)) for height, width in output_sizes]
