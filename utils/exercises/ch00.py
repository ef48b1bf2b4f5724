"""Checks of chapter 00's exercises (introduction: likelihood units, mixtures, class balance, KL).

Each ``check_exercise_N`` takes the student's answer, raises ``AssertionError`` with a hint when it
is wrong, and prints ``correct`` when it is right. Everything is recomputed with NumPy from the
arrays passed in, so the checks are cheap and unit-tested against plausible wrong answers
(``tests/test_exercises_ch00.py``).
"""

from __future__ import annotations

import math

import numpy as np

from . import correct

#: Exercise 1: a model assigns this many nats to one 28x28 binary image.
EX1_NATS = 100.0
EX1_DIMS = 28 * 28

#: Exercise 2: a component whose weight is below this fraction of 1/K counts as dead.
EX2_DEAD_FRACTION = 0.1
#: Exercise 2: the mixture must beat independent pixels by at least this many nats per image.
EX2_MIN_GAIN = 10.0


def _number(name, value):
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise AssertionError(f"{name} should be a number, got {type(value).__name__}.") from None
    assert math.isfinite(value), f"{name} should be finite, got {value}."
    return value


def check_exercise_1(bits_per_dim):
    """Exercise 1: 100 nats for a 28x28 image, in bits per dimension.

    Raises:
        AssertionError: anything but ``100 / (784 ln 2)`` = 0.18402 (e.g. the ln 2 forgotten or
            multiplied instead of divided, the 784 dimensions forgotten, log base 10).
    """
    value = _number("bits_per_dim", bits_per_dim)
    expected = EX1_NATS / (EX1_DIMS * math.log(2.0))
    assert abs(value - expected) <= 1e-6 * expected, (
        f"got {value:.6g} bits/dim. Divide the nats by the number of dimensions (784) and convert "
        "nats to bits: 1 nat = 1 / ln 2 bits, so bits/dim = nats / (784 * ln 2)."
    )
    correct()


def _flat_binary(x):
    x = np.asarray(x, dtype=np.float64)
    assert x.ndim >= 2, f"x_test should be a batch of images (N, ...), got shape {x.shape}."
    x = x.reshape(len(x), -1)
    assert np.all((x == 0) | (x == 1)), "x_test should hold binary images (0/1 pixels)."
    return x


def check_exercise_2(log_pi, mu, x_test, mixture_nll, independent_nll):
    """Exercise 2: a mixture of K Bernoulli images fitted by EM.

    Args:
        log_pi: (K,) log mixture weights.
        mu: (K, P) pixel probabilities of each component.
        x_test: (N, ...) binary test images with P pixels each.
        mixture_nll: the student's mean test NLL of the mixture, nats per image.
        independent_nll: the mean test NLL of the independent-pixel model on the same images.

    Raises:
        AssertionError: weights that do not sum to 1, a dead component (weight under a tenth of
            1/K: the symptom of a bad initialization), probabilities outside (0, 1), a reported
            NLL that is not the mixture's NLL on ``x_test`` (a typo'd log-likelihood), or a
            mixture that does not beat independent pixels by ``EX2_MIN_GAIN`` nats.
    """
    log_pi = np.asarray(log_pi, dtype=np.float64).reshape(-1)
    mu = np.asarray(mu, dtype=np.float64)
    x = _flat_binary(x_test)
    k = len(log_pi)
    assert k >= 2, f"a mixture needs K >= 2 components, got {k}."
    assert mu.shape == (k, x.shape[1]), (
        f"mu should have shape (K, P) = ({k}, {x.shape[1]}), got {mu.shape}."
    )
    weights = np.exp(log_pi)
    assert np.all(np.isfinite(log_pi)) and abs(weights.sum() - 1.0) < 1e-6, (
        f"exp(log_pi) should be the mixture weights, finite and summing to 1 (sum "
        f"{weights.sum():.6f}, min log_pi {log_pi.min():.3g}). A weight of exactly 0 "
        "(log 0 = -inf) means a component died: start EM from randomly chosen training images."
    )
    dead = np.flatnonzero(weights < EX2_DEAD_FRACTION / k)
    assert dead.size == 0, (
        f"components {dead.tolist()} are dead (weights {np.round(weights[dead], 5).tolist()}, "
        f"under {EX2_DEAD_FRACTION:g}/K). One component took their images during the first "
        "E-steps: initialize each component's mu from a randomly chosen training image (smoothed "
        "towards the mean image) instead of uniform noise."
    )
    assert np.all((mu > 0) & (mu < 1)), (
        "every pixel probability should lie strictly inside (0, 1): clip or smooth the M-step."
    )
    joint = log_pi + x @ np.log(mu).T + (1.0 - x) @ np.log1p(-mu).T
    top = joint.max(axis=1, keepdims=True)
    expected = float(-(top[:, 0] + np.log(np.exp(joint - top).sum(axis=1))).mean())
    reported = _number("mixture_nll", mixture_nll)
    assert abs(reported - expected) < 1e-6 * max(1.0, abs(expected)), (
        f"the mixture's NLL on x_test, recomputed from log_pi and mu, is {expected:.3f} nats/image;"
        f" you report {reported:.3f}. NLL = -mean_n logsumexp_k [log pi_k + sum_i x_i log mu_ki + "
        "(1 - x_i) log(1 - mu_ki)], with the sign and both Bernoulli terms."
    )
    independent = _number("independent_nll", independent_nll)
    gain = independent - expected
    assert gain >= EX2_MIN_GAIN, (
        f"the mixture beats independent pixels by {gain:.1f} nats/image only (expected at least "
        f"{EX2_MIN_GAIN:g}): are the components different from each other and was EM run?"
    )
    correct()


