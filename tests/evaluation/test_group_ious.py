"""The flat layout of group IoUs, and their values against pycocotools' own."""

import numpy as np
from pycocotools import mask as mask_utils

from instaseg.evaluation.coco.group_ious import EncodedGroupIous, box_group_ious, mask_group_ious
from instaseg.evaluation.coco.matching import Groups
from instaseg.evaluation.coco.run_lengths import decode, decode_rles, encode_counts


def test_blocks_are_ground_truth_major():
    square = np.zeros((10, 10), dtype=np.uint8)
    square[:5, :5] = 1
    other, strip = np.roll(square, 5, axis=1), square.copy()
    strip[:, 2:] = 0  # the square's first two columns: IoU 10 / 25 with it
    runs = decode_rles([mask_utils.encode(np.asfortranarray(m)) for m in (square, other, strip)])
    groups = Groups(dt_start=np.array([0]), dt_count=np.array([2]), gt_start=np.array([0]), gt_count=np.array([3]))
    # Detections (square, other) against ground truth (other, square, strip): one (G=3, D=2) block.
    ious = mask_group_ious(groups, runs, np.array([0, 1]), runs, np.array([1, 0, 2]), np.zeros(3, dtype=bool))
    np.testing.assert_array_equal(ious, [0.0, 1.0, 1.0, 0.0, 0.4, 0.0])


def _random_groups(rng: np.random.Generator, count: int) -> Groups:
    dt_count, gt_count = rng.integers(1, 6, size=count), rng.integers(1, 4, size=count)
    return Groups(dt_start=np.cumsum(dt_count) - dt_count, dt_count=dt_count,
                  gt_start=np.cumsum(gt_count) - gt_count, gt_count=gt_count)


