"""utils.pretrained: saving without optimizer state, the card, verified loading, and the
committed models of models/: each reproduces the check on its card and carries its chapter's
committed headline numbers."""

import utils
from utils import boltzmann, gan, pretrained, run, runtime

import io
import json
import zipfile

import keras
import numpy as np
import pytest

MAX_MODELS_BYTES = 25 * 1024**2


@pytest.fixture
def models(tmp_path, monkeypatch):
    monkeypatch.setenv(pretrained.MODELS_DIR_ENV, str(tmp_path))
    return tmp_path


@pytest.fixture
def recorded(monkeypatch):
    """A clean metric registry holding one recorded metric, 'toy_metric'."""
    monkeypatch.setattr(runtime, "_METRICS", {})
    utils.record_metric("toy_metric", 1.5, "nats/image")
    return runtime._METRICS


def _trained_rbm(n_hidden=8, seed=0):
    rbm = boltzmann.RBM(784, n_hidden, persistent=True, n_chains=10, seed=seed)
    rbm.compile(optimizer=keras.optimizers.Adam(1e-2))
    x = (np.random.default_rng(seed).random((64, 784)) < 0.3).astype("float32")
    rbm.fit(x, batch_size=32, epochs=1, verbose=0)
    return rbm


def _save_rbm(rbm, name="tiny_rbm", **kwargs):
    args = dict(
        chapter="06",
        training_seconds=2.5,
        training="CD-1, one epoch",
        data="64 random binary vectors",
        metrics=["toy_metric"],
        extra={"log_z": boltzmann.exact_log_partition(rbm)},
    )
    args.update(kwargs)
    return pretrained.save_pretrained(rbm, name, **args)


def _h5_groups(path):
    import h5py

    with zipfile.ZipFile(path) as archive:
        handle = h5py.File(io.BytesIO(archive.read("model.weights.h5")), "r")
        names = []
        handle.visit(names.append)
        return names


def test_save_writes_model_and_card(models, recorded, full_mnist_available):
    if not full_mnist_available:
        pytest.skip("the check reads the course's binarized test set (full MNIST)")
    rbm = _trained_rbm()
    card = _save_rbm(rbm)
    assert set(pretrained.CARD_KEYS) <= set(card)
    on_disk = json.loads((models / "tiny_rbm.json").read_text())
    assert on_disk == card
    path = models / "tiny_rbm.keras"
    assert card["bytes"] == path.stat().st_size
    assert card["sha256"] == pretrained._file_sha256(path)
    assert card["parameters"] == 784 * 8 + 784 + 8
    assert card["chapter"] == "06" and card["class"] == "utils.boltzmann.RBM"
    assert card["metrics"] == {"toy_metric": {"value": 1.5, "unit": "nats/image"}}
    assert card["backend"] == keras.backend.backend()
    assert pretrained.list_pretrained() == ["tiny_rbm"]
    # the check is the RBM's exact mean log-likelihood with the card's log Z
    x, _ = utils.load_binarized_test(limit=card["check"]["n"])
    expected = np.mean(rbm.log_likelihood(x, log_z=card["extra"]["log_z"]))
    np.testing.assert_allclose(card["check"]["value"], expected, rtol=1e-6)


