"""Small layers and helpers shared by the model families."""

from instaseg.models.layers.image_batch import normalize_and_pad
from instaseg.models.layers.norm import group_norm

__all__ = ["group_norm", "normalize_and_pad"]
