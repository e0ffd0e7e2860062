"""The model registry: a dict of entries (builder, typed config, light test options), looked up by name.

Registering and listing import no torch: the configs are plain dataclasses and each builder imports its
modules when called, so ``instaseg --help`` and ``instaseg train --model`` know every name at no cost.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Mapping

from instaseg.errors import InstasegError
from instaseg.models.options import apply_options, config_from_dict, config_to_dict

if TYPE_CHECKING:
    from torch import nn

# The model ``instaseg train`` and ``instaseg demo`` use when none is named: the single-stage model that
# learned fastest at short budgets and predicts fastest on a CPU (the figures: benchmarks/README.md).
DEFAULT_MODEL = "yolact_csp_nano"


@dataclass(frozen=True)
class ModelEntry:
    """One registered model.

    Attributes:
        name: the name users type (``--model NAME``).
        config: the variant's typed config (a frozen dataclass): its defaults.
        build: ``build(config, num_classes) -> nn.Module``, importing what it needs when called.
        light_options: option overrides that keep the architecture but make it fast enough for tests.
        summary: one line for ``instaseg models``.
        task: what the model predicts (see ``models.base.TASKS``).
    """

    name: str
    config: Any
    build: Callable[[Any, int], "nn.Module"]
    light_options: Mapping[str, Any] = field(default_factory=dict)
    summary: str = ""
    task: str = "instance"


_ENTRIES: dict[str, ModelEntry] = {}


def register_model(entry: ModelEntry) -> ModelEntry:
    """Add ``entry``; a second entry of the same name is refused, as are light options it does not have."""
    if entry.name in _ENTRIES:
        raise ValueError(f"model {entry.name!r} is already registered")
    apply_options(entry.config, entry.light_options, f"model {entry.name!r}")
    _ENTRIES[entry.name] = entry
    return entry


def list_models() -> list[str]:
    return sorted(_ENTRIES)


def model_entry(name: str) -> ModelEntry:
    if name not in _ENTRIES:
        raise InstasegError(f"unknown model {name!r}; available: {', '.join(list_models())}")
    return _ENTRIES[name]


def resolve_config(name: str, options: Mapping[str, Any] | None = None) -> Any:
    """The typed config of model ``name`` with ``options`` applied; a bad option name or value is named."""
    entry = model_entry(name)
    return apply_options(entry.config, options or {}, f"model {name!r}")


def create_model(name: str, num_classes: int, **options: Any) -> "nn.Module":
    """Build the registered model ``name`` for ``num_classes`` object classes (background not counted)."""
    return build_model(name, resolve_config(name, options), num_classes)


def build_model(name: str, config: Any, num_classes: int) -> "nn.Module":
    """Build model ``name`` from a full config (a dataclass, or the dict a checkpoint stores)."""
    entry = model_entry(name)
    if num_classes < 1:
        raise InstasegError(f"num_classes must be at least 1; got {num_classes}")
    if isinstance(config, Mapping):
        config = config_from_dict(type(entry.config), config, f"model {name!r}")
    return entry.build(config, num_classes)


__all__ = ["DEFAULT_MODEL", "ModelEntry", "build_model", "config_to_dict", "create_model", "list_models",
           "model_entry", "register_model", "resolve_config"]
