"""Instance containers and mask encodings."""

from instaseg.structures.instances import Instances, boxes_from_masks
from instaseg.structures.masks import Mask

__all__ = ["Instances", "Mask", "boxes_from_masks"]
