"""Error analysis: each cause on a hand-made case, the AP it costs, fragmentation, merging, confusion."""

import numpy as np
import pytest

from instaseg.evaluation.coco import evaluate_coco
from instaseg.evaluation.errors import analyse_errors

from .coco_cases import random_case
from .test_coco_rules import _dataset, _rect, _result


def test_base_ap50_is_coco_ap50():
    rng = np.random.default_rng(5)
    for _ in range(15):
        ground_truth, results = random_case(rng)
        if not results:
            continue
        analysis = analyse_errors(ground_truth, results)
        assert analysis.ap50 == pytest.approx(evaluate_coco(ground_truth, results).stats["AP50"], abs=1e-12)
        assert all(value >= -1e-12 for value in analysis.delta_ap.values())  # fixing never costs AP


def _two_objects():
    return _dataset([{"rect": _rect(40, 40, 0, 10, 0, 10)}, {"rect": _rect(40, 40, 20, 30, 20, 30), "category_id": 2}],
                    images=((1, 40, 40),), categories=(1, 2))


@pytest.mark.parametrize("detection, cause", [
    (_result(_rect(40, 40, 0, 10, 0, 10), 0.5), "duplicate"),
    (_result(_rect(40, 40, 0, 10, 0, 10), 0.95, category_id=2), "classification"),
    (_result(_rect(40, 40, 0, 10, 5, 15), 0.95), "localisation"),
    (_result(_rect(40, 40, 20, 30, 26, 36), 0.95), "both"),
    (_result(_rect(40, 40, 35, 40, 0, 5), 0.95), "background"),
])
def test_each_false_positive_gets_its_cause(detection, cause):
    results = [_result(_rect(40, 40, 0, 10, 0, 10), 0.9), _result(_rect(40, 40, 20, 30, 20, 30), 0.9, category_id=2),
               detection]
    analysis = analyse_errors(_two_objects(), results)
    assert analysis.counts[cause] == 1
    assert sum(analysis.counts.values()) == 1
    if cause != "duplicate":  # a low-scoring duplicate ranks after every true positive and costs nothing
        assert analysis.delta_ap[cause] > 0
        assert analysis.ap50 + analysis.delta_ap[cause] == pytest.approx(1.0)


def test_missed_ground_truth_and_its_cost():
    results = [_result(_rect(40, 40, 0, 10, 0, 10), 0.9)]
    analysis = analyse_errors(_two_objects(), results)
    assert analysis.counts["missed"] == 1 and analysis.delta_ap["missed"] == pytest.approx(0.5)


def test_a_classification_error_explains_its_ground_truth_instead_of_a_miss():
    results = [_result(_rect(40, 40, 0, 10, 0, 10), 0.9), _result(_rect(40, 40, 20, 30, 20, 30), 0.9)]  # wrong class
    analysis = analyse_errors(_two_objects(), results)
    assert analysis.counts["classification"] == 1 and analysis.counts["missed"] == 0
    assert analysis.ap50 + analysis.delta_ap["classification"] == pytest.approx(1.0)


def test_fragmentation_merging_and_confusion():
    ground_truth = _dataset([{"rect": _rect(40, 60, 0, 20, 0, 20)}, {"rect": _rect(40, 60, 25, 35, 0, 10)},
                             {"rect": _rect(40, 60, 25, 35, 12, 22)}, {"rect": _rect(40, 60, 0, 10, 40, 50)}],
                            images=((1, 40, 60),), categories=(1, 2))
    results = [_result(_rect(40, 60, 0, 20, 0, 7), 0.9), _result(_rect(40, 60, 0, 20, 7, 14), 0.9),  # three thirds
               _result(_rect(40, 60, 0, 20, 14, 20), 0.9),
               _result(_rect(40, 60, 25, 35, 0, 22), 0.9),  # one prediction over two objects
               _result(_rect(40, 60, 0, 10, 40, 50), 0.9, category_id=2),  # right place, wrong class
               _result(_rect(40, 60, 30, 40, 50, 60), 0.2)]  # below the score threshold: not counted
    analysis = analyse_errors(ground_truth, results, score_threshold=0.5)
    assert analysis.fragmented == 1 and analysis.merged == 1
    confusion = analysis.confusion  # rows true (1, 2, background), columns predicted
    assert confusion[0, 1] == 1  # the class-1 object predicted as class 2
    assert confusion[0, 2] == 3  # three class-1 objects without a prediction at IoU 0.5
    assert confusion[2, 0] == 4  # the three pieces and the merged prediction match nothing at IoU 0.5
    assert confusion.sum() == 8
