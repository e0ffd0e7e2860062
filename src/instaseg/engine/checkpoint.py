"""Checkpoints as single safetensors files: tensors plus a JSON header, never pickles.

``weights`` files (best / last) hold what prediction needs: the weights (EMA when used) and metadata naming
the model, its options, class names, image size and metrics, so the file alone is enough to predict.
``last`` also carries the training state under ``train/``: raw weights, EMA, optimiser tensors, RNG and the
data-order position, for an exact resume. Every write goes to a temporary file, then renames.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save

from instaseg.errors import InstasegError
from instaseg.utils.files import atomic_write_bytes

FORMAT_VERSION = 1
_METADATA_KEY = "instaseg"


@dataclass
class ModelMetadata:
    """What prediction needs besides the weights."""

    model: str
    num_classes: int
    class_names: list[str]
    category_ids: list[int]
    image_size: int
    model_options: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    train_config: dict[str, Any] = field(default_factory=dict)


def _contiguous(state: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {f"{prefix}{k}": v.detach().cpu().contiguous() for k, v in state.items()}


def save_checkpoint(path: str | Path, weights: dict[str, torch.Tensor], metadata: ModelMetadata,
                    training: dict[str, Any] | None = None) -> None:
    """Write ``path`` atomically.

    Args:
        weights: state dict used for prediction.
        training: optional resume state: {'model': raw state dict, or None when it is ``weights`` itself,
            'optimizer': optimizer.state_dict(),
            'state': JSON-able trainer state, 'rng': uint8 tensor}. (An EMA is the ``weights`` themselves.)
    """
    tensors = _contiguous(weights, "model/")
    header: dict[str, Any] = {"format_version": FORMAT_VERSION, "metadata": metadata.__dict__}
    if training is not None:
        if training["model"] is not None:
            tensors.update(_contiguous(training["model"], "train/model/"))
        optimizer_tensors, optimizer_json = _split_optimizer_state(training["optimizer"])
        tensors.update(optimizer_tensors)
        tensors["train/rng/torch"] = training["rng"].contiguous()
        header["training"] = {"state": training["state"], "optimizer": optimizer_json}
    atomic_write_bytes(path, save(tensors, metadata={_METADATA_KEY: json.dumps(header)}))


def _split_optimizer_state(state_dict: dict) -> tuple[dict[str, torch.Tensor], dict]:
    """Optimizer state -> tensors (safetensors) + the rest (JSON)."""
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for param_id, values in state_dict["state"].items():
        for name, value in values.items():
            if isinstance(value, torch.Tensor):
                tensors[f"train/optim/{param_id}/{name}"] = value.detach().cpu().contiguous()
            else:
                scalars.setdefault(str(param_id), {})[name] = value
    return tensors, {"param_groups": state_dict["param_groups"], "scalars": scalars}


def _join_optimizer_state(tensors: dict[str, torch.Tensor], payload: dict) -> dict:
    state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        _, _, param_id, name = key.split("/", 3)
        state.setdefault(int(param_id), {})[name] = value
    for param_id, values in payload["scalars"].items():
        state.setdefault(int(param_id), {}).update(values)
    return {"state": state, "param_groups": payload["param_groups"]}


@dataclass
class Checkpoint:
    weights: dict[str, torch.Tensor]
    metadata: ModelMetadata
    training: dict[str, Any] | None


def load_checkpoint(path: str | Path, with_training: bool = False) -> Checkpoint:
    """Read a checkpoint written by ``save_checkpoint``; clear errors for anything else."""
    path = Path(path)
    if not path.is_file():
        raise InstasegError(f"{path}: checkpoint not found")
    try:
        with safe_open(str(path), framework="pt") as file:
            header = json.loads((file.metadata() or {}).get(_METADATA_KEY, "null"))
            if not isinstance(header, dict) or "metadata" not in header:
                raise InstasegError(f"{path}: a safetensors file, but not an instaseg checkpoint "
                                    "(no instaseg metadata)")
            keys = list(file.keys())
            weights = {k[len("model/"):]: file.get_tensor(k) for k in keys if k.startswith("model/")}
            training = None
            if with_training:
                if "training" not in header:
                    raise InstasegError(f"{path}: holds weights only, no training state to resume from")
                grab = lambda prefix: {k[len(prefix):]: file.get_tensor(k) for k in keys if k.startswith(prefix)}
                training = {"model": grab("train/model/") or weights,
                            "optimizer": _join_optimizer_state(
                                {k: file.get_tensor(k) for k in keys if k.startswith("train/optim/")},
                                header["training"]["optimizer"]),
                            "rng": file.get_tensor("train/rng/torch"), "state": header["training"]["state"]}
    except InstasegError:
        raise
    except Exception as error:  # safetensors raises its own error types for damaged files
        raise InstasegError(f"{path}: not a readable checkpoint ({error})") from None
    return Checkpoint(weights=weights, metadata=ModelMetadata(**header["metadata"]), training=training)
