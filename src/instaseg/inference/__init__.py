"""Running trained models on new images: the predictor, its inputs and its written outputs.

``Predictor`` loads torch and the models, so it is imported on first use: the CLI and the light modules here
(sources, output names) start without them.
"""

__all__ = ["Predictor"]


def __getattr__(name: str):
    if name == "Predictor":
        from instaseg.inference.predictor import Predictor

        return Predictor
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
