"""Checkpoints carry the fully resolved model config: a changed default never changes what a file predicts;
formats newer than this code are refused with a clear message."""

import dataclasses
import json

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from instaseg.engine.checkpoint import FORMAT_VERSION, load_checkpoint, save_checkpoint
from instaseg.errors import InstasegError
from instaseg.inference import Predictor
from instaseg.models import registry

from ..tiny_model import META, build_tiny_model


def test_the_stored_config_wins_over_todays_defaults(tmp_path, monkeypatch):
    path = tmp_path / "model.safetensors"
    save_checkpoint(path, build_tiny_model().state_dict(), META)
    stored = load_checkpoint(path).metadata
    assert stored.model_config == META.model_config and stored.task == "instance"
    header = json.loads(safe_open(str(path), "pt").metadata()["instaseg"])
    assert header["format_version"] == FORMAT_VERSION and header["metadata"]["instaseg_version"]
    before = Predictor.from_checkpoint(path, score_threshold=0.0)(np.full((40, 40, 3), 128, np.uint8))

    # Someone changes the defaults of the model's config: the checkpoint still predicts the same.
    entry = registry.model_entry(META.model)
    changed = dataclasses.replace(entry.config, pixel_mean=(0.1, 0.2, 0.3), fpn_channels=32, mask_threshold=0.9)
    monkeypatch.setitem(registry._ENTRIES, META.model, dataclasses.replace(entry, config=changed))
    predictor = Predictor.from_checkpoint(path, score_threshold=0.0)
    assert predictor.model.pixel_mean.flatten().tolist() == pytest.approx(META.model_config["pixel_mean"])
    after = predictor(np.full((40, 40, 3), 128, np.uint8))
    assert np.array_equal(after.masks.numpy(), before.masks.numpy())


def test_a_newer_format_and_a_foreign_file_are_refused(tmp_path):
    path = tmp_path / "future.safetensors"
    header = {"format_version": FORMAT_VERSION + 1, "metadata": {}}
    save_file({"model/x": torch.zeros(1)}, str(path), metadata={"instaseg": json.dumps(header)})
    with pytest.raises(InstasegError, match=f"checkpoint format {FORMAT_VERSION + 1}; this instaseg .* reads "
                                            f"formats 1 to {FORMAT_VERSION}: upgrade instaseg"):
        load_checkpoint(path)
    save_file({"x": torch.zeros(1)}, str(tmp_path / "other.safetensors"))
    with pytest.raises(InstasegError, match="not an instaseg checkpoint"):
        load_checkpoint(tmp_path / "other.safetensors")
