"""Compressed COCO RLE strings decoded all at once into run lengths, with each mask's area and box.

pycocotools decodes a string each time it is handed one (``rleFrString``), one Python call per list of masks;
an evaluation hands it every mask of every (image, category) group, so the decoding and the per-call cost
are most of its time. Here one compiled pass (numba, as no library decodes many strings in one call) reads
every string once, and checks what pycocotools trusts: the characters, and counts that cover the image.
Areas and boxes are computed as pycocotools' ``rleArea`` and ``rleToBbox`` compute them. Runs are kept as
their cumulative ends, so a mask's foreground is a sorted list of pixel intervals.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numba
import numpy as np

from instaseg.evaluation.coco.chunks import in_background, run_in_chunks

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
    """As ``decode_rles`` for the masks' ``counts`` (strings expected) and (N, 2) [h, w] sizes, on all CPUs."""
    strings = _Strings(counts)
    values = strings.count_values()
    offsets = np.cumsum(values)
    run_ends = np.empty(offsets[-1], dtype=_run_end_type(int((sizes[:, 0] * sizes[:, 1]).max(initial=0))))
    decoded = _decoded_like(len(strings), offsets, run_ends)
    run_in_chunks(_decode, len(strings), strings.buffer, strings.starts, strings.ends, *decoded,
                  weights=strings.ends - strings.starts)
    return strings.run_lengths(decoded, sizes)


def decode_counts_in_background(counts: Sequence, max_pixels: int) -> Callable[[np.ndarray], RunLengths]:
    """``decode_counts`` started on a background thread before the sizes are known, so the caller's Python
    work overlaps it. One compiled call does it all: a thread that needed the GIL between steps would wait
    for it while the caller runs long C calls.

    Args:
        max_pixels: the most pixels a mask may cover (its image's), to choose the width of the run ends.
    Returns:
        ``finish(sizes)``: waits for the decoding and gives the ``RunLengths`` for those (N, 2) [h, w] sizes.
    """
    strings = _Strings(counts)  # joining the strings is Python work: on the calling thread
    run_end_type = _run_end_type(max_pixels)

    def decode() -> tuple:
        if strings.separated:
            decoded = _find_and_decode(strings.buffer, SEPARATOR, strings.starts, strings.ends,
                                       np.empty(0, dtype=run_end_type))
            if decoded is not None:
                return decoded
            strings.bound_by_lengths()  # a string holds the separator (it is malformed, and flagged as such)
        values = strings.count_values()
        offsets = np.cumsum(values)
        decoded = _decoded_like(len(strings), offsets, np.empty(offsets[-1], dtype=run_end_type))
        _decode(0, len(strings), strings.buffer, strings.starts, strings.ends, *decoded)
        return decoded

    decoding = in_background(decode)
    return lambda sizes: strings.run_lengths(decoding(), sizes)


SEPARATOR = ord("\n")  # between the joined strings: outside the RLE alphabet, so no valid string holds it


def _run_end_type(max_pixels: int) -> type:
    """int32 halves the memory the run ends take (and the time to fill them) wherever positions fit. A mask
    whose runs overshoot its image is flagged (code 4) from its exact int64 total, whatever its ends hold."""
    return np.int64 if max_pixels >= 2 ** 31 else np.int32


def _decoded_like(count: int, offsets: np.ndarray, run_ends: np.ndarray) -> tuple:
    """What ``_decode`` fills, in its argument order: offsets, run ends, areas, totals, empty runs, problems."""
    return (offsets, run_ends, np.zeros(count, dtype=np.int64), np.zeros(count, dtype=np.int64),
            np.zeros(count, dtype=np.bool_), np.zeros(count, dtype=np.int8))


