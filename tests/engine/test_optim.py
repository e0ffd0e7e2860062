import pytest
import torch

from instaseg.engine.config import TrainConfig
from instaseg.engine.optim import build_optimizer, decay_factor, lr_factor, warmup_factor


def settings(**changes) -> TrainConfig:
    return TrainConfig(data="", out="", **changes)


def test_warmup_ends_after_its_iterations_or_its_share_of_the_run():
    config = settings(warmup_iters=100, warmup_fraction=0.05, warmup_factor=0.001)
    assert warmup_factor(0, 0.0, config) == pytest.approx(0.001)
    assert warmup_factor(50, 0.0, config) == pytest.approx(0.001 * 0.5 + 0.5)
    assert warmup_factor(100, 0.0, config) == 1.0
    assert warmup_factor(10, 0.05, config) == 1.0  # a short timed run: 5% of the budget spent


def test_cosine_and_step_schedules():
    cosine = settings(schedule="cosine")
    assert decay_factor(0.0, cosine) == pytest.approx(1.0)
    assert decay_factor(0.5, cosine) == pytest.approx(0.01 + 0.99 * 0.5)
    assert decay_factor(1.0, cosine) == pytest.approx(0.01)
    step = settings(schedule="step", step_milestones=(0.5, 0.8), step_gamma=0.1)
    assert [decay_factor(p, step) for p in (0.1, 0.6, 0.9)] == pytest.approx([1.0, 0.1, 0.01])
    assert lr_factor(10_000, 0.6, step) == pytest.approx(0.1)
    with pytest.raises(ValueError, match="unknown schedule"):
        decay_factor(0.5, settings(schedule="linear"))


def test_no_weight_decay_on_norms_and_biases():
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.GroupNorm(2, 4))
    optimizer = build_optimizer(model, settings(weight_decay=0.05))
    decayed, plain = optimizer.param_groups
    assert decayed["weight_decay"] == 0.05 and len(decayed["params"]) == 1  # the conv weight
    assert plain["weight_decay"] == 0.0 and len(plain["params"]) == 3  # conv bias, norm weight and bias
    with pytest.raises(ValueError, match="unknown optimizer"):
        build_optimizer(model, settings(optimizer="lion"))
