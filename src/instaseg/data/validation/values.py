"""Type checks of single JSON values, each returning ``(code, message)`` or None, and a NaN finder.

Python's json reads (and by default writes) NaN and Infinity, which are not JSON: every numeric check
here refuses them, so a file that another tool cannot read never passes.
"""

from __future__ import annotations

import math
from typing import Any, Iterator

from instaseg.data.validation.problems import describe_value

NOT_JSON = "NaN and Infinity are not valid JSON"

Issue = tuple[str, str]  # (code, message)


def is_number(value: Any) -> bool:
    """An int or a finite float (JSON true/false are not numbers)."""
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and math.isfinite(value))


def is_non_finite(value: Any) -> bool:
    return isinstance(value, float) and not math.isfinite(value)


def integer_issue(value: Any) -> Issue | None:
    """None for an int; code ``integer-float`` for 3.0 (fixable), ``integer-invalid`` for anything else."""
    if isinstance(value, int) and not isinstance(value, bool):
        return None
    if is_non_finite(value):
        return "integer-invalid", f"must be an integer; got {describe_value(value)} ({NOT_JSON})"
    if isinstance(value, float) and value.is_integer():
        return "integer-float", f"must be an integer; got {value!r}"
    return "integer-invalid", f"must be an integer; got {describe_value(value)}"


def as_integer(value: Any) -> int | None:
    """The value as an int when it is one or an integral float, else None."""
    issue = integer_issue(value)
    return int(value) if issue is None or issue[0] == "integer-float" else None


def number_issue(value: Any, what: str = "a number") -> str | None:
    if is_number(value):
        return None
    extra = f" ({NOT_JSON})" if is_non_finite(value) else ""
    return f"must be {what}; got {describe_value(value)}{extra}"


def non_finite_paths(value: Any, path: str) -> Iterator[str]:
    """Paths like ``attributes.depth[2]`` of every NaN or Infinity inside ``value``."""
    if isinstance(value, float):
        if not math.isfinite(value):
            yield path
    elif isinstance(value, list):
        for position, item in enumerate(value):
            yield from non_finite_paths(item, f"{path}[{position}]")
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from non_finite_paths(item, f"{path}.{key}" if path else str(key))


def replace_non_finite(value: Any) -> Any:
    """A copy of ``value`` with every NaN or Infinity replaced by None (JSON null)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, list):
        return [replace_non_finite(item) for item in value]
    if isinstance(value, dict):
        return {key: replace_non_finite(item) for key, item in value.items()}
    return value
