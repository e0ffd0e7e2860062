"""Model options: checked against the fields of a model's typed config, converted to their declared types.

Values come from Python (``create_model(name, fpn_channels=64)``), from the command line as text
(``--model-option fpn_channels=64``) or from a checkpoint's JSON (lists for tuples); each is converted to
its field's type or refused with a message naming the option, the value and the type expected.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from typing import Any, Mapping

from instaseg.errors import InstasegError

_BOOLEANS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


def apply_options(config: Any, options: Mapping[str, Any], owner: str) -> Any:
    """A copy of the dataclass ``config`` with ``options`` converted and applied."""
    hints = typing.get_type_hints(type(config))
    names = [f.name for f in dataclasses.fields(config)]
    changes = {}
    for key, value in options.items():
        if key not in hints or key not in names:
            raise InstasegError(f"{owner} has no option {key!r}; its options: {', '.join(names)}")
        changes[key] = _convert(value, hints[key], f"{owner}: option {key}")
    return dataclasses.replace(config, **changes)


def config_from_dict(config_class: type, values: Mapping[str, Any], owner: str) -> Any:
    """A config from the fields a checkpoint stored. A field the file lacks was added to the config after it
    was written and takes its default, which by rule is the behaviour from before the field existed; a
    field the config does not know is refused (the file is not for this model)."""
    names = {f.name for f in dataclasses.fields(config_class)}
    extra = sorted(set(values) - names)
    if extra:
        raise InstasegError(f"{owner}: stored config does not fit {config_class.__name__} (unknown "
                            f"{', '.join(extra)})")
    hints = typing.get_type_hints(config_class)
    return config_class(**{k: _convert(v, hints[k], f"{owner}: config field {k}") for k, v in values.items()})


def config_to_dict(config: Any) -> dict[str, Any]:
    """Every field, JSON-ready (tuples as lists)."""
    return json.loads(json.dumps(dataclasses.asdict(config)))


def parse_option(text: str) -> tuple[str, str]:
    """``key=value`` -> (key, value-as-text), for ``--model-option``."""
    key, separator, value = text.partition("=")
    if not separator or not key.strip():
        raise InstasegError(f"--model-option takes key=value; got {text!r}")
    return key.strip(), value.strip()


def _convert(value: Any, kind: Any, where: str) -> Any:
    origin, arguments = typing.get_origin(kind), typing.get_args(kind)
    try:
        if origin in (typing.Union, types.UnionType):
            if value is None or (isinstance(value, str) and value.lower() == "none"):
                if type(None) in arguments:
                    return None
            inner = [a for a in arguments if a is not type(None)]
            return _convert(value, inner[0], where)
        if origin is tuple:
            items = _as_sequence(value)
            element = arguments[0] if arguments else str
            if len(arguments) == 2 and arguments[1] is Ellipsis or len(arguments) == 1:
                return tuple(_convert(item, element, where) for item in items)
            if len(items) != len(arguments):
                raise ValueError(f"needs {len(arguments)} values")
            return tuple(_convert(item, a, where) for item, a in zip(items, arguments))
        if kind is bool:
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.lower() in _BOOLEANS:
                return _BOOLEANS[value.lower()]
            raise ValueError("not a boolean")
        if kind is int:
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError("not an integer")
            return int(value)
        if kind is float:
            if isinstance(value, bool):
                raise ValueError("not a number")
            return float(value)
        if kind is str:
            if not isinstance(value, str):
                raise ValueError("not text")
            return value
    except (TypeError, ValueError) as error:
        raise InstasegError(f"{where}: {value!r} is not a valid {_type_name(kind)} ({error})") from None
    return value


def _as_sequence(value: Any) -> list:
    if isinstance(value, str):
        return [part.strip() for part in value.strip("()[] ").split(",") if part.strip()]
    if isinstance(value, (list, tuple)):
        return list(value)
    raise ValueError("not a sequence")


def _type_name(kind: Any) -> str:
    return getattr(kind, "__name__", None) or str(kind).replace("typing.", "")
