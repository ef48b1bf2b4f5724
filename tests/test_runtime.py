"""Smoke switch, seeds, recorded metrics and parameters, timing."""

import utils
from utils import runtime

import os

import keras
import numpy as np
import pytest


@pytest.mark.parametrize(
    "value, expected",
    [("1", True), ("true", True), ("ON", True), ("0", False), ("", False), ("no", False)],
)
def test_smoke_mode_values(monkeypatch, value, expected):
    monkeypatch.setenv("COURSE_SMOKE", value)
    assert utils.smoke_mode() is expected


def test_smoke_mode_rejects_garbage(monkeypatch):
    monkeypatch.setenv("COURSE_SMOKE", "maybe")
    with pytest.raises(ValueError, match="COURSE_SMOKE"):
        utils.smoke_mode()


def test_plugin_defaults_to_smoke_mode_and_no_downloads(monkeypatch):
    import utils.pytest_plugin

    import importlib

    monkeypatch.delenv("COURSE_SMOKE", raising=False)
    monkeypatch.setenv("COURSE_NO_DOWNLOAD", "0")
    importlib.reload(utils.pytest_plugin)
    assert utils.smoke_mode()
    assert utils.data._downloads_allowed() is False


def _draw():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    return (
        np.random.rand(3),
        keras.ops.convert_to_numpy(keras.random.normal((5,))),
        model.get_weights()[0],
    )


def test_set_seed_makes_numpy_keras_and_initializers_repeatable():
    utils.set_seed(7)
    first = _draw()
    utils.set_seed(7)
    second = _draw()
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)
    utils.set_seed(8)
    third = _draw()
    assert not np.array_equal(first[2], third[2])


@pytest.mark.parametrize("seed", [-1, 1.5, "0", True])
def test_set_seed_rejects_bad_seeds(seed):
    with pytest.raises(ValueError, match="seed"):
        utils.set_seed(seed)


def test_record_metric_keeps_last_value_and_validates(capsys):
    record = utils.record_metric("demo_nll", np.float32(80.5), "nats/image", reference="paper 79.2")
    assert record == {"value": 80.5, "unit": "nats/image", "reference": "paper 79.2"}
    utils.record_metric("demo_nll", 81.0, "nats/image")
    assert utils.recorded_metrics()["demo_nll"]["value"] == 81.0
    assert "demo_nll = 81 nats/image" in capsys.readouterr().out
    for args in [
        ("1bad", 1.0, "u"),
        ("ok", float("nan"), "u"),
        ("ok", "abc", "u"),
        ("ok", 1.0, " "),
    ]:
        with pytest.raises(ValueError):
            utils.record_metric(*args)


def test_show_parameters_keeps_upper_case_scalars():
    knobs = utils.show_parameters(
        {
            "EPOCHS": 3,
            "LR": np.float32(0.5),
            "DIMS": [2, 5],
            "helper": 1,
            "MODEL": object(),
            "_PRIVATE": 1,
            "NAME": "x",
            "NONE": None,
        }
    )
    assert knobs == {"DIMS": [2, 5], "EPOCHS": 3, "LR": 0.5, "NAME": "x", "NONE": None}
    with pytest.raises(ValueError):
        utils.show_parameters([("EPOCHS", 3)])


def test_check_environment_reports_versions():
    info = utils.check_environment()
    assert info["keras"].startswith("3.") and info["backend"] == keras.backend.backend()
    assert info["mode"] == ("smoke" if utils.smoke_mode() else "full")


def test_timed_prints_wall_time(capsys):
    with utils.timed("nap") as t:
        sum(range(1000))
    assert t.seconds >= 0 and "[time] nap:" in capsys.readouterr().out
    with pytest.raises(ValueError):
        with utils.timed(""):
            pass


def test_package_is_lazy_and_complete():
    assert set(utils.__all__) >= {"load_mnist", "set_seed", "record_metric", "plotting", "run"}
    with pytest.raises(AttributeError):
        utils.does_not_exist
    assert runtime.METRIC_MIME.startswith("application/vnd.course")


def test_share_cores_only_inside_a_pytest_xdist_worker(monkeypatch):
    names = (
        "OMP_NUM_THREADS",
        "MKL_NUM_THREADS",
        "TF_NUM_INTRAOP_THREADS",
        "TF_NUM_INTEROP_THREADS",
        "XLA_FLAGS",
        "PYTEST_XDIST_WORKER",
        "PYTEST_XDIST_WORKER_COUNT",
    )
    for name in names:
        monkeypatch.delenv(name, raising=False)
    assert runtime.share_cores_between_test_workers() is None  # not a worker: nothing set
    assert not any(name in os.environ for name in names)
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw0")
    monkeypatch.setenv("PYTEST_XDIST_WORKER_COUNT", "1")
    assert runtime.share_cores_between_test_workers() is None  # one worker has every core
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    monkeypatch.setenv("PYTEST_XDIST_WORKER_COUNT", "2")
    monkeypatch.setenv("MKL_NUM_THREADS", "3")  # a user's own setting is kept
    assert runtime.share_cores_between_test_workers() == 4
    assert os.environ["OMP_NUM_THREADS"] == "4" and os.environ["TF_NUM_INTRAOP_THREADS"] == "4"
    assert os.environ["MKL_NUM_THREADS"] == "3" and os.environ["TF_NUM_INTEROP_THREADS"] == "1"
    assert "intra_op_parallelism_threads=4" in os.environ["XLA_FLAGS"]
    monkeypatch.delenv("XLA_FLAGS")
    monkeypatch.setenv("PYTEST_XDIST_WORKER_COUNT", "16")  # more workers than cores: one each
    assert runtime.share_cores_between_test_workers() == 1
    assert "multi_thread_eigen=false" in os.environ["XLA_FLAGS"]