def test_load_gives_the_same_model_without_optimizer(models, recorded, full_mnist_available):
    if not full_mnist_available:
        pytest.skip("the check reads the course's binarized test set (full MNIST)")
    rbm = _trained_rbm()
    card = _save_rbm(rbm)
    loaded = pretrained.load_pretrained("tiny_rbm")
    assert type(loaded) is boltzmann.RBM
    for a, b in zip(rbm.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert not any("optimizer" in name for name in _h5_groups(models / "tiny_rbm.keras"))
    check = pretrained.model_check(loaded, extra=card["extra"])
    np.testing.assert_allclose(check["value"], card["check"]["value"], rtol=1e-6)
    # the in-memory model keeps its optimizer and can go on training
    assert rbm.optimizer is not None and rbm.compiled
    rbm.fit(np.zeros((32, 784), "float32"), batch_size=32, epochs=1, verbose=0)


def test_gan_file_has_no_optimizer_state(models, recorded, full_mnist_available):
    if not full_mnist_available:
        pytest.skip("the check scores samples against the full MNIST test set")
    model = gan.GAN(
        gan.build_dcgan_generator(8, filters=4), gan.build_dcgan_discriminator(filters=4), seed=0
    )
    model.compile()
    x = np.random.default_rng(0).random((64, 28, 28, 1)).astype("float32")
    model.fit(x, epochs=1, batch_size=32, verbose=0)
    pretrained.save_pretrained(
        model, "tiny_gan", chapter="03", training_seconds=1, training="t", data="d"
    )
    groups = _h5_groups(models / "tiny_gan.keras")
    assert not any("optimizer" in g for g in groups), groups
    assert model.d_optimizer is not None and model.g_optimizer is not None
    loaded = pretrained.load_pretrained("tiny_gan")
    noise = np.random.default_rng(1).standard_normal((5, 8)).astype("float32")
    np.testing.assert_allclose(
        loaded.generate(noise=noise), model.generate(noise=noise), rtol=1e-5, atol=1e-6
    )


def test_energy_model_keeps_a_small_buffer(models, recorded, full_mnist_available):
    if not full_mnist_available:
        pytest.skip("the check reads the full MNIST test set")
    ebm = boltzmann.EnergyBasedModel(
        boltzmann.build_energy_network(filters=4), buffer_size=300, seed=0
    )
    card = pretrained.save_pretrained(
        ebm, "tiny_ebm", chapter="06", training_seconds=0, training="none", data="none"
    )
    loaded = pretrained.load_pretrained("tiny_ebm")
    assert loaded.buffer_size == pretrained._EBM_BUFFER_KEPT
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(loaded.buffer),
        keras.ops.convert_to_numpy(ebm.buffer)[: pretrained._EBM_BUFFER_KEPT],
    )
    x = np.random.default_rng(0).random((4, 28, 28, 1)).astype("float32")
    np.testing.assert_allclose(loaded.energy(x), ebm.energy(x), rtol=1e-5, atol=1e-6)
    assert ebm.buffer_size == 300  # the chapter's model is untouched
    assert card["check"]["name"] == "mean_energy"


def test_corrupt_or_missing_files_are_refused(models, recorded, full_mnist_available):
    if not full_mnist_available:
        pytest.skip("the check reads the course's binarized test set (full MNIST)")
    _save_rbm(_trained_rbm())
    path = models / "tiny_rbm.keras"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(pretrained.PretrainedChecksumError, match="git checkout -- models/"):
        pretrained.load_pretrained("tiny_rbm")
    path.unlink()
    with pytest.raises(pretrained.PretrainedNotFoundError, match="missing although its card"):
        pretrained.load_pretrained("tiny_rbm")
    with pytest.raises(pretrained.PretrainedNotFoundError, match="tiny_rbm"):
        pretrained.load_pretrained("other_model")  # the message lists what exists
    (models / "broken.json").write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        pretrained.read_card("broken")
    (models / "partial.json").write_text(json.dumps({"name": "partial"}))
    with pytest.raises(ValueError, match="lacks the keys"):
        pretrained.read_card("partial")


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"chapter": "6"}, "chapter must be two digits"),
        ({"training_seconds": -1}, "training_seconds"),
        ({"training_seconds": float("nan")}, "training_seconds"),
        ({"training": " "}, "training must be"),
        ({"data": None}, "data must be"),
        ({"metrics": ["never_recorded"]}, "were not recorded"),
        ({"extra": {}}, "needs extra\\['log_z'\\]"),
    ],
)
def test_save_argument_errors(models, recorded, kwargs, message, full_mnist_available):
    if "extra" in kwargs and not full_mnist_available:
        pytest.skip("the check reads the course's binarized test set (full MNIST)")
    rbm = _trained_rbm()
    with pytest.raises(ValueError, match=message):
        _save_rbm(rbm, **kwargs)
    if "extra" not in kwargs:  # argument errors are raised before anything is written
        assert list(models.iterdir()) == []


@pytest.mark.parametrize("name", ["", "Rbm", "1rbm", "rbm-pcd", "../x", None])
def test_bad_names(models, name):
    with pytest.raises(ValueError, match="name must be"):
        pretrained.model_path(name)


