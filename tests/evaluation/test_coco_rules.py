"""Hand-made cases for each COCO rule, checked against pycocotools and against values worked out by hand."""

import numpy as np
import pytest

from instaseg.evaluation.coco import EvaluationInputError, evaluate_coco

from .coco_cases import pycocotools_eval


def _rect(height, width, y0, y1, x0, x1):
    from pycocotools import mask as mask_utils

    mask = np.zeros((height, width), dtype=np.uint8)
    mask[y0:y1, x0:x1] = 1
    rle = mask_utils.encode(np.asfortranarray(mask))
    return {"size": rle["size"], "counts": rle["counts"].decode()}, float(mask.sum()), [x0, y0, x1 - x0, y1 - y0]


def _dataset(annotations, images=((1, 10, 20),), categories=(1,)):
    return {"images": [{"id": i, "height": h, "width": w} for i, h, w in images],
            "categories": [{"id": c, "name": f"c{c}"} for c in categories],
            "annotations": [{"id": n + 1, "image_id": a.get("image_id", 1), "category_id": a.get("category_id", 1),
                             "segmentation": a["rect"][0], "area": a["rect"][1], "bbox": a["rect"][2],
                             "iscrowd": a.get("iscrowd", 0)} for n, a in enumerate(annotations)]}


def _result(rect, score, image_id=1, category_id=1):
    return {"image_id": image_id, "category_id": category_id, "segmentation": rect[0], "bbox": rect[2], "score": score}


def _same_as_pycocotools(ground_truth, results, iou_type="segm"):
    ours = evaluate_coco(ground_truth, results, iou_type)
    reference = pycocotools_eval(ground_truth, results, iou_type)
    assert np.abs(np.array(list(ours.stats.values())) - reference.stats).max() <= 1e-9
    return ours


def test_equal_ious_go_to_the_later_ground_truth():
    # The first detection overlaps both ground truths equally (11/13); taking the later one leaves the
    # first free for the exact second detection, so both are true positives up to IoU 0.8.
    ground_truth = _dataset([{"rect": _rect(10, 20, 0, 10, 0, 12)}, {"rect": _rect(10, 20, 0, 10, 2, 14)}])
    results = [_result(_rect(10, 20, 0, 10, 1, 13), 0.9), _result(_rect(10, 20, 0, 10, 0, 12), 0.8)]
    ours = _same_as_pycocotools(ground_truth, results)
    assert ours.stats["AP50"] == pytest.approx(1.0) and ours.stats["AP75"] == pytest.approx(1.0)


def test_a_crowd_region_absorbs_several_detections_without_counting_them():
    crowd = _rect(10, 20, 0, 10, 0, 20)
    ground_truth = _dataset([{"rect": _rect(10, 20, 0, 5, 0, 5)}, {"rect": crowd, "iscrowd": 1}])
    results = [_result(_rect(10, 20, 0, 5, 0, 5), 0.9), _result(_rect(10, 20, 5, 10, 0, 10), 0.95),
               _result(_rect(10, 20, 5, 10, 10, 20), 0.97)]  # the last two lie inside the crowd region
    ours = _same_as_pycocotools(ground_truth, results)
    assert ours.stats["AP"] == pytest.approx(1.0) and ours.stats["AR100"] == pytest.approx(1.0)


def test_a_detection_outside_the_area_range_is_ignored_only_when_unmatched():
    ground_truth = _dataset([{"rect": _rect(60, 60, 0, 40, 0, 40)}], images=((1, 60, 60),))  # area 1600: medium
    results = [_result(_rect(60, 60, 0, 40, 0, 40), 0.9), _result(_rect(60, 60, 50, 54, 50, 54), 0.95)]  # small FP
    ours = _same_as_pycocotools(ground_truth, results)
    assert ours.stats["APm"] == pytest.approx(1.0)  # the small false positive does not count in the medium range
    assert ours.stats["APs"] == -1.0 and ours.stats["AP"] < 1.0


