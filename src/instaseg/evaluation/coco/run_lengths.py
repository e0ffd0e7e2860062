"""Compressed COCO RLE strings kept in one byte buffer and decoded by compiled passes, with each mask's area
and box.

pycocotools decodes a string each time it is handed one (``rleFrString``), one Python call per list of masks;
an evaluation hands it every mask of every (image, category) group, so the decoding and the per-call cost
are most of its time. Here the strings are joined once (``EncodedMasks``) and compiled passes (numba, as no
library decodes many strings in one call) read each string once, checking what pycocotools trusts: the
characters, and counts that cover the image. The results' masks are decoded group by group into a small
buffer right before their IoUs (``group_ious``), so the run ends of 100,000 masks are never all held at
once; ``RunLengths`` holds every mask decoded, for the ground truth and the boundary bands. Areas and boxes
are computed as pycocotools' ``rleArea`` and ``rleToBbox`` compute them. Runs are kept as their cumulative
ends, so a mask's foreground is a sorted list of pixel intervals.
"""

from __future__ import annotations

import ctypes
import sys
from dataclasses import dataclass, replace
from typing import Callable, Sequence

import numba
import numpy as np

from instaseg.evaluation.coco.chunks import in_background, run_in_chunks

# Why a string could not be decoded (``problem``), by code.
PROBLEMS = {1: "has characters outside the RLE alphabet ('0' to 'o')", 2: "ends in the middle of a count",
            3: "decodes to a negative run length", 4: "has run lengths that do not add up to height x width",
            5: "counts are not a string"}
NOT_TEXT = 5
SEPARATOR = ord("\n")  # between the joined strings: outside the RLE alphabet, so no valid string holds it


@dataclass
class EncodedMasks:
    """N masks as their compressed RLE strings, joined into one byte buffer. Decoding a mask (``measure``, or
    the group IoUs) fills its area, empty-run flag and problem in place and marks it ``decoded``."""

    text: np.ndarray  # (characters,) uint8
    char_starts: np.ndarray  # (N,) int64: string i is text[char_starts[i]:char_ends[i]]
    char_ends: np.ndarray  # (N,) int64
    heights: np.ndarray  # (N,) int64: the size each mask must cover (its image's)
    widths: np.ndarray  # (N,) int64
    areas: np.ndarray  # (N,) int64 foreground pixels
    empty_runs: np.ndarray  # (N,) bool: some run after the first has length 0 (pycocotools' IoU loop stumbles)
    problem: np.ndarray  # (N,) int8: 0, or a key of PROBLEMS
    decoded: np.ndarray  # (N,) bool

    def __len__(self) -> int:
        return len(self.heights)

    @property
    def wide_positions(self) -> bool:
        """Whether pixel positions need int64 (images of 2**31 pixels or more); int32 otherwise, which halves
        the memory run ends take."""
        return bool(len(self) and (self.heights * self.widths).max() >= 2 ** 31)

    def measure(self) -> None:
        """Decode, on all cores, every mask not decoded yet, keeping only what decoding measures."""
        if self.decoded.all():
            return
        lengths = np.where(self.decoded, 0, self.char_ends - self.char_starts)  # empty strings too: their
        run_in_chunks(_measure, len(self), self.text, self.char_starts, self.char_ends, self.heights, self.widths,
                      int(lengths.max()) + 1, self.areas, self.empty_runs, self.problem, self.decoded,
                      weights=lengths + 1)  # total of 0 may not cover their image

    def take(self, rows: np.ndarray) -> EncodedMasks:
        """The masks ``rows``, in that order (sharing the text)."""
        return replace(self, **{field: getattr(self, field)[rows] for field in (
            "char_starts", "char_ends", "heights", "widths", "areas", "empty_runs", "problem", "decoded")})


def encode_counts(counts: Sequence, sizes: np.ndarray) -> EncodedMasks:
    """The masks' ``counts`` (str or bytes) and (N, 2) [h, w] sizes, undecoded. Non-ASCII text is kept as
    UTF-8 (bytes of 128 and up, lone surrogates included, are outside the alphabet: code 1); counts that are
    not text are left empty and flagged (code 5)."""
    return PendingEncoding(counts, background=False).finish(sizes)


BACKGROUND_SCAN = 1 << 20  # bytes of text from which the scan is worth a thread of its own


