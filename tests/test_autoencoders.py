"""Encoder/decoder builders: shapes, argument checks, save/load, and that training reduces loss."""

import utils
from utils import autoencoders as A

import keras
import numpy as np
import pytest


@pytest.mark.parametrize("k", [2, 30])
def test_dense_and_conv_shapes(k):
    x = np.random.default_rng(0).random((5, 28, 28, 1)).astype("float32")
    for enc, dec in [
        (A.build_dense_encoder(k), A.build_dense_decoder(k)),
        (A.build_conv_encoder(k), A.build_conv_decoder(k)),
    ]:
        z = enc.predict(x, verbose=0)
        assert z.shape == (5, k)
        out = dec.predict(z, verbose=0)
        assert out.shape == (5, 28, 28, 1)
        assert out.min() > 0.0 and out.max() < 1.0  # sigmoid


def test_logit_output_and_other_image_shapes():
    dec = A.build_conv_decoder(4, filters=(8,), image_shape=(8, 8, 3), output_activation=None)
    enc = A.build_conv_encoder(4, filters=(8,), image_shape=(8, 8, 3))
    out = dec.predict(np.full((2, 4), 50.0, "float32"), verbose=0)
    assert out.shape == (2, 8, 8, 3) and (out.min() < 0 or out.max() > 1)
    assert enc.output.shape[1:] == (4,)


def test_conv_encoder_layer_sizes():
    enc = A.build_conv_encoder(16)
    assert enc.get_layer("conv_0").output.shape[1:] == (14, 14, 32)
    assert enc.get_layer("conv_1").output.shape[1:] == (7, 7, 64)


@pytest.mark.parametrize(
    "build, kwargs, message",
    [
        (A.build_dense_encoder, {"latent_dim": 0}, "latent_dim"),
        (A.build_dense_decoder, {"latent_dim": 3, "hidden_units": (0,)}, "hidden_units"),
        (A.build_conv_encoder, {"latent_dim": 3, "image_shape": (30, 30, 1)}, "divisible by 4"),
        (A.build_conv_decoder, {"latent_dim": 3, "filters": ()}, "at least one"),
        (
            A.build_conv_encoder,
            {"latent_dim": 3, "image_shape": (28, 28)},
            "height, width, channels",
        ),
    ],
)
def test_builders_reject_bad_arguments(build, kwargs, message):
    with pytest.raises(ValueError, match=message):
        build(**kwargs)


def test_autoencoder_rejects_mismatched_parts():
    with pytest.raises(ValueError, match="expects"):
        A.build_autoencoder(A.build_dense_encoder(3), A.build_dense_decoder(4))
    with pytest.raises(ValueError, match="takes"):
        A.build_autoencoder(
            A.build_dense_encoder(3), A.build_dense_decoder(3, image_shape=(8, 8, 1))
        )
    with pytest.raises(ValueError, match="keras.Model"):
        A.build_autoencoder("encoder", A.build_dense_decoder(3))


def test_autoencoder_survives_keras_save_and_load(tmp_path):
    utils.set_seed(0)
    model = A.build_autoencoder(A.build_conv_encoder(5), A.build_conv_decoder(5))
    x = np.random.default_rng(1).random((3, 28, 28, 1)).astype("float32")
    path = tmp_path / "ae.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_allclose(
        loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6, atol=1e-6
    )
    assert loaded.get_layer("conv_encoder").output.shape[1:] == (5,)


def test_training_reduces_reconstruction_loss():
    utils.set_seed(0)
    x, _ = utils.load_mnist("train", limit=256, path=utils.data.subset_path())
    model = A.build_autoencoder(A.build_dense_encoder(8, (64,)), A.build_dense_decoder(8, (64,)))
    history = A.fit_reconstruction(model, x, epochs=5, batch_size=32, verbose=0, label="test")
    losses = history.history["loss"]
    assert losses[-1] < 0.8 * losses[0]


def test_fit_reconstruction_validates_arguments():
    model = A.build_autoencoder(A.build_dense_encoder(2), A.build_dense_decoder(2))
    x = np.zeros((4, 28, 28, 1), "float32")
    with pytest.raises(ValueError, match="epochs"):
        A.fit_reconstruction(model, x, epochs=0)
    with pytest.raises(ValueError, match="learning_rate"):
        A.fit_reconstruction(model, x, epochs=1, learning_rate=0)
    with pytest.raises(ValueError, match="model outputs"):
        A.fit_reconstruction(model, x, np.zeros((4, 784), "float32"), epochs=1)


def test_fit_reconstruction_without_label_prints_nothing(capsys):
    x = np.random.default_rng(0).random((16, 28, 28, 1)).astype("float32")
    model = A.build_autoencoder(A.build_dense_encoder(2, (8,)), A.build_dense_decoder(2, (8,)))
    A.fit_reconstruction(model, x, epochs=1, batch_size=8, verbose=0, label=None)
    assert capsys.readouterr().out == ""