class _Strings:
    """The counts as one byte buffer and each string's bounds in it. The usual case, every count an ASCII str
    (or every one bytes), is joined with separators whose positions the compiled pass finds; otherwise the
    strings are converted one by one and measured."""

    def __init__(self, counts: Sequence):
        self.counts = counts
        self.starts = np.zeros(len(counts), dtype=np.int64)
        self.ends = np.zeros(len(counts), dtype=np.int64)
        self.not_text = None
        self.separated = True
        try:
            self.buffer = np.frombuffer("\n".join(counts).encode("ascii"), dtype=np.uint8)
        except (UnicodeEncodeError, TypeError):
            try:
                self.buffer = np.frombuffer(b"\n".join(counts), dtype=np.uint8)
            except TypeError:
                self._convert_one_by_one()

    def __len__(self) -> int:
        return len(self.counts)

    def _convert_one_by_one(self) -> None:
        """Non-ASCII text as UTF-8 (bytes of 128 and up: outside the alphabet, flagged as code 1); bytes as
        they are; anything else empty and flagged as code 5."""
        not_text = np.array([not isinstance(c, (str, bytes)) for c in self.counts], dtype=bool)
        self.counts = [c if isinstance(c, bytes) else c.encode("utf-8") if isinstance(c, str) else b""
                       for c in self.counts]
        self.not_text = not_text if not_text.any() else None
        self.buffer = np.frombuffer(b"".join(self.counts), dtype=np.uint8)
        self.separated = False
        self.bound_by_lengths()

    def bound_by_lengths(self) -> None:
        """Each string's bounds from the lengths of the counts (one byte a character, as joined)."""
        lengths = np.fromiter(map(len, self.counts), dtype=np.int64, count=len(self.counts))
        separator = int(self.separated)
        self.ends[:] = np.cumsum(lengths + separator) - separator
        self.starts[:] = self.ends - lengths
        self.separated = False

    def count_values(self) -> np.ndarray:
        """(N + 1,) how many values each string holds, after a leading 0; finds the strings if need be."""
        values = np.zeros(len(self) + 1, dtype=np.int64)
        if self.separated:
            if _find_strings(self.buffer, SEPARATOR, self.starts, self.ends, values[1:]):
                return values
            self.bound_by_lengths()
            values[:] = 0
        run_in_chunks(_count_values, len(self), self.buffer, self.starts, self.ends, values[1:],
                      weights=self.ends - self.starts)
        return values

    def run_lengths(self, decoded: tuple, sizes: np.ndarray) -> RunLengths:
        offsets, run_ends, areas, totals, empty_runs, problem = decoded
        heights, widths = np.ascontiguousarray(sizes[:, 0]), np.ascontiguousarray(sizes[:, 1])
        problem[(problem == 0) & (totals != heights * widths)] = 4
        if self.not_text is not None:
            problem[self.not_text] = NOT_TEXT
        return RunLengths(ends=run_ends, offsets=offsets, heights=heights, widths=widths, areas=areas,
                          empty_runs=empty_runs, problem=problem)


@numba.njit(cache=True, nogil=True)
def _find_and_decode(buffer, separator, starts, ends, run_end_type):  # pragma: no cover - compiled
    """Find, count and decode every separated string in one call; None if a string holds the separator."""
    count = len(starts)
    values = np.zeros(count + 1, dtype=np.int64)
    if not _find_strings(buffer, separator, starts, ends, values[1:]):
        return None
    offsets = np.cumsum(values)
    run_ends = np.empty(offsets[-1], dtype=run_end_type.dtype)
    areas, totals = np.zeros(count, dtype=np.int64), np.zeros(count, dtype=np.int64)
    empty_runs, problem = np.zeros(count, dtype=np.bool_), np.zeros(count, dtype=np.int8)
    _decode(0, count, buffer, starts, ends, offsets, run_ends, areas, totals, empty_runs, problem)
    return offsets, run_ends, areas, totals, empty_runs, problem


@numba.njit(cache=True, nogil=True)
def _find_strings(buffer, separator, starts, ends, values):  # pragma: no cover - compiled
    """Each string's bounds in the separated buffer, and how many values it holds (characters without the
    continuation bit). False if the separators do not match the strings (a string holds one)."""
    count = len(starts)
    if count == 0:
        return len(buffer) == 0
    string = 0
    for p in range(len(buffer)):
        if buffer[p] == separator:
            ends[string] = p
            string += 1
            if string == count:
                return False
            starts[string] = p + 1
        else:
            values[string] += (buffer[p] - 48) & 0x20 == 0
    ends[string] = len(buffer)
    return string == count - 1


@numba.njit(cache=True, nogil=True)
def _count_values(start, stop, buffer, starts, ends, values):  # pragma: no cover - compiled
    for i in range(start, stop):
        for p in range(starts[i], ends[i]):
            values[i] += (buffer[p] - 48) & 0x20 == 0


@numba.njit(cache=True, nogil=True)
def _decode(start, stop, buffer, starts, ends, offsets, run_ends, areas, totals, empty_runs, problem
            ):  # pragma: no cover - compiled
    """Run ends, area and total length of each string; problem codes 1 to 3 (4 needs the sizes)."""
    for i in range(start, stop):
        out = offsets[i]
        m, value, shift, position, area = 0, np.int64(0), 0, np.int64(0), np.int64(0)
        previous, before_previous = np.int64(0), np.int64(0)  # the last two counts: later ones are differences
        outside, sign_bits = np.int64(0), np.int64(0)  # non-zero once a character / a count is invalid
        empty = False
        for p in range(starts[i], ends[i]):
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
        areas[i], totals[i], empty_runs[i] = area, position, empty
        if outside:
            problem[i] = 1
        elif shift:
            problem[i] = 2
        elif sign_bits < 0:
            problem[i] = 3


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
