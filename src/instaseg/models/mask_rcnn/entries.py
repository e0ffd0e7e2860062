"""The registered Mask R-CNN variants: a config and a few words each (no torch needed to list them)."""

from __future__ import annotations

from instaseg.models.mask_rcnn.config import MaskRCNNConfig
from instaseg.models.registry import ModelEntry, register_model

# Fewer sampled proposals and RoIs: the same architecture in a fraction of the test time.
LIGHT_OPTIONS = {"rpn_pre_nms_train": 200, "rpn_post_nms_train": 100, "roi_batch_per_image": 32}


def build(config: MaskRCNNConfig, num_classes: int):
    from instaseg.models.mask_rcnn.build import build_mask_rcnn

    return build_mask_rcnn(config, num_classes)


register_model(ModelEntry(name="mask_rcnn_r18_fpn", config=MaskRCNNConfig(backbone="resnet18"), build=build,
                          light_options=LIGHT_OPTIONS, summary="Mask R-CNN, ResNet-18 + FPN, GroupNorm"))
register_model(ModelEntry(name="mask_rcnn_r50_fpn", config=MaskRCNNConfig(backbone="resnet50"), build=build,
                          light_options=LIGHT_OPTIONS, summary="Mask R-CNN, ResNet-50 + FPN, GroupNorm"))
register_model(ModelEntry(name="mask_rcnn_mnv3_fpn", config=MaskRCNNConfig(backbone="mobilenet_v3"), build=build,
                          light_options=LIGHT_OPTIONS, summary="Mask R-CNN, MobileNetV3-Large + FPN, GroupNorm"))
