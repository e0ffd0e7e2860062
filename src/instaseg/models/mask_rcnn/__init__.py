"""Mask R-CNN: RPN, RoIAlign, box head, class-specific 28x28 mask head."""

from instaseg.models.mask_rcnn.config import MaskRCNNConfig
from instaseg.models.mask_rcnn.model import MaskRCNN
from instaseg.models.mask_rcnn import variants as _variants  # noqa: F401  (registers the builders)

__all__ = ["MaskRCNN", "MaskRCNNConfig"]
