"""A toy second model family, kept in the tests to prove the model interface holds: a two-layer per-pixel
classifier whose instances are the connected components of each class. It plugs in through the registry
alone (nothing in engine/ or inference/ knows it) and trains, predicts, checkpoints and evaluates."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from instaseg.models import ModelEntry, register_model
from instaseg.models.base import InstanceSegmentationModel, resolve_output_sizes
from instaseg.models.layers import group_norm, normalize_and_pad
from instaseg.models.losses import dice_loss
from instaseg.structures import Instances

NAME = "toy_pixel_components"


@dataclass(frozen=True)
class ToyConfig:
    channels: int = 16
    pixel_mean: tuple[float, float, float] = (0.5, 0.5, 0.5)
    pixel_std: tuple[float, float, float] = (0.25, 0.25, 0.25)


class ToyPixelComponents(InstanceSegmentationModel):
    def __init__(self, config: ToyConfig, num_classes: int) -> None:
        super().__init__()
        self.classifier = nn.Sequential(nn.Conv2d(3, config.channels, 3, padding=1), group_norm(config.channels),
                                        nn.ReLU(), nn.Conv2d(config.channels, num_classes + 1, 1))
        self.register_buffer("pixel_mean", torch.tensor(config.pixel_mean).view(3, 1, 1), persistent=False)
        self.register_buffer("pixel_std", torch.tensor(config.pixel_std).view(3, 1, 1), persistent=False)

    def loss(self, images, targets):
        logits, sizes = self.class_logits(images)  # (B, C+1, H, W)
        labels = torch.zeros(logits.shape[0], *logits.shape[-2:], dtype=torch.long, device=logits.device)
        for slot, (height, width), target in zip(labels, sizes, targets):
            for mask, label in zip(target.masks.flip(0), target.labels.flip(0)):  # the first on top
                slot[:height, :width][mask] = label + 1
        one_hot = F.one_hot(labels, logits.shape[1]).permute(0, 3, 1, 2)
        return {"loss_pixels": F.cross_entropy(logits, labels),
                "loss_dice": dice_loss(logits.transpose(0, 1).flatten(1), one_hot.transpose(0, 1).flatten(1))}

    def predict(self, images, *, output_sizes=None, score_threshold=0.05, max_instances=100):
        logits, sizes = self.class_logits(images)
        results = []
        for image_logits, (height, width), size in zip(logits, sizes, resolve_output_sizes(images, output_sizes)):
            probabilities = F.interpolate(image_logits[None, :, :height, :width], size=size, mode="bilinear",
                                          align_corners=False)[0].softmax(0)
            best = probabilities.argmax(0).cpu().numpy().astype(np.uint8)
            masks, labels, scores = [], [], []
            for label in range(1, probabilities.shape[0]):
                count, components = cv2.connectedComponents((best == label).astype(np.uint8))
                for component in range(1, count):
                    mask = torch.from_numpy(components == component)
                    masks.append(mask)
                    labels.append(label - 1)
                    scores.append(float(probabilities[label][mask.to(probabilities.device)].mean()))
            found = Instances.from_masks(torch.stack(masks), labels, scores) if masks else Instances.empty(size, True)
            keep = torch.nonzero(found.scores > score_threshold).squeeze(1)
            results.append(found[keep[found.scores[keep].argsort(descending=True)][:max_instances]])
        return results

    def class_logits(self, images):
        batch, sizes = normalize_and_pad(images, self.pixel_mean, self.pixel_std, size_divisibility=8)
        return self.classifier(batch), sizes


register_model(ModelEntry(name=NAME, config=ToyConfig(), build=ToyPixelComponents,
                          light_options={"channels": 8}, summary="test-only toy: per-pixel classes, components"))
