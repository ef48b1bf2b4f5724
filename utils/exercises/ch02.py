"""Checks of chapter 02's exercises (variational autoencoders).

Each ``check_exercise_N`` takes the student's answer, raises ``AssertionError`` with a hint when it
is wrong, and prints ``correct`` when it is right. The checks recompute what they can with NumPy
(no model is needed), so they are cheap and can be unit-tested against plausible wrong answers
(``tests/test_exercises_ch02.py``).
"""

from __future__ import annotations

import numpy as np

from . import correct

#: Exercise 1's posterior q = N(MU, SIGMA^2), compared with the prior N(0, 1).
EX1_MU, EX1_SIGMA = 1.0, 0.5


def _kl_gaussian_standard(mu, sigma):
    """KL(N(mu, sigma^2) || N(0, 1)) in nats, one dimension."""
    return 0.5 * (sigma**2 + mu**2 - 1.0 - np.log(sigma**2))


def _finite_float(name, value):
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise AssertionError(f"{name} should be a number, got {type(value).__name__}.") from None
    assert np.isfinite(value), f"{name} should be finite, got {value}."
    return value


def check_exercise_1(kl_closed, kl_monte_carlo, n_samples):
    """Exercise 1: the Gaussian KL term in closed form and by Monte Carlo.

    Args:
        kl_closed: the closed form of KL(N(1, 0.5^2) || N(0, 1)) in nats.
        kl_monte_carlo: the average of ``log q(z) - log p(z)`` over ``n_samples`` draws of q.
        n_samples: how many draws the Monte Carlo average used.

    Raises:
        AssertionError: a closed form that is not 0.8181 nats (e.g. sigma used in place of
            sigma^2, a missing 1/2, the KL in bits), or a Monte Carlo estimate further from it than
            five of its standard errors (or from fewer than 1,000 draws).
    """
    kl_closed = _finite_float("kl_closed", kl_closed)
    kl_monte_carlo = _finite_float("kl_monte_carlo", kl_monte_carlo)
    expected = _kl_gaussian_standard(EX1_MU, EX1_SIGMA)
    assert abs(kl_closed - expected) < 1e-4, (
        f"closed form {kl_closed:.4f} nats; expected {expected:.4f}. Use "
        "0.5 * (sigma^2 + mu^2 - 1 - log sigma^2) with sigma^2 = 0.25 (the variance, not the "
        "standard deviation), in nats (natural log)."
    )
    assert int(n_samples) >= 1000, f"use at least 1,000 samples of q, got {n_samples}."
    # Per-sample std of log q(z) - log p(z) under q = N(1, 0.25): about 0.8; five standard errors.
    tolerance = 5 * 0.85 / np.sqrt(int(n_samples))
    assert abs(kl_monte_carlo - expected) < tolerance, (
        f"Monte Carlo estimate {kl_monte_carlo:.4f} is {abs(kl_monte_carlo - expected):.4f} nats "
        f"from the closed form {expected:.4f} (tolerance {tolerance:.4f} for {int(n_samples)} "
        "samples). Draw z from q = N(1, 0.5^2), not from the prior, and average "
        "log q(z) - log p(z)."
    )
    correct()


def _mean_binary_entropy(p):
    p = np.clip(np.asarray(p, dtype=np.float64), 1e-6, 1 - 1e-6)
    return float(np.mean(-(p * np.log(p) + (1 - p) * np.log1p(-p))))


def check_exercise_2(codes, probabilities, entropy, helps, *, taus=(0.6, 1.0)):
    """Exercise 2: sampling a VAE at temperature tau.

    Args:
        codes: dict tau -> (n, d) codes decoded at that temperature (the same base draws z times
            tau).
        probabilities: dict tau -> the decoded Bernoulli means (n, 28, 28[, 1]) in [0, 1].
        entropy: dict tau -> mean pixel entropy of those means, in nats.
        helps: bool, whether the lower temperature gave crisper (lower-entropy) decodes.
        taus: the two temperatures of the exercise, the smaller first.

    Raises:
        AssertionError: missing temperatures; codes that are not one draw of N(0, I) scaled by tau
            (tau^2 used as the scale, a fresh draw per tau, an unscaled draw); entropies that do
            not match the means (bits instead of nats, a missing (1 - p) term, swapped
            temperatures); or an answer ``helps`` that contradicts the entropies.
    """
    low, high = taus
    for name, value in (("codes", codes), ("probabilities", probabilities), ("entropy", entropy)):
        assert isinstance(value, dict), f"{name} should be a dict tau -> value, got {type(value)}."
        missing = [tau for tau in taus if tau not in value]
        assert not missing, f"{name} has no entry for tau = {missing}; expected keys {list(taus)}."
    base = np.asarray(codes[high], dtype=np.float64) / high
    assert base.ndim == 2 and base.size >= 200, (
        f"codes[{high}] should be (n, d) codes with n * d >= 200, got shape {base.shape}."
    )
    assert 0.8 < base.std() < 1.2 and abs(base.mean()) < 0.2, (
        f"codes[{high}] / {high} should be draws of N(0, I); their mean is {base.mean():.3f} and "
        f"std {base.std():.3f}."
    )
    scaled = np.asarray(codes[low], dtype=np.float64)
    assert scaled.shape == base.shape and np.allclose(scaled, low * base, atol=1e-5), (
        f"codes[{low}] should be the same draws as codes[{high}], scaled to standard deviation "
        f"tau = {low} (z ~ N(0, tau^2 I) means tau * z, not tau^2 * z, and not a fresh draw)."
    )
    for tau in taus:
        p = np.asarray(probabilities[tau], dtype=np.float64)
        assert p.shape[0] == base.shape[0], (
            f"probabilities[{tau}] has {p.shape[0]} images for {base.shape[0]} codes."
        )
        assert p.min() >= 0 and p.max() <= 1, (
            f"probabilities[{tau}] should be Bernoulli means in [0, 1] (apply the sigmoid to the "
            "decoder's logits)."
        )
        expected = _mean_binary_entropy(p)
        got = _finite_float(f"entropy[{tau}]", entropy[tau])
        assert abs(got - expected) < 1e-3, (
            f"entropy[{tau}] = {got:.4f}, but the mean pixel entropy of probabilities[{tau}] is "
            f"{expected:.4f} nats: -(p log p + (1 - p) log(1 - p)), natural log, averaged over "
            "pixels and images."
        )
    assert not np.allclose(probabilities[low], probabilities[high]), (
        "the two temperatures decoded to the same images: decode codes[tau] for each tau."
    )
    crisper = _mean_binary_entropy(probabilities[low]) < _mean_binary_entropy(probabilities[high])
    assert bool(helps) == crisper, (
        f"helps = {bool(helps)}, but the entropy is {entropy[low]:.4f} nats at tau = {low} and "
        f"{entropy[high]:.4f} at tau = {high}: lower entropy means crisper decodes."
    )
    correct()


