"""The registered CondInst variants (no torch needed to list them)."""

from __future__ import annotations

from instaseg.models.condinst.config import CondInstConfig
from instaseg.models.registry import ModelEntry, register_model

LIGHT_OPTIONS = {"mask_feature_hidden": 16, "mask_size": 14}


def build(config: CondInstConfig, num_classes: int):
    from instaseg.models.condinst.build import build_condinst

    return build_condinst(config, num_classes)


register_model(ModelEntry(name="condinst_csp_nano", config=CondInstConfig(backbone="csp_nano"), build=build,
                          light_options=LIGHT_OPTIONS,
                          summary="CondInst, CSP-nano + PAN, task-aligned, dynamic mask networks (single-stage)"))
register_model(ModelEntry(name="condinst_csp_small", config=CondInstConfig(backbone="csp_small"), build=build,
                          light_options=LIGHT_OPTIONS,
                          summary="CondInst, CSP-small + PAN, task-aligned, dynamic mask networks (single-stage)"))
