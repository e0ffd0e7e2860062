"""The best-F1 score threshold, on a hand-made evaluation whose counts can be read off."""

from instaseg.evaluation.coco import evaluate_coco
from instaseg.evaluation.operating_point import best_f1_operating_point


def box(x, y, side=10):
    return [x, y, side, side]


def test_the_threshold_keeps_the_detections_up_to_the_best_f1():
    images = [{"id": 1, "width": 100, "height": 100, "file_name": "a.png"}]
    truth = [box(0, 0), box(20, 0), box(40, 0), box(60, 0)]
    ground_truth = {"images": images, "categories": [{"id": 1, "name": "thing"}],
                    "annotations": [{"id": k + 1, "image_id": 1, "category_id": 1, "bbox": b, "area": 100,
                                     "iscrowd": 0} for k, b in enumerate(truth)]}
    # By score: hit, hit, miss, hit, miss, miss. After 4: P 3/4, R 3/4 (F1 0.75); after 2: P 1, R 1/2 (0.667).
    boxes = [(box(0, 0), 0.9), (box(20, 0), 0.8), (box(80, 80), 0.7), (box(40, 0), 0.6), (box(80, 60), 0.5),
             (box(60, 60), 0.4)]
    results = [{"image_id": 1, "category_id": 1, "bbox": b, "score": s} for b, s in boxes]
    point = best_f1_operating_point(evaluate_coco(ground_truth, results, "bbox"))
    assert point.score == 0.6 and point.precision == 0.75 and point.recall == 0.75 and point.f1 == 0.75
    assert best_f1_operating_point(evaluate_coco(ground_truth, [], "bbox")) is None
