"""The OpenCV colour jitter reproduces torchvision's adjustments (the definitions users know) on uint8."""

import numpy as np
import pytest
import torch
from torchvision.transforms.v2 import functional as TF

from instaseg.data.transforms.color import (ColorJitter, adjust_brightness, adjust_contrast, adjust_hue,
                                            adjust_saturation)


def colourful_image() -> torch.Tensor:
    generator = torch.Generator().manual_seed(0)
    smooth = torch.nn.functional.interpolate(torch.rand((1, 3, 8, 8), generator=generator), size=(48, 64),
                                             mode="bilinear", align_corners=False)[0]
    return (smooth * 255).round().to(torch.uint8)  # (3, 48, 64)


@pytest.mark.parametrize("ours, theirs, value, tolerance", [
    (adjust_brightness, TF.adjust_brightness, 1.3, 0), (adjust_brightness, TF.adjust_brightness, 0.7, 0),
    (adjust_contrast, TF.adjust_contrast, 0.6, 1), (adjust_contrast, TF.adjust_contrast, 1.4, 1),
    (adjust_saturation, TF.adjust_saturation, 0.5, 1), (adjust_saturation, TF.adjust_saturation, 1.5, 1),
    (adjust_hue, TF.adjust_hue, 0.1, 6), (adjust_hue, TF.adjust_hue, -0.2, 6)])
def test_each_adjustment_matches_torchvision(ours, theirs, value, tolerance):
    image = colourful_image()
    expected = theirs(image, value).int()
    actual = torch.from_numpy(ours(image.permute(1, 2, 0).numpy().copy(), value)).permute(2, 0, 1).int()
    difference = (actual - expected).abs()
    assert int(difference.max()) <= tolerance
    assert float(difference.float().mean()) < 1.0  # hue: OpenCV's 180 uint8 hue steps, rarely off by more


def test_jitter_draws_from_torch_and_keeps_shape_and_type():
    image = colourful_image()
    torch.manual_seed(3)
    first = ColorJitter(0.4, 0.1)(image)
    torch.manual_seed(3)
    again = ColorJitter(0.4, 0.1)(image)
    assert first.shape == image.shape and first.dtype == torch.uint8
    assert torch.equal(first, again) and not torch.equal(first, image)


def test_zero_strength_leaves_the_image_unchanged():
    image = colourful_image()
    assert torch.equal(ColorJitter(0.0, 0.0)(image), image)
    array = image.permute(1, 2, 0).numpy().copy()
    assert np.array_equal(adjust_hue(array, 1 / 720), array)  # under half an OpenCV hue step: no HSV round trip
