"""A deliberately small untrained Mask R-CNN shared by the predictor and CLI tests: with a score threshold
of 0 its up to 100 low-score boxes exercise every output path, in milliseconds."""

import torch

from instaseg.engine.checkpoint import ModelMetadata
from instaseg.models import build_model, resolve_config
from instaseg.models.options import config_to_dict

MODEL = "mask_rcnn_mnv3_fpn"
OPTIONS = {"fpn_channels": 16, "box_head_channels": 16, "box_head_fc": 32, "mask_head_channels": 16,
           "mask_head_convs": 1, "rpn_pre_nms_test": 100, "rpn_post_nms_test": 50}
META = ModelMetadata(model=MODEL, num_classes=2, class_names=["disc", "square"], category_ids=[3, 7],
                     image_size=64, model_config=config_to_dict(resolve_config(MODEL, OPTIONS)))


def build_tiny_model() -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model(META.model, META.model_config, META.num_classes)
