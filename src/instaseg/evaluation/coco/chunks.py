"""Run a compiled kernel over ranges of independent items on every core.

The kernels release the GIL (numba ``nogil``), so plain threads run them in parallel. Threads, not numba's
``parallel=True``: its default threading layer aborts the process when two Python threads launch kernels at
once, and a pool made per call leaves nothing behind for a forked data-loader worker to inherit.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

import numpy as np

SMALL = 2_000  # less work than this (items, or their weights) runs on the calling thread


def workers() -> int:
    """CPUs this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def run_in_chunks(kernel: Callable[..., Any], count: int, *args: Any, weights: np.ndarray | None = None) -> None:
    """Call ``kernel(start, stop, *args)`` over ``[0, count)`` in chunks, on all CPUs. The chunks must write
    to disjoint parts of the outputs.

    Args:
        weights: (count,) work per item, to balance the chunks (default even).
    """
    threads = min(workers(), 8)
    cumulative = np.cumsum(weights if weights is not None else np.ones(count), dtype=np.float64)
    if threads == 1 or not count or cumulative[-1] < SMALL:
        kernel(0, count, *args)
        return
    pieces = 4 * threads  # more chunks than threads: one slow chunk does not hold the rest up
    targets = np.linspace(0, cumulative[-1], pieces + 1)[1:-1]
    bounds = np.unique(np.concatenate([[0], np.searchsorted(cumulative, targets, side="right"), [count]]))
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(lambda start, stop: kernel(start, stop, *args), bounds[:-1].tolist(), bounds[1:].tolist()))


def in_background(task: Callable[[], Any]) -> Callable[[], Any]:
    """Run ``task`` on a background thread; the returned function waits for it and gives its result (or raises
    its error). For one long compiled call: a thread that needs the GIL often waits for it while the caller
    runs long C calls (``list(map(...))``, ``str.join``), which never hand it over midway."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["result"] = task()
        except BaseException as error:  # raised by the waiting thread
            outcome["error"] = error

    thread = threading.Thread(target=run, daemon=True)
    thread.start()

    def wait() -> Any:
        thread.join()
        if "error" in outcome:
            raise outcome["error"]
        return outcome["result"]

    return wait
