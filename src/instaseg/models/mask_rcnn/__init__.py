"""Mask R-CNN: RPN, RoIAlign, box head, class-specific 28x28 mask head.

Importing the package registers the variants (``entries``) without loading torch; the modules are in
``model``, ``build``, ``proposals``, ``roi_heads`` and ``mask_geometry``.
"""

from instaseg.models.mask_rcnn import entries as _entries  # noqa: F401  (registers the variants)
from instaseg.models.mask_rcnn.config import MaskRCNNConfig

__all__ = ["MaskRCNNConfig"]
