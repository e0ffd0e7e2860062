"""One contract over every registered model (the test-only toy family included): losses, backward, predict
at other output sizes and within limits, a tiny fit, and a checkpoint round trip through the Predictor."""

import dataclasses

import pytest
import torch

from instaseg.engine.checkpoint import ModelMetadata, save_checkpoint
from instaseg.errors import InstasegError
from instaseg.evaluation.coco.params import STAT_NAMES
from instaseg.inference import Predictor
from instaseg.models import (ModelEntry, create_model, list_models, model_entry, register_model,
                             resolve_config)
from instaseg.models.base import TASKS
from instaseg.models.options import config_to_dict
from instaseg.structures import Instances

SIZE = 64
MASK_RCNN = "mask_rcnn_r18_fpn"  # a model whose option names the tests below spell out
pytestmark = pytest.mark.usefixtures("one_thread")


def toy_batch() -> tuple[list[torch.Tensor], list[Instances]]:
    """Two images: bright squares and a bar on a dark background, and one image with no instances."""
    generator = torch.Generator().manual_seed(0)
    images, targets = [], []
    for index in range(2):
        image = torch.rand((3, SIZE, SIZE), generator=generator) * 0.2
        masks = torch.zeros((2, SIZE, SIZE), dtype=torch.bool)
        masks[0, 8 + index * 4: 30 + index * 4, 10:34] = True
        masks[1, 40:56, 6:58] = True
        image[:, masks[0]] += torch.tensor([0.8, 0.1, 0.1])[:, None]
        image[:, masks[1]] += torch.tensor([0.1, 0.7, 0.2])[:, None]
        images.append(image.clamp(0, 1))
        targets.append(Instances.from_masks(masks, [0, 1]))
    images.append(torch.rand((3, SIZE, SIZE), generator=generator) * 0.2)
    targets.append(Instances.empty((SIZE, SIZE)))
    return images, targets


def check_predictions(outputs, count, size, max_instances=100, score_threshold=0.0):
    assert len(outputs) == count
    for instances in outputs:
        assert isinstance(instances, Instances) and instances.image_size == size
        assert instances.masks.shape[1:] == size and instances.masks.dtype == torch.bool
        assert instances.scores is not None and len(instances) <= max_instances
        assert bool(((instances.scores > score_threshold) & (instances.scores <= 1)).all())
        assert bool((instances.scores[:-1] >= instances.scores[1:]).all())  # best first
        assert bool((instances.labels >= 0).all() and (instances.labels < 2).all())


@pytest.mark.parametrize("name", list_models())
def test_model_contract(name, tmp_path):
    entry = model_entry(name)
    assert entry.task in TASKS and dataclasses.is_dataclass(entry.config)
    torch.manual_seed(0)
    model = create_model(name, num_classes=2, **entry.light_options)
    assert model.task == entry.task
    iou_type, _, stat = model.ranking_metric.partition("/")
    assert iou_type in ("segm", "bbox") and stat in STAT_NAMES
    images, targets = toy_batch()

    # Losses: named, finite scalars, in either module mode; backward reaches most parameters.
    model.train()
    losses = model.loss(images, targets)
    assert isinstance(losses, dict) and losses
    assert all(key.startswith("loss") and value.ndim == 0 and torch.isfinite(value) for key, value in losses.items())
    sum(losses.values()).backward()
    gradients = [p.grad for p in model.parameters() if p.requires_grad]
    assert sum(g is not None and bool(g.abs().sum() > 0) for g in gradients) > len(gradients) // 2
    model.eval()
    with torch.no_grad():
        assert set(model.loss(images, targets)) == set(losses)
    with pytest.raises(TypeError, match=r"\.loss\(images, targets\).*\.predict\(images"):
        model(images)

    # Prediction: one Instances per image at the requested size, within the limits, best first.
    with torch.no_grad():
        check_predictions(model.predict(images, output_sizes=[(SIZE * 2, SIZE * 3)] * 3, score_threshold=0.0),
                          3, (SIZE * 2, SIZE * 3))
        check_predictions(model.predict(images[:1]), 1, (SIZE, SIZE), score_threshold=0.05)
        check_predictions(model.predict(images, score_threshold=0.0, max_instances=2), 3, (SIZE, SIZE), 2)

    # A tiny fit on the same batch lowers the loss.
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=5e-4 if name.startswith("mask_rcnn") else 1e-2)
    history = []
    for _ in range(8):
        total = sum(model.loss(images, targets).values())
        optimizer.zero_grad()
        total.backward()
        optimizer.step()
        history.append(total.item())
    assert sum(history[-3:]) / 3 < 0.8 * sum(history[:3]) / 3, history

    # The checkpoint alone rebuilds the model: the Predictor from the file predicts as the model in memory.
    model.eval()
    metadata = ModelMetadata(model=name, task=model.task, num_classes=2, class_names=["a", "b"], category_ids=[1, 2],
                             image_size=SIZE, model_config=config_to_dict(resolve_config(name, entry.light_options)))
    save_checkpoint(tmp_path / "model.safetensors", model.state_dict(), metadata)
    loaded = Predictor.from_checkpoint(tmp_path / "model.safetensors", score_threshold=0.0)
    pixels = (images[0].permute(1, 2, 0) * 255).round().to(torch.uint8).numpy()
    expected = Predictor(model, metadata, score_threshold=0.0)(pixels)
    got = loaded(pixels)
    assert loaded.task == model.task and len(got) == len(expected)
    assert torch.equal(got.masks, expected.masks) and torch.allclose(got.scores, expected.scores)


def test_registry_refuses_duplicates_unknown_names_and_bad_options():
    entry = model_entry(MASK_RCNN)
    with pytest.raises(ValueError, match=f"'{MASK_RCNN}' is already registered"):
        register_model(entry)
    with pytest.raises(InstasegError, match="model 'x' has no option 'nope'"):
        register_model(ModelEntry(name="x", config=entry.config, build=entry.build, light_options={"nope": 1}))
    assert "x" not in list_models()
    with pytest.raises(InstasegError, match="unknown model 'nope'; available: .*mask_rcnn"):
        create_model("nope", num_classes=2)
    with pytest.raises(InstasegError, match="num_classes must be at least 1"):
        create_model(MASK_RCNN, num_classes=0)
    with pytest.raises(InstasegError, match=f"model '{MASK_RCNN}' has no option 'fpn_chanels'; its options: "
                                            "backbone, fpn_channels"):
        create_model(MASK_RCNN, num_classes=2, fpn_chanels=64)
    with pytest.raises(InstasegError, match="option fpn_channels: 'wide' is not a valid int"):
        resolve_config(MASK_RCNN, {"fpn_channels": "wide"})


def test_options_from_text_and_json_take_their_fields_types():
    config = resolve_config(MASK_RCNN, {"fpn_channels": "64", "anchor_sizes": "8,16,32,64,128",
                                            "pixel_mean": [0.5, 0.5, 0.5], "mask_threshold": "0.4"})
    assert config.fpn_channels == 64 and config.anchor_sizes == (8, 16, 32, 64, 128)
    assert config.pixel_mean == (0.5, 0.5, 0.5) and config.mask_threshold == 0.4
    with pytest.raises(InstasegError, match=r"option pixel_mean: '0.5,0.5' is not a valid tuple \(needs 3 values\)"):
        resolve_config(MASK_RCNN, {"pixel_mean": "0.5,0.5"})
    with pytest.raises(InstasegError, match="option fpn_channels: 1.5 is not a valid int"):
        resolve_config(MASK_RCNN, {"fpn_channels": 1.5})
