"""Mask R-CNN under the model protocol equals Mask R-CNN before it: the same losses for the same seed, the same
predictions, and a checkpoint written by the old code loads and predicts the same.

The references in ``tests/fixtures/`` were recorded by ``tests/fixtures/record_mask_rcnn_reference.py`` as
committed in acb6cfc (the code before the change), with one thread.
"""

import json
from pathlib import Path

import pytest
import torch

from instaseg.engine.checkpoint import load_checkpoint
from instaseg.inference import Predictor
from instaseg.models import create_model

from .test_contract import toy_batch

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
REFERENCE = json.loads((FIXTURES / "mask_rcnn_reference.json").read_text())
LIGHT = {"rpn_pre_nms_train": 200, "rpn_post_nms_train": 100, "roi_batch_per_image": 32}
OUTPUT_SIZE = (96, 80)
pytestmark = pytest.mark.usefixtures("one_thread")


def assert_same_predictions(outputs, expected):
    assert len(outputs) == len(expected)
    for instances, reference in zip(outputs, expected):
        assert instances.labels.tolist() == reference["labels"]
        assert instances.mask_areas().tolist() == reference["mask_areas"]
        assert torch.allclose(instances.scores, torch.tensor(reference["scores"]), rtol=1e-5, atol=1e-6)
        assert torch.allclose(instances.boxes, torch.tensor(reference["boxes"]).reshape(-1, 4), atol=1e-3)


@pytest.mark.parametrize("name", ["mask_rcnn_r18_fpn", "mask_rcnn_r50_fpn", "mask_rcnn_mnv3_fpn"])
def test_losses_and_predictions_equal_the_recorded_ones(name):
    reference = REFERENCE[name]
    torch.manual_seed(0)
    model = create_model(name, num_classes=2, **LIGHT)
    images, targets = toy_batch()
    images, targets = images[:2], targets[:2]  # the reference batch: the two images with instances
    optimizer = torch.optim.AdamW(model.parameters(), lr=5e-4)
    model.train()
    for expected in reference["losses"]:
        losses = model.loss(images, targets)
        assert list(losses) == list(expected)  # the same names in the same order (the sum's order)
        assert {k: v.item() for k, v in losses.items()} == pytest.approx(expected, rel=1e-5, abs=1e-7)
        optimizer.zero_grad()
        sum(losses.values()).backward()
        optimizer.step()
    model.eval()
    with torch.no_grad():
        outputs = model.predict(images, output_sizes=[OUTPUT_SIZE] * 2, score_threshold=0.05, max_instances=100)
    assert_same_predictions(outputs, reference["predictions"])


def test_a_format_1_checkpoint_loads_with_its_full_config_and_predicts_the_same():
    checkpoint = load_checkpoint(FIXTURES / "mask_rcnn_v1_tiny.safetensors")
    config = checkpoint.metadata.model_config
    assert checkpoint.metadata.task == "instance" and config["backbone"] == "mobilenet_v3"
    assert config["fpn_channels"] == 16 and config["pixel_std"] == [0.229, 0.224, 0.225]
    assert any(key.startswith("neck.") for key in checkpoint.weights)
    # The old code floored scores at its config's 0.05 whatever the predictor asked; the same floor here.
    predictor = Predictor.from_checkpoint(FIXTURES / "mask_rcnn_v1_tiny.safetensors", score_threshold=0.05)
    images, _ = toy_batch()
    with torch.inference_mode():
        outputs = predictor.model.predict(images[:2], output_sizes=[OUTPUT_SIZE] * 2, score_threshold=0.05)
    assert_same_predictions(outputs, REFERENCE["v1_checkpoint_predictions"])
