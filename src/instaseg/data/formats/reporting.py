"""How format readers and writers report: problems gathered into one error, notes never lost."""

from __future__ import annotations

import warnings
from typing import Any

from instaseg.errors import DatasetError

# Listing more problems than this buries the first ones; the count says how many were left out.
MAX_LISTED_PROBLEMS = 50


def report_note(notes: list[str] | None, message: str) -> None:
    """Append ``message`` to ``notes``; without a list, raise it as a Python warning so it is never lost."""
    if notes is None:
        warnings.warn(message, stacklevel=3)
    else:
        notes.append(message)


def format_ids(ids: list[Any], limit: int = 10) -> str:
    """'1, 2, 3' or '1, 2, ... and 7 more': enough ids to find the records without flooding the screen."""
    shown = ", ".join(str(i) for i in ids[:limit])
    return shown if len(ids) <= limit else f"{shown} ... and {len(ids) - limit} more"


def problems_error(header: str, problems: list[str]) -> DatasetError:
    """One DatasetError listing every problem found (the first ``MAX_LISTED_PROBLEMS`` of them)."""
    listed = problems[:MAX_LISTED_PROBLEMS]
    more = len(problems) - len(listed)
    tail = f"\n  ... and {more} more" if more else ""
    return DatasetError(f"{header}: {len(problems)} problem(s)\n  " + "\n  ".join(listed) + tail)
