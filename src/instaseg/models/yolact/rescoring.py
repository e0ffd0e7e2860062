"""YOLACT++'s mask re-scoring (Bolya et al., 2020): a small network reads an instance's predicted mask inside
its box and predicts the mask's IoU with the object; the instance's score becomes class score x predicted IoU,
so a confident class with a poor mask ranks below a good mask."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.ops import roi_align

from instaseg.models.layers.conv import ConvNormAct

RESCORING_SIZE = 28  # mask cells per side the network reads, in training and in prediction alike


class MaskIoUHead(nn.Module):
    """(P, S, S) mask probabilities inside each box -> (P,) logits of each mask's IoU with its object."""

    def __init__(self, channels: int = 16) -> None:
        super().__init__()
        self.convs = nn.Sequential(ConvNormAct(1, channels, 3, 2), ConvNormAct(channels, 2 * channels, 3, 2),
                                   ConvNormAct(2 * channels, 2 * channels, 3, 2))
        self.iou = nn.Linear(2 * channels, 1)

    def forward(self, probabilities: torch.Tensor) -> torch.Tensor:
        return self.iou(self.convs(probabilities[:, None]).amax(dim=(2, 3)))[:, 0]


def box_cells(mask_logits: torch.Tensor, boxes: torch.Tensor, stride: int) -> torch.Tensor:
    """(P, h, w) full-map mask logits at ``stride`` and (P, 4) xyxy boxes -> (P, S, S) probabilities inside
    each instance's own box."""
    rois = torch.cat([torch.arange(len(boxes), device=boxes.device, dtype=boxes.dtype)[:, None], boxes], dim=1)
    return roi_align(mask_logits[:, None], rois, RESCORING_SIZE, spatial_scale=1 / stride, sampling_ratio=2,
                     aligned=True)[:, 0].sigmoid()


def rescoring_loss(head: MaskIoUHead, cell_logits: torch.Tensor, target_cells: torch.Tensor) -> torch.Tensor:
    """BCE of the predicted IoU of each positive's mask (detached: re-scoring does not train the masks)
    against its actual IoU with its object, both binarised at 0.5 on the (P, S, S) cells of the object's box."""
    predicted = cell_logits.detach().sigmoid()
    binary, truth = predicted > 0.5, target_cells > 0.5
    iou = (binary & truth).flatten(1).sum(1) / (binary | truth).flatten(1).sum(1).clamp(min=1)
    return F.binary_cross_entropy_with_logits(head(predicted), iou.to(predicted.dtype))