def test_each_area_range_prefers_its_own_ground_truth():
    # One detection overlaps a small instance (IoU 900/1020) and a medium one (IoU 1020/1200). Over all areas
    # and in the small range it takes the small one; in the medium range the small one is ignored, so it
    # takes the medium one instead, and both ranges score a true positive up to IoU 0.85.
    small, medium = _rect(60, 60, 0, 30, 0, 30), _rect(60, 60, 0, 30, 0, 40)  # areas 900 and 1200
    ground_truth = _dataset([{"rect": small}, {"rect": medium}], images=((1, 60, 60),))
    results = [_result(_rect(60, 60, 0, 30, 0, 34), 0.9)]
    ours = _same_as_pycocotools(ground_truth, results)
    assert ours.stats["APs"] == pytest.approx(0.8) and ours.stats["APm"] == pytest.approx(0.8)
    assert ours.stats["AP"] == pytest.approx(0.8 * 51 / 101)  # over all areas: one of two, recall 0.5


def test_detections_beyond_the_limit_per_image_and_category_are_dropped():
    ground_truth = _dataset([{"rect": _rect(10, 20, 0, 10, 0, 10)}])
    results = [_result(_rect(10, 20, 0, 2, 15, 17), 0.9), _result(_rect(10, 20, 0, 10, 0, 10), 0.5)]
    ours = _same_as_pycocotools(ground_truth, results)
    assert ours.stats["AR1"] == 0.0 and ours.stats["AR10"] == pytest.approx(1.0)


def test_categories_without_ground_truth_are_left_out_of_the_mean():
    ground_truth = _dataset([{"rect": _rect(10, 20, 0, 10, 0, 10)}], categories=(1, 2))
    results = [_result(_rect(10, 20, 0, 10, 0, 10), 0.9), _result(_rect(10, 20, 0, 5, 10, 20), 0.99, category_id=2)]
    ours = _same_as_pycocotools(ground_truth, results)
    assert ours.stats["AP"] == pytest.approx(1.0)
    assert np.isnan(ours.category_ap[1]) and ours.category_ap[0] == pytest.approx(1.0)


def test_images_without_ground_truth_or_detections():
    ground_truth = _dataset([{"rect": _rect(10, 20, 0, 10, 0, 10)}], images=((1, 10, 20), (2, 10, 20), (3, 10, 20)))
    results = [_result(_rect(10, 20, 0, 10, 0, 10), 0.9), _result(_rect(10, 20, 0, 10, 0, 10), 0.95, image_id=2)]
    ours = _same_as_pycocotools(ground_truth, results)
    assert ours.stats["AP50"] == pytest.approx(0.5)  # the false positive ranks first: precision 1/2 at every recall


def test_no_detections_at_all_scores_zero_where_ground_truth_exists():
    ground_truth = _dataset([{"rect": _rect(10, 20, 0, 10, 0, 10)}])
    stats = evaluate_coco(ground_truth, [], "segm").stats
    assert stats["AP"] == 0.0 and stats["AR100"] == 0.0 and stats["APs"] == 0.0 and stats["APl"] == -1.0


def test_box_evaluation_matches_pycocotools():
    ground_truth = _dataset([{"rect": _rect(10, 20, 0, 10, 0, 12)}, {"rect": _rect(10, 20, 2, 9, 3, 19)}])
    results = [_result(_rect(10, 20, 0, 10, 1, 13), 0.9), _result(_rect(10, 20, 2, 9, 4, 19), 0.8)]
    _same_as_pycocotools(ground_truth, results, "bbox")


