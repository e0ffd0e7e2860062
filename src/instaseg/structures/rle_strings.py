"""Validate COCO compressed-RLE strings before pycocotools decodes them.

pycocotools trusts its input: a string whose run lengths overshoot the mask is refused, but one that
falls short decodes into uninitialised memory and a truncated one is read past its end. It exposes no
validator, so this module decodes the strings itself, vectorised over all of them at once (a Python loop
over the characters of 10,000 masks would take seconds).

The format (pycocotools ``rleToString``): each run length is written as 5-bit groups, least significant
first, one character per group (value + 48); bit 0x20 says another group follows, bit 0x10 of the last
group is the sign; from the fourth run on, a run is stored as the difference to the run two before it.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

_FIRST_CHAR, _LAST_CHAR = ord("0"), ord("0") + 63
# A run length below 2**35 needs at most 7 groups of 5 bits.
_MAX_GROUPS = 7


def _as_bytes(text: str | bytes) -> bytes:
    return text if isinstance(text, bytes) else text.encode("utf-8", "replace")


def compressed_rle_totals(strings: Sequence[str | bytes]) -> tuple[np.ndarray, dict[int, str]]:
    """Sum of the run lengths of each compressed RLE string.

    Args:
        strings: the ``counts`` strings of N compressed RLEs.

    Returns:
        totals: (N,) int64 pixel count each string covers (-1 where it is malformed); a valid RLE
            covers exactly height * width pixels.
        malformed: index -> why that string cannot be decoded.
    """
    count = len(strings)
    encoded = [_as_bytes(s) for s in strings]
    lengths = np.fromiter(map(len, encoded), dtype=np.int64, count=count)  # (N,)
    chars = np.frombuffer(b"".join(encoded), dtype=np.uint8).astype(np.int64)  # (C,)
    owner = np.repeat(np.arange(count), lengths)  # (C,) which string each character belongs to
    malformed: dict[int, str] = {}

    bad_char = (chars < _FIRST_CHAR) | (chars > _LAST_CHAR)
    string_starts = np.cumsum(lengths) - lengths  # (N,)
    bad_strings, first_bad = np.unique(owner[bad_char], return_index=True)
    first_positions = np.flatnonzero(bad_char)[first_bad]
    for string, position in zip(bad_strings.tolist(), first_positions.tolist(), strict=True):
        char = repr(chr(chars[position])) if chars[position] < 128 else "a non-ASCII character"
        malformed[string] = (f"{char} at position {position - string_starts[string]} is not part of a COCO "
                             "compressed RLE string")
    values = np.where(bad_char, 0, chars - _FIRST_CHAR)
    continues = (values & 0x20) != 0

    string_ends = np.cumsum(lengths)[lengths > 0] - 1
    for position in string_ends[continues[string_ends]]:
        malformed.setdefault(int(owner[position]), "the string ends in the middle of a number")
    is_last = ~continues
    is_last[string_ends] = True  # numbers never run from one string into the next

    # Each number's characters: where it starts and how far into it each character lies.
    number_of_char = np.cumsum(is_last) - is_last  # (C,)
    number_starts = np.flatnonzero(np.concatenate([[True], is_last[:-1]])) if chars.size else np.zeros(0, int)
    group = np.arange(chars.size) - number_starts[number_of_char]  # (C,)
    for string in np.unique(owner[group >= _MAX_GROUPS]).tolist():
        malformed.setdefault(string, "a number in the string is too large to be a run length")
    group = np.minimum(group, _MAX_GROUPS - 1)

    # Assemble the numbers, then apply the sign bit of their last group.
    last_chars = np.flatnonzero(is_last)
    chunks = (values & 0x1F) << (5 * group)  # (C,)
    numbers = np.add.reduceat(chunks, number_starts) if chars.size else np.zeros(0, np.int64)  # (M,)
    negative = (values[last_chars] & 0x10) != 0
    numbers = numbers - negative * (np.int64(1) << (5 * (group[last_chars] + 1)))

    # From the fourth run on a number is the difference to the run two before: cumulative sums along
    # three chains per string (run 0; odd runs; even runs from 2).
    number_owner = owner[number_starts]  # (M,)
    per_string = np.bincount(number_owner, minlength=count)
    rank = np.arange(numbers.size) - (np.cumsum(per_string) - per_string)[number_owner]
    chain = number_owner * 3 + np.where(rank == 0, 0, np.where(rank % 2 == 1, 1, 2))
    order = np.argsort(chain, kind="stable")
    sorted_numbers, sorted_chain = numbers[order], chain[order]
    running = np.cumsum(sorted_numbers)
    starts = np.concatenate([[True], sorted_chain[1:] != sorted_chain[:-1]])[: numbers.size]
    chain_start = np.maximum.accumulate(np.where(starts, np.arange(numbers.size), 0))
    runs = np.empty_like(numbers)
    runs[order] = running - (running[chain_start] - sorted_numbers[chain_start])

    for string in np.unique(number_owner[runs < 0]).tolist():
        malformed.setdefault(string, "the string decodes to a negative run length")
    totals = np.zeros(count, dtype=np.int64)
    np.add.at(totals, number_owner, runs)
    if malformed:
        totals[list(malformed)] = -1
    return totals, malformed
