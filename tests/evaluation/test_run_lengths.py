"""Compressed RLE strings decoded in one pass: run ends, areas and boxes as pycocotools reads them, and
malformed strings flagged instead of trusted."""

import gc

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from instaseg.evaluation.coco import chunks, run_lengths
from instaseg.evaluation.coco.run_lengths import NOT_TEXT, decode, decode_rles, encode_counts


def _masks(rng: np.random.Generator) -> list[np.ndarray]:
    masks = [np.zeros((7, 5), np.uint8), np.ones((7, 5), np.uint8), np.zeros((1, 1), np.uint8),
             np.ones((1, 1), np.uint8)]
    corner = np.zeros((6, 9), np.uint8)
    corner[-1, -1] = 1  # the last pixel: the counts end in foreground
    masks.append(corner)
    for _ in range(60):
        height, width = int(rng.integers(1, 80)), int(rng.integers(1, 80))
        masks.append((rng.random((height, width)) < rng.uniform(0.05, 0.95)).astype(np.uint8))  # many runs
    return masks


def _flat(ends: np.ndarray, pixels: int) -> np.ndarray:
    """The mask, column-major, from its run ends (foreground between ends[k] and ends[k + 1], k even)."""
    flat = np.zeros(pixels, np.uint8)
    for start, stop in zip(ends[0::2], ends[1::2]):
        flat[start:stop] = 1
    return flat


def test_decoding_matches_pycocotools_masks_areas_and_boxes():
    masks = _masks(np.random.default_rng(0))
    rles = [mask_utils.encode(np.asfortranarray(m)) for m in masks]
    rles = [r if i % 2 else {"size": r["size"], "counts": r["counts"].decode("ascii")}  # str and bytes mixed
            for i, r in enumerate(rles)]
    runs = decode_rles(rles)
    assert not runs.problem.any()
    np.testing.assert_array_equal(runs.areas, mask_utils.area([mask_utils.encode(np.asfortranarray(m))
                                                                for m in masks]))
    np.testing.assert_array_equal(runs.boxes(), mask_utils.toBbox([mask_utils.encode(np.asfortranarray(m))
                                                                   for m in masks]))
    for i, mask in enumerate(masks):
        ends = runs.runs(i)
        np.testing.assert_array_equal(_flat(ends, mask.size), mask.ravel(order="F"))


def test_measuring_without_keeping_runs_agrees_with_decoding(monkeypatch):
    monkeypatch.setattr(chunks, "SMALL", 1)  # several chunks on several threads
    monkeypatch.setattr(chunks, "workers", lambda: 2)
    rles = [mask_utils.encode(np.asfortranarray(m)) for m in _masks(np.random.default_rng(1))]
    counts = [r["counts"] if i % 3 else r["counts"].decode("ascii") for i, r in enumerate(rles)]
    counts[5] = counts[5][:-1]  # cut short: the total no longer covers the image (or a count is cut)
    counts[9], counts[11] = "0é", None  # not ASCII; not text
    sizes = np.array([r["size"] for r in rles], dtype=np.int64)
    reference = decode(encode_counts(counts, sizes))
    assert reference.problem[5] in (2, 4) and reference.problem[9] == 1 and reference.problem[11] == NOT_TEXT
    assert (reference.problem != 0).sum() == 3
    measured = encode_counts(counts, sizes)
    measured.decoded[:20] = True  # as if the IoUs had decoded these: measuring leaves them be
    measured.measure()
    for field in ("areas", "empty_runs", "problem"):
        np.testing.assert_array_equal(getattr(measured, field)[20:], getattr(reference, field)[20:])
    assert measured.decoded.all() and not measured.areas[:20].any()


def _string(counts: list[int]) -> str:
    """COCO's compressed form of run lengths (pycocotools' ``rleToString``), for counts it would never write."""
    text = []
    for i, count in enumerate(counts):
        value = count - counts[i - 2] if i > 2 else count
        while True:
            chunk, value = value & 0x1F, value >> 5
            more = value != -1 if chunk & 0x10 else value != 0
            text.append(chr(48 + (chunk | (0x20 if more else 0))))
            if not more:
                break
    return "".join(text)


@pytest.mark.parametrize("counts, problem", [
    (_string([0, 5, 5, 5, 85]), 0),  # a valid 10 x 10 mask
    (_string([0, 5, 5, 5, 85]).replace("0", "~", 1), 1),  # a character outside '0'..'o'
    (_string([0, 5, 5, 5, 85]) + "P", 2),  # 'P' continues a count that never ends
    (_string([50, -10, 60]), 3),  # a negative run length (its total is still 100)
    (_string([0, 5, 5, 5, 86]), 4),  # 101 pixels
    (_string([0, 5, 5, 5]), 4),  # 15 pixels
])
def test_malformed_strings_are_flagged(counts, problem):
    assert decode_rles([{"size": [10, 10], "counts": counts}]).problem[0] == problem


def test_the_reference_encoder_agrees_with_pycocotools():
    mask = np.zeros((10, 10), np.uint8, order="F")
    mask[:5, :5] = 1
    counts = [0, 5, 5, 5, 5, 5, 5, 5, 5, 5, 55]
    assert _string(counts) == mask_utils.encode(mask)["counts"].decode("ascii")


