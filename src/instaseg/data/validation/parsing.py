"""Reading an annotation file as JSON, turning every way that can fail into a located Problem."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from instaseg.data.validation.problems import Problem


def read_json(path: Path, file: str) -> tuple[Any, list[Problem]]:
    """Parse ``path``; on failure return no payload and one problem naming the line and column.

    NaN and Infinity literals, which Python's json accepts, come through as floats; the record checks
    report them where they stand.
    """
    data = path.read_bytes()
    if not data.strip():
        return None, [Problem(file, code="json-empty",
                              message="the file is empty; expected a COCO JSON object")]
    try:
        text = data.decode("utf-8-sig")  # a byte-order mark is harmless; accept it
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        column = error.start - (data.rfind(b"\n", 0, error.start) + 1) + 1
        return None, [Problem(file, code="json-not-utf8", line=line, column=column,
                              message=f"not UTF-8 text (byte 0x{data[error.start]:02x}); "
                                      "is this a JSON file?")]
    try:
        return json.loads(text), []
    except json.JSONDecodeError as error:
        return None, [Problem(file, code="json-invalid", line=error.lineno, column=error.colno,
                              message=f"invalid JSON: {error.msg}")]
    except RecursionError:
        return None, [Problem(file, code="json-invalid", message="invalid JSON: nested too deeply to read")]
    except ValueError as error:  # e.g. an integer of more than 4300 digits
        return None, [Problem(file, code="json-invalid", message=f"invalid JSON: {error}")]
