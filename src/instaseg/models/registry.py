"""The model registry: a dict of builder functions, looked up by name."""

from __future__ import annotations

from typing import Callable

from torch import nn

from instaseg.errors import InstasegError

ModelBuilder = Callable[..., nn.Module]
_BUILDERS: dict[str, ModelBuilder] = {}


def register_model(builder: ModelBuilder) -> ModelBuilder:
    """Decorator: register ``builder`` under its function name; a second builder of that name is refused."""
    name = builder.__name__
    if name in _BUILDERS:
        raise ValueError(f"model {name!r} is already registered")
    _BUILDERS[name] = builder
    return builder


def list_models() -> list[str]:
    return sorted(_BUILDERS)


def create_model(name: str, num_classes: int, **options) -> nn.Module:
    """Build the registered model ``name`` for ``num_classes`` object classes (background not counted)."""
    if name not in _BUILDERS:
        raise InstasegError(f"unknown model {name!r}; available: {', '.join(list_models())}")
    if num_classes < 1:
        raise InstasegError(f"num_classes must be at least 1; got {num_classes}")
    return _BUILDERS[name](num_classes=num_classes, **options)
