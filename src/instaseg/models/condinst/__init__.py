"""CondInst: every positive point of an anchor-free detector predicts the weights of its own tiny mask
network, run on shared high-resolution mask features. Importing the package registers the variants without
loading torch."""

from instaseg.models.condinst import entries as _entries  # noqa: F401  (registers the variants)
from instaseg.models.condinst.config import CondInstConfig

__all__ = ["CondInstConfig"]
