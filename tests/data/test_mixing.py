"""Mosaic, mixup and copy-paste: exact geometry on hand-made samples, and label consistency over random ones
when the training transform draws other images."""

from collections import Counter

import numpy as np
import pytest
import torch

from instaseg.data.transforms import AugmentConfig, build_train_transform
from instaseg.data.transforms.config import RECIPES, recipe
from instaseg.data.transforms.mixing import PAD_VALUE, Sample, copy_paste, mixup, mosaic
from instaseg.structures import boxes_from_masks

from .test_transforms import random_sample


def _full(value: int, label: int, size: int = 40) -> Sample:
    image = torch.full((3, size, size), value, dtype=torch.uint8)
    return Sample(image, torch.ones((1, size, size), dtype=torch.bool), torch.tensor([label]))


def test_mosaic_puts_each_image_in_its_quadrant():
    generator = torch.Generator().manual_seed(1)
    out = mosaic([_full(10 * (i + 1), i) for i in range(4)], 64, generator)
    assert out.image.shape == (3, 64, 64) and out.labels.tolist() == [0, 1, 2, 3]
    ys, xs = [], []
    for index in range(4):
        rows, columns = torch.nonzero(out.masks[index], as_tuple=True)
        assert len(rows) and (out.image[0][out.masks[index]] == 10 * (index + 1)).all()
        ys.append((int(rows.min()), int(rows.max()))), xs.append((int(columns.min()), int(columns.max())))
    assert ys[0][1] < ys[2][0] and xs[0][1] < xs[1][0]  # top-left above bottom-left, left of top-right
    assert not (out.masks.sum(0) > 1).any()  # tiles never overlap
    uncovered = ~out.masks.any(0)
    assert (out.image[:, uncovered] == PAD_VALUE).all()


def test_mixup_keeps_both_instance_sets_and_blends_pixels():
    first, second = _full(200, 1), _full(100, 2, size=30)
    out = mixup(first, second, 0.25)
    assert out.labels.tolist() == [1, 2] and out.masks.shape == (2, 40, 40)
    assert int(out.image[0, 0, 0]) == round(0.25 * 200 + 0.75 * 100)
    assert int(out.image[0, 35, 35]) == round(0.25 * 200 + 0.75 * PAD_VALUE)  # outside the smaller image
    assert out.masks[1, :30, :30].all() and not out.masks[1, 30:].any()


@pytest.mark.parametrize("blend", ["hard", "gaussian", "poisson"])
def test_copy_paste_covers_the_target_and_keeps_boxes_derivable(blend):
    target = _full(50, 1)
    source_masks = torch.zeros((2, 40, 40), dtype=torch.bool)
    source_masks[0, 5:20, 5:20] = True
    source_masks[1, 25:35, 25:35] = True
    pixels = torch.full((3, 40, 40), 220, dtype=torch.uint8)
    pixels[:, ::2, ::2] = 20  # texture, which Poisson cloning carries over (it keeps gradients, not colours)
    source = Sample(pixels, source_masks, torch.tensor([3, 4]))
    out = copy_paste(target, source, torch.tensor([True, False]), blend=blend)
    assert out.labels.tolist() == [1, 3]
    assert not (out.masks[0] & out.masks[1]).any()  # the target lost what the paste covers
    assert out.masks[0].sum() == 40 * 40 - 15 * 15
    inside = out.image[:, 8:17, 8:17].float()
    if blend == "poisson":
        assert inside.std() > 30  # the texture arrived; the flat background had none
    else:
        assert torch.equal(out.image[:, 8:17, 8:17], pixels[:, 8:17, 8:17])
    assert (out.image[:, 30:, 30:] == 50).all()  # the unchosen instance was not pasted


MIXING = {
    "mosaic": AugmentConfig(mosaic=1.0),
    "copy_paste_hard": AugmentConfig(copy_paste=1.0, copy_paste_blend="hard"),
    "copy_paste_poisson": AugmentConfig(copy_paste=1.0, copy_paste_blend="poisson"),
    "mixup": AugmentConfig(mixup=1.0),
    **{f"recipe_{name}": config for name, config in RECIPES.items()},
}


@pytest.mark.parametrize("name", list(MIXING))
def test_labels_stay_consistent_when_mixing_random_images(name):
    config = MIXING[name]
    transform = build_train_transform(96, config)
    rng = np.random.default_rng(sum(map(ord, name)))
    for trial in range(12):
        image, target = random_sample(rng)
        pool = [random_sample(rng) for _ in range(4)]
        drawn = []

        def draw():
            drawn.append(pool[len(drawn) % len(pool)])
            return drawn[-1]

        torch.manual_seed(trial)
        out_image, out = transform(image, target, draw)
        assert out_image.dtype == torch.float32 and 0.0 <= out_image.min() and out_image.max() <= 1.0
        assert out.masks.shape == (len(out), *out_image.shape[-2:])  # every mask inside the image
        assert torch.equal(out.boxes, boxes_from_masks(out.masks))  # tight boxes
        assert bool((out.mask_areas() >= config.min_visible_area).all())  # no empty or vanishing instance
        available = Counter(target.labels.tolist()) + sum((Counter(t.labels.tolist()) for _, t in drawn), Counter())
        assert not Counter(out.labels.tolist()) - available  # class ids come from the images used
        if name == "mosaic":
            assert out_image.shape[-2:] == (96, 96) and len(drawn) == 3
        if name == "recipe_lsj":
            assert out_image.shape[-2:] == (96, 96)


def test_recipes_are_named_and_validated():
    assert recipe("basic") == AugmentConfig()
    assert not recipe("none").mixes_images and recipe("scratch").mixes_images
    with pytest.raises(ValueError, match="unknown augmentation recipe 'fancy'"):
        recipe("fancy")
    with pytest.raises(ValueError, match="copy_paste_blend"):
        AugmentConfig(copy_paste_blend="alpha")
    with pytest.raises(ValueError, match="mosaic is a probability"):
        AugmentConfig(mosaic=2.0)
    assert AugmentConfig.from_dict({"lsj": [0.1, 2.0]}).lsj == (0.1, 2.0)
