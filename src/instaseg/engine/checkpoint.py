"""Checkpoints as single safetensors files: tensors plus a JSON header, never pickles.

``weights`` files (best / last) hold what prediction needs: the weights (EMA when used) under ``model/`` and,
in the safetensors header under ``instaseg``, JSON with ``format_version`` and ``metadata``: the model's name,
task and fully resolved config (every field, normalisation included), class names, category ids, image size,
metrics, the training settings and the instaseg version. The file alone is enough to predict, and a changed
default never changes what an existing checkpoint predicts. ``last`` also carries the training state under
``train/``: raw weights, optimiser tensors, RNG and the data-order position, for an exact resume. Every write
goes to a temporary file, then renames.

Format 1 (before the model protocol) stored only the options a run changed; it is read through
``models.mask_rcnn.legacy``, the only family of that time.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save

from instaseg import __version__
from instaseg.errors import InstasegError
from instaseg.utils.files import atomic_write_bytes

FORMAT_VERSION = 2
_METADATA_KEY = "instaseg"


@dataclass
class ModelMetadata:
    """What prediction needs besides the weights."""

    model: str
    num_classes: int
    class_names: list[str]
    category_ids: list[int]
    image_size: int
    model_config: dict[str, Any]  # every field of the model's typed config
    task: str = "instance"
    metrics: dict[str, Any] = field(default_factory=dict)
    train_config: dict[str, Any] = field(default_factory=dict)
    instaseg_version: str = __version__


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
    header: dict[str, Any] = {"format_version": FORMAT_VERSION, "metadata": asdict(metadata)}
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
    """``tensors`` keyed '<param id>/<name>' (the ``train/optim/`` prefix removed) + the JSON part."""
    state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        param_id, name = key.split("/", 1)
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
    """Read a checkpoint written by ``save_checkpoint`` (any format so far); clear errors for anything else."""
    path = Path(path)
    if not path.is_file():
        raise InstasegError(f"{path}: checkpoint not found")
    try:
        with safe_open(str(path), framework="pt") as file:
            header = json.loads((file.metadata() or {}).get(_METADATA_KEY, "null"))
            if not isinstance(header, dict) or "metadata" not in header:
                raise InstasegError(f"{path}: a safetensors file, but not an instaseg checkpoint "
                                    "(no instaseg metadata)")
            version = header.get("format_version")
            if version not in (1, FORMAT_VERSION):
                raise InstasegError(f"{path}: checkpoint format {version}; this instaseg ({__version__}) reads "
                                    f"formats 1 to {FORMAT_VERSION}: upgrade instaseg to read it")
            keys = list(file.keys())
            grab = lambda prefix: {k[len(prefix):]: file.get_tensor(k) for k in keys if k.startswith(prefix)}
            weights = grab("model/")
            training = None
            if with_training:
                if "training" not in header:
                    raise InstasegError(f"{path}: holds weights only, no training state to resume from")
                training = {"model": grab("train/model/") or weights,
                            "optimizer": _join_optimizer_state(grab("train/optim/"), header["training"]["optimizer"]),
                            "rng": file.get_tensor("train/rng/torch"), "state": header["training"]["state"]}
            metadata = header["metadata"]
            if version == 1:
                metadata, weights, training = _upgrade_v1(path, metadata, weights, training)
            metadata = ModelMetadata(**metadata)
    except InstasegError:
        raise
    except Exception as error:  # safetensors raises its own error types for damaged files
        raise InstasegError(f"{path}: not a readable checkpoint ({error})") from None
    return Checkpoint(weights=weights, metadata=metadata, training=training)


def _upgrade_v1(path: Path, metadata: dict, weights: dict, training: dict | None) -> tuple[dict, dict, dict | None]:
    """Format 1 -> 2: the resolved config from the defaults of that time, today's weight names."""
    from instaseg.models.mask_rcnn import legacy

    metadata = dict(metadata)
    if not legacy.is_v1_model(metadata["model"]):
        raise InstasegError(f"{path}: format-1 checkpoint of unknown model {metadata['model']!r}")
    metadata["model_config"] = legacy.v1_config(metadata["model"], metadata.pop("model_options", {}) or {})
    metadata.setdefault("instaseg_version", "0.1.0 (format 1)")
    rename = lambda state: {legacy.v1_weight_name(k): v for k, v in state.items()}
    if training is not None:
        training = {**training, "model": rename(training["model"])}
    return metadata, rename(weights), training
