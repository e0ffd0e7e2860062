"""Necks: fuse a backbone's feature levels into maps of one width for the heads."""

from instaseg.models.necks.fpn import FPN
from instaseg.models.necks.pan import PAN

__all__ = ["FPN", "PAN"]
