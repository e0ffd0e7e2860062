"""Single-image geometry from torchvision.transforms.v2 (which moves the image and its masks together):
flip, scale jitter or large-scale jitter or multi-scale resizing, and cropping."""

from __future__ import annotations

import torch
from torchvision import tv_tensors
from torchvision.transforms import v2

from instaseg.data.transforms.config import AugmentConfig
from instaseg.data.transforms.mixing import PAD_VALUE


def geometric_steps(image_size: int, config: AugmentConfig) -> list[v2.Transform]:
    """The geometry pipeline: flip, then one way of choosing the scale, then cropping."""
    steps: list[v2.Transform] = []
    if config.hflip > 0:
        steps.append(v2.RandomHorizontalFlip(config.hflip))
    if config.lsj is not None:
        # Large-scale jitter: a factor of the fitted size, then pad or crop to exactly image_size.
        steps.append(v2.ScaleJitter((image_size, image_size), scale_range=config.lsj, antialias=True))
        steps.append(v2.RandomCrop(image_size, pad_if_needed=True, fill={tv_tensors.Image: PAD_VALUE,
                                                                            tv_tensors.Mask: 0}))
        return steps
    if config.multi_scale:
        steps.append(v2.RandomChoice([v2.Resize(size=None, max_size=side, antialias=True)
                                      for side in config.multi_scale]))
        largest = max(config.multi_scale)
    elif config.scale_jitter is not None:
        steps.append(v2.ScaleJitter((image_size, image_size), scale_range=config.scale_jitter, antialias=True))
        largest = image_size
    else:
        steps.append(v2.Resize(size=None, max_size=image_size, antialias=True))
        largest = image_size
    if config.crop:
        # Crop only what exceeds the largest training size; smaller images stay as they are (padded per batch).
        steps.append(CropToAtMost(largest))
    return steps


class CropToAtMost(v2.Transform):
    """Random crop to at most ``size`` x ``size``; sides already within the limit are kept whole."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def make_params(self, flat_inputs):  # torchvision >= 0.21 name
        height, width = v2.functional.get_size(next(i for i in flat_inputs if isinstance(i, tv_tensors.Image)))
        crop_h, crop_w = min(height, self.size), min(width, self.size)
        top = int(torch.randint(0, height - crop_h + 1, ()).item())
        left = int(torch.randint(0, width - crop_w + 1, ()).item())
        return {"top": top, "left": left, "height": crop_h, "width": crop_w}

    def transform(self, inpt, params):  # torchvision >= 0.21 name
        return v2.functional.crop(inpt, **params)

    # torchvision < 0.21 names the two hooks with a leading underscore.
    _get_params = make_params
    _transform = transform
