"""Shared post-processing: selecting instances, the one instance-ID painter, the panoptic merge; all with the
same overlap rule (the higher score owns a contested pixel)."""

import numpy as np
import pytest
import torch

from instaseg.inference.postprocess.filtering import select_instances
from instaseg.inference.postprocess.id_map import instance_id_map
from instaseg.inference.postprocess.panoptic import merge_to_panoptic
from instaseg.structures.instances import Instances


def overlapping(scores):
    masks = torch.zeros((2, 4, 6), dtype=torch.bool)
    masks[0, :2, :3] = True
    masks[1, 1:, 2:] = True  # overlaps the first at (1, 2)
    return Instances.from_masks(masks, [0, 1], scores=scores)


def test_select_keeps_scores_above_the_threshold_best_first_and_at_most_n():
    instances = Instances.from_masks(torch.ones((4, 3, 3), dtype=torch.bool), [0, 1, 0, 1], [0.2, 0.9, 0.5, 0.9])
    chosen = select_instances(instances, score_threshold=0.2, max_instances=2)
    assert chosen.scores.tolist() == pytest.approx([0.9, 0.9]) and chosen.labels.tolist() == [1, 1]
    assert select_instances(instances, 0.95, 10).masks.shape == (0, 3, 3)
    assert len(select_instances(Instances.from_masks(torch.ones((3, 2, 2), dtype=torch.bool), [0, 0, 0]), 0.5, 2)) == 2


def test_the_id_map_puts_the_higher_score_on_top_and_widens_past_255():
    id_map = instance_id_map(select_instances(overlapping([0.4, 0.9]), 0.0, 10))  # sorted: the 0.9 one first
    assert id_map.dtype == np.uint8 and id_map[1, 2] == 1 and id_map[0, 0] == 2 and id_map[3, 0] == 0
    assert instance_id_map(overlapping([0.9, 0.4]))[1, 2] == 1  # container order: the first wins
    many = Instances.from_masks(torch.eye(300, dtype=torch.bool)[:, None, :], list(range(300)))
    wide = instance_id_map(many)
    assert wide.dtype == np.uint16 and wide.max() == 300
    assert instance_id_map(Instances.empty((5, 7))).shape == (5, 7)


def test_the_panoptic_merge_and_the_id_map_agree_on_overlaps():
    instances = select_instances(overlapping([0.4, 0.9]), 0.0, 10)
    panoptic, segments = merge_to_panoptic(instances.masks.numpy(), instances.scores.numpy(),
                                           instances.labels.tolist(), None, score_threshold=0.0,
                                           overlap_threshold=0.0)
    assert np.array_equal(panoptic, instance_id_map(instances))
    assert [s["score"] for s in segments] == pytest.approx([0.9, 0.4])


def test_merge_puts_instances_first_by_score_then_stuff():
    masks = np.zeros((3, 8, 8), dtype=bool)
    masks[0, :4, :4] = True  # score 0.6
    masks[1, 2:6, 2:6] = True  # score 0.9: wins the overlap
    masks[2, 1:5, 1:5] = True  # score 0.7: mostly covered by the others, dropped
    semantic = np.full((8, 8), 2)
    semantic[7, :] = 5  # a thin stuff region below the area threshold
    panoptic, segments = merge_to_panoptic(masks, np.array([0.6, 0.9, 0.7]), [1, 1, 1], semantic, stuff_ids=(2, 5),
                                           stuff_area_threshold=10)
    assert [s["score"] for s in segments if s["isthing"]] == [0.9, 0.6]
    assert (panoptic[2:6, 2:6] == 1).all() and (panoptic[:2, :4] == 2).all()
    stuff = [s for s in segments if not s["isthing"]]
    assert [s["category_id"] for s in stuff] == [2]  # category 5 has 8 px < 10
    assert (panoptic[7] == 0).all() and sum(s["area"] for s in segments) == (panoptic > 0).sum()


def test_fast_nms_keeps_no_overlapping_pair_and_a_subset_of_greedy_nms():
    from torchvision.ops import batched_nms

    from instaseg.inference.postprocess.nms import fast_nms

    generator = torch.Generator().manual_seed(0)
    corners = torch.rand((200, 2), generator=generator) * 100
    boxes = torch.cat([corners, corners + 5 + torch.rand((200, 2), generator=generator) * 30], dim=1)
    scores = torch.rand(200, generator=generator)
    labels = torch.randint(0, 3, (200,), generator=generator)
    kept = fast_nms(boxes, scores, labels, 0.5)
    assert bool((scores[kept][:-1] >= scores[kept][1:]).all())
    from torchvision.ops import box_iou

    overlaps = box_iou(boxes[kept], boxes[kept]).fill_diagonal_(0) * (labels[kept][:, None] == labels[kept][None])
    assert float(overlaps.max()) <= 0.5
    assert set(kept.tolist()) <= set(batched_nms(boxes, scores, labels, 0.5).tolist())
    assert len(fast_nms(boxes, scores, torch.arange(200), 0.5)) == 200  # all different classes: none suppressed
    assert fast_nms(boxes[:0], scores[:0], labels[:0], 0.5).shape == (0,)
