"""Writing files without ever leaving a half-written one behind."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write to a temporary file beside ``path``, then rename over it in one step."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | Path, payload: Any, indent: int | None = None) -> None:
    atomic_write_text(path, json.dumps(payload, indent=indent, allow_nan=False))


def prepare_output_dir(path: str | Path, overwrite: bool = False) -> Path:
    """Create ``path`` for a command's outputs; refuse a non-empty one unless ``overwrite``."""
    from instaseg.errors import InstasegError

    path = Path(path)
    if path.exists() and not path.is_dir():
        raise InstasegError(f"{path}: exists and is not a folder")
    if path.is_dir() and any(path.iterdir()) and not overwrite:
        raise InstasegError(f"{path}: folder is not empty; choose another --out or pass --overwrite")
    path.mkdir(parents=True, exist_ok=True)
    return path


def copy_file(source: Path, target: Path) -> None:
    """Copy ``source`` to ``target`` atomically; a copy, not a link, so editing an output never changes the
    user's original. A ``target`` that already is ``source`` is left alone."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists() and os.path.samefile(source, target):
        return
    handle, temp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(handle)
    try:
        shutil.copy2(source, temp)
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