def test_threaded_chunks_cover_every_item_once(monkeypatch):
    monkeypatch.setattr(chunks, "SMALL", 1)
    monkeypatch.setattr(chunks, "workers", lambda: 3)
    seen = np.zeros(1000, dtype=np.int64)

    def kernel(start, stop, out):
        out[start:stop] += 1

    chunks.run_in_chunks(kernel, 1000, seen, weights=np.arange(1000))  # uneven work: uneven chunks
    np.testing.assert_array_equal(seen, 1)


def test_boxes_of_hand_made_counts_with_empty_runs_match_pycocotools():
    # pycocotools' own encoders never write empty runs after the first; other tools' uncompressed RLEs can.
    rng = np.random.default_rng(2)
    rles = []
    for _ in range(250):  # pycocotools' toBbox and area overflow on lists of 256 or more (NumPy 2)
        height, width = int(rng.integers(1, 6)), int(rng.integers(1, 6))
        cuts = np.sort(rng.integers(0, height * width + 1, size=int(rng.integers(0, 8))))
        counts = np.diff(np.concatenate([[0], cuts, [height * width]])).tolist()
        rles.append(mask_utils.frPyObjects({"size": [height, width], "counts": counts}, height, width))
    runs = decode_rles(rles)
    assert not runs.problem.any() and runs.empty_runs.any()
    np.testing.assert_array_equal(runs.boxes(), mask_utils.toBbox(rles))
    np.testing.assert_array_equal(runs.areas, mask_utils.area(rles))


@pytest.mark.parametrize("composite", [True, False])
def test_ordering_with_sparse_keys_is_a_stable_sort_by_key_then_score(monkeypatch, composite):
    from instaseg.evaluation.coco import ordering

    if not composite:  # keys x scores x rows beyond int64: the counting sort and per-key sorts
        monkeypatch.setattr(ordering, "COMPOSITE_LIMIT", 0)
    rng = np.random.default_rng(4)
    keys = rng.integers(0, 10**7, size=500)
    keys[:100] = keys[100:200]  # shared keys
    scores = rng.integers(0, 5, size=500) / 4  # many ties
    scores[rng.random(500) < 0.1] = -0.0  # equal to 0.0
    scores[:60] = rng.random(60)  # and distinct ones
    expected = np.lexsort((-scores, keys))
    np.testing.assert_array_equal(ordering.order_by_key_then_score(keys, 10**7, scores), expected)
    dense = keys % 50
    np.testing.assert_array_equal(ordering.order_by_key_then_score(dense, 50, scores), np.lexsort((-scores, dense)))
    long = np.repeat(dense[:5], 100)  # keys with more rows than the insertion sort takes
    long_scores = np.tile(scores[:100], 5)
    np.testing.assert_array_equal(ordering.order_by_key_then_score(long, 50, long_scores),
                                  np.lexsort((-long_scores, long)))


@pytest.mark.parametrize("background", [False, True])
def test_the_joined_strings_are_bounded_and_their_characters_checked_like_one_by_one(background, monkeypatch):
    # The scan tests eight bytes at once: outside characters at every place in a word, at the edges of the
    # alphabet, in the bytes after the last whole word, and separators inside strings must all be found (on
    # the calling thread, or on a thread of its own for long texts).
    monkeypatch.setattr(run_lengths, "BACKGROUND_SCAN", 0 if background else 1 << 20)
    rng = np.random.default_rng(8)
    edges = [0x2F, 0x30, 0x6F, 0x70, 0x7F, 0x80, 0xFF, 0x00, ord("\n")]
    for case in range(300):
        strings = []
        for _ in range(int(rng.integers(0, 12))):
            chars = rng.integers(0x30, 0x70, size=int(rng.integers(0, 20)))
            if len(chars) and rng.random() < 0.25:
                chars[int(rng.integers(len(chars)))] = edges[int(rng.integers(len(edges)))]
            strings.append(bytes(chars.astype(np.uint8).tolist()))
        sizes = np.zeros((len(strings), 2), dtype=np.int64)
        masks = run_lengths.PendingEncoding(strings).finish(sizes) if background else encode_counts(strings, sizes)
        for i, string in enumerate(strings):
            start, end = masks.char_starts[i], masks.char_ends[i]
            assert masks.text[start:end].tobytes() == string, case
            assert masks.problem[i] == (1 if any(not 0x30 <= b <= 0x6F for b in string) else 0), case


def test_text_read_in_place_outlives_the_joined_string():
    # The joined str's characters are read where CPython keeps them; the view must keep the str alive and
    # read-only, however much the heap is reused after.
    rles = [mask_utils.encode(np.asfortranarray(m)) for m in _masks(np.random.default_rng(5))]
    counts = [r["counts"].decode("ascii") for r in rles]
    encoded = encode_counts(counts, np.array([r["size"] for r in rles], dtype=np.int64))
    del counts
    gc.collect()
    churn = ["x" * len(encoded.text) for _ in range(20)]  # reuse freed memory, if any was freed
    assert bytes(encoded.text) == b"\n".join(r["counts"] for r in rles) and churn
    assert not encoded.text.flags.writeable
    with pytest.raises(ValueError):  # and cannot be made writable: it is a str's memory
        encoded.text.flags.writeable = True
    runs = decode(encoded)
    assert not runs.problem.any()
    np.testing.assert_array_equal(runs.areas, mask_utils.area(rles))
