"""CondInst (Tian et al., 2020) on a CSP backbone and PAN neck, with the dense task-aligned head YOLOv8 and
RTMDet train, as RTMDet-Ins (Lyu et al., 2022) does.

Every anchor point predicts class scores, a box and the parameters of a tiny mask network; an instance's mask
is that network run on the shared stride-2 mask features plus coordinates relative to the point. The network
runs only inside the instance's box (its ground-truth box in training, its predicted one in prediction), on a
fixed grid of cells that is then pasted once at full resolution: no full-image mask per candidate.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from instaseg.inference.postprocess.paste import paste_masks
from instaseg.models.base import ImageSize, resolve_output_sizes
from instaseg.models.condinst.config import CondInstConfig
from instaseg.models.condinst.dynamic_mask import DynamicMaskNet, instance_inputs
from instaseg.models.dense import DenseHead, MaskFeatureNet, detection_losses, semantic_loss
from instaseg.models.dense.mask_features import MASK_FEATURE_STRIDE
from instaseg.models.dense.model import DenseInstanceModel, DenseOutputs
from instaseg.models.losses import dice_loss, mask_bce_loss
from instaseg.models.losses.mask_targets import mask_targets
from instaseg.structures.instances import Instances

# Relative coordinates are in units of this many strides of the instance's level (CondInst's "size of
# interest": 64 px at stride 8).
COORDINATE_SCALE_STRIDES = 8


class CondInst(DenseInstanceModel):
    """Backbone -> PAN neck -> dense head (classes, boxes, mask-network parameters) + mask features."""

    def __init__(self, *, backbone: nn.Module, neck: nn.Module, head: DenseHead, mask_features: MaskFeatureNet,
                 mask_net: DynamicMaskNet, semantic: nn.Module, config: CondInstConfig) -> None:
        super().__init__(backbone=backbone, neck=neck, head=head, config=config)
        self.mask_features, self.semantic = mask_features, semantic
        self.mask_net = mask_net

    def run_network(self, images: Sequence[torch.Tensor]) -> tuple[DenseOutputs, torch.Tensor]:
        """The dense outputs (``instance``: (B, A, N) mask-network parameters) and (B, C, H/2, W/2) mask
        features."""
        dense = self.run_dense(images)
        return dense, self.mask_features(dense.levels[0], dense.features["0"])

    def _mask_logits(self, mask_features: torch.Tensor, params: torch.Tensor, image_index: torch.Tensor,
                     boxes: torch.Tensor, points: torch.Tensor, strides: torch.Tensor, size: int) -> torch.Tensor:
        """(P, size, size) mask logits of P instances inside ``boxes``."""
        inputs = instance_inputs(mask_features, image_index, boxes, points, strides * COORDINATE_SCALE_STRIDES,
                                 size, MASK_FEATURE_STRIDE)
        return self.mask_net(params, inputs).view(-1, size, size)

    # Training
    def loss(self, images: Sequence[torch.Tensor], targets: Sequence[Instances]) -> dict[str, torch.Tensor]:
        dense, mask_features = self.run_network(images)
        class_logits, params, points, strides = dense.class_logits, dense.instance, dense.points, dense.strides
        detection = detection_losses(self.assigner, class_logits, dense.boxes, points, targets)
        config, size = self.config, self.config.mask_size
        # Every positive's mask network, inside its object's ground-truth box, against that box's mask cells.
        image_index, positive_index, mask_target_cells = [], [], []
        for index, (assignment, target) in enumerate(zip(detection.assignments, targets)):
            positive = assignment.positive.nonzero().squeeze(1)
            if len(positive) == 0:
                continue
            owner = assignment.gt_index[positive]
            object_cells = mask_targets(target.masks, target.boxes.float(),
                                        torch.arange(len(target), device=owner.device), size)
            image_index.append(torch.full_like(positive, index))
            positive_index.append((positive, owner, target.boxes[owner].float()))
            mask_target_cells.append(object_cells[owner])
        loss_mask = class_logits.sum() * 0
        if image_index:
            image_index = torch.cat(image_index)
            positive = torch.cat([p for p, _, _ in positive_index])
            sample_boxes = torch.cat([b for _, _, b in positive_index])
            logits = self._mask_logits(mask_features, params[image_index, positive], image_index, sample_boxes,
                                       points[positive], strides[positive, 0], size)
            cells = torch.cat(mask_target_cells)
            loss_mask = dice_loss(logits, cells) + mask_bce_loss(logits, cells)
        loss_semantic = semantic_loss(self.semantic(dense.levels[0]), targets, dense.batch.shape[-2:])
        return {"loss_class": config.class_weight * detection.loss_class,
                "loss_box": config.box_weight * detection.loss_box,
                "loss_mask": config.mask_weight * loss_mask, "loss_semantic": config.semantic_weight * loss_semantic}

    # Prediction
    def predict(self, images: Sequence[torch.Tensor], *, output_sizes: Sequence[ImageSize] | None = None,
                score_threshold: float = 0.05, max_instances: int = 100) -> list[Instances]:
        output_sizes = resolve_output_sizes(images, output_sizes)
        dense, mask_features = self.run_network(images)
        params, points, strides = dense.instance, dense.points, dense.strides
        config = self.config
        results = []
        for index, (logits, image_boxes, size, output_size) in enumerate(zip(dense.class_logits, dense.boxes,
                                                                            dense.sizes, output_sizes)):
            kept = self.select(logits, image_boxes, size, score_threshold, max_instances)
            mask_logits = self._mask_logits(mask_features, params[index, kept.points],
                                            torch.full_like(kept.points, index), kept.boxes, points[kept.points],
                                            strides[kept.points, 0], config.mask_size)
            scale = kept.boxes.new_tensor([output_size[1] / size[1], output_size[0] / size[0]] * 2)
            output_boxes = kept.boxes * scale
            masks = paste_masks(mask_logits.sigmoid(), output_boxes, output_size, config.mask_threshold)
            results.append(Instances(image_size=output_size, boxes=output_boxes, masks=masks, labels=kept.labels,
                                     scores=kept.scores))
        return results