class PendingEncoding:
    """``encode_counts`` in two steps: the counts are joined here, and their compiled scan (bounds and
    characters) runs, in the background for texts of BACKGROUND_SCAN bytes or more (unless ``background`` is
    False), until ``finish`` is given the sizes, so that the caller can read other fields meanwhile."""

    def __init__(self, counts: Sequence, background: bool = True) -> None:
        self._counts = counts
        self._problem = np.zeros(len(counts), dtype=np.int8)
        self._char_starts, self._char_ends = (np.zeros(len(counts), dtype=np.int64),
                                              np.zeros(len(counts), dtype=np.int64))
        self._scanning: Callable[[], bool] | None = None  # gives whether the scan found the strings' bounds
        try:  # the usual case: every count an ASCII str, or every one bytes
            try:
                self._text = _joined_ascii(counts)
            except TypeError:
                self._text = np.frombuffer(b"\n".join(counts), dtype=np.uint8)
        except (UnicodeEncodeError, TypeError):
            self._encode_one_by_one()
            return
        # Each string's bounds are the separators around it, and its characters are checked on the way (a
        # compiled scan: faster than their lengths in Python), unless some string holds a separator.
        words = self._text[:len(self._text) // 8 * 8].view(np.uint64)

        def scan() -> bool:
            return _scan_separated(self._text, words, self._char_starts, self._char_ends, self._problem)

        if background and len(self._text) >= BACKGROUND_SCAN:
            self._scanning = in_background(scan)
        else:
            separated = scan()
            self._scanning = lambda: separated

    def wait(self) -> None:
        """Let the background scan end (for a caller that gives up)."""
        if self._scanning is not None:
            self._scanning()

    def finish(self, sizes: np.ndarray) -> EncodedMasks:
        """The encoded masks, each to cover its (N, 2) [h, w] size (see ``encode_counts``)."""
        if self._scanning is not None and not self._scanning():  # some string holds a separator
            self._problem[:] = 0
            _bounds_from_lengths(np.fromiter(map(len, self._counts), dtype=np.int64, count=len(self._counts)), 1,
                                 self._char_starts, self._char_ends)
            _flag_outside_alphabet(self._text, self._char_starts, self._char_ends, self._problem)
        self._scanning = None
        return _encoded(self._text, self._char_starts, self._char_ends, sizes, self._problem)

    def _encode_one_by_one(self) -> None:
        counts = self._counts
        pieces = [c if isinstance(c, bytes) else c.encode("utf-8", "surrogatepass") if isinstance(c, str) else b""
                  for c in counts]
        self._problem[[not isinstance(c, (str, bytes)) for c in counts]] = NOT_TEXT
        self._text = np.frombuffer(b"".join(pieces), dtype=np.uint8)
        _bounds_from_lengths(np.fromiter(map(len, pieces), dtype=np.int64, count=len(pieces)), 0, self._char_starts,
                             self._char_ends)
        _flag_outside_alphabet(self._text, self._char_starts, self._char_ends, self._problem)


def _joined_ascii(counts: Sequence[str]) -> np.ndarray:
    """The strings joined with SEPARATOR, as bytes (TypeError if some are not str, UnicodeEncodeError if some are
    not ASCII). The string ``str.join`` builds is compact: CPython stores an ASCII one a byte per character
    right after its header, so it is read in place (read-only, kept alive by the view) rather than copied; for
    100,000 masks that spares a 20 MB copy and the page faults of fresh memory, 6 ms of a 0.2 s evaluation."""
    joined = "\n".join(counts)
    if len(counts) < 2 or not joined.isascii() or sys.implementation.name != "cpython":  # one: not built
        return np.frombuffer(joined.encode("ascii"), dtype=np.uint8)
    characters = (ctypes.c_char * len(joined)).from_address(id(joined) + _ASCII_HEADER)
    characters.owner = joined
    return np.frombuffer(memoryview(characters).toreadonly(), dtype=np.uint8)  # read-only for good: a str


_ASCII_HEADER = sys.getsizeof("") - 1  # an empty compact ASCII string is its header and a terminating NUL


def _encoded(text: np.ndarray, char_starts: np.ndarray, char_ends: np.ndarray, sizes: np.ndarray,
             problem: np.ndarray) -> EncodedMasks:
    sizes = np.asarray(sizes, dtype=np.int64).reshape(-1, 2)
    return EncodedMasks(text=text, char_starts=char_starts, char_ends=char_ends,
                        heights=np.ascontiguousarray(sizes[:, 0]), widths=np.ascontiguousarray(sizes[:, 1]),
                        areas=np.zeros(len(problem), dtype=np.int64), empty_runs=np.zeros(len(problem), dtype=np.bool_),
                        problem=problem, decoded=problem == NOT_TEXT)


def _bounds_from_lengths(lengths: np.ndarray, separator_width: int, char_starts: np.ndarray,
                         char_ends: np.ndarray) -> None:
    np.cumsum(lengths + separator_width, out=char_ends)
    char_ends -= separator_width
    np.subtract(char_ends, lengths, out=char_starts)


_BYTES = np.uint64(0x0101010101010101)  # one in each byte of a word: SWAR constants for _scan_separated
_HIGH_BITS, _LOW_BITS = _BYTES * np.uint64(0x80), _BYTES * np.uint64(0x7F)


@numba.njit(cache=True, nogil=True)
def _scan_separated(text, words, char_starts, char_ends, problem):  # pragma: no cover - compiled
    """Each string's bounds in ``text`` (strings joined with SEPARATOR), and code 1 for those holding
    characters outside '0' to 'o'; False if the separators are not one fewer than the strings. ``words`` is
    the text eight bytes at a time: a word with neither a separator nor an outside character (nearly all) is
    passed in a few operations (bytes tested in parallel within the word), the rest byte by byte."""
    count = len(char_starts)
    separators = _BYTES * np.uint64(SEPARATOR)
    k, start, outside = 0, 0, False
    for w in range(len(words) + 1):
        if w < len(words):
            word = words[w]
            other = word ^ separators  # a zero byte where the word holds a separator
            has_separator = ((other - _BYTES) & ~other & _HIGH_BITS) != 0
            # '0' to 'o' (0x30 to 0x6F) plus 0x10 gives 0x40 to 0x7F: bit 6 set, bit 7 clear (bytes below 0x80,
            # so no carry crosses a byte)
            shifted = (word & _LOW_BITS) + _BYTES * np.uint64(0x10)
            outside_bytes = (word & _HIGH_BITS) | (~shifted & (_BYTES * np.uint64(0x40))) | (shifted & _HIGH_BITS)
            if not has_separator and outside_bytes == 0:
                continue
            first, last = 8 * w, 8 * w + 8
        else:
            first, last = 8 * len(words), len(text)  # the bytes after the last whole word
        for p in range(first, last):
            c = text[p]
            if c == SEPARATOR:
                if k + 1 >= count:
                    return False
                char_starts[k], char_ends[k] = start, p
                if outside:
                    problem[k] = 1
                k, start, outside = k + 1, p + 1, False
            elif (np.int64(c) - 48) & -64:
                outside = True
    if count:
        char_starts[k], char_ends[k] = start, len(text)
        if outside:
            problem[k] = 1
    return k == max(count - 1, 0)


@dataclass
class RunLengths:
    """N decoded masks. Mask ``i``'s runs alternate background and foreground (background first, column-major)
    and end at the flat pixel positions ``e = ends[starts[i]:stops[i]]``: its foreground is the intervals
    ``[e[k], e[k + 1])`` for even ``k``. ``ends`` has a slot per character of the strings (a count takes one
    at least); slots past a mask's ``stop`` are never read."""

    ends: np.ndarray  # (characters,) int32 (int64 for masks of 2**31 pixels or more) cumulative run lengths
    starts: np.ndarray  # (N,) int64
    stops: np.ndarray  # (N,) int64
    heights: np.ndarray  # (N,) int64
    widths: np.ndarray  # (N,) int64
    areas: np.ndarray  # (N,) int64 foreground pixels
    empty_runs: np.ndarray  # (N,) bool
    problem: np.ndarray  # (N,) int8: 0, or a key of PROBLEMS

    def __len__(self) -> int:
        return len(self.heights)

    def runs(self, index: int) -> np.ndarray:
        """Mask ``index``'s run ends."""
        return self.ends[self.starts[index]:self.stops[index]]

    def boxes(self) -> np.ndarray:
        """(N, 4) float64 x, y, width, height of each mask's foreground, as pycocotools' ``toBbox``."""
        boxes = np.zeros((len(self), 4), dtype=np.int64)
        _boxes(self.ends, self.starts, self.stops, self.heights, self.widths, boxes)
        return boxes.astype(np.float64)


def decode(masks: EncodedMasks) -> RunLengths:
    """Every mask decoded, on the calling thread (also filling ``masks``' measures)."""
    ends = np.empty(len(masks.text) + 1, dtype=np.int64 if masks.wide_positions else np.int32)
    stops = np.zeros(len(masks), dtype=np.int64)
    _decode_all(masks.text, masks.char_starts, masks.char_ends, masks.heights, masks.widths, ends, stops,
                masks.areas, masks.empty_runs, masks.problem, masks.decoded)
    return RunLengths(ends=ends, starts=masks.char_starts, stops=stops, heights=masks.heights, widths=masks.widths,
                      areas=masks.areas, empty_runs=masks.empty_runs, problem=masks.problem)


def decode_rles(rles: Sequence[dict]) -> RunLengths:
    """Decode compressed RLE dicts (``size`` [h, w], ``counts`` str or bytes). Masks that cannot be decoded are
    flagged in ``problem``, not raised, so the caller can name the record."""
    return decode(encode_rles(rles))


def encode_rles(rles: Sequence[dict]) -> EncodedMasks:
    """``encode_counts`` of compressed RLE dicts, each covering its own ``size``."""
    sizes = np.array([rle["size"] for rle in rles], dtype=np.int64).reshape(-1, 2)
    return encode_counts([rle["counts"] for rle in rles], sizes)


@numba.njit(cache=True, nogil=True)
def _decode_all(text, char_starts, char_ends, heights, widths, ends, stops, areas, empty_runs, problem,
                decoded):  # pragma: no cover - compiled
    for i in range(len(heights)):
        if problem[i] == NOT_TEXT:
            stops[i] = char_starts[i]
            continue
        stops[i] = char_starts[i] + decode_mask(text, char_starts, char_ends, heights, widths, i, ends,
                                                char_starts[i], areas, empty_runs, problem, decoded)


@numba.njit(cache=True, nogil=True)
def _measure(start, stop, text, char_starts, char_ends, heights, widths, longest, areas, empty_runs, problem,
             decoded):  # pragma: no cover - compiled
    """Decode the masks ``[start, stop)`` not decoded yet into a scratch buffer of ``longest`` slots."""
    scratch = np.empty(longest, dtype=np.int64)
    for i in range(start, stop):
        if not decoded[i]:
            decode_mask(text, char_starts, char_ends, heights, widths, i, scratch, 0, areas, empty_runs, problem,
                        decoded)


@numba.njit(cache=True, nogil=True, inline="always")
def decode_mask(text, char_starts, char_ends, heights, widths, i, run_ends, out, areas, empty_runs, problem,
                decoded):  # pragma: no cover - compiled
    """Decode string ``i`` into ``run_ends[out:]`` (a count takes a character at least, so its length in slots
    suffices), fill its measures and problem (2 to 4, unless one is already set: characters outside the
    alphabet are flagged before, when the strings are encoded), and give its number of runs. Code 4 compares
    the exact int64 total with the mask's size, whatever the run ends' width holds."""
    p, end = char_starts[i], char_ends[i]
    m = 0
    position = np.int64(0)
    # Run sums by parity, swapped each count (an add, not a mask per count): ``same`` holds the runs of the
    # next count's parity, ``other`` the rest; the foreground (odd runs) is one of them at the end.
    same, other = np.int64(0), np.int64(0)
    before_previous, previous = np.int64(0), np.int64(0)  # the last two counts: later ones are differences
    sign_bits = np.int64(0)  # negative once a count is
    zeros = 0  # runs of length 0
    cut = False
    while p < end:
        c = np.int64(text[p]) - 48  # characters '0' to 'o' give 0 to 63
        p += 1
        if c & 0x20:  # the continuation bit: the count goes on (most end within two characters: unrolled)
            if p == end:
                cut = True
                break
            value = c & 0x1F
            c = np.int64(text[p]) - 48
            p += 1
            value |= (c & 0x1F) << 5
            shift = 10
            while c & 0x20:
                if p == end:
                    cut = True
                    break
                c = np.int64(text[p]) - 48
                p += 1
                value |= (c & 0x1F) << shift
                shift += 5
            if cut:
                break
            value |= -((c >> 4) & 1) << shift  # sign-extend
        else:
            value = ((c & 0x1F) ^ 0x10) - 0x10  # one character: five bits, sign-extended
        if m > 2:
            value += before_previous  # rleToString stores the 4th count on as differences
        sign_bits |= value
        zeros += value == 0
        position += value
        same, other = other, same + value
        run_ends[out + m] = position
        before_previous, previous = previous, value
        m += 1
    # pycocotools' IoU loop stumbles on runs of length 0 after the first (the first is 0 when the mask starts
    # with foreground). The first run's length is its end: kept in 32 bits, it wraps only past 2**31 pixels,
    # beyond the image, and such a mask is rejected (code 3 or 4), its flags unused.
    empty_runs[i] = zeros - (m > 0 and run_ends[out] == 0) > 0
    areas[i], decoded[i] = same if m & 1 else other, True
    if problem[i] == 0:
        if cut:
            problem[i] = 2
        elif sign_bits < 0:
            problem[i] = 3
        elif position != heights[i] * widths[i]:
            problem[i] = 4
    return m


@numba.njit(cache=True, nogil=True)
def _flag_outside_alphabet(text, char_starts, char_ends, problem):  # pragma: no cover - compiled
    """Code 1 for strings holding characters outside '0' to 'o' (where ``_scan_separated`` could not check
    them), so that decoding need not check each character."""
    for i in range(len(char_starts)):
        outside = np.int64(0)
        for p in range(char_starts[i], char_ends[i]):
            outside |= (np.int64(text[p]) - 48) & -64
        if outside and problem[i] == 0:
            problem[i] = 1


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
