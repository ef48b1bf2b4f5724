"""The course contract (utils.contract) for every family: generate, log_likelihood and its kind,
integer labels, loading in a fresh process after ``import utils``."""

import utils
from utils import autoencoders as A
from utils import contract, flows, gan, pixelcnn, vae

import itertools
import subprocess
import sys

import keras
import numpy as np
import pytest


def _vae(conditional=False, seed=0):
    keras.utils.set_random_seed(seed)
    if conditional:
        image, label = keras.Input((28, 28, 1)), keras.Input((10,))
        h = keras.layers.Concatenate()([keras.layers.Flatten()(image), label])
        encoder = keras.Model([image, label], keras.layers.Dense(8)(h))
        code = keras.Input((4,))
        h = keras.layers.Dense(784)(keras.layers.Concatenate()([code, label]))
        decoder = keras.Model([code, label], keras.layers.Reshape((28, 28, 1))(h))
        return vae.VAE(encoder, decoder, conditional=True, seed=seed)
    return vae.VAE(
        A.build_dense_encoder(8, (16,)),
        A.build_dense_decoder(4, (16,), output_activation=None),
        seed=seed,
    )


def _gan(conditional=False):
    classes = 10 if conditional else None
    return gan.GAN(
        gan.build_dcgan_generator(8, filters=4, num_classes=classes),
        gan.build_dcgan_discriminator(filters=4, num_classes=classes),
        num_classes=classes,
        seed=0,
    )


def _pixelcnn(conditional=False, image_shape=(28, 28, 1)):
    classes = 10 if conditional else None
    network = pixelcnn.build_gated_pixelcnn(
        filters=4, n_layers=2, num_classes=classes, image_shape=image_shape
    )
    return pixelcnn.PixelCNN(network, num_classes=classes, seed=0)


def _flow():
    return flows.RealNVP(
        num_scales=2, couplings_per_scale=1, final_couplings=1, hidden_channels=4, seed=0
    )


FAMILIES = {
    "vae": _vae,
    "conditional_vae": lambda: _vae(True),
    "gan": _gan,
    "conditional_gan": lambda: _gan(True),
    "pixelcnn": _pixelcnn,
    "conditional_pixelcnn": lambda: _pixelcnn(True),
    "realnvp": _flow,
}


@pytest.fixture(scope="module", params=sorted(FAMILIES))
def model(request):
    return FAMILIES[request.param]()


def _labels(model, n):
    return None if model.num_classes is None else np.arange(n) % model.num_classes


def test_every_family_is_a_generative_model_with_a_declared_likelihood(model):
    assert isinstance(model, contract.GenerativeModel) and isinstance(model, keras.Model)
    assert model.likelihood_kind in contract.LIKELIHOOD_KINDS
    assert model.num_classes in (None, 10)


def test_generate_returns_images_in_the_unit_interval_repeatably(model):
    n = 3
    images = model.generate(n, labels=_labels(model, n), seed=5)
    assert (
        isinstance(images, np.ndarray)
        and images.dtype == np.float32
        and images.shape == (n, 28, 28, 1)
    )
    assert images.min() >= 0 and images.max() <= 1
    np.testing.assert_array_equal(images, model.generate(n, labels=_labels(model, n), seed=5))
    if isinstance(model, pixelcnn.PixelCNN):
        assert set(np.unique(images)) <= {0.0, 1.0}  # a binary model returns binary samples


def test_generate_rejects_bad_arguments_by_name(model):
    with pytest.raises(ValueError, match="n must be a positive int"):
        model.generate(0, labels=_labels(model, 0))
    with pytest.raises((TypeError, ValueError), match="seed"):
        model.generate(2, labels=_labels(model, 2), seed=-1)
    if model.num_classes is None:
        with pytest.raises(ValueError, match="unconditional"):
            model.generate(2, labels=[0, 1])
    else:
        with pytest.raises(ValueError, match="integer class ids"):
            model.generate(2)
        with pytest.raises(ValueError, match="one-hot"):
            model.generate(2, labels=np.eye(10)[:2])


