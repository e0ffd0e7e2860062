"""Instance containers and mask encodings.

``Instances`` needs torch; it is imported on first use so that data tools that only need ``Mask`` start
without paying for the torch import.
"""

from instaseg.structures.masks import Mask

__all__ = ["Instances", "Mask", "boxes_from_masks"]


def __getattr__(name: str):
    if name in ("Instances", "boxes_from_masks"):
        from instaseg.structures import instances

        return getattr(instances, name)
    raise AttributeError(f"module 'instaseg.structures' has no attribute {name!r}")
