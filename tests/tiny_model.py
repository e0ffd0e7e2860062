"""A deliberately small untrained Mask R-CNN shared by the predictor and CLI tests: with a score threshold
of 0 its up to 100 low-score boxes exercise every output path, in milliseconds."""

import torch

from instaseg.engine.checkpoint import ModelMetadata
from instaseg.models import create_model

OPTIONS = {"fpn_channels": 16, "box_head_channels": 16, "box_head_fc": 32, "mask_head_channels": 16,
           "mask_head_convs": 1, "rpn_pre_nms_test": 100, "rpn_post_nms_test": 50}
META = ModelMetadata(model="mask_rcnn_mnv3_fpn", num_classes=2, class_names=["disc", "square"],
                     category_ids=[3, 7], image_size=64, model_options=OPTIONS)


def build_tiny_model() -> torch.nn.Module:
    torch.manual_seed(0)
    return create_model(META.model, num_classes=META.num_classes, **META.model_options)
