"""Compressed COCO RLE strings decoded all at once into run lengths, with each mask's area and box.

pycocotools decodes a string each time it is handed one (``rleFrString``), one Python call per list of masks;
an evaluation hands it every mask of every (image, category) group, so the decoding and the per-call cost
are most of its time. Here compiled passes (numba, as no library decodes many strings in one call) read
every string once, and check what pycocotools trusts: the characters, and counts that cover the image.
Areas and boxes are computed as pycocotools' ``rleArea`` and ``rleToBbox`` compute them. Runs are kept as
their cumulative ends, so a mask's foreground is a sorted list of pixel intervals.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numba
import numpy as np

from instaseg.evaluation.coco.chunks import in_background

# Why a string could not be decoded (``RunLengths.problem``), by code.
PROBLEMS = {1: "has characters outside the RLE alphabet ('0' to 'o')", 2: "ends in the middle of a count",
            3: "decodes to a negative run length", 4: "has run lengths that do not add up to height x width",
            5: "counts are not a string"}
NOT_TEXT = 5
SEPARATOR = ord("\n")  # between the joined strings: outside the RLE alphabet, so no valid string holds it


@dataclass
class RunLengths:
    """N decoded masks. Mask ``i``'s runs alternate background and foreground (background first, column-major)
    and end at the flat pixel positions ``e = ends[starts[i]:stops[i]]``: its foreground is the intervals
    ``[e[k], e[k + 1])`` for even ``k``. ``ends`` has a slot per character of the strings, so each string
    decodes into its own slots, whatever the order; slots past a mask's ``stop`` are never read."""

    ends: np.ndarray  # (characters + 1,) int32 (int64 for masks of 2**31 pixels or more) cumulative run lengths
    starts: np.ndarray  # (N,) int64
    stops: np.ndarray  # (N,) int64
    heights: np.ndarray  # (N,) int64
    widths: np.ndarray  # (N,) int64
    areas: np.ndarray  # (N,) int64 foreground pixels
    empty_runs: np.ndarray  # (N,) bool: some run after the first has length 0 (pycocotools' IoU loop stumbles)
    problem: np.ndarray  # (N,) int8: 0, or a key of PROBLEMS

    def __len__(self) -> int:
        return len(self.heights)

    def runs(self, index: int) -> np.ndarray:
        """Mask ``index``'s run ends."""
        return self.ends[self.starts[index]:self.stops[index]]

    def take(self, rows: np.ndarray) -> RunLengths:
        """The masks ``rows``, in that order (sharing ``ends``)."""
        return RunLengths(ends=self.ends, starts=self.starts[rows], stops=self.stops[rows], heights=self.heights[rows],
                          widths=self.widths[rows], areas=self.areas[rows], empty_runs=self.empty_runs[rows],
                          problem=self.problem[rows])

    def boxes(self) -> np.ndarray:
        """(N, 4) float64 x, y, width, height of each mask's foreground, as pycocotools' ``toBbox``."""
        boxes = np.zeros((len(self), 4), dtype=np.int64)
        _boxes(self.ends, self.starts, self.stops, self.heights, self.widths, boxes)
        return boxes.astype(np.float64)


def decode_rles(rles: Sequence[dict]) -> RunLengths:
    """Decode compressed RLE dicts (``size`` [h, w], ``counts`` str or bytes). Masks that cannot be decoded are
    flagged in ``problem``, not raised, so the caller can name the record."""
    sizes = np.array([rle["size"] for rle in rles], dtype=np.int64).reshape(-1, 2)
    return decode_counts([rle["counts"] for rle in rles], sizes)


def decode_counts(counts: Sequence, sizes: np.ndarray) -> RunLengths:
    """As ``decode_rles`` for the masks' ``counts`` (strings expected) and (N, 2) [h, w] sizes, on the calling
    thread (the ground truth's and the fallback's: the results' own go through the background)."""
    decoding = _Decoding(counts, int((sizes[:, 0] * sizes[:, 1]).max(initial=0)))
    decoding.forward()
    return decoding.result(sizes)


def decode_counts_in_background(counts: Sequence, max_pixels: int) -> Callable[[np.ndarray], RunLengths]:
    """Start decoding ``counts`` on a background thread, first string first, before the sizes are known, so
    the caller's Python work overlaps it.

    Args:
        max_pixels: the most pixels a mask may cover (its image's), to choose the width of the run ends.
    Returns:
        ``finish(sizes)``: decodes from the last string back until it meets the background thread's work,
        waits for that, and gives the ``RunLengths`` for those (N, 2) [h, w] sizes. Each thread's share is one
        compiled call (see ``chunks.in_background``).
    """
    decoding = _Decoding(counts, max_pixels)  # joining the strings is Python work: on the calling thread
    forward = in_background(decoding.forward)

    def finish(sizes: np.ndarray) -> RunLengths:
        decoding.backward()
        forward()
        return decoding.result(sizes)

    return finish