def check_exercise_3(majority_accuracy, labels):
    """Exercise 3: the accuracy of always guessing the most frequent digit of ``labels``.

    Raises:
        AssertionError: anything but ``max_c count_c / N`` (e.g. 1/10, a count instead of a
            fraction, the rarest class's fraction).
    """
    labels = np.asarray(labels).reshape(-1)
    assert labels.size and np.issubdtype(labels.dtype, np.integer), (
        "labels should be the integer digit labels of the test set."
    )
    value = _number("majority_accuracy", majority_accuracy)
    counts = np.bincount(labels, minlength=10)
    expected = counts.max() / counts.sum()
    assert abs(value - expected) < 1e-9, (
        f"got {value:.6g}. Count each digit (np.bincount), take the largest count and divide by "
        "the number of test images: that is how often 'always answer the most frequent digit' is "
        "right. It is not exactly 1/10: the classes are only nearly balanced."
    )
    correct()


def check_exercise_4(mean, variance, weights, means, stds):
    """Exercise 4: the forward-KL Gaussian of a 1-D mixture matches its mean and variance.

    Args:
        mean, variance: the student's mean and variance of the mixture.
        weights, means, stds: the mixture ``sum_j w_j N(m_j, s_j^2)``.

    Raises:
        AssertionError: a mean that is not ``sum_j w_j m_j``, or a variance that is not
            ``sum_j w_j (s_j^2 + m_j^2) - mean^2`` (e.g. only the within-component part, the
            ``- mean^2`` forgotten, a standard deviation in place of a variance).
    """
    w = np.asarray(weights, dtype=np.float64).reshape(-1)
    m = np.asarray(means, dtype=np.float64).reshape(-1)
    s = np.asarray(stds, dtype=np.float64).reshape(-1)
    assert len(w) == len(m) == len(s) >= 2, "pass the mixture's weights, means and stds."
    expected_mean = float(np.sum(w * m))
    expected_variance = float(np.sum(w * (s**2 + m**2)) - expected_mean**2)
    mean = _number("mean", mean)
    variance = _number("variance", variance)
    assert abs(mean - expected_mean) < 1e-6, (
        f"mean {mean:.6g}; the mean of a mixture is the weighted mean of the component means."
    )
    assert abs(variance - expected_variance) < 1e-6 * max(1.0, expected_variance), (
        f"variance {variance:.6g}. By the law of total variance it is the weighted mean of the "
        "component variances plus the spread of the component means: "
        "sum_j w_j (s_j^2 + m_j^2) - mean^2 (a variance, not a standard deviation)."
    )
    correct()
