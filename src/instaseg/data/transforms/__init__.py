"""Training and evaluation transforms that keep image, masks, boxes and labels consistent."""

from instaseg.data.transforms.basic import AugmentConfig, build_eval_transform, build_train_transform

__all__ = ["AugmentConfig", "build_eval_transform", "build_train_transform"]
