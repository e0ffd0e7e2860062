"""Compressed COCO RLE strings decoded all at once into run lengths, with each mask's area and box.

pycocotools decodes a string each time it is handed one (``rleFrString``), one Python call per list of masks;
an evaluation hands it every mask of every (image, category) group, so the decoding and the per-call cost
are most of its time. Here one compiled pass (numba, as no library decodes many strings in one call) reads
every string once, and checks what pycocotools trusts: the characters, and counts that cover the image.
Areas and boxes are computed as pycocotools' ``rleArea`` and ``rleToBbox`` compute them. Runs are kept as
their cumulative ends, so a mask's foreground is a sorted list of pixel intervals.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Sequence

import numba
import numpy as np

from instaseg.evaluation.coco.chunks import run_in_chunks

# Why a string could not be decoded (``RunLengths.problem``), by code.
PROBLEMS = {1: "has characters outside the RLE alphabet ('0' to 'o')", 2: "ends in the middle of a count",
            3: "decodes to a negative run length", 4: "has run lengths that do not add up to height x width",
            5: "counts are not a string"}
NOT_TEXT = 5


@dataclass
class RunLengths:
    """N decoded masks. Mask ``i``'s runs alternate background and foreground (background first, column-major)
    and end at the flat pixel positions ``e = ends[offsets[i]:offsets[i + 1]]``: its foreground is the
    intervals ``[e[k], e[k + 1])`` for even ``k``."""

    ends: np.ndarray  # (total,) int32 (int64 for masks of 2**31 pixels or more) cumulative run lengths
    offsets: np.ndarray  # (N + 1,) int64
    heights: np.ndarray  # (N,) int64
    widths: np.ndarray  # (N,) int64
    areas: np.ndarray  # (N,) int64 foreground pixels
    empty_runs: np.ndarray  # (N,) bool: some run after the first has length 0 (pycocotools' IoU loop stumbles)
    problem: np.ndarray  # (N,) int8: 0, or a key of PROBLEMS

    def __len__(self) -> int:
        return len(self.heights)

    def take(self, rows: np.ndarray) -> RunLengths:
        """The masks ``rows``, in that order."""
        lengths = np.diff(self.offsets)[rows]
        offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        source = np.repeat(self.offsets[rows] - offsets[:-1], lengths) + np.arange(offsets[-1])
        return RunLengths(ends=self.ends[source], offsets=offsets, heights=self.heights[rows],
                          widths=self.widths[rows], areas=self.areas[rows], empty_runs=self.empty_runs[rows],
                          problem=self.problem[rows])

    def boxes(self) -> np.ndarray:
        """(N, 4) float64 x, y, width, height of each mask's foreground, as pycocotools' ``toBbox``."""
        boxes = np.zeros((len(self), 4), dtype=np.int64)
        _boxes(self.ends, self.offsets, self.heights, self.widths, boxes)
        return boxes.astype(np.float64)


def decode_rles(rles: Sequence[dict]) -> RunLengths:
    """Decode compressed RLE dicts (``size`` [h, w], ``counts`` str or bytes). Masks that cannot be decoded are
    flagged in ``problem``, not raised, so the caller can name the record."""
    sizes = np.array([rle["size"] for rle in rles], dtype=np.int64).reshape(-1, 2)
    return decode_counts([rle["counts"] for rle in rles], sizes)


def decode_counts(counts: Sequence, sizes: np.ndarray) -> RunLengths:
    """As ``decode_rles`` for the masks' ``counts`` (strings expected) and (N, 2) [h, w] sizes."""
    return _decode_packed(*_pack(counts, sizes))


def decode_counts_in_background(counts: Sequence, sizes: np.ndarray) -> Future:
    """``decode_counts`` whose compiled passes (which release the GIL) run on a background thread, so the
    caller's Python work overlaps them; the future's result is the ``RunLengths``."""
    packed = _pack(counts, sizes)  # Python work: on the calling thread, not fighting it for the GIL
    pool = ThreadPoolExecutor(1)
    future = pool.submit(_decode_packed, *packed)
    pool.shutdown(wait=False)  # the thread ends once the decode is done
    return future


def _pack(counts: Sequence, sizes: np.ndarray) -> tuple:
    """The strings as one byte buffer with their end offsets, the sizes, and which counts were not text."""
    not_text = None
    try:
        text = "".join(counts).encode("ascii")  # the usual case: every count an ASCII str, one byte a character
    except (UnicodeEncodeError, TypeError):
        # Non-ASCII text becomes UTF-8 (bytes of 128 and up: outside the alphabet, flagged as code 1); bytes stay
        # as they are; anything else is empty and flagged as code 5.
        not_text = np.array([not isinstance(c, (str, bytes)) for c in counts], dtype=bool)
        counts = [c if isinstance(c, bytes) else c.encode("utf-8") if isinstance(c, str) else b"" for c in counts]
        text = b"".join(counts)
        not_text = not_text if not_text.any() else None
    string_ends = np.cumsum(np.fromiter(map(len, counts), dtype=np.int64, count=len(counts)))
    heights, widths = np.ascontiguousarray(sizes[:, 0]), np.ascontiguousarray(sizes[:, 1])
    return np.frombuffer(text, dtype=np.uint8), string_ends, heights, widths, not_text