def test_model_check_errors():
    with pytest.raises(ValueError, match="no check is defined for a Sequential"):
        pretrained.model_check(keras.Sequential([keras.layers.Dense(1)]))
    with pytest.raises(ValueError, match="n must be at least 2"):
        pretrained.model_check(boltzmann.RBM(784, 4, seed=0), n=1, extra={"log_z": 0.0})


# --------------------------------------------------------------------------------------------
# The committed models
# --------------------------------------------------------------------------------------------

COMMITTED = pretrained.list_pretrained(pretrained._REPO_MODELS)


def test_models_folder_fits_the_budget():
    files = list(pretrained._REPO_MODELS.glob("*")) if pretrained._REPO_MODELS.is_dir() else []
    assert sum(f.stat().st_size for f in files) < MAX_MODELS_BYTES
    stems = {f.stem for f in files}
    assert {f.name for f in files} == {f"{s}{ext}" for s in stems for ext in (".keras", ".json")}


@pytest.mark.parametrize("name", COMMITTED)
def test_committed_model_reproduces_its_card(name, monkeypatch, full_mnist_available):
    """Loading a committed model (on this backend) reproduces the check computed right after
    its chapter's full run trained it; the card's metrics are that chapter's committed ones."""
    monkeypatch.delenv(pretrained.MODELS_DIR_ENV, raising=False)
    card = pretrained.verify_pretrained(name)
    committed = run.chapter_metrics(card["chapter"])
    for metric, record in card["metrics"].items():
        assert metric in committed, f"{name}: {metric} is not a metric of chapter {card['chapter']}"
        assert record["value"] == pytest.approx(committed[metric]["value"], rel=1e-9), (
            f"{name}: {metric} on the card differs from the committed chapter; the model is not "
            "the one the chapter's outputs describe"
        )
    if not full_mnist_available:
        pytest.skip("the check reads the full MNIST test set")
    model = pretrained.load_pretrained(name)
    assert f"{type(model).__module__}.{type(model).__name__}" == card["class"]
    assert int(sum(np.prod(v.shape) for v in model.trainable_weights)) == card["parameters"]
    check = pretrained.model_check(model, n=card["check"]["n"], extra=card["extra"])
    assert check["name"] == card["check"]["name"]
    assert check["value"] == pytest.approx(card["check"]["value"], rel=card["check"]["rtol"])


def test_chapters_with_models_have_the_switches():
    import nbformat

    chapters = {
        pretrained.read_card(name, pretrained._REPO_MODELS)["chapter"] for name in COMMITTED
    }
    for chapter in sorted(chapters):
        nb = nbformat.read(str(run.resolve_chapter(chapter)), as_version=4)
        (cell,) = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
        assert "USE_PRETRAINED = False" in cell.source, chapter
        assert "SAVE_PRETRAINED = False" in cell.source, chapter
        assert nb.metadata["course"]["parameters"].get("SAVE_PRETRAINED") is True, (
            f"chapter {chapter}'s committed run did not save its models"
        )


def test_saving_and_loading_leave_python_random_state_alone(models, recorded, full_mnist_available):
    """Keras draws seeds for the unseeded initializers of rebuilt layers from Python's `random`;
    saving (which reloads to compute the check) and loading must not shift a notebook's later
    unseeded draws. A dense autoencoder has such initializers."""
    from utils import autoencoders

    import random

    if not full_mnist_available:
        pytest.skip("the check reads the full MNIST test set")
    ae = autoencoders.build_autoencoder(
        autoencoders.build_dense_encoder(2, (8,), name="enc"),
        autoencoders.build_dense_decoder(2, (8,), name="dec"),
    )
    random.seed(123)
    expected = random.random()
    random.seed(123)
    pretrained.save_pretrained(
        ae, "tiny_ae", chapter="01", training_seconds=0, training="none", data="none"
    )
    pretrained.load_pretrained("tiny_ae")
    assert random.random() == expected
    random.seed(123)
    keras.saving.load_model(pretrained.model_path("tiny_ae"), compile=False)  # Keras alone
    assert random.random() != expected  # ... does draw: the test can fail
