"""The predictor: a trained model plus everything around it (loading, resizing, batching, filtering).

The model stays stateless and sees only resized float images; the predictor turns user images of any size
into model inputs and the model's detections into ``Instances`` at each image's full original resolution.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence, overload

import numpy as np
import torch
from torch import nn

from instaseg.data.transforms import build_eval_transform
from instaseg.engine.checkpoint import ModelMetadata, load_checkpoint
from instaseg.errors import InstasegError
from instaseg.inference.batches import read_in_batches
from instaseg.inference.inputs import ImageInput, load_image
from instaseg.inference.postprocess.filtering import select_instances
from instaseg.models import build_model
from instaseg.models.base import Predicts
from instaseg.models.layers import fold_batch_norms
from instaseg.structures.instances import Instances

# What evaluation keeps: every prediction down to a low score floor, at most COCO's 100 per image.
EVALUATION_SCORE_FLOOR = 0.001
EVALUATION_MAX_INSTANCES = 100


@dataclass
class ImagePrediction:
    """One image of ``Predictor.predict_files``: its position in the list, its pixels and predictions, or
    why it could not be read."""

    index: int
    pixels: np.ndarray | None
    instances: Instances | None
    error: str | None = None


class Predictor:
    """Run a trained model on images; results sorted by score, at each image's full resolution.

    Example:
        predictor = Predictor.from_checkpoint("runs/x/weights/best.safetensors", score_threshold=0.5)
        instances = predictor("photo.jpg")            # Instances: boxes, masks, labels, scores
        names = [predictor.class_names[k] for k in instances.labels]
    """

    def __init__(self, model: Predicts, metadata: ModelMetadata, *, device: str | torch.device = "cpu",
                 score_threshold: float = 0.5, max_instances: int = 100) -> None:
        """Wrap a built model; ``from_checkpoint`` is the usual way in.

        Args:
            model: anything with the protocol's ``predict`` (``models.base``); a trained model with its
                weights loaded is moved to ``device`` and set to eval mode, and where it has BatchNorms the
                predictor runs a copy with them folded into the convolutions (the same outputs, faster).
            metadata: the checkpoint metadata (class names, category ids, training image size).
            score_threshold: instances scoring at or below it are dropped.
            max_instances: at most this many instances per image, the highest-scoring ones.
        """
        _check_limits(score_threshold, max_instances)
        self.device = resolve_device(device)
        if isinstance(model, nn.Module):
            model = model.to(self.device).eval()
            if any(isinstance(m, nn.BatchNorm2d) for m in model.modules()):
                model = fold_batch_norms(model)
                # The folded copy keeps its weights in the layout the network reads: no per-call reordering.
                model = model.to(memory_format=getattr(model, "memory_format", torch.contiguous_format))
        self.model = model
        self.metadata = metadata
        self.score_threshold = float(score_threshold)
        self.max_instances = int(max_instances)
        self.transform = build_eval_transform(metadata.image_size)

    @classmethod
    def from_checkpoint(cls, path: str | Path, device: str | torch.device = "cpu",
                        score_threshold: float = 0.5, max_instances: int = 100) -> "Predictor":
        """Build the model a checkpoint names, with its options, and load its weights: the file is enough."""
        _check_limits(score_threshold, max_instances)  # settings first: fail before the slow part
        resolve_device(device)
        checkpoint = load_checkpoint(path)
        metadata = checkpoint.metadata
        _check_metadata(path, metadata)
        model = build_model(metadata.model, metadata.model_config, metadata.num_classes)
        try:
            model.load_state_dict(checkpoint.weights, strict=True)
        except RuntimeError as error:
            detail = str(error).splitlines()[1].strip() if "\n" in str(error) else str(error)
            raise InstasegError(f"{path}: its weights do not fit model {metadata.model!r} "
                                f"with config {metadata.model_config} ({detail})") from None
        return cls(model, metadata, device=device, score_threshold=score_threshold,
                   max_instances=max_instances)

    # Views of the metadata
    @property
    def class_names(self) -> list[str]:
        """Name of each label: ``class_names[instances.labels[i]]``."""
        return list(self.metadata.class_names)

    @property
    def category_ids(self) -> list[int]:
        """The dataset's category id of each label (for COCO results)."""
        return list(self.metadata.category_ids)

    @property
    def task(self) -> str:
        return self.metadata.task

    @property
    def image_size(self) -> int:
        """Longer side, in pixels, images are resized to before the model sees them."""
        return self.metadata.image_size

    # Prediction
    @overload
    def __call__(self, images: ImageInput, batch_size: int = 1) -> Instances: ...

    @overload
    def __call__(self, images: Sequence[ImageInput], batch_size: int = 1) -> list[Instances]: ...

    def __call__(self, images, batch_size: int = 1):
        """Predict one image (-> Instances) or a list of images (-> list, in order), ``batch_size`` at a time.

        Images are (H, W, 3) uint8 RGB or (H, W) gray arrays, PIL images or paths (read with EXIF
        orientation applied). Masks are (N, H, W) bool at each image's own size; boxes xyxy in its pixels.
        The tensors come from ``torch.inference_mode``: clone them before editing them in place.
        """
        if not isinstance(images, (list, tuple)):
            return self.predict_batch([images])[0]
        if batch_size < 1:
            raise InstasegError(f"batch size must be at least 1; got {batch_size}")
        results: list[Instances] = []
        for start in range(0, len(images), batch_size):
            results.extend(self.predict_batch(images[start:start + batch_size]))
        return results

    def predict_batch(self, images: Sequence[ImageInput]) -> list[Instances]:
        """One model call for all ``images``; see ``__call__``."""
        if not images:
            return []
        pixels = [load_image(image) for image in images]  # (H, W, 3) uint8 each
        full_sizes = [(int(p.shape[0]), int(p.shape[1])) for p in pixels]
        with torch.inference_mode():
            inputs = [self.preprocess(p) for p in pixels]
            outputs = self.model.predict(inputs, output_sizes=full_sizes, score_threshold=self.score_threshold,
                                         max_instances=self.max_instances)
            return [self.postprocess(o) for o in outputs]

    def predict_files(self, paths: Sequence[str | Path], *, batch_size: int = 1, workers: int = 0
                      ) -> Iterator[ImagePrediction]:
        """Predict image files in order, ``batch_size`` per model call, read by ``workers`` processes (0: here)
        while the model runs. An unreadable file gives an ``ImagePrediction`` with its ``error``, not a raise."""
        if batch_size < 1:
            raise InstasegError(f"batch size must be at least 1; got {batch_size}")
        for batch in read_in_batches(paths, batch_size, workers):
            readable = [item for item in batch if item.pixels is not None]
            outputs = iter(self.predict_batch([item.pixels for item in readable]))
            for item in batch:
                instances = next(outputs) if item.pixels is not None else None
                yield ImagePrediction(item.index, item.pixels, instances, item.error)

    def preprocess(self, pixels: np.ndarray) -> torch.Tensor:
        """(H, W, 3) uint8 -> (3, h, w) float in [0, 1] on the device, longer side at ``image_size``."""
        # Move the uint8 image (4x smaller than float) and resize there; the permuted view is channels-last,
        # the layout torch's uint8 antialiased resize is fastest on, so no copy is made for it.
        image = _as_tensor(pixels).to(self.device, non_blocking=True).permute(2, 0, 1)
        return self.transform(image)[0]

    def postprocess(self, instances: Instances) -> Instances:
        """Keep scores above the threshold, at most ``max_instances``, best first; on the CPU."""
        return select_instances(instances, self.score_threshold, self.max_instances).to("cpu")


