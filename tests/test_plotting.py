"""Plot helpers return figures (headless) and reject malformed inputs."""

from utils import plotting as P

import keras
import numpy as np
import pytest
from matplotlib.figure import Figure


@pytest.fixture
def images(rng):
    return rng.random((12, 28, 28, 1)).astype("float32")


def test_image_grid(images):
    fig = P.image_grid(images, ncols=5, titles=list(range(12)), suptitle="x")
    assert isinstance(fig, Figure) and len(fig.axes) == 15
    with pytest.raises(ValueError, match="titles"):
        P.image_grid(images, titles=[1, 2])
    with pytest.raises(ValueError, match="non-empty batch"):
        P.image_grid(np.zeros((3, 5)))


def test_reconstructions(images):
    fig = P.plot_reconstructions(images, [images, images], n=6, row_labels=("a", "b", "c"))
    assert len(fig.axes) == 18
    with pytest.raises(ValueError, match="row_labels"):
        P.plot_reconstructions(images, images, row_labels=("a",))


def test_latent_scatter_and_manifold(rng):
    fig = P.plot_latent_scatter(rng.normal(size=(100, 2)), rng.integers(0, 10, 100))
    assert isinstance(fig, Figure)
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        P.plot_latent_scatter(rng.normal(size=(10, 3)), np.zeros(10))
    fig = P.plot_manifold(lambda z: np.tile(z[:, :1, None, None], (1, 28, 28, 1)) * 0 + 0.5, n=4)
    assert fig.axes[0].images[0].get_array().shape == (4 * 28, 4 * 28)
    with pytest.raises(ValueError, match="returned"):
        P.plot_manifold(lambda z: np.zeros((3, 28, 28)), n=4)


def test_interpolation_endpoints(rng):
    seen = {}

    def decode(z):
        seen["z"] = z
        return np.zeros((len(z), 28, 28))

    P.plot_interpolation(decode, np.zeros(3), np.ones(3), steps=5)
    np.testing.assert_allclose(seen["z"][0], 0.0)
    np.testing.assert_allclose(seen["z"][-1], 1.0)
    with pytest.raises(ValueError, match="steps"):
        P.plot_interpolation(decode, np.zeros(3), np.ones(3), steps=1)


def test_history_from_keras():
    history = keras.callbacks.History()
    history.history = {"loss": [3.0, 2.0], "val_loss": [3.5, 2.5]}
    fig = P.plot_history(history)
    assert len(fig.axes[0].lines) == 2
    with pytest.raises(ValueError, match="no keys"):
        P.plot_history(history, keys=["accuracy"])