def _log_mean_exp(values):
    m = np.max(values, axis=1, keepdims=True)
    return (m + np.log(np.mean(np.exp(values - m), axis=1, keepdims=True)))[:, 0]


def check_exercise_3(log_weights, bounds, reference, *, tolerance=1.0):
    """Exercise 3: the importance-weighted bound from log-weights.

    Args:
        log_weights: (N, K) array of ``log p(x|z_i) + log p(z_i) - log q(z_i|x)`` in nats, for
            ``z_i ~ q(z|x)``, ``N >= 10`` images.
        bounds: dict K -> (N,) estimates of ``L_K``: the log-mean-exp of the first K columns.
        reference: (N,) ``model.log_likelihood(x, k=K_max)`` of the same images (independent
            samples), to confirm that the log-weights belong to the model.
        tolerance: largest allowed gap, in nats, between the mean of ``bounds[K_max]`` and of
            ``reference`` (both are noisy estimates of the same bound).

    Raises:
        AssertionError: log-weights that are not finite or whose sign is wrong (log q added
            instead of subtracted, or log p(z) forgotten, shows up as a mismatch with
            ``reference``); bounds computed as a mean of log-weights (the ELBO), a log-sum-exp
            without ``- log K``, or a maximum; means of the bounds that decrease with K.
    """
    w = np.asarray(log_weights, dtype=np.float64)
    assert w.ndim == 2 and w.shape[0] >= 10, (
        f"log_weights should be (N, K) with N >= 10 images, got shape {w.shape}."
    )
    assert np.all(np.isfinite(w)), "log_weights contain NaN or inf: work in log space."
    assert np.all(w < 0), (
        "log-weights of binary images should be negative (log p(x|z) is far below 0); check signs."
    )
    assert isinstance(bounds, dict) and bounds, "bounds should be a dict K -> (N,) estimates."
    ks = sorted(int(k) for k in bounds)
    assert ks[0] == 1 and ks[-1] <= w.shape[1] and len(ks) >= 3, (
        f"bounds should hold at least three K from 1 up to {w.shape[1]}, got {ks}."
    )
    for k in ks:
        got = np.asarray(bounds[k], dtype=np.float64)
        assert got.shape == (w.shape[0],), f"bounds[{k}] should have shape ({w.shape[0]},)."
        expected = _log_mean_exp(w[:, :k])
        error = float(np.max(np.abs(got - expected)))
        assert error < 1e-4, (
            f"bounds[{k}] differs from log (1/K) sum_i exp(log_weights[:, :K]) by up to "
            f"{error:.3g} nats. Use the first K columns, subtract log K (mean, not sum), and "
            "subtract the row maximum before exponentiating."
        )
    means = [float(np.mean(bounds[k])) for k in ks]
    assert all(a <= b + 0.05 for a, b in zip(means, means[1:])), (
        f"the mean bound should not decrease as K grows; got {dict(zip(ks, np.round(means, 2)))}."
    )
    reference = np.asarray(reference, dtype=np.float64)
    assert reference.shape == (w.shape[0],), f"reference should have shape ({w.shape[0]},)."
    gap = abs(means[-1] - float(reference.mean()))
    assert gap < tolerance, (
        f"your L_{ks[-1]} averages {means[-1]:.2f} nats, model.log_likelihood gives "
        f"{reference.mean():.2f}: log w = log p(x|z) + log p(z) - log q(z|x), with z drawn from "
        "q(z|x) of the same model and images."
    )
    correct()
