"""The CPU backbone and neck: levels and strides as declared, the nano's cost, and BatchNorm folding that
changes nothing but the speed."""

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from instaseg.models.backbones import CSPBackbone, build_backbone
from instaseg.models.layers import fold_batch_norms
from instaseg.models.necks import PAN


@pytest.mark.parametrize("size", ["nano", "small", "medium"])
def test_levels_have_the_declared_channels_and_strides_on_non_square_inputs(size):
    backbone = build_backbone(f"csp_{size}").eval()
    neck = PAN(backbone.out_channels[-3:]).eval()
    with torch.no_grad():
        levels = backbone(torch.zeros(1, 3, 96, 160))
        fused = neck(levels)
    assert list(levels) == ["0", "1", "2", "3"]
    for (name, level), channels, stride in zip(levels.items(), backbone.out_channels, backbone.strides):
        assert level.shape == (1, channels, 96 // stride, 160 // stride), name
    assert list(fused) == ["1", "2", "3"]
    assert [f.shape[1] for f in fused.values()] == neck.out_channels == backbone.out_channels[-3:]
    assert [f.shape[-2:] for f in fused.values()] == [levels[n].shape[-2:] for n in ("1", "2", "3")]
    with torch.no_grad():  # sizes that are not multiples of 32 still line up
        assert neck(backbone(torch.zeros(1, 3, 100, 150)))["1"].shape[-2:] == (13, 19)


def test_the_nano_backbone_and_neck_cost_under_two_gflops_at_320():
    backbone = CSPBackbone("nano").eval()
    neck = PAN(backbone.out_channels[-3:]).eval()
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        neck(backbone(torch.zeros(1, 3, 320, 320)))
    gflops = counter.get_total_flops() / 1e9
    assert 1.0 < gflops < 2.0, gflops  # YOLOv8n-seg, head included, is 3.2 at 320 px
    parameters = sum(p.numel() for m in (backbone, neck) for p in m.parameters())
    assert 1.0e6 < parameters < 2.5e6, parameters


def test_folding_batch_norms_keeps_the_outputs_and_leaves_the_model_alone():
    torch.manual_seed(0)
    backbone = CSPBackbone("nano")
    backbone.train()
    with torch.no_grad():  # a few batches give the norms statistics that are not the identity
        for _ in range(3):
            backbone(torch.rand(2, 3, 64, 64))
    backbone.eval()
    folded = fold_batch_norms(backbone)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in folded.modules())
    assert any(isinstance(m, nn.BatchNorm2d) for m in backbone.modules())
    image = torch.rand(1, 3, 96, 128)
    with torch.no_grad():
        expected, got = backbone(image), folded(image)
    for name in expected:
        assert torch.allclose(got[name], expected[name], atol=1e-4, rtol=1e-4), name
