"""The trainer's evaluator: reset / process / evaluate over Instances, equal to pycocotools."""

import numpy as np
import pytest
import torch

from instaseg.data.dataset import CategoryMap, ground_truth
from instaseg.data.formats.coco import dataset_to_coco, read_coco
from instaseg.data.synthetic import SynthConfig, generate_dataset
from instaseg.evaluation.coco import COCOEvaluator, instances_to_coco_results

from .coco_cases import pycocotools_eval


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    paths = generate_dataset(SynthConfig(train=6, val=0, size=64, seed=5), tmp_path_factory.mktemp("ev"), workers=1,
                             progress=False)
    return read_coco(paths["train"])


def _predictions(dataset, rng):
    """Ground truth with jittered scores, one mask shifted per image, one instance dropped per image."""
    categories = CategoryMap(dataset.categories)
    for image in dataset.images:
        instances = ground_truth(image, categories)
        if len(instances) > 1:
            instances = instances[torch.arange(1, len(instances))]
        if len(instances):
            instances.masks[0] = torch.roll(instances.masks[0], shifts=3, dims=1)
        instances.scores = torch.tensor(rng.uniform(0.3, 1.0, size=len(instances)), dtype=torch.float32)
        yield image.id, instances


def test_evaluator_equals_pycocotools_and_resets(dataset):
    evaluator = COCOEvaluator(dataset)
    predictions = list(_predictions(dataset, np.random.default_rng(0)))
    for image_id, instances in predictions:
        evaluator.process(image_id, instances)
    metrics = evaluator.evaluate()
    results = [r for image_id, instances in predictions
               for r in instances_to_coco_results(instances, image_id, evaluator.category_ids)]
    coco = dataset_to_coco(dataset, mask_format="rle")
    for iou_type in ("segm", "bbox"):
        reference = pycocotools_eval(coco, results, iou_type).stats
        assert np.abs(np.array(list(metrics[iou_type].values())) - reference).max() <= 1e-9
    assert 0 < metrics["segm"]["AP"] < 1
    evaluator.reset()
    evaluator.process(dataset.images[0].id, predictions[0][1])
    only_first = evaluator.evaluate()  # evaluates the processed image only
    assert only_first["segm"]["AP"] != metrics["segm"]["AP"]


def test_no_predictions_score_zero(dataset):
    evaluator = COCOEvaluator(dataset)
    nothing = torch.zeros(0, dtype=torch.long)
    for image in dataset.images:
        evaluator.process(image.id, ground_truth(image, CategoryMap(dataset.categories))[nothing])
    metrics = evaluator.evaluate()
    assert metrics["segm"]["AP"] == 0.0 and metrics["bbox"]["AR100"] == 0.0
