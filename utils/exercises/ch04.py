"""Checks of the exercises of chapter 04 (normalizing flows).

Each function raises ``AssertionError`` with a hint on a wrong answer and prints ``correct``
otherwise. They use NumPy only, on small arrays.
"""

from __future__ import annotations

import math

import numpy as np

from . import correct
from . import finite_array as _finite

LN2 = math.log(2.0)


def check_exercise_1(mass_with_log_det, mass_without_log_det):
    """Exercise 1: the toy flow's density integrates to one only with its log-determinant.

    Args:
        mass_with_log_det: ``sum exp(log N(f(x); 0, I) + log |det df/dx|) * cell area`` over a
            fine grid that holds the density's mass: must be 1 (to 0.02).
        mass_without_log_det: the same sum without ``log |det df/dx|``: must NOT be 1.
    """
    with_det = float(_finite("mass_with_log_det", mass_with_log_det))
    without_det = float(_finite("mass_without_log_det", mass_without_log_det))
    assert with_det > 0 and without_det > 0, (
        f"got masses {with_det:.4g} and {without_det:.4g}: a mass is a sum of densities "
        "exp(log p) times the cell area, never negative. Did you sum log-densities?"
    )
    assert abs(with_det - 1.0) < 0.02, (
        f"the mass with the log-determinant is {with_det:.4f}, expected 1: add log_det to the "
        "base log-density, exponentiate, multiply by the area of one grid cell, and make the grid "
        "wide and fine enough to hold the mass (e.g. [-6, 6]^2 in 400 x 400 cells)."
    )
    assert abs(without_det - 1.0) > 0.05, (
        f"without the log-determinant the mass is {without_det:.4f}, as good as 1: did you add "
        "log_det in both sums? Without it, N(f(x); 0, I) is not a density of x."
    )
    correct()


def check_exercise_2(log_likelihoods, bits_mean, bits_log_mean_exp, dims=784):
    """Exercise 2: K dequantization draws, the Jensen bound and the tighter log-mean-exp bound.

    Args:
        log_likelihoods: (K, N) ``log p(x + u_k)`` in nats per image (8-bit space) for K >= 2
            independent noise draws ``u_k`` (``model.log_likelihood(x, seed=k)``).
        bits_mean: (N,) bits/dim of each image from the average over draws,
            ``-mean_k log p(x + u_k) / (D ln 2)``.
        bits_log_mean_exp: (N,) bits/dim from ``-log (1/K) sum_k p(x + u_k) / (D ln 2)``.
        dims: D, dimensions per image.
    """
    log_liks = _finite("log_likelihoods", log_likelihoods)
    assert log_liks.ndim == 2 and log_liks.shape[0] >= 2, (
        f"log_likelihoods should be (K, N) with K >= 2 draws, got shape {log_liks.shape}."
    )
    k, n = log_liks.shape
    assert log_liks.mean() < 0, (
        "the log-likelihoods are positive on average: pass log p(x + u) in nats "
        "(model.log_likelihood), not the NLL or bits/dim."
    )
    assert np.ptp(log_liks, axis=0).max() > 0, (
        "every draw gave the same log-likelihoods: use a different seed for each draw "
        "(seed=k), otherwise the noise u is the same K times."
    )
    scale = dims * LN2
    peak = log_liks.max(axis=0)
    lme = peak + np.log(np.mean(np.exp(log_liks - peak), axis=0))
    expected_mean = -log_liks.mean(axis=0) / scale
    expected_lme = -lme / scale
    for name, answer, expected in (
        ("bits_mean", bits_mean, expected_mean),
        ("bits_log_mean_exp", bits_log_mean_exp, expected_lme),
    ):
        answer = np.asarray(answer, dtype=np.float64)
        assert answer.shape == (n,), (
            f"{name} should hold one value per image, shape ({n},), got shape {answer.shape}: "
            "average over the draws (axis 0), not over the images."
        )
        answer = _finite(name, answer)
        if np.allclose(answer, expected, rtol=1e-6, atol=1e-9):
            continue
        hints = []
        if np.allclose(answer, expected * LN2, rtol=1e-6):
            hints.append("these are nats per dimension: divide by D ln 2, not D")
        if np.allclose(answer, -expected, rtol=1e-6):
            hints.append("the sign is flipped: bits/dim is -log p / (D ln 2)")
        if name == "bits_log_mean_exp" and np.allclose(answer, expected_mean, rtol=1e-6):
            hints.append("this is the mean of the log-likelihoods: take log of the mean of p")
        if name == "bits_log_mean_exp" and np.allclose(
            answer, expected - math.log(k) / scale, rtol=1e-6
        ):
            hints.append("a log-sum-exp needs - log K to become a log-mean-exp")
        raise AssertionError(
            f"{name} is off by up to {np.max(np.abs(answer - expected)):.4g} bits/dim"
            + (": " + "; ".join(hints) if hints else "")
            + "."
        )
    correct()


def check_exercise_3(unchanged_same_parity, unchanged_alternating):
    """Exercise 3: what two couplings of one parity, and of alternating parities, leave unchanged.

    Args:
        unchanged_same_parity: the fraction of pixels (over all images) whose value is exactly
            the same after two checkerboard couplings of the same parity: one half.
        unchanged_alternating: the same fraction after two couplings of alternating parity: 0.
    """
    same = float(_finite("unchanged_same_parity", unchanged_same_parity))
    alternating = float(_finite("unchanged_alternating", unchanged_alternating))
    assert 0.0 <= same <= 1.0 and 0.0 <= alternating <= 1.0, (
        f"got {same:.4g} and {alternating:.4g}: give fractions of pixels, between 0 and 1."
    )
    assert not (same > 0.99 and alternating > 0.99), (
        "nothing changed at all: a freshly built coupling is the identity (its last convolution "
        "starts at zero). Use the trained model's couplings."
    )
    assert not (abs(same) < 0.01 and abs(alternating - 0.5) < 0.01), (
        "the two answers are swapped: alternating parities transform every pixel."
    )
    assert abs(same - 0.5) < 0.01, (
        f"{same:.4f} of the pixels are unchanged after two couplings of one parity, expected one "
        "half (the conditioning pixels of a checkerboard). Count pixels whose output equals the "
        "input exactly (==), over every pixel of every image."
    )
    assert alternating < 0.01, (
        f"{alternating:.4f} of the pixels are unchanged after alternating parities, expected "
        "none: each pixel is transformed by one of the two layers. Did you apply the same "
        "parity twice?"
    )
    correct()
