"""Models: a registry of builders, shared layers and backbones, one folder per family."""

from instaseg.models.registry import create_model, list_models, register_model

# Importing the families registers their builders.
from instaseg.models import mask_rcnn as _mask_rcnn  # noqa: F401,E402

__all__ = ["create_model", "list_models", "register_model"]
