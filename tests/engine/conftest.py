import pytest

from instaseg.data.synthetic import SynthConfig, generate_dataset


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory):
    """8 training and 2 validation images of 64 px, generated once per test session."""
    folder = tmp_path_factory.mktemp("tiny")
    return generate_dataset(SynthConfig(train=8, val=2, size=64, seed=3), folder, workers=1, progress=False)
