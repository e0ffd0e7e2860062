"""The shared losses: values at the obvious points, reductions, and empty inputs that keep the graph."""

import pytest
import torch

from instaseg.models.losses import box_iou_loss, dice_loss, mask_bce_loss, sigmoid_focal_loss


def test_dice_is_zero_for_a_perfect_mask_and_near_one_for_its_opposite():
    target = torch.zeros((2, 8, 8))
    target[0, 2:6, 2:6] = 1
    target[1, :, :4] = 1
    perfect = (target * 2 - 1) * 50  # logits far on the right side
    assert dice_loss(perfect, target).item() == pytest.approx(0.0, abs=1e-3)
    assert dice_loss(-perfect, target, reduction="none").min().item() > 0.9
    assert dice_loss(perfect, target, reduction="sum").item() == pytest.approx(0.0, abs=2e-3)
    empty = torch.zeros((0, 8, 8), requires_grad=True)
    loss = dice_loss(empty, torch.zeros((0, 8, 8)))
    loss.backward()
    assert loss.item() == 0.0 and empty.grad is not None


def test_small_masks_weigh_as_much_in_dice_as_in_a_per_mask_average():
    logits, target = torch.zeros((2, 16, 16)), torch.zeros((2, 16, 16))
    target[0, :2, :2] = 1  # 4 px
    target[1, :12, :12] = 1  # 144 px
    per_mask = dice_loss(logits, target, reduction="none")
    assert per_mask[0] > per_mask[1]  # an unsure prediction costs more on the small mask, not less


def test_bce_focal_and_iou_losses():
    logits = torch.tensor([[4.0, -4.0]])
    assert mask_bce_loss(logits, torch.tensor([[1.0, 0.0]])).item() == pytest.approx(0.018, abs=1e-3)
    easy = sigmoid_focal_loss(logits, torch.tensor([[1.0, 0.0]]), reduction="sum")
    assert easy.item() < mask_bce_loss(logits, torch.tensor([[1.0, 0.0]])).item() * 2 * 0.01  # easy ones fade
    box = torch.tensor([[0.0, 0.0, 10.0, 10.0]])
    assert box_iou_loss(box, box).item() == pytest.approx(0.0)
    assert box_iou_loss(box, box + 20, kind="ciou").item() > 1.0
    with pytest.raises(ValueError, match="unknown IoU loss 'iou'"):
        box_iou_loss(box, box, kind="iou")
    assert box_iou_loss(torch.zeros((0, 4)), torch.zeros((0, 4))).item() == 0.0
