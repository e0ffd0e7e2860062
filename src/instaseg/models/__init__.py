"""Models: the protocol (``base``), a registry of entries, shared layers, backbones, necks and losses, and one
folder per family. Importing this package registers every family without loading torch."""

from instaseg.models.registry import (DEFAULT_MODEL, ModelEntry, build_model, create_model, list_models,
                                      model_entry, register_model, resolve_config)

# Importing the families registers their entries.
from instaseg.models import mask_rcnn as _mask_rcnn  # noqa: F401,E402
from instaseg.models import yolact as _yolact  # noqa: F401,E402
from instaseg.models import condinst as _condinst  # noqa: F401,E402
from instaseg.models import solov2 as _solov2  # noqa: F401,E402

__all__ = ["DEFAULT_MODEL", "ModelEntry", "build_model", "create_model", "list_models", "model_entry",
           "register_model", "resolve_config"]