@pytest.mark.parametrize("change, message", [
    ({"image_id": 9}, "record 1, field 'image_id': image 9 is not in the ground truth"),
    ({"category_id": 5}, "record 1, field 'category_id': category 5 is not in the ground truth"),
    ({"score": "high"}, "record 1, field 'score' must be a finite number"),
    ({"score": float("nan")}, "record 1, field 'score' must be a finite number"),
    ({"score": "0.9"}, "record 1, field 'score' must be a finite number"),
    ({"image_id": 1.5}, "record 1, field 'image_id' must be an integer"),
    ({"segmentation": {"size": [5, 5], "counts": "00"}}, "record 1, field 'segmentation': RLE size [5, 5]"),
    ({"segmentation": 7}, "record 1, field 'segmentation' is not an RLE or polygon list"),
    ({"segmentation": {"size": [10, 20], "counts": 7}}, "record 1, field 'segmentation' is not an RLE or polygon"),
    ({"segmentation": {"size": [10, 20], "counts": "0~"}}, "record 1, field 'segmentation': the RLE has characters "
                                                           "outside the RLE alphabet"),
    ({"segmentation": {"size": [10, 20], "counts": "0P"}}, "record 1, field 'segmentation': the RLE ends in the "
                                                           "middle of a count"),
    ({"segmentation": {"size": [10, 20], "counts": "05"}}, "record 1, field 'segmentation': the RLE has run "
                                                           "lengths that do not add up to height x width"),
    ({"segmentation": {"size": [10, 20], "counts": b"0\xff"}}, "record 1, field 'segmentation': the RLE has "
                                                               "characters outside"),
    # the separator the strings are joined with, inside one: found, and named as what it is
    ({"segmentation": {"size": [10, 20], "counts": "0\n0"}}, "record 1, field 'segmentation': the RLE has "
                                                            "characters outside"),
    # transposed: as many pixels as the image, so only the declared size tells
    ({"segmentation": {"size": [20, 10], "counts": _rect(20, 10, 0, 10, 0, 10)[0]["counts"]}},
     "record 1, field 'segmentation': RLE size [20, 10] is not the image's [10, 20]"),
    ({"segmentation": {"counts": _rect(10, 20, 0, 10, 0, 10)[0]["counts"]}},
     "record 1, field 'segmentation': RLE size None is not the image's [10, 20]"),
])
def test_bad_results_name_the_record_and_field(change, message):
    ground_truth = _dataset([{"rect": _rect(10, 20, 0, 10, 0, 10)}])
    results = [_result(_rect(10, 20, 0, 10, 0, 10), 0.9), {**_result(_rect(10, 20, 0, 10, 0, 10), 0.9), **change}]
    with pytest.raises(EvaluationInputError, match=None) as error:
        evaluate_coco(ground_truth, results, "segm", results_name="preds.json")
    assert str(error.value).startswith("preds.json: ") and message in str(error.value)


def test_uncompressed_rle_results_score_as_their_compressed_form():
    from instaseg.structures.masks import rle_to_uncompressed

    ground_truth = _dataset([{"rect": _rect(10, 20, 0, 10, 0, 10)}, {"rect": _rect(10, 20, 2, 6, 12, 18)}])
    results = [_result(_rect(10, 20, 0, 9, 0, 10), 0.9), _result(_rect(10, 20, 2, 6, 11, 18), 0.7)]
    compressed = evaluate_coco(ground_truth, results, "segm").stats
    results[1] = {**results[1], "segmentation": rle_to_uncompressed(results[1]["segmentation"])}
    assert isinstance(results[1]["segmentation"]["counts"], list)
    assert evaluate_coco(ground_truth, results, "segm").stats == compressed


def test_bytes_counts_score_as_their_text():
    ground_truth = _dataset([{"rect": _rect(10, 20, 0, 10, 0, 10)}, {"rect": _rect(10, 20, 2, 6, 12, 18)}])
    results = [_result(_rect(10, 20, 0, 9, 0, 10), 0.9), _result(_rect(10, 20, 2, 6, 11, 18), 0.7)]
    as_text = _same_as_pycocotools(ground_truth, results).stats
    as_bytes = [{**r, "segmentation": {**r["segmentation"], "counts": r["segmentation"]["counts"].encode()}}
                for r in results]
    assert evaluate_coco(ground_truth, as_bytes, "segm").stats == as_text


