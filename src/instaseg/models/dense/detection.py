"""The detection half of the dense families: task-aligned assignment with its class and box losses for
training, and score-ranked candidates through Fast NMS for prediction."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn.functional as F
from torchvision.ops import clip_boxes_to_image

from instaseg.inference.postprocess.nms import fast_nms
from instaseg.models.assigners import Assignment, TaskAlignedAssigner
from instaseg.models.losses import box_iou_loss
from instaseg.structures.instances import Instances


@dataclass
class DetectionLosses:
    loss_class: torch.Tensor  # BCE against the soft targets, over the targets' sum
    loss_box: torch.Tensor  # GIoU of the positives, weighted by their targets, over the same sum
    assignments: list[Assignment]  # per image, for the family's mask loss


def detection_losses(assigner: TaskAlignedAssigner, class_logits: torch.Tensor, boxes: torch.Tensor,
                     points: torch.Tensor, targets: Sequence[Instances]) -> DetectionLosses:
    """Assign every image's anchor points, then the class and box losses over the batch.

    Args:
        class_logits: (B, A, K); boxes: (B, A, 4) xyxy predictions; points: (A, 2) anchor centres.
    """
    assignments = [assigner(logits.sigmoid().detach(), image_boxes.detach(), points, t.boxes.float(), t.labels)
                   for logits, image_boxes, t in zip(class_logits, boxes, targets)]
    class_targets = torch.stack([a.class_targets for a in assignments])  # (B, A, K)
    normaliser = class_targets.sum().clamp(min=1.0)
    loss_class = F.binary_cross_entropy_with_logits(class_logits, class_targets, reduction="sum") / normaliser
    loss_box = class_logits.sum() * 0  # keeps the graph whole for batches without objects
    for index, (assignment, target) in enumerate(zip(assignments, targets)):
        positive = assignment.positive.nonzero().squeeze(1)
        if len(positive):
            weight = assignment.class_targets[positive].sum(dim=1)  # (P,) the target of each positive
            owner = assignment.gt_index[positive]
            loss_box = loss_box + (box_iou_loss(boxes[index, positive], target.boxes[owner].float(),
                                                reduction="none") * weight).sum()
    return DetectionLosses(loss_class, loss_box / normaliser, assignments)


@dataclass
class Detections:
    """The kept candidates of one image, by descending score."""

    points: torch.Tensor  # (P,) anchor-point index of each
    labels: torch.Tensor  # (P,)
    boxes: torch.Tensor  # (P, 4) xyxy, clipped to the image
    scores: torch.Tensor  # (P,)


def select_detections(scores: torch.Tensor, boxes: torch.Tensor, image_size: tuple[int, int], *,
                      score_threshold: float, pre_nms_candidates: int, nms_threshold: float,
                      max_instances: int) -> Detections:
    """(A, K) class probabilities and (A, 4) boxes of one image -> its detections: every (point, class) above
    the threshold is a candidate, the best ``pre_nms_candidates`` go through class-wise Fast NMS."""
    flat = scores.flatten()
    candidates = torch.nonzero(flat > score_threshold).squeeze(1)
    candidates = candidates[flat[candidates].topk(min(pre_nms_candidates, len(candidates))).indices]
    points, labels = candidates // scores.shape[1], candidates % scores.shape[1]
    candidate_boxes = clip_boxes_to_image(boxes[points], image_size)
    keep = fast_nms(candidate_boxes, flat[candidates], labels, nms_threshold)[:max_instances]
    return Detections(points[keep], labels[keep], candidate_boxes[keep], flat[candidates[keep]])
