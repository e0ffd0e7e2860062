"""Training and evaluation transforms: (uint8 image, Instances) in, (float image in [0, 1], Instances) out.

Training runs geometry (or a mosaic), then the mixing augmentations that draw other training images
(copy-paste, mixup), then photometric changes. Boxes are recomputed from the masks at the end: v2 only clamps
boxes at a crop, which is not the tight box of what is left of a non-rectangular object, and pasted or
mosaicked instances need boxes anyway; instances whose visible part is too small are dropped.
"""

from __future__ import annotations

from typing import Callable

import torch
from torchvision import tv_tensors
from torchvision.transforms import v2

from instaseg.data.transforms.config import AugmentConfig
from instaseg.data.transforms.geometry import geometric_steps
from instaseg.data.transforms.mixing import Sample, copy_paste, mixup, mosaic
from instaseg.data.transforms.photometric import photometric_steps
from instaseg.structures.instances import Instances, boxes_from_masks

# Returns another training image and its ground truth (chosen at random by the dataset).
DrawSample = Callable[[], tuple[torch.Tensor, Instances]]


class TrainTransform:
    """(uint8 (3, H, W), Instances[, draw]) -> (float (3, H', W') in [0, 1], Instances), labels kept aligned."""

    def __init__(self, image_size: int, config: AugmentConfig) -> None:
        self.image_size = image_size
        self.config = config
        self.geometry = _compose(geometric_steps(image_size, config))
        self.flip = v2.RandomHorizontalFlip(config.hflip) if config.hflip > 0 else v2.Identity()
        self.photometric = _compose(photometric_steps(config))
        self.min_visible_area = config.min_visible_area

    @property
    def mixes_images(self) -> bool:
        return self.config.mixes_images

    def __call__(self, image: torch.Tensor, target: Instances, draw: DrawSample | None = None
                 ) -> tuple[torch.Tensor, Instances]:
        sample = Sample(image, target.masks.bool(), target.labels)
        config = self.config
        if draw is not None and _happens(config.mosaic):
            tiles = [sample] + [_as_sample(*draw()) for _ in range(3)]
            sample = mosaic([self._apply(self.flip, tile) for tile in tiles], self.image_size)
        else:
            sample = self._apply(self.geometry, sample)
        if draw is not None and _happens(config.copy_paste):
            source = self._apply(self.geometry, _as_sample(*draw()))
            chosen = torch.rand(len(source.labels)) < 0.5
            if len(chosen) and not chosen.any():
                chosen[torch.randint(len(chosen), ())] = True
            sample = copy_paste(sample, source, chosen, config.copy_paste_blend)
        if draw is not None and _happens(config.mixup):
            other = self._apply(self.geometry, _as_sample(*draw()))
            ratio = float(torch.distributions.Beta(config.mixup_beta, config.mixup_beta).sample())
            sample = mixup(sample, other, ratio)
        image = self.photometric(tv_tensors.Image(sample.image)).as_subclass(torch.Tensor)
        return finish(image, sample.masks, sample.labels, self.min_visible_area)

    @staticmethod
    def _apply(transform, sample: Sample) -> Sample:
        image, masks = transform(tv_tensors.Image(sample.image), tv_tensors.Mask(sample.masks))
        return Sample(image.as_subclass(torch.Tensor), masks.as_subclass(torch.Tensor).bool(), sample.labels)


def _compose(steps: list) -> v2.Transform:
    return v2.Compose(steps) if steps else v2.Identity()


def _happens(probability: float) -> bool:
    return probability > 0 and float(torch.rand(())) < probability


def _as_sample(image: torch.Tensor, target: Instances) -> Sample:
    return Sample(image, target.masks.bool(), target.labels)


class EvalTransform:
    """Resize so the longer side is ``image_size``; targets follow when given."""

    def __init__(self, image_size: int) -> None:
        self.resize = v2.Resize(size=None, max_size=image_size, antialias=True)

    def __call__(self, image: torch.Tensor, target: Instances | None = None
                 ) -> tuple[torch.Tensor, Instances | None]:
        if target is None:
            return self.resize(tv_tensors.Image(image)).as_subclass(torch.Tensor).float() / 255.0, None
        image_out, masks = self.resize(tv_tensors.Image(image), tv_tensors.Mask(target.masks))
        return finish(image_out, masks.as_subclass(torch.Tensor), target.labels, min_visible_area=1)


def finish(image: torch.Tensor, masks: torch.Tensor, labels: torch.Tensor, min_visible_area: int
           ) -> tuple[torch.Tensor, Instances]:
    """Float image in [0, 1]; boxes re-derived from the visible masks; vanished instances dropped."""
    image = image.as_subclass(torch.Tensor).float() / 255.0
    masks = masks.bool()
    keep = masks.flatten(1).sum(1) >= min_visible_area
    height, width = image.shape[-2:]
    result = Instances(image_size=(int(height), int(width)), boxes=boxes_from_masks(masks[keep]),
                       masks=masks[keep], labels=labels[keep])
    return image, result


def build_train_transform(image_size: int, config: AugmentConfig | None = None) -> TrainTransform:
    return TrainTransform(image_size, config or AugmentConfig())


def build_eval_transform(image_size: int) -> EvalTransform:
    return EvalTransform(image_size)
