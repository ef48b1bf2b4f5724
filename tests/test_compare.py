"""utils.compare: the benchmark rows of chapter 08 resolve against the committed chapters, and
its helpers keep their promises (the known rows of a completion, table shapes, argument errors)."""

from utils import autoencoders, compare, gan, pixelcnn, run

import keras
import numpy as np
import pytest


def test_entries_are_unique_and_well_formed():
    keys = [e.key for e in compare.ENTRIES]
    assert len(keys) == len(set(keys))
    for e in compare.ENTRIES:
        assert (e.likelihood is None) == (e.protocol is None) == (e.kind == "none"), e.key
        assert e.protocol in (None, "binary", "8-bit")
        assert (e.model is None) == (e.committed is not None), e.key
        run.resolve_chapter(e.chapter)  # an existing chapter
    assert compare.entry("dcgan").label == "DCGAN"
    with pytest.raises(ValueError, match="no entry 'nope'.*dcgan"):
        compare.entry("nope")


def test_sampler_settings_read_the_committed_chapters():
    settings = compare.sampler_settings(compare.entry("guided"))
    assert settings["steps"] == run.chapter_parameter("07", "GUIDANCE_STEPS")
    assert settings["guidance"] == run.chapter_metric("07", "diffusion_guidance_weight")
    assert compare.sampler_settings(compare.entry("rbm")) == {
        "steps": run.chapter_parameter("06", "GIBBS_STEPS")
    }
    assert compare.sampler_settings(compare.entry("dcgan")) == {}


def test_committed_likelihood_and_scores():
    value, unit = compare.committed_likelihood(compare.entry("flow"))
    assert value == run.chapter_metric("04", "flow_test_bits_per_dim") and "bits/dim" in unit
    assert compare.committed_likelihood(compare.entry("dcgan")) is None
    scores = compare.committed_scores(compare.entry("dbn"))
    assert scores["fid"] == run.chapter_metric("06", "dbn_fid") and "N=" in scores["unit"]
    with pytest.raises(ValueError, match="no committed scores"):
        compare.committed_scores(compare.entry("dcgan"))


def test_markdown_table():
    text = compare.markdown_table(["a", "b"], [[1, "x"], ["2", 3.5]])
    assert text.splitlines() == ["| a | b |", "|---|---|", "| 1 | x |", "| 2 | 3.5 |"]
    with pytest.raises(ValueError, match="a row has 1 cells, the header 2"):
        compare.markdown_table(["a", "b"], [["only"]])


def test_draw_and_benchmark_a_gan(subset_arrays):
    keras.utils.set_random_seed(0)
    model = gan.GAN(
        gan.build_dcgan_generator(8, filters=4), gan.build_dcgan_discriminator(filters=4), seed=0
    )
    item = compare.Entry("toy", "toy GAN", "GAN", "toy_gan", "03")
    a = compare.draw(item, model, 6, seed=1)
    assert a.shape == (6, 28, 28, 1) and a.dtype == np.float32
    np.testing.assert_array_equal(a, compare.draw(item, model, 6, seed=1))  # seeded
    reference = subset_arrays["x_test"][:40, :, :, None].astype("float32") / 255.0
    lines = []
    out = compare.benchmark([item], {"toy_gan": model}, reference, 20, progress=lines.append)
    assert set(out) == {"toy"} and out["toy"]["n"] == 20 and out["toy"]["samples"].shape[0] == 20
    assert out["toy"]["seconds_per_1000"] > 0 and np.isfinite(out["toy"]["fid"])
    assert len(lines) == 1 and "toy GAN" in lines[0]
    with pytest.raises(ValueError, match="n"):
        compare.draw(item, model, 0)


def test_autoencoder_samples_use_the_code_gaussian(subset_arrays):
    keras.utils.set_random_seed(0)
    model = autoencoders.build_autoencoder(
        autoencoders.build_dense_encoder(3, (16,), name="enc"),
        autoencoders.build_dense_decoder(3, (16,), name="dec"),
    )
    images = subset_arrays["x_train"][:64, :, :, None].astype("float32") / 255.0
    out = compare.autoencoder_samples(model, 5, train_images=images, seed=0)
    assert out.shape == (5, 28, 28, 1) and out.min() >= 0 and out.max() <= 1
    item = compare.Entry("ae", "AE", "autoencoder", "ae", "01")
    with pytest.raises(ValueError, match="train_images"):
        compare.draw(item, model, 2)
    with pytest.raises(ValueError, match="encoder and a decoder"):
        compare.autoencoder_samples(
            keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten()]),
            2,
            train_images=images,
        )


def test_complete_pixelcnn_keeps_the_known_rows(subset_arrays):
    keras.utils.set_random_seed(0)
    net = pixelcnn.build_gated_pixelcnn(filters=4, n_layers=2, kernel_size=3, num_classes=10)
    model = pixelcnn.PixelCNN(net, num_classes=10, seed=0)
    images = (subset_arrays["x_test"][:4, :, :, None] > 127).astype("float32")
    done, labels = compare.complete_pixelcnn(model, images, n_rows=20, seed=0, batch_size=4)
    assert done.shape == images.shape and labels.shape == (4,)
    np.testing.assert_array_equal(done[:, :20], images[:, :20])
    assert set(np.unique(done)) <= {0.0, 1.0}
    with pytest.raises(ValueError, match="n_rows must be in"):
        compare.complete_pixelcnn(model, images, n_rows=28)
    with pytest.raises(ValueError, match="binary"):
        compare.complete_pixelcnn(model, images * 0.5, n_rows=3)
    unconditional = pixelcnn.PixelCNN(pixelcnn.build_gated_pixelcnn(filters=4, n_layers=2), seed=0)
    with pytest.raises(ValueError, match="class-conditional"):
        compare.complete_pixelcnn(unconditional, images, n_rows=3)
