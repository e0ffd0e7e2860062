import numpy as np
import pytest
import torch

from instaseg.structures import Instances, Mask, boxes_from_masks


def make_instances(count: int = 4, size: int = 32, scores: bool = True) -> Instances:
    masks = torch.zeros((count, size, size), dtype=torch.bool)
    for index in range(count):
        masks[index, index * 2: index * 2 + 5, index: index + 3 + index] = True
    return Instances.from_masks(masks, labels=list(range(count)),
                                scores=torch.linspace(0.9, 0.6, count) if scores else None)


def test_boxes_are_tight_boxes_of_masks():
    masks = torch.zeros((3, 10, 12), dtype=torch.bool)
    masks[0, 2:5, 3:7] = True
    masks[1, 9, 11] = True
    boxes = boxes_from_masks(masks)
    assert boxes.tolist() == [[3, 2, 7, 5], [11, 9, 12, 10], [0, 0, 0, 0]]


@pytest.mark.parametrize("index, expected", [
    (1, [1]), (-1, [3]), (slice(1, 3), [1, 2]), ([3, 0], [3, 0]),
    (torch.tensor([True, False, True, False]), [0, 2]), (torch.tensor([2]), [2]),
])
def test_selection_keeps_fields_aligned(index, expected):
    instances = make_instances()
    selected = instances[index]
    assert selected.labels.tolist() == expected
    assert torch.equal(selected.masks, instances.masks[expected])
    assert torch.equal(selected.boxes, instances.boxes[expected])
    assert torch.equal(selected.scores, instances.scores[expected])


def test_cat_and_areas():
    first, second = make_instances(2), make_instances(3)
    joined = Instances.cat([first, second])
    assert len(joined) == 5
    assert joined.labels.tolist() == [0, 1, 0, 1, 2]
    assert joined.mask_areas().tolist() == [m.sum().item() for m in joined.masks]
    widths = joined.boxes[:, 2] - joined.boxes[:, 0]
    heights = joined.boxes[:, 3] - joined.boxes[:, 1]
    assert torch.allclose(joined.box_areas(), widths * heights)


def test_cat_refuses_mismatched_sizes_and_scores():
    with pytest.raises(ValueError, match="different image sizes"):
        Instances.cat([make_instances(size=32), make_instances(size=16)])
    with pytest.raises(ValueError, match="with and without scores"):
        Instances.cat([make_instances(), make_instances(scores=False)])


def test_shapes_are_checked():
    with pytest.raises(ValueError, match="masks must be"):
        Instances(image_size=(8, 8), boxes=torch.zeros(1, 4), masks=torch.zeros(1, 4, 4, dtype=torch.bool),
                  labels=torch.zeros(1, dtype=torch.int64))


def test_to_device_moves_every_tensor():
    moved = make_instances().to("meta")
    assert all(t.device.type == "meta" for t in (moved.boxes, moved.masks, moved.labels, moved.scores))


def test_rle_views_match_mask_objects():
    instances = make_instances()
    for rle, bitmap in zip(instances.mask_rles(), instances.masks.numpy()):
        assert np.array_equal(Mask.from_rle(rle).to_bitmap(), bitmap)
    again = Instances.from_mask_objects(instances.mask_objects(), instances.labels.tolist(), (32, 32))
    assert torch.equal(again.masks, instances.masks) and torch.equal(again.boxes, instances.boxes)


def test_empty_instances_behave():
    empty = Instances.empty((5, 7), with_scores=True)
    assert len(empty) == 0 and empty.mask_rles() == []
    assert Instances.cat([empty, empty]).masks.shape == (0, 5, 7)