@pytest.mark.parametrize("height", [None, 10.5, -10, "10"])
def test_ground_truth_images_need_their_size_for_masks(height):
    ground_truth = _dataset([{"rect": _rect(10, 20, 0, 10, 0, 10)}])
    ground_truth["images"][0]["height"] = height
    with pytest.raises(EvaluationInputError, match="ground truth: image 1, field 'height' must be a non-negative "
                                                   "integer"):
        evaluate_coco(ground_truth, [_result(_rect(10, 20, 0, 10, 0, 10), 0.9)], "segm")


def test_a_malformed_ground_truth_rle_names_the_annotation():
    ground_truth = _dataset([{"rect": _rect(10, 20, 0, 10, 0, 10)}, {"rect": _rect(10, 20, 0, 2, 0, 2)}])
    ground_truth["annotations"][1]["segmentation"] = {"size": [10, 20], "counts": "0~"}
    with pytest.raises(EvaluationInputError, match="ground truth: annotation 2, field 'segmentation': the RLE has "
                                                   "characters outside"):
        evaluate_coco(ground_truth, [_result(_rect(10, 20, 0, 10, 0, 10), 0.9)], "segm")


def test_a_missing_field_is_named():
    ground_truth = _dataset([{"rect": _rect(10, 20, 0, 10, 0, 10)}])
    with pytest.raises(EvaluationInputError, match="record 0, field 'score' is missing"):
        evaluate_coco(ground_truth, [{"image_id": 1, "category_id": 1, "segmentation": _rect(10, 20, 0, 1, 0, 1)[0]}])


def test_checks_name_the_first_problem_in_a_fixed_order():
    # The masks' strings are read before the ids (to scan them early), yet a missing segmentation is still named
    # after the ids, scores and image sizes are checked.
    ground_truth = _dataset([{"rect": _rect(10, 20, 0, 10, 0, 10)}])
    results = [_result(_rect(10, 20, 0, 10, 0, 10), 0.9) for _ in range(9)]
    del results[3]["segmentation"]
    results[7]["score"] = "high"
    with pytest.raises(EvaluationInputError, match="record 7, field 'score' must be a finite number"):
        evaluate_coco(ground_truth, results, "segm")
    results[7]["score"] = 0.5
    ground_truth["images"][0]["height"] = 10.5
    with pytest.raises(EvaluationInputError, match="image 1, field 'height' must be"):
        evaluate_coco(ground_truth, results, "segm")
    ground_truth["images"][0]["height"] = 10
    with pytest.raises(EvaluationInputError, match="record 3, field 'segmentation' is missing"):
        evaluate_coco(ground_truth, results, "segm")


def test_matched_pairs_name_the_detection_and_ground_truth_rows():
    ground_truth = _dataset([{"rect": _rect(10, 20, 0, 10, 0, 8)}, {"rect": _rect(10, 20, 0, 10, 10, 20)}])
    results = [_result(_rect(10, 20, 0, 10, 10, 20), 0.5), _result(_rect(10, 20, 0, 3, 0, 3), 0.9),
               _result(_rect(10, 20, 0, 10, 0, 7), 0.7)]
    evaluation = evaluate_coco(ground_truth, results, "segm")
    assert sorted(map(tuple, evaluation.matched_pairs.tolist())) == [(0, 1), (2, 0)]
    assert sorted(evaluation.matched_ious.tolist()) == pytest.approx([70 / 80, 1.0])


def test_annotation_id_zero_counts_as_a_match():
    # pycocotools stores matched ids and reads 0 as 'unmatched', so it scores this perfect detection of
    # annotation 0 as a false positive; instaseg does not use ids and scores it as it is.
    ground_truth = _dataset([{"rect": _rect(10, 20, 0, 10, 0, 10)}])
    ground_truth["annotations"][0]["id"] = 0
    results = [_result(_rect(10, 20, 0, 10, 0, 10), 0.9)]
    assert evaluate_coco(ground_truth, results).stats["AP"] == pytest.approx(1.0)
    assert pycocotools_eval(ground_truth, results, "segm").stats[0] == 0.0


