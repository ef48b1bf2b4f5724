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
        assert e.model is not None or e.committed is not None, e.key  # some row to show
        if e.committed is not None:
            assert {"fid", "precision", "recall"} <= set(e.committed), e.key
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
    assert compare.sampler_settings(compare.entry("pixelcnn")) == {
        "window": "receptive",
        "batch_size": run.chapter_parameter("05", "SAMPLE_BATCH"),
    }


def test_committed_likelihood_and_scores():
    value, unit = compare.committed_likelihood(compare.entry("flow"))
    assert value == run.chapter_metric("04", "flow_test_bits_per_dim") and "bits/dim" in unit
    assert compare.committed_likelihood(compare.entry("dcgan")) is None
    scores = compare.committed_scores(compare.entry("dbn"))
    assert scores["fid"] == run.chapter_metric("06", "dbn_fid") and "N=" in scores["unit"]
    with pytest.raises(ValueError, match="no committed scores"):
        compare.committed_scores(compare.entry("dcgan"))


def test_seconds_cell():
    assert [compare.seconds_cell(x) for x in (0.0412, 0.999, 1.44, 170.06)] == [
        "0.04",
        "1.00",
        "1.4",
        "170.1",
    ]


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
    scored_in_chapter = compare.Entry(
        "toy2", "toy GAN 2", "GAN", "toy_gan", "03", committed={"fid": "fid_dcgan"}
    )
    out = compare.benchmark(
        [item, scored_in_chapter], {"toy_gan": model}, reference, 20, progress=lines.append
    )
    assert set(out) == {"toy"} and out["toy"]["n"] == 20 and out["toy"]["samples"].shape[0] == 20
    assert out["toy"]["seconds_per_1000"] > 0 and np.isfinite(out["toy"]["fid"])
    assert len(lines) == 1 and "toy GAN" in lines[0]
    # a binary entry is scored against the binarized reference, which it must be given
    binary_item = compare.Entry("toy_bin", "binary GAN", "GAN", "toy_gan", "03", binary=True)
    with pytest.raises(ValueError, match="binary_reference is required.*toy_bin"):
        compare.benchmark([binary_item], {"toy_gan": model}, reference, 20, progress=None)
    binarized = (reference > 0.5).astype("float32")
    both = compare.benchmark(
        [item, binary_item],
        {"toy_gan": model},
        reference,
        20,
        binary_reference=binarized,
        progress=None,
    )
    np.testing.assert_array_equal(both["toy"]["samples"], both["toy_bin"]["samples"])
    assert both["toy"]["fid"] == out["toy"]["fid"] and both["toy_bin"]["fid"] != both["toy"]["fid"]
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


def test_benchmark_table_rows_and_errors(monkeypatch):
    score = {"fid": 12.345, "kid": 0.5, "precision": 0.61, "recall": 0.72, "seconds_per_1000": 3.0}
    small = {e.key: dict(score, fid=20.0) for e in compare.ENTRIES}
    results = {
        e.key: dict(score, n=10 if e.slow else 100) for e in compare.ENTRIES if e.committed is None
    }
    floors = {(name, n): score for name in ("grey", "binarized") for n in (100, 10)}
    cards = {"dcgan": {"training_seconds": 90.0, "parameters": 1234}}
    lines = compare.benchmark_table(results, small, floors, cards, n=100, n_small=10).splitlines()
    assert lines[0].startswith("| model | family |") and "FID N=100" in lines[0]
    assert len(lines) == 2 + len(compare.ENTRIES) + 2  # header, rule, entries, two floors
    by_label = {line.split(" | ")[0].lstrip("| "): line for line in lines[2:]}
    assert by_label["DCGAN"].endswith(
        "| 12.3 | 0.50 | 0.61 | 0.72 | 20.0 | 0.61 | 0.72 | 3.0 | 1.5 | 1,234 |"
    )
    keys = [e.key for e in compare.ENTRIES]
    nll = run.chapter_metric("05", "pixelcnn_test_nll")
    expected = f"(N=10 only) | autoregressive | {nll:.4g} (nats, exact) | — | — | — | — | 20.0 |"
    assert expected in lines[2 + keys.index("pixelcnn")]
    assert "(scored in ch. 06)" in lines[2 + keys.index("dbn")]
    with pytest.raises(ValueError, match="no scores for the row 'ae'"):
        compare.benchmark_table(results, {}, floors, cards, n=100, n_small=10)
    with pytest.raises(ValueError, match="floors needs"):
        compare.benchmark_table(results, small, {}, cards, n=100, n_small=10)


def test_interpolate_keeps_the_autoencoders_endpoints(subset_arrays):
    keras.utils.set_random_seed(0)
    model = autoencoders.build_autoencoder(
        autoencoders.build_dense_encoder(3, (16,), name="enc"),
        autoencoders.build_dense_decoder(3, (16,), name="dec"),
    )
    pair = subset_arrays["x_test"][:2, :, :, None].astype("float32") / 255.0
    path = compare.interpolate(model, pair, 5)
    assert path.shape == (5, 28, 28, 1) and path.dtype == np.float32
    np.testing.assert_allclose(path[[0, -1]], model.predict(pair, verbose=0), atol=1e-5)
    with pytest.raises(ValueError, match="2 images"):
        compare.interpolate(model, np.concatenate([pair, pair]), 5)
    with pytest.raises(ValueError, match="steps must be >= 2"):
        compare.interpolate(model, pair, 1)
    with pytest.raises(ValueError, match="got Sequential"):
        compare.interpolate(keras.Sequential([keras.Input((28, 28, 1))]), pair, 3)


def test_interpolate_a_vae_and_a_flow_from_their_codes(subset_arrays):
    from utils import flows, vae

    keras.utils.set_random_seed(0)
    pair = subset_arrays["x_test"][:2, :, :, None].astype("float32") / 255.0
    model = vae.VAE(
        autoencoders.build_dense_encoder(8, (16,)),
        autoencoders.build_dense_decoder(4, (16,), output_activation=None),
        seed=0,
    )
    path = compare.interpolate(model, pair, 4)
    mean = model.encode((pair > 0.5).astype("float32"))[0]
    ends = keras.ops.convert_to_numpy(keras.ops.sigmoid(model.decode(mean)))
    np.testing.assert_allclose(path[[0, -1]], ends, atol=1e-5)  # the posterior means' decodes
    flow = flows.RealNVP(
        num_scales=2, couplings_per_scale=1, final_couplings=1, hidden_channels=4, num_blocks=0
    )
    path = compare.interpolate(flow, pair, 3)
    # the exact inverse: the endpoints are the dequantized images, within one 8-bit level
    np.testing.assert_allclose(path[[0, -1]], pair, atol=2 / 255)
    assert path.shape == (3, 28, 28, 1) and np.all((path >= 0) & (path <= 1))
