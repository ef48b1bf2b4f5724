"""Bad input gets a clear error: each case is a call a new user might make, and the error must be a
ValueError or TypeError whose message names the argument (never a NumPy or backend message)."""

from utils import (
    autoencoders,
    callbacks,
    classifier,
    data,
    flows,
    gan,
    likelihood,
    metrics,
    pixelcnn,
    plotting,
    reconstruction,
    runtime,
    toy,
    vae,
)

import numpy as np
import pytest

NAN_IMAGES = np.full((4, 28, 28, 1), np.nan, "float32")
GREY = np.full((4, 28, 28, 1), 0.5, "float32")
BINARY = (np.arange(4 * 784).reshape(4, 28, 28, 1) % 3 == 0).astype("float32")


def _vae():
    return vae.VAE(
        autoencoders.build_dense_encoder(4, (8,)),
        autoencoders.build_dense_decoder(2, (8,), output_activation=None),
        seed=0,
    )


def _gan(classes=None):
    return gan.GAN(
        gan.build_dcgan_generator(4, filters=2, num_classes=classes),
        gan.build_dcgan_discriminator(filters=2, num_classes=classes),
        num_classes=classes,
        seed=0,
    )


def _flow():
    return flows.RealNVP(num_scales=1, couplings_per_scale=1, final_couplings=1, hidden_channels=2)


def _pixelcnn():
    return pixelcnn.PixelCNN(pixelcnn.build_gated_pixelcnn(filters=2, n_layers=1))