def _blob(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    mask = np.zeros((height, width), np.uint8)
    y, x = int(rng.integers(0, height)), int(rng.integers(0, width))
    mask[y:y + int(rng.integers(0, height)), x:x + int(rng.integers(0, width))] = 1  # may be empty
    if rng.random() < 0.3:
        mask ^= (rng.random((height, width)) < 0.1).astype(np.uint8)  # speckle: many runs
    return mask


def test_mask_ious_equal_pycocotools_with_crowds_and_mismatched_sizes():
    rng = np.random.default_rng(5)
    groups = _random_groups(rng, 40)
    # Mostly 24 x 30; some ground truth 30 x 24 (pycocotools: -1 where the boxes overlap, else 0).
    dt = [_blob(rng, 24, 30) for _ in range(int(groups.dt_count.sum()))]
    gt = [_blob(rng, 24, 30) if rng.random() < 0.85 else _blob(rng, 30, 24) for _ in range(int(groups.gt_count.sum()))]
    crowd = rng.random(len(gt)) < 0.3
    dt_rles = [mask_utils.encode(np.asfortranarray(m)) for m in dt]
    gt_rles = [mask_utils.encode(np.asfortranarray(m)) for m in gt]
    ours = mask_group_ious(groups, decode_rles(dt_rles), np.arange(len(dt)), decode_rles(gt_rles),
                           np.arange(len(gt)), crowd)
    for ds, dn, gs, gn, offset in zip(groups.dt_start, groups.dt_count, groups.gt_start, groups.gt_count,
                                      groups.iou_offset):
        reference = np.asarray(mask_utils.iou(dt_rles[ds:ds + dn], gt_rles[gs:gs + gn], crowd[gs:gs + gn]))
        np.testing.assert_array_equal(ours[offset:offset + dn * gn], reference.reshape(dn, gn).ravel(order="F"))
    assert (ours == -1).any() and ((ours > 0) & (ours < 1)).any()  # both rules were exercised
    # With a floor, what could reach it is still exact, and what is left unmeasured is below it.
    floored = mask_group_ious(groups, decode_rles(dt_rles), np.arange(len(dt)), decode_rles(gt_rles),
                              np.arange(len(gt)), crowd, floor=0.5)
    reachable = ours >= 0.5
    np.testing.assert_array_equal(floored[reachable], ours[reachable])
    assert (floored[~reachable] < 0.5).all() and (floored[~reachable] != ours[~reachable]).any()


def test_box_ious_equal_pycocotools_with_crowds():
    rng = np.random.default_rng(6)
    groups = _random_groups(rng, 40)
    dt = rng.uniform(0, 40, size=(int(groups.dt_count.sum()), 4))
    gt = rng.uniform(0, 40, size=(int(groups.gt_count.sum()), 4))
    crowd = rng.random(len(gt)) < 0.3
    ours = box_group_ious(groups, dt, gt, crowd)
    for ds, dn, gs, gn, offset in zip(groups.dt_start, groups.dt_count, groups.gt_start, groups.gt_count,
                                      groups.iou_offset):
        reference = np.asarray(mask_utils.iou(dt[ds:ds + dn], gt[gs:gs + gn], crowd[gs:gs + gn]))
        np.testing.assert_array_equal(ours[offset:offset + dn * gn], reference.reshape(dn, gn).ravel(order="F"))


def test_ious_of_encoded_detections_equal_the_decoded_ones_wherever_the_threads_meet(monkeypatch):
    # The background thread takes groups from the first on, the caller from the last back, each stopping at a
    # group the other claimed: every meeting point must measure every group once and the same.
    from instaseg.evaluation.coco import chunks, group_ious

    monkeypatch.setattr(chunks, "workers", lambda: 1)  # no background thread: the shares are set by hand below
    monkeypatch.setattr(group_ious, "LONE_CHUNK", 2)  # the masks in no group: three items after the groups
    rng = np.random.default_rng(7)
    groups = _random_groups(rng, 30)
    count = int(groups.dt_count.sum())
    dt = [_blob(rng, 24, 30) for _ in range(count + 5)]  # five masks in no group
    gt = [_blob(rng, 24, 30) if rng.random() < 0.9 else _blob(rng, 30, 24) for _ in range(int(groups.gt_count.sum()))]
    crowd = rng.random(len(gt)) < 0.3
    counts = [mask_utils.encode(np.asfortranarray(m))["counts"].decode("ascii") for m in dt]
    counts[3] = counts[3] + "0"  # one run too many: malformed, so never measured
    sizes = np.array([m.shape for m in dt], dtype=np.int64)
    rows = rng.permutation(len(dt))[:count]  # the detection at each position: any mask, in any order
    gt_runs = decode_rles([mask_utils.encode(np.asfortranarray(m)) for m in gt])
    decoded = decode(encode_counts(counts, sizes))
    reference = mask_group_ious(groups, decoded, rows, gt_runs, np.arange(len(gt)), crowd, floor=0.3)
    assert decoded.problem[3] == 4
    for meeting in (0, 1, 13, len(groups) - 1, len(groups), len(groups) + 2, len(groups) + 3):
        masks = encode_counts(counts, sizes)
        work = EncodedGroupIous(groups, masks, rows, gt_runs, np.arange(len(gt)), crowd, floor=0.3)
        work.claimed[meeting:] = 1  # as if the caller had them: the background's share stops at ``meeting``
        work._take(backward=False)
        assert work.claimed[:meeting].all()
        work.claimed[meeting:] = 0
        ious = work.finish()  # stops where the background's share begins
        assert work.claimed.all()
        assert len(work.claimed) == len(groups) + 3 and masks.decoded.all()  # the lone masks too
        for field in ("areas", "empty_runs", "problem"):
            np.testing.assert_array_equal(getattr(masks, field), getattr(decoded, field))
        malformed = np.isin(rows, [3])
        entry_rows = rows[np.concatenate([np.tile(np.arange(s, s + n), g) for s, n, g in
                                          zip(groups.dt_start, groups.dt_count, groups.gt_count)])]
        np.testing.assert_array_equal(ious[entry_rows != 3], reference[entry_rows != 3])
        assert malformed.any() and not ious[entry_rows == 3].any()
