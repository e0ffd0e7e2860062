"""YOLACT++'s mask re-scoring: the IoU target it learns, and scores re-ranked by the predicted IoU."""

import math

import torch
from torch import nn

from instaseg.models import create_model, model_entry
from instaseg.models.yolact.rescoring import rescoring_loss
from .test_contract import toy_batch


class ConstantLogit(nn.Module):
    def forward(self, probabilities):
        return torch.full((len(probabilities),), 2.0)


def test_the_rescoring_target_is_the_iou_of_the_binarised_mask_inside_the_objects_box():
    gt = torch.zeros((1, 16, 16), dtype=torch.bool)
    gt[0, 4:12, 4:12] = True
    boxes = torch.tensor([[4.0, 4.0, 12.0, 12.0]])
    logits = torch.full((2, 8, 8), -10.0)  # stride 2: the object covers cells 2-5
    logits[0, 1:7, 1:7] = 10.0  # the whole box and a cell beyond
    logits[1, 1:7, 1:4] = 10.0  # up to the middle of the box (x = 8 px): its left 14 of 28 columns
    # Sampled on 28 x 28 cells, the square's target keeps 780 cells: the four corner cells read 0.41 (aligned
    # bilinear sampling at a corner), below 0.5. The full prediction has all 784, the left half 392.
    for row, iou in ((0, 780 / 784), (1, 390 / 782)):
        loss = rescoring_loss(ConstantLogit(), logits[row:row + 1], gt, boxes, torch.tensor([0]), stride=2)
        p = 1 / (1 + math.exp(-2.0))
        expected = -(iou * math.log(p) + (1 - iou) * math.log(1 - p))
        assert math.isclose(float(loss), expected, rel_tol=1e-4)


def test_rescoring_trains_its_head_and_lowers_and_reranks_the_scores():
    torch.manual_seed(0)
    model = create_model("yolact_csp_nano", num_classes=2, **model_entry("yolact_csp_nano").light_options,
                         mask_rescoring=True)
    images, targets = toy_batch()
    losses = model.loss(images, targets)
    assert torch.isfinite(losses["loss_rescoring"]) and float(losses["loss_rescoring"].detach()) > 0
    sum(losses.values()).backward()
    assert all(p.grad is not None for p in model.mask_iou.parameters())
    model.eval()
    with torch.no_grad():
        rescored = model.predict(images[:1], score_threshold=0.0)[0]
        head, model.mask_iou = model.mask_iou, None
        plain = model.predict(images[:1], score_threshold=0.0)[0]
        model.mask_iou = head
    assert len(rescored) == len(plain) > 0
    assert bool((rescored.scores[:-1] >= rescored.scores[1:]).all())
    assert float(rescored.scores.sum()) < float(plain.scores.sum())  # each score times an IoU below 1