def test_many_mask_only_results_and_their_error_analysis():
    # pycocotools' area() overflows on lists of 256+ RLEs under NumPy 2; results without boxes need it.
    from instaseg.evaluation.errors import analyse_errors

    ground_truth = _dataset([{"rect": _rect(10, 20, 0, 10, 0, 10)}])
    results = [{**_result(_rect(10, 20, 0, 10, 0, 10 - i % 5), 0.5 + i / 1000), "bbox": []} for i in range(300)]
    for result in results:
        del result["bbox"]
    ours = evaluate_coco(ground_truth, results, "segm")
    assert ours.stats == pytest.approx(dict(zip(ours.stats, pycocotools_eval(ground_truth, results, "segm").stats)))
    analysis = analyse_errors(ground_truth, results)
    assert analysis.counts["duplicate"] == 99  # 100 kept per image and class: one true positive, 99 duplicates


def _uncompressed_rle_result(counts, height=10, width=10, score=0.9):
    from pycocotools import mask as mask_utils

    rle = mask_utils.frPyObjects({"size": [height, width], "counts": counts}, height, width)
    return {"image_id": 1, "category_id": 1, "score": score,
            "segmentation": {"size": rle["size"], "counts": rle["counts"].decode()}}


def test_empty_runs_in_both_masks_score_as_pycocotools_loop_counts_them():
    # Both masks meet a boundary at pixel 25 followed by empty runs: pycocotools' rleIou stops counting there
    # (IoU 1.0 where the masks share a third of their pixels); instaseg follows it, as every published number does.
    ground_truth = {"images": [{"id": 1, "height": 10, "width": 10}], "categories": [{"id": 1, "name": "a"}],
                    "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "iscrowd": 0, "area": 10.0,
                                     "segmentation": {"size": [10, 10], "counts": [20, 5, 0, 0, 20, 5, 50]}}]}
    results = [_uncompressed_rle_result([20, 5, 0, 0, 10, 5, 60])]
    ours = _same_as_pycocotools(ground_truth, results)
    assert ours.stats["AP"] == pytest.approx(1.0)


def test_boxes_derived_from_masks_with_empty_runs_match_pycocotools():
    ground_truth = {"images": [{"id": 1, "height": 10, "width": 10}], "categories": [{"id": 1, "name": "a"}],
                    "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "iscrowd": 0, "area": 5.0,
                                     "bbox": [2, 0, 1, 5]}]}
    results = [_uncompressed_rle_result([20, 5, 75, 0])]  # ends in an empty foreground run
    assert _same_as_pycocotools(ground_truth, results, "bbox").stats["AP"] == pytest.approx(1.0)


def test_a_nan_ground_truth_area_counts_in_every_range_as_in_pycocotools():
    ground_truth = _dataset([{"rect": _rect(10, 20, 0, 10, 0, 10)}])
    ground_truth["annotations"][0]["area"] = float("nan")
    _same_as_pycocotools(ground_truth, [_result(_rect(10, 20, 0, 10, 0, 10), 0.9)])


def test_non_ascii_counts_are_named_as_outside_the_alphabet():
    ground_truth = _dataset([{"rect": _rect(10, 20, 0, 10, 0, 10)}])
    result = _result(_rect(10, 20, 0, 10, 0, 10), 0.9)
    result["segmentation"] = {**result["segmentation"], "counts": result["segmentation"]["counts"] + "é"}
    with pytest.raises(EvaluationInputError, match="record 0, field 'segmentation': the RLE has characters outside"):
        evaluate_coco(ground_truth, [result], "segm")


