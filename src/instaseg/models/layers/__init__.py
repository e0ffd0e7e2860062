"""Small layers and helpers shared by the model families."""

from instaseg.models.layers.conv import ConvNormAct, fold_batch_norms
from instaseg.models.layers.image_batch import normalize_and_pad
from instaseg.models.layers.norm import group_norm

__all__ = ["ConvNormAct", "fold_batch_norms", "group_norm", "normalize_and_pad"]
