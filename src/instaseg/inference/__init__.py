"""Running trained models on new images: the predictor, its inputs and its written outputs."""

from instaseg.inference.predictor import Predictor

__all__ = ["Predictor"]
