"""The checks of chapter 06's exercises accept right answers and reject plausible wrong ones."""

from utils import boltzmann
from utils.exercises import ch06

import numpy as np
import pytest


def _sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


@pytest.fixture(scope="module")
def patch_rbm():
    """A 12-visible, 6-hidden RBM with non-trivial weights, and binary data for it."""
    rbm = boltzmann.RBM(12, 6, seed=0)
    rng = np.random.default_rng(1)
    rbm.W.assign(rng.normal(0.0, 0.8, (12, 6)).astype("float32"))
    rbm.visible_bias.assign(rng.normal(-0.5, 0.5, 12).astype("float32"))
    rbm.hidden_bias.assign(rng.normal(0.0, 0.5, 6).astype("float32"))
    data = (rng.random((200, 12)) < 0.3).astype("float64")
    return rbm, data


def _free_energy_by_enumeration(rbm, v):
    W, b, c = rbm.numpy_parameters()
    h = boltzmann.enumerate_binary(rbm.n_hidden).astype("float64")
    minus_e = (v @ b)[:, None] + (h @ c)[None, :] + (v @ W) @ h.T
    top = minus_e.max(axis=1, keepdims=True)
    return -(top[:, 0] + np.log(np.exp(minus_e - top).sum(axis=1)))


def test_exercise_1_accepts_the_enumeration(patch_rbm, capsys):
    rbm, data = patch_rbm
    v = data[:5]
    ch06.check_exercise_1(rbm, v, _free_energy_by_enumeration(rbm, v))
    assert capsys.readouterr().out.strip() == "correct"


def test_exercise_1_rejects_wrong_free_energies(patch_rbm):
    rbm, data = patch_rbm
    v = data[:5]
    right = _free_energy_by_enumeration(rbm, v)
    W, b, c = rbm.numpy_parameters()
    wrong = {
        "sign": -right,
        "no visible bias": right + v @ b,
        "mean instead of sum": right + np.log(2**rbm.n_hidden),
        "energy at h = 0": -(v @ b),
    }
    for name, answer in wrong.items():
        with pytest.raises(AssertionError):
            ch06.check_exercise_1(rbm, v, answer)


def test_exercise_2_accepts_a_better_base_rate_start(capsys):
    ch06.check_exercise_2((120.3, 1.0), (134.10, 0.012), 134.12)
    assert capsys.readouterr().out.strip() == "correct"


@pytest.mark.parametrize(
    "uniform, base_rate",
    [
        ((134.10, 0.012), (120.3, 1.0)),  # swapped
        ((134.10, 0.012), (134.10, 0.012)),  # the same run twice
        ((120.3, 1.0), (133.0, 0.012)),  # base-rate run far from the exact value
        ((134.11, 0.005), (134.10, 0.012)),  # the uniform start not worse
    ],
)
def test_exercise_2_rejects_wrong_runs(uniform, base_rate):
    with pytest.raises(AssertionError):
        ch06.check_exercise_2(uniform, base_rate, 134.12)


def _exact_gradient(rbm, data):
    W, b, c = rbm.numpy_parameters()
    v_all = boltzmann.enumerate_binary(rbm.n_visible).astype("float64")
    log_p = rbm.log_likelihood(v_all, log_z=boltzmann.exact_log_partition(rbm))
    data_term = data.T @ _sigmoid(data @ W + c) / len(data)
    model_term = (v_all * np.exp(log_p)[:, None]).T @ _sigmoid(v_all @ W + c)
    return data_term, model_term


def test_exercise_3_accepts_the_exact_gradient(patch_rbm, capsys):
    rbm, data = patch_rbm
    data_term, model_term = _exact_gradient(rbm, data)
    ch06.check_exercise_3(rbm, data, data_term - model_term)
    assert capsys.readouterr().out.strip() == "correct"


def test_exercise_3_rejects_wrong_gradients(patch_rbm):
    rbm, data = patch_rbm
    data_term, model_term = _exact_gradient(rbm, data)
    W, b, c = rbm.numpy_parameters()
    wrong = {
        "data term only": data_term,
        "sign": model_term - data_term,
        "uniform model term": data_term
        - boltzmann.enumerate_binary(12).T
        @ _sigmoid(boltzmann.enumerate_binary(12) @ W + c)
        / 2**12,
        "zeros": np.zeros_like(W),
    }
    for name, answer in wrong.items():
        with pytest.raises(AssertionError):
            ch06.check_exercise_3(rbm, data, answer)


def test_exercise_3_rejects_a_wrong_shape(patch_rbm):
    rbm, data = patch_rbm
    with pytest.raises(AssertionError, match="shape"):
        ch06.check_exercise_3(rbm, data, np.zeros((6, 12)))
