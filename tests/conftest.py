"""Fixtures shared across test folders; importing the toy family registers it for every test."""

import pytest
import torch

from .models import toy_family  # noqa: F401  (registers the test-only family)


@pytest.fixture(scope="module")
def one_thread():
    """Small models gain nothing from threads, and on a busy machine oversubscribed threads cost 10x."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory):
    """A safetensors checkpoint of ``tiny_model.build_tiny_model()`` with its metadata."""
    from instaseg.engine.checkpoint import save_checkpoint

    from .tiny_model import META, build_tiny_model

    path = tmp_path_factory.mktemp("weights") / "best.safetensors"
    save_checkpoint(path, build_tiny_model().state_dict(), META)
    return path


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory):
    """8 training and 2 validation images of 64 px, generated once per test session."""
    from instaseg.data.synthetic import SynthConfig, generate_dataset

    folder = tmp_path_factory.mktemp("tiny")
    return generate_dataset(SynthConfig(train=8, val=2, size=64, seed=3), folder, workers=1, progress=False)
