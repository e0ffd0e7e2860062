"""Box and mask RoI heads: torchvision's parts (sampling, box loss, box decoding), aligned mask targets, and
the prediction limits passed as arguments."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torchvision.models.detection.roi_heads import RoIHeads, fastrcnn_loss
from torchvision.ops import boxes as box_ops

from instaseg.models.mask_rcnn.mask_geometry import mask_loss

Features = dict[str, torch.Tensor]
Detections = list[dict[str, torch.Tensor]]


class BoxMaskRoIHeads(RoIHeads):
    """torchvision's ``RoIHeads`` for boxes and masks only: ``losses`` for training, ``detect`` for prediction,
    with mask targets sampled by aligned RoIAlign (see ``mask_geometry``)."""

    def losses(self, features: Features, proposals: list[torch.Tensor], image_shapes: list[tuple[int, int]],
               targets: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
        proposals, matched, labels, regression_targets = self.select_training_samples(proposals, targets)
        class_logits, box_regression = self.box_logits(features, proposals, image_shapes)
        loss_classifier, loss_box_reg = fastrcnn_loss(class_logits, box_regression, labels, regression_targets)
        # The mask branch learns from positive samples only, each against its matched ground truth.
        positive = [torch.where(image_labels > 0)[0] for image_labels in labels]
        mask_boxes = [image_proposals[index] for image_proposals, index in zip(proposals, positive)]
        mask_logits = self.mask_logits(features, mask_boxes, image_shapes)
        loss_mask = mask_loss(mask_logits, mask_boxes, [t["masks"] for t in targets], [t["labels"] for t in targets],
                              [image_matched[index] for image_matched, index in zip(matched, positive)])
        return {"loss_classifier": loss_classifier, "loss_box_reg": loss_box_reg, "loss_mask": loss_mask}

    def detect(self, features: Features, proposals: list[torch.Tensor], image_shapes: list[tuple[int, int]], *,
               score_threshold: float, max_detections: int) -> Detections:
        """Per image: boxes, labels (1-based; 0 is background), scores, best first, and (P, 1, M, M) mask
        probabilities of the predicted class. Weak and surplus boxes go before the mask head, its main cost."""
        class_logits, box_regression = self.box_logits(features, proposals, image_shapes)
        boxes = self.box_coder.decode(box_regression, proposals).split([len(p) for p in proposals])
        scores = F.softmax(class_logits, -1).split([len(p) for p in proposals])
        kept = [self._keep(b, s, size, score_threshold, max_detections)
                for b, s, size in zip(boxes, scores, image_shapes)]
        boxes, scores, labels = ([k[i] for k in kept] for i in range(3))
        logits = self.mask_logits(features, boxes, image_shapes)  # (P, C, M, M), all images
        own_class = logits[torch.arange(len(logits), device=logits.device), torch.cat(labels)]
        probabilities = own_class.sigmoid()[:, None].split([len(b) for b in boxes])
        return [{"boxes": b, "labels": lab, "scores": s, "masks": p}
                for b, lab, s, p in zip(boxes, labels, scores, probabilities)]

    def _keep(self, boxes: torch.Tensor, scores: torch.Tensor, size: tuple[int, int], score_threshold: float,
              max_detections: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Every (box, class) pair of one image as a candidate, background left out; weak, empty and
        overlapping (same-class NMS) candidates dropped; the best ``max_detections`` kept."""
        boxes = box_ops.clip_boxes_to_image(boxes, size)  # (P, C, 4)
        labels = torch.arange(scores.shape[-1], device=scores.device).view(1, -1).expand_as(scores)
        boxes, scores, labels = boxes[:, 1:].reshape(-1, 4), scores[:, 1:].reshape(-1), labels[:, 1:].reshape(-1)
        keep = torch.where(scores > score_threshold)[0]
        boxes, scores, labels = boxes[keep], scores[keep], labels[keep]
        keep = box_ops.remove_small_boxes(boxes, min_size=1e-2)
        boxes, scores, labels = boxes[keep], scores[keep], labels[keep]
        keep = box_ops.batched_nms(boxes, scores, labels, self.nms_thresh)[:max_detections]
        return boxes[keep], scores[keep], labels[keep]

    def box_logits(self, features: Features, boxes: list[torch.Tensor], image_shapes: list[tuple[int, int]]
                   ) -> tuple[torch.Tensor, torch.Tensor]:
        """(P, C+1) class logits and (P, 4 (C+1)) box deltas for every box of every image, concatenated."""
        return self.box_predictor(self.box_head(self.box_roi_pool(features, boxes, image_shapes)))

    def mask_logits(self, features: Features, boxes: list[torch.Tensor],
                    image_shapes: list[tuple[int, int]]) -> torch.Tensor:
        """(P, C, M, M) class-specific mask logits for every box of every image, concatenated."""
        return self.mask_predictor(self.mask_head(self.mask_roi_pool(features, boxes, image_shapes)))
