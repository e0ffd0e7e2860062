"""Distillation's two halves: teachers' predictions for given objects, and the student's imitation losses."""

import math

import pytest
import torch
import torch.nn.functional as F

from instaseg.models import create_model, model_entry
from instaseg.models.losses import SoftTargets, distillation_losses
from instaseg.models.losses.mask_targets import mask_targets
from instaseg.models.yolact.model import TRAINING_MASK_CELLS
from .test_contract import toy_batch


def light(name: str, **options):
    torch.manual_seed(0)
    return create_model(name, num_classes=2, **{**model_entry(name).light_options, **options})


def ground_truth_as_teacher(targets) -> list[SoftTargets]:
    """A perfect teacher: one-hot classes and the ground-truth masks on each box's cells."""
    soft = []
    for target in targets:
        boxes = target.boxes.float()
        cells = mask_targets(target.masks, boxes, torch.arange(len(target)), TRAINING_MASK_CELLS)
        soft.append(SoftTargets(F.one_hot(target.labels, 2).float(), cells))
    return soft


@pytest.mark.parametrize("name", ["yolact_csp_nano", "mask_rcnn_r18_fpn"])
def test_teachers_predict_a_class_distribution_and_a_box_mask_for_every_given_object(name):
    model = light(name).eval()
    images, targets = toy_batch()
    soft = model.predict_objects(images, targets)
    assert len(soft) == len(targets)
    for prediction, target in zip(soft, targets):
        assert prediction.class_probs.shape == (len(target), 2)
        assert prediction.mask_probs.shape[0] == len(target) and prediction.mask_probs.ndim == 3
        for probabilities in (prediction.class_probs, prediction.mask_probs):
            assert bool(((probabilities >= 0) & (probabilities <= 1)).all())
        assert bool((prediction.class_probs.sum(dim=1) <= 1 + 1e-5).all()) or name.startswith("yolact")
        assert not prediction.class_probs.requires_grad


def test_a_student_taught_the_ground_truth_learns_what_the_ground_truth_teaches():
    # The mask imitation term against a perfect teacher is the mask loss itself, gain for gain.
    model = light("yolact_csp_nano")
    images, targets = toy_batch()
    losses = model.loss(images, targets, soft_targets=ground_truth_as_teacher(targets))
    value = {name: float(loss.detach()) for name, loss in losses.items()}
    config = model.config
    assert math.isclose(value["loss_distill_mask"] / config.distill_mask_weight,
                        value["loss_mask"] / config.mask_weight, rel_tol=1e-5)
    assert value["loss_distill_class"] > 0
    plain = model.loss(images, targets)
    assert set(losses) - set(plain) == {"loss_distill_class", "loss_distill_mask"}
    assert math.isclose(float(plain["loss_mask"].detach()), value["loss_mask"], rel_tol=1e-6)
    sum(losses.values()).backward()
    assert all(p.grad is not None for p in model.head.parameters())


def test_imitation_pulls_the_student_towards_the_teacher():
    class_logits = torch.tensor([[4.0, -4.0], [-4.0, 4.0]])
    cell_logits = torch.full((2, 4, 4), 3.0)
    teacher = SoftTargets(torch.tensor([[0.9, 0.1]]), torch.full((1, 8, 8), 0.95))  # resampled to 4 x 4 cells
    owner = torch.tensor([0, 0])
    class_term, mask_term = distillation_losses(class_logits, cell_logits, teacher, owner)
    agreeing, disagreeing = (distillation_losses(class_logits[k:k + 1], cell_logits[k:k + 1], teacher,
                                                 owner[k:k + 1])[0] for k in (0, 1))
    assert float(agreeing) < float(disagreeing)
    assert math.isclose(float(class_term), (float(agreeing) + float(disagreeing)) / 2, rel_tol=1e-6)
    expected_mask = -(0.95 * math.log(torch.sigmoid(torch.tensor(3.0))) + 0.05 * math.log(
        1 - torch.sigmoid(torch.tensor(3.0))))
    assert math.isclose(float(mask_term), expected_mask, rel_tol=1e-5)
