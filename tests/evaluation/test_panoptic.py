"""Panoptic quality on hand-made images with worked values, and file reading."""

import json

import numpy as np
import pytest
from PIL import Image

from instaseg.evaluation.panoptic import (PanopticInputError, evaluate_panoptic, id_to_rgb, image_counts,
                                          rgb_to_id, summarize)

CATEGORIES = [{"id": 1, "name": "cell", "isthing": 1}, {"id": 2, "name": "dish", "isthing": 0},
              {"id": 3, "name": "other", "isthing": 1}]


def _segments(ids, categories, crowd=()):
    return [{"id": i, "category_id": c, "iscrowd": int(i in crowd), "area": 0} for i, c in zip(ids, categories)]


def _with_areas(ids_map, segments):
    for s in segments:
        s["area"] = int((ids_map == s["id"]).sum())
    return segments


def _scene():
    gt = np.zeros((10, 10), dtype=np.int64)
    gt[:, :5] = 1  # cell, 50 px
    gt[:, 5:] = 2  # dish, 50 px
    return gt, _with_areas(gt, _segments([1, 2], [1, 2]))


def test_a_perfect_prediction_scores_one_everywhere():
    gt, segments = _scene()
    counts = {}
    image_counts(gt, segments, gt.copy(), _segments([1, 2], [1, 2]), counts)
    result = summarize(counts, CATEGORIES)
    summary = result.summary
    assert summary["All"]["PQ"] == 1 and summary["Things"]["SQ"] == 1 and summary["Stuff"]["RQ"] == 1
    assert result.summary["All"]["classes"] == 2  # 'other' has nothing and is left out


def test_partial_overlap_gives_its_iou():
    gt, segments = _scene()
    pred = gt.copy()
    pred[:2, :5] = 2  # the cell loses 10 px to the dish: cell IoU 40/50, dish IoU 50/60
    counts = {}
    image_counts(gt, segments, pred, _segments([1, 2], [1, 2]), counts)
    result = summarize(counts, CATEGORIES)
    assert result.per_class[1]["PQ"] == pytest.approx(0.8) and result.per_class[2]["SQ"] == pytest.approx(50 / 60)


def test_void_pixels_leave_the_union_and_mostly_void_predictions_are_not_false_positives():
    gt, segments = _scene()
    gt[:, 8:] = 0  # void strip; the dish keeps 30 px
    segments = _with_areas(gt, segments)
    pred = np.zeros_like(gt)
    pred[:, 5:] = 2  # covers the dish and the void strip: IoU 30 / (50 + 30 - 30 - 20) = 1
    pred[:, 0] = 3  # 'other' over 10 cell px: a false positive; the cell is missed
    pred[:, 1:5] = 4  # a cell prediction IoU 40/50: true positive
    counts = {}
    image_counts(gt, segments, pred, _segments([2, 3, 4], [2, 3, 1]), counts)
    assert counts[2].tp == 1 and counts[2].iou == pytest.approx(1.0)
    assert counts[3].fp == 1 and counts[1].tp == 1 and counts[1].fn == 0
    pred2 = np.zeros_like(gt)
    pred2[:, 8:] = 7  # entirely on void: ignored
    counts2 = {}
    image_counts(gt, segments, pred2, _segments([7], [3]), counts2)
    assert 3 not in counts2 and counts2[1].fn == 1 and counts2[2].fn == 1


def test_crowd_regions_neither_match_nor_count_as_missed():
    gt = np.zeros((10, 10), dtype=np.int64)
    gt[:, :5] = 1  # a crowd of cells
    gt[:, 5:] = 2
    segments = _with_areas(gt, _segments([1, 2], [1, 2], crowd=(1,)))
    pred = gt.copy()  # predicts the crowd as one cell: on the crowd, so not a false positive
    counts = {}
    image_counts(gt, segments, pred, _segments([1, 2], [1, 2]), counts)
    assert 1 not in counts and counts[2].tp == 1


def test_mismatched_png_and_segments_are_errors():
    gt, segments = _scene()
    with pytest.raises(PanopticInputError, match="the PNG has segment 2, which segments_info does not list"):
        image_counts(gt, segments, gt.copy(), _segments([1], [1]), {}, where="pred.json: image 1")
    with pytest.raises(PanopticInputError, match="segments_info lists segment 9, which is not in the PNG"):
        image_counts(gt, segments, gt.copy(), _segments([1, 2, 9], [1, 2, 1]), {})


def test_files_round_trip(tmp_path):
    gt, segments = _scene()
    ids = np.array([[0, 1, 256, 65536 * 3 + 7]])
    assert np.array_equal(rgb_to_id(id_to_rgb(ids)), ids)
    for name, array, infos in (("gt", gt, segments), ("pred", gt, _segments([1, 2], [1, 2]))):
        (tmp_path / name).mkdir()
        Image.fromarray(id_to_rgb(array)).save(tmp_path / name / "1.png")
        (tmp_path / f"{name}.json").write_text(json.dumps({"annotations": [
            {"image_id": 1, "file_name": "1.png", "segments_info": infos}], "categories": CATEGORIES}))
    result = evaluate_panoptic(json.loads((tmp_path / "gt.json").read_text()), tmp_path / "gt",
                               json.loads((tmp_path / "pred.json").read_text()), tmp_path / "pred")
    assert result.summary["All"]["PQ"] == 1.0
    with pytest.raises(PanopticInputError, match="cannot read"):
        evaluate_panoptic(json.loads((tmp_path / "gt.json").read_text()), tmp_path / "gt",
                          json.loads((tmp_path / "pred.json").read_text()), tmp_path / "nowhere")
