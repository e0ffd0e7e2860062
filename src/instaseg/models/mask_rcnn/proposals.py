"""The region proposal network: torchvision's anchors, head, matching, sampling and losses, with the
proposal budget chosen by the caller (training or prediction) instead of by ``self.training``."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torchvision.models.detection.image_list import ImageList
from torchvision.models.detection.rpn import RegionProposalNetwork, concat_box_prediction_layers
from torchvision.ops import boxes as box_ops

Features = dict[str, torch.Tensor]


@dataclass(frozen=True)
class ProposalBudget:
    pre_nms: int  # highest-objectness anchors kept per level before NMS
    post_nms: int  # proposals kept per image after NMS


class ProposalNetwork(RegionProposalNetwork):
    """``proposals`` for prediction, ``proposals_and_losses`` for training; both in any module mode."""

    def __init__(self, anchor_generator, head, *, train_budget: ProposalBudget, test_budget: ProposalBudget,
                 batch_size_per_image: int, fg_iou_thresh: float = 0.7, bg_iou_thresh: float = 0.3,
                 positive_fraction: float = 0.5, nms_thresh: float = 0.7) -> None:
        budgets = {"training": train_budget, "testing": test_budget}
        super().__init__(anchor_generator, head, fg_iou_thresh, bg_iou_thresh, batch_size_per_image,
                         positive_fraction, {k: b.pre_nms for k, b in budgets.items()},
                         {k: b.post_nms for k, b in budgets.items()}, nms_thresh)
        self.train_budget, self.test_budget = train_budget, test_budget

    def proposals(self, images: ImageList, features: Features) -> list[torch.Tensor]:
        """Per image, (P, 4) xyxy proposals in the padded batch's pixels."""
        return self._propose(images, features, self.test_budget)[0]

    def proposals_and_losses(self, images: ImageList, features: Features, targets: list[dict[str, torch.Tensor]]
                             ) -> tuple[list[torch.Tensor], dict[str, torch.Tensor]]:
        boxes, objectness, deltas, anchors = self._propose(images, features, self.train_budget)
        labels, matched_boxes = self.assign_targets_to_anchors(anchors, targets)
        regression_targets = self.box_coder.encode(matched_boxes, anchors)
        loss_objectness, loss_box = self.compute_loss(objectness, deltas, labels, regression_targets)
        return boxes, {"loss_objectness": loss_objectness, "loss_rpn_box_reg": loss_box}

    def _propose(self, images: ImageList, features: Features, budget: ProposalBudget):
        levels = list(features.values())
        objectness, deltas = self.head(levels)
        anchors = self.anchor_generator(images, levels)
        anchors_per_level = [int(o[0].numel()) for o in objectness]  # A * H * W of each level
        objectness, deltas = concat_box_prediction_layers(objectness, deltas)
        # Proposals do not backpropagate into the box deltas (as in Faster R-CNN).
        proposals = self.box_coder.decode(deltas.detach(), anchors).view(len(anchors), -1, 4)
        boxes = self._select(proposals, objectness, images.image_sizes, anchors_per_level, budget)
        return boxes, objectness, deltas, anchors

    def _select(self, proposals: torch.Tensor, objectness: torch.Tensor, image_sizes: list[tuple[int, int]],
                anchors_per_level: list[int], budget: ProposalBudget) -> list[torch.Tensor]:
        """The best ``pre_nms`` anchors of each level, clipped, small and weak ones dropped, NMS per level,
        the best ``post_nms`` kept: torchvision's ``filter_proposals`` with the budget as an argument."""
        num_images = proposals.shape[0]
        objectness = objectness.detach().reshape(num_images, -1)
        level_ids = torch.cat([torch.full((n,), index, dtype=torch.int64, device=proposals.device)
                               for index, n in enumerate(anchors_per_level)]).reshape(1, -1).expand_as(objectness)
        top, offset = [], 0
        for scores in objectness.split(anchors_per_level, 1):
            top.append(scores.topk(min(budget.pre_nms, scores.shape[1]), dim=1)[1] + offset)
            offset += scores.shape[1]
        top = torch.cat(top, dim=1)
        rows = torch.arange(num_images, device=proposals.device)[:, None]
        objectness, level_ids, proposals = objectness[rows, top], level_ids[rows, top], proposals[rows, top]
        selected = []
        for boxes, scores, levels, size in zip(proposals, torch.sigmoid(objectness), level_ids, image_sizes):
            boxes = box_ops.clip_boxes_to_image(boxes, size)
            keep = box_ops.remove_small_boxes(boxes, self.min_size)
            boxes, scores, levels = boxes[keep], scores[keep], levels[keep]
            keep = torch.where(scores >= self.score_thresh)[0]
            boxes, scores, levels = boxes[keep], scores[keep], levels[keep]
            keep = box_ops.batched_nms(boxes, scores, levels, self.nms_thresh)[: budget.post_nms]
            selected.append(boxes[keep])
        return selected
