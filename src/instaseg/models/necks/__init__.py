"""Necks: fuse a backbone's feature levels into maps of one width for the heads."""

from instaseg.models.necks.fpn import FPN

__all__ = ["FPN"]
