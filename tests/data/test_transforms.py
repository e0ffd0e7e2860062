"""Every augmentation keeps image, masks, boxes and labels consistent, alone and combined."""

import numpy as np
import pytest
import torch

from instaseg.data.transforms import AugmentConfig, build_eval_transform, build_train_transform
from instaseg.structures import Instances, boxes_from_masks

OFF = AugmentConfig(hflip=0.0, scale_jitter=None, crop=False, color_jitter=0.0)
VARIANTS = {
    "flip": AugmentConfig(hflip=1.0, scale_jitter=None, crop=False, color_jitter=0.0),
    "scale_jitter": AugmentConfig(hflip=0.0, scale_jitter=(0.5, 2.0), crop=False, color_jitter=0.0),
    "crop": AugmentConfig(hflip=0.0, scale_jitter=(1.5, 2.0), crop=True, color_jitter=0.0),
    "color": AugmentConfig(hflip=0.0, scale_jitter=None, crop=False, color_jitter=0.4),
    "all": AugmentConfig(hflip=0.5, scale_jitter=(0.5, 2.0), crop=True, color_jitter=0.4),
}


def random_sample(rng: np.random.Generator) -> tuple[torch.Tensor, Instances]:
    height, width = int(rng.integers(40, 140)), int(rng.integers(40, 140))
    image = torch.from_numpy(rng.integers(0, 256, (3, height, width), dtype=np.uint8))
    count = int(rng.integers(0, 6))
    masks = torch.zeros((count, height, width), dtype=torch.bool)
    for index in range(count):
        y0, x0 = int(rng.integers(0, height - 8)), int(rng.integers(0, width - 8))
        masks[index, y0: y0 + int(rng.integers(5, 40)), x0: x0 + int(rng.integers(5, 40))] = True
    return image, Instances.from_masks(masks, rng.integers(0, 5, count).tolist())


def is_subsequence(short: list[int], long: list[int]) -> bool:
    iterator = iter(long)
    return all(any(item == other for other in iterator) for item in short)


@pytest.mark.parametrize("name", list(VARIANTS))
def test_labels_stay_consistent_over_random_inputs(name):
    transform = build_train_transform(96, VARIANTS[name])
    rng = np.random.default_rng(sum(map(ord, name)))
    for trial in range(40):
        image, target = random_sample(rng)
        torch.manual_seed(trial)
        out_image, out = transform(image, target)
        assert out_image.dtype == torch.float32 and 0.0 <= out_image.min() and out_image.max() <= 1.0
        assert out.masks.shape == (len(out), *out_image.shape[-2:])  # every mask lies inside the image
        assert max(out_image.shape[-2:]) <= 96 * (2 if name in ("scale_jitter",) else 1) + 1
        assert torch.equal(out.boxes, boxes_from_masks(out.masks))  # each box is its mask's tight box
        assert bool((out.mask_areas() >= VARIANTS[name].min_visible_area).all())  # no empty instance
        assert is_subsequence(out.labels.tolist(), target.labels.tolist())  # class ids kept, in order
        if name in ("flip", "color"):
            assert out.labels.tolist() == target.labels.tolist()


def test_flip_mirrors_masks_and_colour_jitter_leaves_masks_alone():
    rng = np.random.default_rng(0)
    image, target = random_sample(rng)
    while len(target) == 0:
        image, target = random_sample(rng)
    fitted = build_train_transform(max(image.shape[-2:]), OFF)
    _, plain = fitted(image, target)
    _, flipped = build_train_transform(max(image.shape[-2:]), VARIANTS["flip"])(image, target)
    assert torch.equal(flipped.masks, plain.masks.flip(-1))
    _, coloured = build_train_transform(max(image.shape[-2:]), VARIANTS["color"])(image, target)
    assert torch.equal(coloured.masks, plain.masks)


def test_crop_keeps_only_the_visible_part_and_drops_slivers():
    image = torch.zeros((3, 100, 100), dtype=torch.uint8)
    masks = torch.zeros((2, 100, 100), dtype=torch.bool)
    masks[0, 0:100, 0:50] = True  # large: a part survives any crop
    masks[1, 97:100, 97:100] = True  # 9 px in a corner: below min_visible_area once cut
    target = Instances.from_masks(masks, [3, 4])
    transform = build_train_transform(60, AugmentConfig(hflip=0.0, scale_jitter=(1.0, 1.0), crop=False,
                                                         color_jitter=0.0))
    _, resized = transform(image, target)
    assert resized.labels.tolist() == [3]  # the corner square shrank below 16 px and was dropped
    crop = build_train_transform(100, AugmentConfig(hflip=0.0, scale_jitter=(1.6, 1.6), crop=True,
                                                    color_jitter=0.0))
    for seed in range(10):
        torch.manual_seed(seed)
        out_image, out = crop(image, target)
        assert out_image.shape[-2:] == (100, 100)
        assert out.labels.tolist() in ([], [3], [3, 4], [4])
        assert torch.equal(out.boxes, boxes_from_masks(out.masks))


def test_eval_transform_fits_the_longer_side():
    image, target = random_sample(np.random.default_rng(5))
    out_image, out = build_eval_transform(64)(image, target)
    assert max(out_image.shape[-2:]) == 64
    assert out.masks.shape[-2:] == out_image.shape[-2:]
    only_image, nothing = build_eval_transform(64)(image)
    assert torch.equal(only_image, out_image) and nothing is None
