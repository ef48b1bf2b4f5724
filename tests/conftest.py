"""Shared fixtures. The environment (smoke mode, Agg backend, no downloads) is set by the
``utils.pytest_plugin`` plugin that pyproject.toml loads before collection."""

from utils import data

import numpy as np
import pytest


@pytest.fixture(scope="session")
def subset_arrays():
    """The committed real MNIST subset as raw uint8 arrays (verified)."""
    return data.read_mnist_arrays(data.subset_path())


@pytest.fixture(scope="session")
def full_mnist_available():
    try:
        return data.find_mnist_file() is not None
    except data.MNISTNotFoundError:
        return False


@pytest.fixture
def rng():
    return np.random.default_rng(1234)
