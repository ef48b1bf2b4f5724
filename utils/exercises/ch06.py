"""Checks of the exercises of chapter 06 (Boltzmann machines and energy-based models).

Each function raises ``AssertionError`` with a hint on a wrong answer and prints ``correct``
otherwise. They recompute the answer independently, in float64 NumPy, by enumeration.
"""

from __future__ import annotations

import numpy as np

from ..boltzmann import enumerate_binary
from . import correct
from . import finite_array as _finite


def _parameters(rbm):
    return rbm.numpy_parameters()  # W (V, H), b (V,), c (H,), float64


def _all_binary(n):
    return enumerate_binary(n).astype("float64")


def _exact_log_likelihood(W, b, c, v):
    """Mean exact log p(v) of the rows of v, by enumerating every visible configuration."""
    every = _all_binary(len(b))
    neg_free = every @ b + np.logaddexp(0.0, every @ W + c).sum(axis=1)
    top = neg_free.max()
    log_z = top + np.log(np.exp(neg_free - top).sum())
    return float(np.mean(v @ b + np.logaddexp(0.0, v @ W + c).sum(axis=1) - log_z))


def check_exercise_1(rbm, v, free_energy_by_enumeration):
    """Exercise 1: ``F(v) = -log sum_h exp(-E(v, h))`` by summing over every hidden configuration.

    Args:
        rbm: an RBM with at most 16 hidden units (the chapter's `patch_rbm`).
        v: (N, n_visible) binary vectors.
        free_energy_by_enumeration: (N,) the student's ``-log sum_h exp(-E(v, h))``.
    """
    W, b, c = _parameters(rbm)
    v = _finite("v", v).reshape(-1, len(b))
    answer = _finite("free_energy_by_enumeration", free_energy_by_enumeration, (len(v),))
    assert len(c) <= 16, "use an RBM with at most 16 hidden units: 2**H terms per image."
    h = _all_binary(len(c))  # (2**H, H)
    minus_energy = (v @ b)[:, None] + (h @ c)[None, :] + (v @ W) @ h.T  # (N, 2**H)
    top = minus_energy.max(axis=1, keepdims=True)
    expected = -(top[:, 0] + np.log(np.exp(minus_energy - top).sum(axis=1)))
    closed_form = -(v @ b) - np.logaddexp(0.0, v @ W + c).sum(axis=1)
    assert np.allclose(expected, closed_form, atol=1e-6)  # the identity the exercise shows
    if np.allclose(answer, -expected, atol=1e-3):
        raise AssertionError(
            "your values have the wrong sign: F(v) = -log sum_h exp(-E(v, h)), and E(v, h) = "
            "-b.v - c.h - v^T W h."
        )
    assert np.allclose(answer, expected, atol=1e-3), (
        f"largest error {np.max(np.abs(answer - expected)):.4g}: sum exp(-E(v, h)) over all "
        f"2**{len(c)} hidden vectors h (log-sum-exp for stability), for each v, then negate."
    )
    correct()


def check_exercise_2(uniform, base_rate, exact_log_z):
    """Exercise 2: AIS from a uniform base model vs from the data's base-rate model.

    Args:
        uniform, base_rate: ``(log_z, std_error)`` of :func:`utils.boltzmann.ais_log_partition`
            on the same RBM with the same ``n_betas`` and ``n_runs``, started from all-zero
            visible biases and from the training data's pixel means.
        exact_log_z: :func:`utils.boltzmann.exact_log_partition` of that RBM.
    """
    (u_est, u_se), (b_est, b_se) = (
        _finite("uniform", uniform, (2,)),
        _finite("base_rate", base_rate, (2,)),
    )
    exact = float(_finite("exact_log_z", exact_log_z))
    if np.allclose([u_est, u_se], [b_est, b_se]):
        raise AssertionError(
            "the two runs gave the same result: pass data=... (or base_visible_bias) to one of "
            "them only."
        )
    assert abs(b_est - exact) <= 3 * b_se + 0.05, (
        f"the base-rate run is {b_est - exact:+.3f} nats from the exact log Z, beyond 3 standard "
        f"errors ({3 * b_se:.3f}): did you give it the training images as data?"
    )
    assert abs(u_est - exact) > abs(b_est - exact) and u_se > b_se, (
        f"the uniform start (gap {u_est - exact:+.3f}, s.e. {u_se:.3f}) should do worse than the "
        f"base-rate start (gap {b_est - exact:+.3f}, s.e. {b_se:.3f}) at the same number of "
        "temperatures: are they swapped?"
    )
    correct()


def check_exercise_3(rbm, v_data, grad_w):
    """Exercise 3: the exact gradient of the mean log-likelihood with respect to ``W``.

    Args:
        rbm: a tiny RBM (at most 16 visible units), the one used.
        v_data: (N, n_visible) binary data.
        grad_w: (n_visible, n_hidden) the student's ``d mean log p(v) / dW`` =
            ``<v h^T>_data - <v h^T>_model``.
    """
    W, b, c = _parameters(rbm)
    assert len(b) <= 16, "use an RBM with at most 16 visible units: the model term enumerates v."
    v_data = _finite("v_data", v_data).reshape(-1, len(b))
    answer = _finite("grad_w", grad_w, W.shape)
    eps = 1e-5
    numeric = np.zeros_like(W)
    for i in range(W.shape[0]):
        for j in range(W.shape[1]):
            up, down = W.copy(), W.copy()
            up[i, j] += eps
            down[i, j] -= eps
            numeric[i, j] = (
                _exact_log_likelihood(up, b, c, v_data) - _exact_log_likelihood(down, b, c, v_data)
            ) / (2 * eps)
    scale = np.max(np.abs(numeric))
    data_term = v_data.T @ (1.0 / (1.0 + np.exp(-(v_data @ W + c)))) / len(v_data)
    if np.allclose(answer, data_term, atol=1e-4 * max(scale, 1.0)):
        raise AssertionError(
            "this is only the data term <v h^T>_data: subtract the model term <v h^T>_model, "
            "summed over every visible vector v with weight p(v) (enumerate them)."
        )
    assert np.allclose(answer, numeric, atol=1e-4 * max(scale, 1.0)), (
        f"largest difference from finite differences of the exact log-likelihood: "
        f"{np.max(np.abs(answer - numeric)):.3g}. Use p(h_j = 1 | v) = sigmoid(c_j + (v W)_j) in "
        "both terms, and p(v) = exp(-F(v)) / Z for the model term."
    )
    correct()
