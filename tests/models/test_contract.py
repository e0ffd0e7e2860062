"""One contract over every registered model: build, train-mode losses, backward, predict, a tiny fit."""

import pytest
import torch

from instaseg.errors import InstasegError
from instaseg.models import create_model, list_models, register_model
from instaseg.structures import Instances

SIZE = 64
# Fewer sampled proposals and RoIs than the defaults: the same architecture, a fraction of the test time.
LIGHT = {"rpn_pre_nms_train": 200, "rpn_post_nms_train": 100, "roi_batch_per_image": 32}


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


@pytest.mark.parametrize("name", list_models())
def test_model_contract(name):
    torch.manual_seed(0)
    model = create_model(name, num_classes=2, **LIGHT)
    images, targets = toy_batch()

    # Training: named, finite, scalar losses; backward reaches the backbone.
    model.train()
    losses = model(images, targets)
    assert isinstance(losses, dict) and losses
    assert all(key.startswith("loss") and value.ndim == 0 and torch.isfinite(value) for key, value in losses.items())
    assert {"loss_mask", "loss_classifier"} <= set(losses)
    sum(losses.values()).backward()
    gradients = [p.grad for p in model.parameters() if p.requires_grad]
    assert sum(g is not None and bool(g.abs().sum() > 0) for g in gradients) > len(gradients) // 2

    # Inference: one Instances per image, at the requested output size, scores sorted within [0, 1].
    model.eval()
    with torch.no_grad():
        outputs = model(images, output_sizes=[(SIZE * 2, SIZE * 3)] * len(images))
    assert len(outputs) == len(images)
    for instances in outputs:
        assert isinstance(instances, Instances) and instances.image_size == (SIZE * 2, SIZE * 3)
        assert instances.scores is not None and len(instances) <= 100
        assert bool(((instances.scores >= 0) & (instances.scores <= 1)).all())
        assert bool((instances.labels >= 0).all() and (instances.labels < 2).all())

    # A tiny fit on the same batch lowers the loss.
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=5e-4)
    history = []
    for _ in range(8):
        total = sum(model(images, targets).values())
        optimizer.zero_grad()
        total.backward()
        optimizer.step()
        history.append(total.item())
    assert sum(history[-3:]) / 3 < 0.8 * sum(history[:3]) / 3, history


def test_registry_refuses_duplicates_and_unknown_names():
    def mask_rcnn_r18_fpn(num_classes: int):  # same name as a registered builder
        return None

    with pytest.raises(ValueError, match="'mask_rcnn_r18_fpn' is already registered"):
        register_model(mask_rcnn_r18_fpn)
    with pytest.raises(InstasegError, match="unknown model 'nope'; available: mask_rcnn"):
        create_model("nope", num_classes=2)
    with pytest.raises(InstasegError, match="num_classes must be at least 1"):
        create_model(list_models()[0], num_classes=0)
