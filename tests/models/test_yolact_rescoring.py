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


def test_the_rescoring_target_is_the_iou_of_the_binarised_mask_on_the_box_cells():
    truth = torch.zeros((1, 4, 4))
    truth[0, :, :2] = 0.8  # the object fills the left half of its box (soft cells above 0.5 count)
    logits = torch.full((2, 4, 4), -10.0)
    logits[0] = 10.0  # the whole box: IoU 8 / 16
    logits[1, 1:, :2] = 10.0  # three quarters of the object, nothing outside: IoU 6 / 8
    for row, iou in ((0, 0.5), (1, 0.75)):
        loss = rescoring_loss(ConstantLogit(), logits[row:row + 1], truth)
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


def test_training_mask_cells_are_the_box_cells_of_the_full_map_logits():
    # Sampling is linear: cells sampled from the prototypes then combined equal cells of the combined map,
    # so the loss supervises what prediction reads inside a box.
    from torchvision.ops import roi_align

    from instaseg.models.yolact.model import (PROTOTYPE_STRIDE, TRAINING_MASK_CELLS, box_cell_logits,
                                              prototype_box_cells)

    torch.manual_seed(0)
    batch_prototypes, coefficients = torch.randn(2, 4, 20, 24), torch.randn(3, 4)
    boxes = torch.tensor([[3.0, 5.0, 30.0, 33.0], [10.5, 2.0, 46.0, 20.0]])
    owner = torch.tensor([1, 0, 1])
    # The second image's objects, sampled in the same batched call as another image's box.
    object_cells = prototype_box_cells(batch_prototypes, [torch.tensor([[0.0, 0.0, 8.0, 8.0]]), boxes])
    assert [len(cells) for cells in object_cells] == [1, 2]
    cells = box_cell_logits(coefficients, object_cells[1], owner)
    prototypes = batch_prototypes[1]
    full_map = torch.einsum("pk,khw->phw", coefficients, prototypes)[:, None]
    rois = torch.cat([torch.arange(3.0)[:, None], boxes[owner]], dim=1)
    expected = roi_align(full_map, rois, TRAINING_MASK_CELLS, spatial_scale=1 / PROTOTYPE_STRIDE, sampling_ratio=1,
                         aligned=True)[:, 0]
    assert cells.shape == (3, TRAINING_MASK_CELLS, TRAINING_MASK_CELLS)
    assert torch.allclose(cells, expected, atol=1e-4)
