"""Aligned mask targets and pasting: exact on pixel-aligned shapes, near-exact round trips, robust edges."""

import numpy as np
import torch
from torchvision.models.detection.roi_heads import paste_masks_in_image, project_masks_on_boxes

from instaseg.inference.postprocess.paste import paste_masks
from instaseg.models.losses.mask_targets import mask_targets
from instaseg.models.mask_rcnn.mask_geometry import mask_loss


def _ellipse(height, width, cy, cx, ry, rx):
    y, x = np.mgrid[:height, :width] + 0.5
    return torch.from_numpy(((y - cy) / ry) ** 2 + ((x - cx) / rx) ** 2 <= 1)


def _iou(a, b):
    return float((a & b).sum() / (a | b).sum())


def test_target_of_box_filling_mask_is_one_inside_and_above_half_at_the_edges():
    mask = torch.zeros(1, 40, 50, dtype=torch.bool)
    mask[0, 10:30, 5:45] = True
    target = mask_targets(mask, torch.tensor([[5.0, 10.0, 45.0, 30.0]]), torch.tensor([0]), 28)
    assert target.shape == (1, 28, 28)
    # Bilinear samples in the outer cells fall within half a pixel of the box edge, beside background.
    assert torch.allclose(target[0, 1:-1, 1:-1], torch.ones(26, 26))
    assert target.min() > 0.5


def test_target_of_left_half_mask_splits_at_the_middle_column():
    mask = torch.zeros(1, 28, 56, dtype=torch.bool)
    mask[0, :, :28] = True
    target = mask_targets(mask, torch.tensor([[0.0, 0.0, 56.0, 28.0]]), torch.tensor([0]), 28)[0]
    assert torch.allclose(target[:, :14], torch.ones(28, 14))
    assert torch.allclose(target[:, 14:], torch.zeros(28, 14))


def test_targets_follow_the_matched_index():
    masks = torch.zeros(2, 20, 20, dtype=torch.bool)
    masks[1, 5:15, 5:15] = True
    box = torch.tensor([[5.0, 5.0, 15.0, 15.0]] * 2)
    targets = mask_targets(masks, box, torch.tensor([1, 0]), 14)
    assert targets[0].min() > 0.5 and targets[1].max() == 0


def test_rectangle_survives_the_round_trip_exactly():
    mask = torch.zeros(1, 64, 64, dtype=torch.bool)
    mask[0, 7:40, 12:61] = True
    box = torch.tensor([[12.0, 7.0, 61.0, 40.0]])
    pasted = paste_masks(mask_targets(mask, box, torch.tensor([0]), 28), box, (64, 64))
    assert torch.equal(pasted, mask)


def test_round_trip_beats_torchvision_on_small_objects():
    masks = torch.stack([_ellipse(96, 96, 30.3, 40.7, 6.2, 9.1), _ellipse(96, 96, 60.0, 60.0, 14.0, 11.0)])
    boxes = torch.tensor([[31.0, 24.0, 50.0, 37.0], [49.0, 46.0, 71.0, 74.0]])
    ours = paste_masks(mask_targets(masks, boxes, torch.arange(2), 28), boxes, (96, 96))
    theirs = paste_masks_in_image(project_masks_on_boxes(masks.to(torch.uint8), boxes, torch.arange(2), 28)[:, None],
                                  boxes, (96, 96))[:, 0] > 0.5
    for index in range(2):
        assert _iou(ours[index], masks[index]) > 0.97
        assert _iou(ours[index], masks[index]) > _iou(theirs[index], masks[index])


def test_paste_clips_boxes_outside_the_image_and_skips_degenerate_ones():
    probabilities = torch.ones(3, 28, 28)
    boxes = torch.tensor([[-10.0, -5.0, 10.0, 8.0], [5.0, 5.0, 5.0, 9.0], [100.0, 100.0, 120.0, 130.0]])
    pasted = paste_masks(probabilities, boxes, (32, 48))
    assert pasted.shape == (3, 32, 48) and pasted.dtype == torch.bool
    assert torch.equal(pasted[0].nonzero().amin(0), torch.tensor([0, 0]))
    assert torch.equal(pasted[0].nonzero().amax(0), torch.tensor([7, 9]))
    assert not pasted[1].any() and not pasted[2].any()


def test_paste_of_no_boxes_is_empty():
    assert paste_masks(torch.zeros(0, 28, 28), torch.zeros(0, 4), (10, 12)).shape == (0, 10, 12)


def test_mask_loss_is_zero_and_differentiable_without_positives():
    logits = torch.zeros(0, 3, 28, 28, requires_grad=True)
    loss = mask_loss(logits, [torch.zeros(0, 4)], [torch.zeros(1, 20, 20)], [torch.tensor([1])],
                     [torch.zeros(0, dtype=torch.long)])
    loss.backward()
    assert float(loss.detach()) == 0.0


def test_mask_loss_uses_the_matched_class_channel_and_aligned_targets():
    mask = torch.zeros(1, 20, 20, dtype=torch.bool)
    mask[0, 2:18, 2:18] = True
    boxes = [torch.tensor([[2.0, 2.0, 18.0, 18.0]])]
    target = mask_targets(mask, boxes[0], torch.tensor([0]), 28)[0].clamp(1e-6, 1 - 1e-6)
    logits = torch.full((1, 3, 28, 28), -20.0)
    logits[0, 2] = torch.logit(target)  # the loss's minimum on class 2 only
    right = mask_loss(logits, boxes, [mask], [torch.tensor([2])], [torch.tensor([0])])
    wrong = mask_loss(logits, boxes, [mask], [torch.tensor([1])], [torch.tensor([0])])
    entropy = torch.nn.functional.binary_cross_entropy(target, target)
    assert abs(float(right) - float(entropy)) < 1e-4 and float(wrong) > 10