def test_log_likelihood_is_log_p_per_image_or_explains_why_not(model):
    x = (np.random.default_rng(0).random((4, 28, 28, 1)) < 0.3).astype("float32")
    labels = _labels(model, 4)
    if model.likelihood_kind == "unavailable":
        with pytest.raises(
            contract.LikelihoodUnavailableError, match="no log-likelihood.*sample_quality"
        ):
            model.log_likelihood(x, labels=labels)
        return
    if isinstance(model, flows.RealNVP):  # a density of 8-bit images (utils.likelihood)
        levels = np.random.default_rng(0).integers(0, 256, (4, 28, 28, 1)).astype("uint8")
        ll = model.log_likelihood(levels)
        assert ll.shape == (4,) and ll.dtype == np.float64 and np.all(np.isfinite(ll))
        np.testing.assert_array_equal(ll, model.log_likelihood(levels))  # seed=0: repeatable
        with pytest.raises(ValueError, match="grey levels"):
            model.log_likelihood(x * 0.5)
        with pytest.raises(ValueError, match="NaN"):
            model.log_likelihood(np.full_like(x, np.nan))
        return
    kwargs = {"k": 3} if model.likelihood_kind == "lower_bound" else {}
    ll = model.log_likelihood(x, labels=labels, **kwargs)
    assert ll.shape == (4,) and np.all(np.isfinite(ll)) and np.all(ll < 0)  # log p of binary data
    with pytest.raises(ValueError, match="binary"):
        model.log_likelihood(x * 0.5, labels=labels, **kwargs)
    with pytest.raises(ValueError, match="uint8"):
        model.log_likelihood((x * 255).astype("uint8"), labels=labels, **kwargs)


def test_a_tiny_pixelcnn_is_normalized_exactly():
    """Sum of p(x) over all 2^4 binary 2x2 images is 1, per class and for the class mixture."""
    model = _pixelcnn(True, image_shape=(2, 2, 1))
    x = np.array(list(itertools.product([0, 1], repeat=4)), "float32").reshape(16, 2, 2, 1)
    for y in (0, 7):
        assert np.exp(model.log_likelihood(x, labels=np.full(16, y))).sum() == pytest.approx(
            1.0, abs=1e-5
        )
    mixture = model.log_likelihood(x)
    assert np.exp(mixture).sum() == pytest.approx(1.0, abs=1e-5)
    per_class = np.stack(
        [model.log_likelihood(x, labels=np.full(16, y)) for y in range(10)], axis=1
    )
    np.testing.assert_allclose(mixture, np.log(np.exp(per_class).mean(axis=1)), rtol=1e-6)


def test_pixelcnn_fit_lowers_the_exact_nll():
    model = _pixelcnn()
    x = (np.random.default_rng(1).random((64, 28, 28, 1)) < 0.2).astype("float32")
    before = -model.log_likelihood(x).mean()
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    history = model.fit(x, x, epochs=3, batch_size=32, verbose=0)
    after = -model.log_likelihood(x).mean()
    assert after < before - 5
    assert history.history["loss"][-1] < history.history["loss"][0]
    # compute_loss is the exact NLL: evaluate() on the same images gives -mean(log_likelihood)
    assert model.evaluate(x, x, batch_size=64, verbose=0) == pytest.approx(after, rel=1e-4)


def test_pixelcnn_rejects_a_network_that_does_not_match_num_classes():
    with pytest.raises(ValueError, match="pass num_classes"):
        pixelcnn.PixelCNN(pixelcnn.build_gated_pixelcnn(filters=4, n_layers=2, num_classes=10))
    with pytest.raises(ValueError, match="second \\(one-hot\\) input of size 5"):
        pixelcnn.PixelCNN(
            pixelcnn.build_gated_pixelcnn(filters=4, n_layers=2, num_classes=10), num_classes=5
        )
    with pytest.raises(ValueError, match="built keras Model"):
        pixelcnn.PixelCNN("network")


@pytest.mark.parametrize("family", ["vae", "conditional_gan", "conditional_pixelcnn", "realnvp"])
def test_import_utils_is_enough_to_load_any_course_model(family, tmp_path):
    model = FAMILIES[family]()
    path = tmp_path / f"{family}.keras"
    model.save(path)
    n, labels = 2, (None if model.num_classes is None else [3, 4])
    expected = model.generate(n, labels=labels, seed=1)
    code = (
        "import sys, numpy as np, utils, keras\n"
        f"m = keras.saving.load_model({str(path)!r})\n"
        f"x = m.generate({n}, labels={labels!r}, seed=1)\n"
        f"np.save({str(tmp_path / 'x.npy')!r}, x)\n"
        f"print(type(m).__name__, m.likelihood_kind)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split()[-2:] == [type(model).__name__, model.likelihood_kind]
    np.testing.assert_allclose(np.load(tmp_path / "x.npy"), expected, atol=1e-6)


def test_utils_exports_the_contract():
    assert utils.contract.LIKELIHOOD_KINDS == (
        "exact",
        "lower_bound",
        "stochastic_estimate",
        "unavailable",
    )
