"""Training and evaluation transforms that keep image, masks, boxes and labels consistent."""

from instaseg.data.transforms.config import AugmentConfig

__all__ = ["AugmentConfig", "build_eval_transform", "build_train_transform"]


def __getattr__(name: str):
    # The transforms need torchvision; settings do not, so importing AugmentConfig stays cheap.
    if name in ("build_eval_transform", "build_train_transform", "TrainTransform", "EvalTransform"):
        from instaseg.data.transforms import basic

        return getattr(basic, name)
    raise AttributeError(f"module 'instaseg.data.transforms' has no attribute {name!r}")