# How the passes find each string (``_Decoding.layout``).
UNCHECKED = 0  # joined with separators, not yet counted
SEPARATED = 1  # as many separators as strings less one: each pass finds the bounds as it goes
BOUNDED = 2  # the bounds are measured (``char_starts``, ``char_ends``)
MISPLACED = 3  # a string holds a separator: the forward pass measures the bounds, then decodes them all


class _Decoding:
    """The strings, what decoding them fills, and which strings a thread has claimed. Each string is claimed
    by the thread that decodes it. The claims are plain loads and stores, not atomic: should two threads claim
    one string at once, both decode it, and correctness rests on their writing the same values to its slots
    (its bounds are found the same way from either end). A thread stops at a string the other has claimed,
    so none is skipped."""

    def __init__(self, counts: Sequence, max_pixels: int):
        self.counts = counts
        self.not_text = None
        self.char_starts = np.zeros(len(counts), dtype=np.int64)  # also each mask's first slot in ``ends``
        self.char_ends = np.zeros(len(counts), dtype=np.int64)
        self.layout = np.array([UNCHECKED], dtype=np.int8)
        try:  # the usual case: every count an ASCII str, or every one bytes
            text = "\n".join(counts).encode("ascii")
        except (UnicodeEncodeError, TypeError):
            try:
                text = b"\n".join(counts)
            except TypeError:
                text = self._convert_one_by_one()
        self.buffer = np.frombuffer(text, dtype=np.uint8)
        self.claimed = np.zeros(len(counts), dtype=np.uint8)
        # int32 halves the memory the run ends take (and the time to fill them) wherever positions fit. A mask
        # whose runs overshoot its image is flagged (code 4) from its exact int64 total, whatever its ends hold.
        ends = np.empty(len(self.buffer) + 1, dtype=np.int64 if max_pixels >= 2 ** 31 else np.int32)
        count = len(counts)
        # _decode_string's outputs: starts, stops, run ends, areas, totals, empty runs, problems
        self.outputs = (self.char_starts, np.zeros(count, dtype=np.int64), ends, np.zeros(count, dtype=np.int64),
                        np.zeros(count, dtype=np.int64), np.zeros(count, dtype=np.bool_),
                        np.zeros(count, dtype=np.int8))

    def _convert_one_by_one(self) -> bytes:
        """Non-ASCII text as UTF-8 (bytes of 128 and up, lone surrogates included: outside the alphabet, flagged
        as code 1); bytes as
        they are; anything else empty and flagged as code 5. Joined without separators, bounds measured."""
        not_text = np.array([not isinstance(c, (str, bytes)) for c in self.counts], dtype=bool)
        self.counts = [c if isinstance(c, bytes) else c.encode("utf-8", "surrogatepass") if isinstance(c, str) else b""
                       for c in self.counts]
        self.not_text = not_text if not_text.any() else None
        self._measure(separator_width=0)
        return b"".join(self.counts)

    def _measure(self, separator_width: int) -> None:
        """Each string's bounds from the lengths of the counts (one byte a character, as joined), in place:
        the passes hold these arrays."""
        lengths = np.fromiter(map(len, self.counts), dtype=np.int64, count=len(self.counts))
        np.cumsum(lengths + separator_width, out=self.char_ends)
        self.char_ends -= separator_width
        np.subtract(self.char_ends, lengths, out=self.char_starts)
        self.layout[0] = BOUNDED

    def forward(self) -> None:
        """Decode from the first string on, until one is claimed."""
        _decode_forward(self.buffer, SEPARATOR, self.char_ends, self.layout, self.claimed, *self.outputs)
        if self.layout[0] == MISPLACED:  # none is claimed yet, and the caller's pass claims none
            self._measure(separator_width=1)
            _decode_forward(self.buffer, SEPARATOR, self.char_ends, self.layout, self.claimed, *self.outputs)

    def backward(self) -> None:
        """Decode from the last string back, until one is claimed."""
        _decode_backward(self.buffer, SEPARATOR, self.char_ends, self.layout, self.claimed, *self.outputs)

    def result(self, sizes: np.ndarray) -> RunLengths:
        """The decoded masks, once every string is: code 4 for those whose runs do not cover their (N, 2)
        [h, w] size."""
        starts, stops, run_ends, areas, totals, empty_runs, problem = self.outputs
        heights, widths = np.ascontiguousarray(sizes[:, 0]), np.ascontiguousarray(sizes[:, 1])
        problem[(problem == 0) & (totals != heights * widths)] = 4
        if self.not_text is not None:
            problem[self.not_text] = NOT_TEXT
        return RunLengths(ends=run_ends, starts=starts, stops=stops, heights=heights, widths=widths, areas=areas,
                          empty_runs=empty_runs, problem=problem)


