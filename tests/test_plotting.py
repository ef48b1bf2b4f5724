"""Plot helpers return figures (headless) and reject malformed inputs."""

from utils import plotting as P

import keras
import numpy as np
import pytest
from matplotlib.figure import Figure


@pytest.fixture
def images(rng):
    return rng.random((12, 28, 28, 1)).astype("float32")


def test_image_grid_row_labels(images):
    fig = P.image_grid(images, ncols=4, row_labels=["a", "b", "c"])
    assert [ax.get_ylabel() for ax in fig.axes[::4]] == ["a", "b", "c"]
    assert all(ax.get_ylabel() == "" for i, ax in enumerate(fig.axes) if i % 4)
    with pytest.raises(ValueError, match="row_labels must have 3 entries"):
        P.image_grid(images, ncols=4, row_labels=["a", "b"])


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


def test_densities_2d_report_the_mass_on_the_grid():
    def gaussian(points):
        return -0.5 * (points**2).sum(axis=1) - np.log(2 * np.pi)

    fig = P.plot_densities_2d([gaussian, lambda p: gaussian(p) + 1.0], titles=["a", "b"], extent=6)
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    assert fig.grid_masses[0] == pytest.approx(1.0, abs=1e-3)
    assert fig.grid_masses[1] == pytest.approx(np.e, rel=1e-3)  # not a density: mass e
    with pytest.raises(ValueError, match="titles"):
        P.plot_densities_2d([gaussian], titles=["a", "b"])
    with pytest.raises(ValueError, match="returned"):
        P.plot_densities_2d([lambda p: np.zeros(3)])
    with pytest.raises(ValueError, match="callables"):
        P.plot_densities_2d([])


def test_flow_stages(rng):
    stages = [rng.normal(size=(50, 2)) * s for s in (1.0, 2.0, 3.0)]
    fig = P.plot_flow_stages(stages, colors=np.arange(50) % 8, suptitle="x")
    assert len(fig.axes) == 3 and fig.axes[2].get_title() == "after layer 2"
    assert fig.axes[0].get_xlim()[1] >= np.abs(stages[2]).max()  # one window for every panel
    with pytest.raises(ValueError, match="same N"):
        P.plot_flow_stages([stages[0], stages[1][:10]])
    with pytest.raises(ValueError, match="colors"):
        P.plot_flow_stages(stages, colors=np.zeros(3))


def test_plot_labelled_points():
    fig = P.plot_labelled_points(
        [1.0, 10.0, 100.0],
        [5.0, 3.0, 1.0],
        ["a", "b", "c"],
        groups=["g1", "g2", "g1"],
        logx=True,
        hlines={"floor": 0.5},
    )
    ax = fig.axes[0]
    assert ax.get_xscale() == "log"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["g1", "g2"]
    assert {"a", "b", "c", "floor"} <= {t.get_text() for t in ax.texts}
    with pytest.raises(ValueError, match="one entry per point"):
        P.plot_labelled_points([1.0], [1.0, 2.0], ["a"])
    with pytest.raises(ValueError, match="> 0 on a logarithmic axis"):
        P.plot_labelled_points([0.0], [1.0], ["a"], logx=True)
    with pytest.raises(ValueError, match="finite"):
        P.plot_labelled_points([np.nan], [1.0], ["a"])
    with pytest.raises(ValueError, match="groups must have 1"):
        P.plot_labelled_points([1.0], [1.0], ["a"], groups=["x", "y"])