def _decode_packed(buffer: np.ndarray, string_ends: np.ndarray, heights: np.ndarray, widths: np.ndarray,
                   not_text: np.ndarray | None) -> RunLengths:
    count = len(string_ends)
    pixels = heights * widths
    string_lengths = np.diff(string_ends, prepend=0)
    # A count ends at each character without the continuation bit: size the output first.
    values = np.zeros(count + 1, dtype=np.int64)
    run_in_chunks(_count_values, count, buffer, string_ends, values[1:], weights=string_lengths)
    offsets = np.cumsum(values)
    # int32 halves the memory the runs take (and the time to fill it) wherever positions fit
    run_ends = np.empty(offsets[-1], dtype=np.int32 if not count or pixels.max() < 2 ** 31 else np.int64)
    areas, problem = np.zeros(count, dtype=np.int64), np.zeros(count, dtype=np.int8)
    empty_runs = np.zeros(count, dtype=np.bool_)
    run_in_chunks(_decode, count, buffer, string_ends, pixels, offsets, run_ends, areas, empty_runs, problem,
                  weights=string_lengths)
    if not_text is not None:
        problem[not_text] = NOT_TEXT
    return RunLengths(ends=run_ends, offsets=offsets, heights=heights, widths=widths, areas=areas,
                      empty_runs=empty_runs, problem=problem)


@numba.njit(cache=True, nogil=True)
def _count_values(start, stop, buffer, string_ends, values):  # pragma: no cover - compiled
    for i in range(start, stop):
        for p in range(string_ends[i - 1] if i else 0, string_ends[i]):
            values[i] += (buffer[p] - 48) & 0x20 == 0


@numba.njit(cache=True, nogil=True)
def _decode(start, stop, buffer, string_ends, pixels, offsets, run_ends, areas, empty_runs, problem
            ):  # pragma: no cover - compiled
    for i in range(start, stop):
        out = offsets[i]
        m, value, shift, position, area = 0, np.int64(0), 0, np.int64(0), np.int64(0)
        previous, before_previous = np.int64(0), np.int64(0)  # the last two counts: later ones are differences
        outside, sign_bits = np.int64(0), np.int64(0)  # non-zero once a character / a count is invalid
        empty = False
        for p in range(string_ends[i - 1] if i else 0, string_ends[i]):
            c = np.int64(buffer[p]) - 48
            outside |= c & -64  # characters '0' to 'o' give 0 to 63
            value |= (c & 0x1F) << shift
            shift += 5
            if c & 0x20 == 0:  # the count's last character
                value |= -((c >> 4) & 1) << shift  # sign-extend
                value += before_previous * (m > 2)  # rleToString stores the 4th count on as differences
                sign_bits |= value
                empty |= (value == 0) & (m > 0)
                position += value
                area += value & -(m & 1)  # odd runs are foreground
                run_ends[out + m] = position
                before_previous, previous = previous, value
                m += 1
                value, shift = np.int64(0), 0
        areas[i], empty_runs[i] = area, empty
        if outside:
            problem[i] = 1
        elif shift:
            problem[i] = 2
        elif sign_bits < 0:
            problem[i] = 3
        elif position != pixels[i]:
            problem[i] = 4


@numba.njit(cache=True, nogil=True)
def _boxes(run_ends, offsets, heights, widths, boxes):  # pragma: no cover - compiled
    for i in range(len(heights)):
        foreground_box(run_ends[offsets[i]:offsets[i + 1]], heights[i], widths[i], boxes[i])


@numba.njit(cache=True, nogil=True)
def foreground_box(run_ends, height, width, box):  # pragma: no cover - compiled
    """``rleToBbox`` (pycocotools 2.0.8 on): the box of the non-empty foreground runs; a run that spans
    columns spans every row. Its unsigned arithmetic is kept: a mask without foreground gets width and height
    that wrap around 2**32, as pycocotools gives them."""
    m = (len(run_ends) // 2) * 2
    if m == 0 or height == 0:
        return
    x_start, y_start, x_end, y_end = width, height, 0, 0
    for j in range(1, m, 2):
        start, end = run_ends[j - 1], run_ends[j]  # the foreground run [start, end)
        if end == start:
            continue
        x_first, x_last = start // height, (end - 1) // height
        x_start, x_end = min(x_start, x_first), max(x_end, x_last)
        if x_first < x_last:
            y_start, y_end = 0, height - 1
        else:
            y_start, y_end = min(y_start, start % height), max(y_end, (end - 1) % height)
    box[0], box[1] = x_start, y_start
    box[2], box[3] = (x_end - x_start + 1) & 0xFFFFFFFF, (y_end - y_start + 1) & 0xFFFFFFFF
