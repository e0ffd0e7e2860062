"""The parts of the single-stage families checked on hand-made cases: Matrix NMS's decay, SOLO's grid
targets, CondInst's dynamic mask networks and their relative coordinates."""

import torch

from instaseg.inference.postprocess.matrix_nms import matrix_nms
from instaseg.models.condinst.dynamic_mask import DynamicMaskNet, instance_inputs
from instaseg.models.solov2.targets import grid_targets
from instaseg.structures import Instances


def square(top: int, left: int, side: int, size: int = 32) -> torch.Tensor:
    mask = torch.zeros((size, size), dtype=torch.bool)
    mask[top:top + side, left:left + side] = True
    return mask


def test_matrix_nms_decays_overlapping_masks_of_one_class_only():
    masks = torch.stack([square(0, 0, 10), square(0, 1, 10), square(0, 1, 10), square(20, 20, 8)])
    labels = torch.tensor([0, 0, 1, 0])
    scores = torch.tensor([0.9, 0.8, 0.7, 0.6])
    decayed = matrix_nms(masks, labels, scores, sigma=2.0)
    iou = 90 / 110
    assert torch.isclose(decayed[1], torch.tensor(0.8 * torch.exp(torch.tensor(-2.0 * iou ** 2)).item()))
    assert decayed[0] == 0.9 and decayed[2] == 0.7 and decayed[3] == 0.6  # other class / no overlap: kept
    linear = matrix_nms(masks, labels, scores, kernel="linear")
    assert torch.isclose(linear[1], torch.tensor(0.8 * (1 - iou)))


def test_matrix_nms_compensates_for_a_suppressor_that_is_itself_suppressed():
    # b is nearly a duplicate of a; c overlaps b more than a. c's decay by b is divided by b's own decay, so
    # c ends up limited by its overlap with a, not by the larger one with b.
    a, b, c = square(0, 0, 10), square(0, 1, 10), square(0, 3, 10)
    decayed = matrix_nms(torch.stack([a, b, c]), torch.zeros(3, dtype=torch.long), torch.tensor([0.9, 0.8, 0.7]))
    iou_ab, iou_ac, iou_bc = 90 / 110, 70 / 130, 80 / 120
    by_a = torch.exp(torch.tensor(-2.0 * iou_ac ** 2))
    by_b_compensated = torch.exp(torch.tensor(-2.0 * (iou_bc ** 2 - iou_ab ** 2)))
    assert by_b_compensated > 1 and torch.isclose(decayed[2], 0.7 * by_a)


def test_solo_grid_targets_take_central_cells_at_the_level_of_the_objects_size():
    masks = torch.stack([square(2, 2, 8, 64), square(16, 16, 40, 64)])  # sqrt(area) 8 and 40
    target = Instances.from_masks(masks, [1, 0])
    assigned = grid_targets(target, (64, 64), grids=(8, 4), scale_ranges=((0, 16), (16, 100)), sigma=0.2)
    fine, coarse = assigned.owners[:64].view(8, 8), assigned.owners[64:].view(4, 4)
    assert fine[0, 0] == 0 and int((fine == 0).sum()) == 1 and not bool((fine == 1).any())
    assert coarse[2, 2] == 1 and not bool((coarse == 0).any())  # the centre (36, 36) lies in cell (2, 2)
    assert bool((assigned.labels[assigned.owners == 0] == 1).all())
    assert bool((assigned.labels[assigned.owners == 1] == 0).all())


def test_dynamic_mask_network_is_a_per_instance_stack_of_1x1_convolutions():
    net = DynamicMaskNet(feature_channels=3, channels=4, layers=3)
    assert net.num_params == (5 * 4 + 4) + (4 * 4 + 4) + (4 + 1)
    torch.manual_seed(0)
    params = torch.randn(2, net.num_params)
    inputs = torch.randn(2, 5, 7)
    logits = net(params, inputs)
    # The second instance by hand, as three convolutions.
    w1, b1 = params[1, :20].view(4, 5), params[1, 20:24]
    w2, b2 = params[1, 24:40].view(4, 4), params[1, 40:44]
    w3, b3 = params[1, 44:48].view(1, 4), params[1, 48:49]
    x = torch.relu(w1 @ inputs[1] + b1[:, None])
    x = torch.relu(w2 @ x + b2[:, None])
    assert torch.allclose(logits[1], (w3 @ x + b3[:, None])[0], atol=1e-5)


def test_instance_inputs_sample_the_box_and_give_offsets_from_the_point():
    # Features equal to their column index (stride 2): bilinear sampling reproduces a linear ramp exactly.
    features = torch.arange(4.0).view(1, 1, 1, 4).expand(1, 2, 4, 4).contiguous()
    boxes = torch.tensor([[2.0, 2.0, 6.0, 6.0]])  # feature cells 1 to 3
    points = torch.tensor([[2.0, 6.0]])
    inputs = instance_inputs(features, torch.tensor([0]), boxes, points, torch.tensor([4.0]), size=4,
                             feature_stride=2)
    assert inputs.shape == (1, 4, 16)
    sampled = inputs[0, 0].view(4, 4)
    assert torch.allclose(sampled, torch.tensor([0.75, 1.25, 1.75, 2.25]).expand(4, 4))
    offsets = inputs[0, 2:].view(2, 4, 4)
    centres = torch.tensor([2.5, 3.5, 4.5, 5.5])  # the cells' centres in input pixels
    assert torch.allclose(offsets[0], ((centres - 2.0) / 4).expand(4, 4))  # x varies along a row
    assert torch.allclose(offsets[1], ((centres - 6.0) / 4)[:, None].expand(4, 4))  # y down a column