def test_images_left_out_of_the_evaluation_need_no_size():
    ground_truth = _dataset([{"rect": _rect(10, 20, 0, 10, 0, 10)}], images=((1, 10, 20), (2, 10, 20)))
    del ground_truth["images"][1]["height"]
    results = [_result(_rect(10, 20, 0, 10, 0, 10), 0.9), _result(_rect(10, 20, 0, 10, 0, 10), 0.8, image_id=2)]
    assert evaluate_coco(ground_truth, results, "segm", image_ids=[1]).stats["AP"] == pytest.approx(1.0)


def test_a_lone_surrogate_in_counts_is_named_as_outside_the_alphabet():
    import json

    ground_truth = _dataset([{"rect": _rect(10, 20, 0, 10, 0, 10)}])
    result = _result(_rect(10, 20, 0, 10, 0, 10), 0.9)
    result["segmentation"] = {**result["segmentation"], "counts": json.loads('"\\ud800"')}
    with pytest.raises(EvaluationInputError, match="record 0, field 'segmentation': the RLE has characters outside"):
        evaluate_coco(ground_truth, [result], "segm")


@pytest.mark.parametrize("image_id", [2 ** 64 - 1, 2 ** 70, 1e30, -2.0 ** 63 - 4096])
def test_ids_beyond_64_bits_are_named_not_wrapped(image_id):
    ground_truth = _dataset([{"rect": _rect(10, 20, 0, 10, 0, 10)}])
    results = [_result(_rect(10, 20, 0, 10, 0, 10), 0.9), _result(_rect(10, 20, 0, 10, 0, 10), 0.9, image_id=image_id)]
    with pytest.raises(EvaluationInputError, match="record 1, field 'image_id' must be an integer of at most 64 bits"):
        evaluate_coco(ground_truth, results, "segm")


@pytest.mark.parametrize("iou_type", ["segm", "bbox"])
def test_an_empty_count_string_is_named_as_not_covering_the_image(iou_type):
    ground_truth = _dataset([{"rect": _rect(10, 20, 0, 10, 0, 10)}])
    result = _result(_rect(10, 20, 0, 10, 0, 10), 0.9)
    result["segmentation"] = {"size": [10, 20], "counts": ""}
    del result["bbox"]  # for bbox: the box comes from the mask
    with pytest.raises(EvaluationInputError, match="record 0, field 'segmentation': the RLE has run lengths that "
                                                   "do not add up"):
        evaluate_coco(ground_truth, [result], iou_type)


@pytest.mark.parametrize("change", [{"image_id": 9}, {"segmentation": {"size": [5, 5], "counts": "00"}},
                                    {"height": "10"}])
def test_no_thread_is_left_running_after_an_error(change, monkeypatch):
    import threading
    import time

    from instaseg.evaluation.coco import run_lengths

    monkeypatch.setattr(run_lengths, "BACKGROUND_SCAN", 0)  # the counts' scan on a thread of its own too,
    scan = run_lengths._scan_separated  # and slow, so that only a join ends it in time

    def slow_scan(*arguments):
        time.sleep(0.3)
        return scan(*arguments)

    monkeypatch.setattr(run_lengths, "_scan_separated", slow_scan)
    ground_truth = _dataset([{"rect": _rect(10, 20, 0, 10, 0, 10)}, {"rect": _rect(10, 20, 2, 6, 12, 18)}])
    results = [_result(_rect(10, 20, 0, 9, 0, 10), 0.9 - i / 100) for i in range(40)]
    if "height" in change:  # the ground truth's image: read after the scan has started
        ground_truth["images"][0].update(change)
    else:
        results[7] = {**results[7], **change}
    before = threading.active_count()
    with pytest.raises(EvaluationInputError, match="record 7" if "height" not in change else "field 'height'"):
        evaluate_coco(ground_truth, results, "segm")
    assert threading.active_count() == before  # the ground truth's decoding, the scan and the IoUs' thread
