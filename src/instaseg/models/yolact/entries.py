"""The registered YOLACT variants (no torch needed to list them)."""

from __future__ import annotations

from instaseg.models.registry import ModelEntry, register_model
from instaseg.models.yolact.config import YolactConfig

LIGHT_OPTIONS = {"num_prototypes": 8, "prototype_channels": 32}


def build(config: YolactConfig, num_classes: int):
    from instaseg.models.yolact.build import build_yolact

    return build_yolact(config, num_classes)


register_model(ModelEntry(name="yolact_csp_nano", config=YolactConfig(backbone="csp_nano"), build=build,
                          light_options=LIGHT_OPTIONS, summary="YOLACT, CSP-nano + PAN, task-aligned (single-stage)"))
register_model(ModelEntry(name="yolact_csp_small", config=YolactConfig(backbone="csp_small"), build=build,
                          light_options=LIGHT_OPTIONS, summary="YOLACT, CSP-small + PAN, task-aligned (single-stage)"))
