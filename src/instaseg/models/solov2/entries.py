"""The registered SOLOv2 variants (no torch needed to list them)."""

from __future__ import annotations

from instaseg.models.registry import ModelEntry, register_model
from instaseg.models.solov2.config import Solov2Config

LIGHT_OPTIONS = {"grids": (8, 6, 4), "head_channels": 16, "mask_channels": 8, "mask_feature_hidden": 16}


def build(config: Solov2Config, num_classes: int):
    from instaseg.models.solov2.build import build_solov2

    return build_solov2(config, num_classes)


register_model(ModelEntry(name="solov2_csp_nano", config=Solov2Config(backbone="csp_nano"), build=build,
                          light_options=LIGHT_OPTIONS,
                          summary="SOLOv2, CSP-nano + PAN, grid cells with dynamic kernels, Matrix NMS"))
