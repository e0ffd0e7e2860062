"""SOLOv2: instances by location; each cell of an S x S grid that holds an object's centre predicts its class
and a dynamic kernel, which convolves shared mask features into the object's mask. Importing the package
registers the variants without loading torch."""

from instaseg.models.solov2 import entries as _entries  # noqa: F401  (registers the variants)
from instaseg.models.solov2.config import Solov2Config

__all__ = ["Solov2Config"]