def _as_tensor(pixels: np.ndarray) -> torch.Tensor:
    """A tensor sharing the array's memory, read-only arrays (e.g. np.asarray of a PIL image) included."""
    if pixels.flags.writeable:
        return torch.from_numpy(pixels)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # torch warns about writes; the tensor is only read
        return torch.from_numpy(pixels)


def resolve_device(device: str | torch.device) -> torch.device:
    """A torch device that exists here; a clear error otherwise."""
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as error:
        raise InstasegError(f"unknown device {device!r} ({error}); use cpu, cuda or cuda:N") from None
    if resolved.type == "cuda":
        if not torch.cuda.is_available():
            raise InstasegError(f"device {device!r} asked for, but no CUDA device is available")
        if resolved.index is not None and resolved.index >= torch.cuda.device_count():
            raise InstasegError(f"device {device!r} asked for, but only {torch.cuda.device_count()} "
                                "CUDA device(s) are available")
    if resolved.type == "mps" and not torch.backends.mps.is_available():
        raise InstasegError(f"device {device!r} asked for, but MPS is not available")
    return resolved


def _check_limits(score_threshold: float, max_instances: int) -> None:
    if not 0.0 <= score_threshold <= 1.0:
        raise InstasegError(f"score threshold must be in [0, 1]; got {score_threshold}")
    if max_instances < 1:
        raise InstasegError(f"max instances must be at least 1; got {max_instances}")


def _check_metadata(path: str | Path, metadata: ModelMetadata) -> None:
    names, ids = len(metadata.class_names), len(metadata.category_ids)
    if not (names == ids == metadata.num_classes):
        raise InstasegError(f"{path}: inconsistent metadata: num_classes {metadata.num_classes}, "
                            f"{names} class names, {ids} category ids")
    if metadata.image_size < 1:
        raise InstasegError(f"{path}: inconsistent metadata: image_size {metadata.image_size}")
