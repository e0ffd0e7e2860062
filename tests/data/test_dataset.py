import numpy as np
import torch
from PIL import Image

from instaseg.data.dataset import CategoryMap, InstanceSegmentationDataset, collate, ground_truth
from instaseg.data.records import Annotation, Category, ImageRecord, InstanceDataset
from instaseg.data.transforms import build_train_transform
from instaseg.structures.masks import Mask


def make_dataset(tmp_path) -> InstanceDataset:
    bitmap = np.zeros((32, 40), bool)
    bitmap[4:20, 5:30] = True
    crowd = np.zeros((32, 40), bool)
    crowd[22:30, 2:38] = True
    annotations = [Annotation.from_mask(1, 7, Mask.from_bitmap(bitmap)),
                   Annotation.from_mask(2, 3, Mask.from_bitmap(crowd), iscrowd=True)]
    for name in ("a.png", "b.png"):
        Image.fromarray(np.full((32, 40, 3), 90, np.uint8)).save(tmp_path / name)
    images = [ImageRecord(1, "a.png", 40, 32, annotations), ImageRecord(2, "b.png", 40, 32, [])]
    return InstanceDataset(images, [Category(7, "late"), Category(3, "early")], tmp_path)


def test_crowd_regions_are_left_out_of_targets_and_labels_are_contiguous(tmp_path):
    dataset = make_dataset(tmp_path)
    categories = CategoryMap(dataset.categories)
    assert categories.ids == [3, 7] and categories.label(7) == 1 and categories.category_id(0) == 3
    target = ground_truth(dataset.images[0], categories)
    assert target.labels.tolist() == [1]  # the crowd annotation (category 3) is not a training target
    assert target.boxes.tolist() == [[5, 4, 30, 20]]


def test_images_without_instances_give_empty_targets(tmp_path):
    items = InstanceSegmentationDataset(make_dataset(tmp_path), build_train_transform(40))
    image, target, image_id = items[1]
    assert image_id == 2 and len(target) == 0 and target.masks.shape[-2:] == image.shape[-2:]
    images, targets, ids = collate([items[0], items[1]])
    assert ids == [1, 2] and len(images) == 2 and len(targets[0]) == 1


def test_augmentation_depends_only_on_seed_epoch_and_index(tmp_path):
    items = InstanceSegmentationDataset(make_dataset(tmp_path), build_train_transform(40), seed=5)
    first = items[0][0]
    torch.manual_seed(123)  # the caller's RNG state must not matter, nor be disturbed
    state = torch.get_rng_state()
    assert torch.equal(items[0][0], first)
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.equal(items[0, 0][0], first)  # a bare index is epoch 0
    assert not torch.equal(items[1, 0][0], first)
