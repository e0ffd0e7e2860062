"""Task-aligned assignment on hand-made cases: positives inside their object, the best aligned first, one
object per point, soft targets that peak at the object's best IoU."""

import torch

from instaseg.models.assigners import TaskAlignedAssigner


def grid_points(size: int = 8, stride: float = 4.0) -> torch.Tensor:
    ys, xs = torch.meshgrid(torch.arange(size) + 0.5, torch.arange(size) + 0.5, indexing="ij")
    return torch.stack([xs.flatten(), ys.flatten()], dim=1) * stride  # (64, 2) on a 32 px image


def test_positives_lie_inside_their_object_and_follow_the_alignment():
    points = grid_points()
    gt_boxes = torch.tensor([[0.0, 0.0, 16.0, 16.0], [12.0, 12.0, 32.0, 32.0]])
    boxes = torch.cat([points - 6, points + 6], dim=1)  # every point predicts a 12 px box around itself
    scores = torch.full((64, 2), 0.2)
    assignment = TaskAlignedAssigner(top_k=3)(scores, boxes, points, gt_boxes, torch.tensor([0, 1]))
    for obj, box in enumerate(gt_boxes):
        mine = assignment.gt_index == obj
        assert 1 <= int(mine.sum()) <= 3
        inside = points[mine]
        assert bool(((inside > box[:2]) & (inside < box[2:])).all())
    assert int(assignment.positive.sum()) == int((assignment.class_targets > 0).sum())  # one class per point
    # The best target of each object equals its best IoU with a prediction; the rest are lower.
    from torchvision.ops import box_iou

    best_iou = box_iou(gt_boxes, boxes).amax(dim=1)
    for obj in range(2):
        targets = assignment.class_targets[assignment.gt_index == obj, obj]
        assert torch.isclose(targets.max(), best_iou[obj], atol=1e-5) and bool((targets <= best_iou[obj] + 1e-6).all())


def test_a_tiny_object_still_gets_a_point_and_no_object_means_background():
    points = grid_points()
    boxes = torch.cat([points - 2, points + 2], dim=1)
    scores = torch.full((64, 3), 0.1)
    tiny = torch.tensor([[5.0, 5.0, 5.5, 5.5]])  # between points: none inside
    assignment = TaskAlignedAssigner()(scores, boxes, points, tiny, torch.tensor([2]))
    assert int(assignment.positive.sum()) == 1 and int(assignment.gt_index[assignment.positive]) == 0
    empty = TaskAlignedAssigner()(scores, boxes, points, torch.zeros((0, 4)), torch.zeros(0, dtype=torch.long))
    assert not empty.positive.any() and float(empty.class_targets.sum()) == 0.0


def test_hard_targets_give_every_positive_a_target_of_one_with_the_same_positives():
    points = grid_points()
    gt_boxes = torch.tensor([[0.0, 0.0, 16.0, 16.0], [12.0, 12.0, 32.0, 32.0]])
    boxes = torch.cat([points - 6, points + 6], dim=1)
    scores = torch.full((64, 2), 0.2)
    soft = TaskAlignedAssigner(top_k=3)(scores, boxes, points, gt_boxes, torch.tensor([0, 1]))
    hard = TaskAlignedAssigner(top_k=3, soft_targets=False)(scores, boxes, points, gt_boxes, torch.tensor([0, 1]))
    assert torch.equal(soft.gt_index, hard.gt_index)
    assert bool((soft.class_targets.amax(dim=1)[soft.positive] < 1).all())
    assert torch.equal(hard.class_targets.amax(dim=1), hard.positive.float())