CASES = [
    # data
    ("load_mnist limit=0", lambda: data.load_mnist("test", limit=0), "limit"),
    ("load_binarized_test limit=-1", lambda: data.load_binarized_test(limit=-1), "limit"),
    ("DynamicBinarization NaN", lambda: data.DynamicBinarization(NAN_IMAGES), "NaN"),
    ("DynamicBinarization batch 0", lambda: data.DynamicBinarization(GREY, batch_size=0), "batch"),
    ("set_seed -1", lambda: runtime.set_seed(-1), "seed"),
    ("set_seed float", lambda: runtime.set_seed(1.5), "seed"),
    # likelihood
    ("bits/dim dims=0", lambda: likelihood.nats_to_bits_per_dim(1.0, dims=0), "dims"),
    ("bits/dim NaN", lambda: likelihood.nats_to_bits_per_dim(np.nan), "nats"),
    ("log_mean_exp NaN", lambda: likelihood.log_mean_exp(np.array([0.0, np.nan])), "NaN"),
    ("dequantize float", lambda: likelihood.uniform_dequantize(GREY, seed=0), "uint8|integer"),
    ("independent Bernoulli grey", lambda: likelihood.fit_independent_bernoulli(GREY), "binary"),
    # reconstruction
    (
        "squared error shapes",
        lambda: reconstruction.per_image_squared_error(GREY, GREY[:2]),
        "shape",
    ),
    ("pca components 0", lambda: reconstruction.pca_reconstruction(GREY, GREY, 0), "n_components"),
    # autoencoders
    ("dense encoder latent 0", lambda: autoencoders.build_dense_encoder(0), "latent_dim"),
    (
        "fit_reconstruction NaN learning rate",
        lambda: autoencoders.fit_reconstruction(
            autoencoders.build_autoencoder(
                autoencoders.build_dense_encoder(2, (4,)), autoencoders.build_dense_decoder(2, (4,))
            ),
            GREY,
            epochs=1,
            learning_rate=float("nan"),
        ),
        "learning_rate",
    ),
    # VAE
    (
        "VAE beta NaN",
        lambda: vae.VAE(
            autoencoders.build_dense_encoder(4),
            autoencoders.build_dense_decoder(2),
            beta=float("nan"),
        ),
        "beta",
    ),
    ("IWAE grey images", lambda: vae.importance_weighted_nll(_vae(), GREY, 2), "binary"),
    (
        "IWAE uint8",
        lambda: vae.importance_weighted_nll(_vae(), (BINARY * 255).astype("uint8"), 2),
        "uint8",
    ),
    ("IWAE NaN", lambda: vae.importance_weighted_nll(_vae(), NAN_IMAGES, 2), "NaN"),
    ("IWAE k=0", lambda: vae.importance_weighted_nll(_vae(), BINARY, 0), "k must"),
    ("VAE generate n=0", lambda: _vae().generate(0), "n must"),
    ("VAE generate seed -1", lambda: _vae().generate(2, seed=-1), "seed"),
    ("VAE log_likelihood grey", lambda: _vae().log_likelihood(GREY, k=2), "binary"),
    # GAN
    (
        "GP weight NaN",
        lambda: gan.gradient_penalty(
            gan.build_mlp(2, 1, (4,)),
            np.zeros((2, 2), "float32"),
            np.ones((2, 2), "float32"),
            weight=float("nan"),
        ),
        "weight",
    ),
    (
        "GAN gp_weight NaN",
        lambda: gan.GAN(
            gan.build_dcgan_generator(4, filters=2),
            gan.build_dcgan_discriminator(filters=2),
            gp_weight=float("nan"),
        ),
        "gp_weight",
    ),
    (
        "GAN critic_steps 0",
        lambda: gan.GAN(
            gan.build_dcgan_generator(4, filters=2),
            gan.build_dcgan_discriminator(filters=2),
            critic_steps=0,
        ),
        "critic_steps",
    ),
    (
        "GAN unknown loss",
        lambda: gan.GAN(
            gan.build_dcgan_generator(4, filters=2),
            gan.build_dcgan_discriminator(filters=2),
            loss="hinge",
        ),
        "loss",
    ),
    ("GAN generate batch 0", lambda: _gan().generate(2, batch_size=0), "batch_size"),
    ("GAN generate seed -1", lambda: _gan().generate(2, seed=-1), "seed"),
    ("GAN generate float labels", lambda: _gan(10).generate(2, labels=[0.5, 1.5]), "labels"),
    ("GAN noise shape", lambda: _gan().generate(noise=np.zeros((2, 3), "float32")), "noise"),
    ("GAN compile optimizer", lambda: _gan().compile(d_optimizer="adam"), "d_optimizer"),
    ("DCGAN dropout NaN", lambda: gan.build_dcgan_discriminator(dropout=float("nan")), "dropout"),
    # PixelCNN
    ("PixelCNN grey", lambda: _pixelcnn().log_likelihood(GREY), "binary"),
    ("PixelCNN NaN", lambda: _pixelcnn().log_likelihood(NAN_IMAGES), "NaN"),
    (
        "PixelCNN labels to unconditional",
        lambda: _pixelcnn().generate(2, labels=[1, 2]),
        "unconditional",
    ),
    ("PixelCNN batch 0", lambda: _pixelcnn().generate(2, batch_size=0), "batch_size"),
    ("masked conv even kernel", lambda: pixelcnn.MaskedConv2D(4, 2, "A"), "odd"),
    ("masked conv mask type", lambda: pixelcnn.MaskedConv2D(4, 3, "C"), "mask"),
    # normalizing flows
    ("coupling mask kind", lambda: flows.AffineCoupling("stripes"), "mask"),
    ("squeeze odd size", lambda: flows.Squeeze()(np.zeros((1, 7, 8, 1), "float32")), "even"),
    ("RealNVP too many scales", lambda: flows.RealNVP(num_scales=4), "num_scales"),
    ("flow NaN", lambda: _flow().log_likelihood(NAN_IMAGES), "NaN"),
    ("flow grey in [0, 1]", lambda: _flow().log_likelihood(GREY), "grey levels"),
    ("flow levels 256", lambda: _flow().log_likelihood(np.full((2, 28, 28, 1), 256)), "0..255"),
    ("flow wrong shape", lambda: _flow().log_likelihood(np.zeros((2, 28, 28), "uint8")), "shape"),
    ("flow temperature -1", lambda: _flow().generate(2, temperature=-1.0), "temperature"),
    ("flow generate n=0", lambda: _flow().generate(0), "n must"),
    # metrics and classifier
    (
        "FID covariance -I",
        lambda: metrics.frechet_distance_from_statistics(
            np.zeros(3), -np.eye(3), np.zeros(3), np.eye(3)
        ),
        "sigma1",
    ),
    (
        "FID NaN features",
        lambda: metrics.frechet_distance(np.full((5, 3), np.nan), np.zeros((5, 3))),
        "features_a",
    ),
    (
        "KID subsets 0",
        lambda: metrics.kernel_inception_distance(np.zeros((5, 3)), np.zeros((5, 3)), n_subsets=0),
        "n_subsets",
    ),
    (
        "precision/recall k=0",
        lambda: metrics.precision_recall(
            np.random.default_rng(0).random((10, 3)), np.random.default_rng(1).random((10, 3)), k=0
        ),
        "k",
    ),
    (
        "inception score splits 0",
        lambda: metrics.inception_score(np.full((4, 10), 0.1), n_splits=0),
        "n_splits",
    ),
    (
        "classifier outputs wrong shape",
        lambda: classifier.classifier_outputs(np.zeros((2, 32, 32))),
        "images",
    ),
    (
        "classifier outputs batch 0",
        lambda: classifier.classifier_outputs(GREY, batch_size=0),
        "batch_size",
    ),
    (
        "train_classifier epochs -1",
        lambda: classifier.train_classifier("/nonexistent/x.h5", epochs=-1),
        "epochs",
    ),
    ("real_data_floor n too large", lambda: metrics.real_data_floor(GREY, GREY, 10), "n must"),
    # callbacks, toy benchmarks, plots
    ("FIDCallback NaN", lambda: callbacks.FIDCallback(NAN_IMAGES), "reference"),
    ("FIDCallback every 0", lambda: callbacks.FIDCallback(GREY, every=0), "every"),
    ("SampleGridCallback n=0", lambda: callbacks.SampleGridCallback(0), "n must"),
    ("SampleGridCallback seed -1", lambda: callbacks.SampleGridCallback(4, seed=-1), "seed"),
    ("ring n=0", lambda: toy.sample_ring(0), "n must"),
    ("ring statistics shape", lambda: toy.ring_mode_statistics(np.zeros((5, 3))), "points"),
    ("tile_images ncols 0", lambda: plotting.tile_images(GREY, ncols=0), "ncols"),
    ("tile_images rank", lambda: plotting.tile_images(np.zeros(5)), "images"),
]


@pytest.mark.parametrize("call, pattern", [(c[1], c[2]) for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_raises_a_clear_error(call, pattern):
    with pytest.raises((ValueError, TypeError), match=pattern):
        call()
