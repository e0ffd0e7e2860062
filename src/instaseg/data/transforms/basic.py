"""The basic augmentation set: horizontal flip, scale jitter, random crop, colour jitter.

The primitives are torchvision.transforms.v2, which moves the image and its masks together. v2 only clamps
boxes at a crop, which is not the tight box of what is left of a non-rectangular object, so boxes are
recomputed from the masks afterwards and instances whose visible part is too small are dropped.
"""

from __future__ import annotations

import torch
from torchvision import tv_tensors
from torchvision.transforms import v2

from instaseg.data.transforms.config import AugmentConfig
from instaseg.structures.instances import Instances, boxes_from_masks


class TrainTransform:
    """(uint8 (3, H, W), Instances) -> (float (3, S', S') in [0, 1], Instances) with labels kept aligned."""

    def __init__(self, image_size: int, config: AugmentConfig) -> None:
        steps: list[v2.Transform] = []
        if config.hflip > 0:
            steps.append(v2.RandomHorizontalFlip(config.hflip))
        if config.scale_jitter is not None:
            steps.append(v2.ScaleJitter((image_size, image_size), scale_range=config.scale_jitter, antialias=True))
        else:
            steps.append(v2.Resize(size=None, max_size=image_size, antialias=True))
        if config.crop:
            # Crop only what exceeds the training size; smaller images stay as they are (padded per batch).
            steps.append(_CropToAtMost(image_size))
        if config.color_jitter > 0:
            s = config.color_jitter
            steps.append(v2.ColorJitter(brightness=s, contrast=s, saturation=s, hue=min(0.05, s / 4)))
        self.pipeline = v2.Compose(steps)
        self.min_visible_area = config.min_visible_area

    def __call__(self, image: torch.Tensor, target: Instances) -> tuple[torch.Tensor, Instances]:
        image_out, masks = self.pipeline(tv_tensors.Image(image), tv_tensors.Mask(target.masks))
        return _finish(image_out, masks.as_subclass(torch.Tensor), target, self.min_visible_area)


class EvalTransform:
    """Resize so the longer side is ``image_size``; targets follow when given."""

    def __init__(self, image_size: int) -> None:
        self.resize = v2.Resize(size=None, max_size=image_size, antialias=True)

    def __call__(self, image: torch.Tensor, target: Instances | None = None
                 ) -> tuple[torch.Tensor, Instances | None]:
        if target is None:
            return self.resize(tv_tensors.Image(image)).as_subclass(torch.Tensor).float() / 255.0, None
        image_out, masks = self.resize(tv_tensors.Image(image), tv_tensors.Mask(target.masks))
        return _finish(image_out, masks.as_subclass(torch.Tensor), target, min_visible_area=1)


class _CropToAtMost(v2.Transform):
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


def _finish(image: torch.Tensor, masks: torch.Tensor, target: Instances, min_visible_area: int
            ) -> tuple[torch.Tensor, Instances]:
    """Float image in [0, 1]; boxes re-derived from the visible masks; vanished instances dropped."""
    image = image.as_subclass(torch.Tensor).float() / 255.0
    masks = masks.bool()
    keep = masks.flatten(1).sum(1) >= min_visible_area
    height, width = image.shape[-2:]
    result = Instances(image_size=(int(height), int(width)), boxes=boxes_from_masks(masks[keep]),
                       masks=masks[keep], labels=target.labels[keep],
                       scores=None if target.scores is None else target.scores[keep])
    return image, result


def build_train_transform(image_size: int, config: AugmentConfig | None = None) -> TrainTransform:
    return TrainTransform(image_size, config or AugmentConfig())


def build_eval_transform(image_size: int) -> EvalTransform:
    return EvalTransform(image_size)
