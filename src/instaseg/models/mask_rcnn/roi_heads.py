"""Box and mask RoI heads: torchvision's parts (sampling, box loss, box post-processing), aligned mask targets."""

from __future__ import annotations

import torch
from torchvision.models.detection.roi_heads import RoIHeads, fastrcnn_loss

from instaseg.models.mask_rcnn.mask_geometry import mask_loss

Detections = list[dict[str, torch.Tensor]]


class BoxMaskRoIHeads(RoIHeads):
    """torchvision's ``RoIHeads`` for boxes and masks only, with separate training and inference paths and
    mask targets sampled by aligned RoIAlign (see ``mask_geometry``)."""

    def forward(self, features: dict[str, torch.Tensor], proposals: list[torch.Tensor],
                image_shapes: list[tuple[int, int]], targets: list[dict[str, torch.Tensor]] | None = None,
                ) -> tuple[Detections, dict[str, torch.Tensor]]:
        """Training (``targets`` given): ([], losses). Inference: (per-image dicts of boxes, labels, scores and
        (P, 1, M, M) mask probabilities of the predicted class, {})."""
        if targets is not None:
            return [], self.losses(features, proposals, image_shapes, targets)
        return self.detect(features, proposals, image_shapes), {}

    def losses(self, features: dict[str, torch.Tensor], proposals: list[torch.Tensor],
               image_shapes: list[tuple[int, int]], targets: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
        proposals, matched, labels, regression_targets = self.select_training_samples(proposals, targets)
        class_logits, box_regression = self.box_predictor(self.box_head(self.box_roi_pool(features, proposals,
                                                                                           image_shapes)))
        loss_classifier, loss_box_reg = fastrcnn_loss(class_logits, box_regression, labels, regression_targets)
        # The mask branch learns from positive samples only, each against its matched ground truth.
        positive = [torch.where(image_labels > 0)[0] for image_labels in labels]
        mask_boxes = [image_proposals[index] for image_proposals, index in zip(proposals, positive)]
        mask_logits = self.mask_logits(features, mask_boxes, image_shapes)
        loss_mask = mask_loss(mask_logits, mask_boxes, [t["masks"] for t in targets], [t["labels"] for t in targets],
                              [image_matched[index] for image_matched, index in zip(matched, positive)])
        return {"loss_classifier": loss_classifier, "loss_box_reg": loss_box_reg, "loss_mask": loss_mask}

    def detect(self, features: dict[str, torch.Tensor], proposals: list[torch.Tensor],
               image_shapes: list[tuple[int, int]]) -> Detections:
        class_logits, box_regression = self.box_predictor(self.box_head(self.box_roi_pool(features, proposals,
                                                                                           image_shapes)))
        boxes, scores, labels = self.postprocess_detections(class_logits, box_regression, proposals, image_shapes)
        logits = self.mask_logits(features, boxes, image_shapes)  # (P, C, M, M), all images
        own_class = logits[torch.arange(len(logits), device=logits.device), torch.cat(labels)]
        probabilities = own_class.sigmoid()[:, None].split([len(b) for b in boxes])
        return [{"boxes": b, "labels": lab, "scores": s, "masks": p}
                for b, lab, s, p in zip(boxes, labels, scores, probabilities)]

    def mask_logits(self, features: dict[str, torch.Tensor], boxes: list[torch.Tensor],
                    image_shapes: list[tuple[int, int]]) -> torch.Tensor:
        """(P, C, M, M) class-specific mask logits for every box of every image, concatenated."""
        return self.mask_predictor(self.mask_head(self.mask_roi_pool(features, boxes, image_shapes)))
