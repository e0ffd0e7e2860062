"""YOLACT: one dense head predicts classes, boxes and mask coefficients; masks are coefficient-weighted sums of
shared prototypes. Importing the package registers the variants without loading torch."""

from instaseg.models.yolact import entries as _entries  # noqa: F401  (registers the variants)
from instaseg.models.yolact.config import YolactConfig

__all__ = ["YolactConfig"]