@numba.njit(cache=True, nogil=True)
def _decode_forward(buffer, separator, char_ends, layout, claimed, starts, stops, run_ends, areas, totals,
                    empty_runs, problem):  # pragma: no cover - compiled
    """Decode strings from the first on, until one is already claimed; check the separators first."""
    if layout[0] == UNCHECKED:
        separators = 0
        for p in range(len(buffer)):
            separators += buffer[p] == separator
        layout[0] = SEPARATED if separators == max(len(claimed) - 1, 0) else MISPLACED
    if layout[0] != MISPLACED:
        _decode_unclaimed(buffer, separator, char_ends, layout[0] == BOUNDED, claimed, False, starts, stops,
                          run_ends, areas, totals, empty_runs, problem)


@numba.njit(cache=True, nogil=True)
def _decode_backward(buffer, separator, char_ends, layout, claimed, starts, stops, run_ends, areas, totals,
                     empty_runs, problem):  # pragma: no cover - compiled
    """Decode strings from the last back, until one is already claimed; nothing while the layout is unknown."""
    if layout[0] == SEPARATED or layout[0] == BOUNDED:
        _decode_unclaimed(buffer, separator, char_ends, layout[0] == BOUNDED, claimed, True, starts, stops,
                          run_ends, areas, totals, empty_runs, problem)


@numba.njit(cache=True, nogil=True, inline="always")
def _decode_unclaimed(buffer, separator, char_ends, bounded, claimed, backward, starts, stops, run_ends, areas,
                      totals, empty_runs, problem):  # pragma: no cover - compiled
    """Claim and decode strings in order (or in reverse) until one is already claimed. Unless ``bounded``,
    each string's bounds are the separators around it, found from the edge of those already passed."""
    count = len(claimed)
    edge = len(buffer) if backward else 0  # where the next string ends (backward) or starts (forward)
    for k in range(count):
        i = count - 1 - k if backward else k
        if claimed[i]:
            return
        claimed[i] = 1
        if bounded:
            p, end = starts[i], char_ends[i]
        elif backward:
            p, end = edge, edge
            while p > 0 and buffer[p - 1] != separator:
                p -= 1
            starts[i], edge = p, p - 1
        else:
            p, end = edge, edge
            while end < len(buffer) and buffer[end] != separator:
                end += 1
            starts[i], edge = p, end + 1
        _decode_string(buffer, p, end, i, starts, stops, run_ends, areas, totals, empty_runs, problem)


@numba.njit(cache=True, nogil=True, inline="always")
def _decode_string(buffer, p, end, i, starts, stops, run_ends, areas, totals, empty_runs,
                   problem):  # pragma: no cover - compiled
    """String ``i``, the characters ``[p, end)``: its run ends into its slots from ``starts[i]`` (a count takes
    a character at least), its area and total length, and problem codes 1 to 3 (4 needs the sizes)."""
    out, m = starts[i], 0
    position, area = np.int64(0), np.int64(0)
    before_previous, previous = np.int64(0), np.int64(0)  # the last two counts: later ones are differences
    outside, sign_bits = np.int64(0), np.int64(0)  # non-zero once a character / a count is invalid
    empty = cut = False
    while p < end:
        c = np.int64(buffer[p]) - 48
        p += 1
        outside |= c & -64  # characters '0' to 'o' give 0 to 63
        value, shift = c & 0x1F, 5
        while c & 0x20:  # the continuation bit: the count goes on
            if p == end:
                cut = True
                break
            c = np.int64(buffer[p]) - 48
            p += 1
            outside |= c & -64
            value |= (c & 0x1F) << shift
            shift += 5
        if cut:
            break
        value |= -((c >> 4) & 1) << shift  # sign-extend
        if m > 2:
            value += before_previous  # rleToString stores the 4th count on as differences
        sign_bits |= value
        empty |= (value == 0) & (m > 0)
        position += value
        if m & 1:
            area += value  # odd runs are foreground
        run_ends[out + m] = position
        before_previous, previous = previous, value
        m += 1
    stops[i] = out + m
    areas[i], totals[i], empty_runs[i] = area, position, empty
    if outside:
        problem[i] = 1
    elif cut:
        problem[i] = 2
    elif sign_bits < 0:
        problem[i] = 3


@numba.njit(cache=True, nogil=True)
def _boxes(run_ends, starts, stops, heights, widths, boxes):  # pragma: no cover - compiled
    for i in range(len(heights)):
        foreground_box(run_ends[starts[i]:stops[i]], heights[i], widths[i], boxes[i])


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
