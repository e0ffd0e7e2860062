"""instaseg's COCO evaluator against pycocotools on many random cases: the 12 stats within 1e-9, and the
precision and recall tables themselves."""

import numpy as np
import pytest

from instaseg.evaluation.coco import STAT_NAMES, evaluate_coco

from .coco_cases import pycocotools_eval, random_case


def _assert_same(ours, reference):
    stats = np.array([ours.stats[name] for name in STAT_NAMES])
    assert np.abs(stats - reference.stats).max() <= 1e-9, (stats, reference.stats)
    # The tables are bit-identical: same operations in the same order.
    np.testing.assert_array_equal(ours.precision, reference.eval["precision"])
    np.testing.assert_array_equal(ours.recall, reference.eval["recall"])
    np.testing.assert_array_equal(ours.tables.scores, reference.eval["scores"])


@pytest.mark.parametrize("iou_type", ["segm", "bbox"])
@pytest.mark.parametrize("with_boxes", [True, False])
def test_random_cases_match_pycocotools(iou_type, with_boxes):
    rng = np.random.default_rng(7 + with_boxes + 2 * (iou_type == "bbox"))
    for _ in range(40):
        ground_truth, results = random_case(rng, with_boxes=with_boxes)
        if not results:
            continue
        _assert_same(evaluate_coco(ground_truth, results, iou_type), pycocotools_eval(ground_truth, results, iou_type))


def test_image_subsets_match_pycocotools():
    rng = np.random.default_rng(3)
    for _ in range(20):
        ground_truth, results = random_case(rng)
        if not results:
            continue
        ids = [image["id"] for image in ground_truth["images"]]
        subset = sorted(int(i) for i in rng.choice(ids, size=int(rng.integers(1, len(ids) + 1)), replace=False))
        _assert_same(evaluate_coco(ground_truth, results, "segm", image_ids=subset),
                     pycocotools_eval(ground_truth, results, "segm", image_ids=subset))


@pytest.mark.parametrize("num_thresholds", [16, 17, 64, 70, 130])
def test_many_iou_thresholds_match_pycocotools(num_thresholds):
    # Accumulation packs each area's thresholds into words: 16-bit ones up to 16 thresholds, then 64-bit ones, full
    # or more than one.
    from instaseg.evaluation.coco import EvalParams

    thresholds = np.linspace(0.5, 0.95, num_thresholds)
    rng = np.random.default_rng(num_thresholds)
    for _ in range(6):
        ground_truth, results = random_case(rng, max_detections=30)
        if results:
            ours = evaluate_coco(ground_truth, results, "segm", params=EvalParams(iou_thresholds=thresholds))
            reference = pycocotools_eval(ground_truth, results, "segm", iou_thresholds=thresholds)
            np.testing.assert_array_equal(ours.precision, reference.eval["precision"])
            np.testing.assert_array_equal(ours.recall, reference.eval["recall"])


def test_more_detections_than_the_limit_match_pycocotools():
    rng = np.random.default_rng(11)
    ground_truth, results = random_case(rng, max_detections=130)
    while max(np.unique([r["image_id"] for r in results], return_counts=True)[1]) <= 100:
        ground_truth, results = random_case(rng, max_detections=130)
    _assert_same(evaluate_coco(ground_truth, results, "segm"), pycocotools_eval(ground_truth, results, "segm"))


def _assert_cases_match(seed: int, cases: int, **case_options) -> None:
    """``cases`` random cases, each scored for masks and boxes, against pycocotools."""
    rng = np.random.default_rng(seed)
    for _ in range(cases):
        ground_truth, results = random_case(rng, **case_options)
        if not results:
            continue
        for iou_type in ("segm", "bbox"):
            _assert_same(evaluate_coco(ground_truth, results, iou_type),
                         pycocotools_eval(ground_truth, results, iou_type))


def test_crowded_images_match_pycocotools():
    # Up to 24 instances and 150 detections per image: large groups, wide matching, the limit.
    _assert_cases_match(17, 4, max_detections=150, max_instances=25)


def test_threaded_chunks_match_pycocotools(monkeypatch):
    # Every compiled pass split over three threads, however small the work: the same tables.
    from instaseg.evaluation.coco import chunks

    monkeypatch.setattr(chunks, "SMALL", 1)
    monkeypatch.setattr(chunks, "workers", lambda: 3)
    _assert_cases_match(23, 3, max_detections=60, max_instances=12)


def test_ground_truth_rle_of_another_size_never_matches_as_in_pycocotools():
    # pycocotools gives -1 where a ground-truth RLE's own size differs from the detection's (and boxes overlap).
    rng = np.random.default_rng(29)
    ground_truth, results = random_case(rng, max_detections=20, max_instances=6)
    while not results or not ground_truth["annotations"]:
        ground_truth, results = random_case(rng, max_detections=20, max_instances=6)
    from pycocotools import mask as mask_utils

    annotation = ground_truth["annotations"][0]
    image = next(i for i in ground_truth["images"] if i["id"] == annotation["image_id"])
    transposed = np.zeros((image["width"] + 1, image["height"]), np.uint8, order="F")
    transposed[:6, :6] = 1
    rle = mask_utils.encode(transposed)
    annotation["segmentation"] = {"size": rle["size"], "counts": rle["counts"].decode()}
    annotation["iscrowd"] = 0
    _assert_same(evaluate_coco(ground_truth, results, "segm"), pycocotools_eval(ground_truth, results, "segm"))


def test_sparse_image_category_groups_match_pycocotools():
    # Many categories that no one uses: the (image, category) keys are compressed to those that occur.
    rng = np.random.default_rng(31)
    ground_truth, results = random_case(rng)
    while not results or len(ground_truth["images"]) < 3:
        ground_truth, results = random_case(rng)
    used = {c["id"] for c in ground_truth["categories"]}
    ground_truth["categories"] += [{"id": c, "name": f"unused{c}"} for c in range(1000, 1600) if c not in used]
    _assert_same(evaluate_coco(ground_truth, results, "segm"), pycocotools_eval(ground_truth, results, "segm"))
