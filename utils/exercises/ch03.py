"""Checks of chapter 03's exercises (generative adversarial networks).

Each ``check_exercise_N`` takes the numbers the student computed, raises ``AssertionError`` with a
hint when they are wrong and prints ``correct`` when they are right. The reference values are
recomputed here with NumPy on a small grid (milliseconds), independently of the student's code.

- Exercise 1: the value of the GAN game at the optimal discriminator, ``V(D*, G) = 2 JSD - log 4``
  (Goodfellow et al. 2014, Theorem 1), for ``p_data = N(0, 1)`` and ``p_g = N(1, 1)``.
- Exercise 2: the Jensen-Shannon divergence saturates at ``log 2`` between two narrow Gaussians that
  do not overlap, while the Wasserstein-1 distance equals the shift (Arjovsky et al. 2017).
- Exercise 3: KID between the two halves of the MNIST test set is many standard errors above 0,
  KID between two random halves is not (Bińkowski et al. 2018 for KID and its standard error).
"""

from __future__ import annotations

import numpy as np

from . import correct

LOG2 = float(np.log(2.0))
LOG4 = float(np.log(4.0))


def _finite_scalar(name, value):
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise AssertionError(f"{name} must be a single number, got {value!r}.") from None
    assert np.isfinite(number), f"{name} must be finite, got {number}."
    return number


def _finite_vector(name, values, length=None):
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise AssertionError(f"{name} must be a list or 1-D array of numbers.") from None
    assert array.ndim == 1 and len(array) > 0, (
        f"{name} must be a non-empty 1-D list of numbers, got shape {array.shape}."
    )
    assert np.all(np.isfinite(array)), f"{name} contains NaN or inf values."
    if length is not None:
        assert len(array) == length, (
            f"{name} must have {length} entries (one per theta), got {len(array)}."
        )
    return array


def reference_jsd_unit_gaussians(shift=1.0, *, points=20_001):
    """JSD (nats) between N(0, 1) and N(shift, 1) by the trapezoidal rule on [-12, 12 + shift].

    Returns:
        float, in nats, in [0, log 2].
    """
    x = np.linspace(-12.0, 12.0 + shift, points)
    p = np.exp(-0.5 * x**2) / np.sqrt(2 * np.pi)
    q = np.exp(-0.5 * (x - shift) ** 2) / np.sqrt(2 * np.pi)
    m = 0.5 * (p + q)
    integrand = 0.5 * p * np.log(p / m) + 0.5 * q * np.log(q / m)
    return float(np.trapezoid(integrand, x))


def check_exercise_1(value_star, jsd, value_half):
    """Exercise 1: ``V(D*, G)``, ``JSD(p_data || p_g)`` and ``V(1/2, G)`` for N(0,1) vs N(1,1).

    Args:
        value_star: the value of the game at the optimal discriminator, in nats.
        jsd: the Jensen-Shannon divergence in nats (natural logarithm, not bits).
        value_half: the value of the game for the constant discriminator ``D = 1/2``.

    Raises:
        AssertionError: any of the three is wrong (e.g. JSD in bits, a KL instead of the JSD,
            ``2 JSD + log 4``, or ``V(1/2, G)`` passed as ``V(D*, G)``).
    """
    value_star = _finite_scalar("value_star", value_star)
    jsd = _finite_scalar("jsd", jsd)
    value_half = _finite_scalar("value_half", value_half)
    expected_jsd = reference_jsd_unit_gaussians(1.0)
    assert 0.0 < jsd < LOG2, (
        f"the JSD lies strictly between 0 and log 2 = {LOG2:.4f} nats for two Gaussians that "
        f"overlap partly; got {jsd:.6f}. Use natural logarithms and the mixture m = (p + q) / 2."
    )
    assert abs(jsd - expected_jsd) < 1e-4, (
        f"JSD(N(0,1) || N(1,1)) should be about {expected_jsd:.4f} nats, got {jsd:.6f}. "
        "Check that each KL term is taken against the mixture m = (p + q) / 2 and halved."
    )
    assert abs(value_half + LOG4) < 1e-4, (
        f"with D = 1/2 everywhere, V = log(1/2) + log(1/2) = -log 4 = {-LOG4:.4f}; "
        f"got {value_half:.6f}."
    )
    assert abs(value_star - (2 * expected_jsd - LOG4)) < 1e-4, (
        f"V(D*, G) should equal 2 JSD - log 4 = {2 * expected_jsd - LOG4:.4f}, got "
        f"{value_star:.6f}. Integrate p_data log D* + p_g log(1 - D*) with "
        "D* = p_data / (p_data + p_g)."
    )
    assert value_half < value_star, "the optimal discriminator must score higher than D = 1/2."
    correct()


def check_exercise_2(thetas, jsds, w1s):
    """Exercise 2: JSD and W1 between N(0, 0.01^2) and N(theta, 0.01^2) for theta in [0, 1].

    Args:
        thetas: the shifts (at least 5, from 0 to 1, including 0 and some theta >= 0.5).
        jsds: JSD(p || q_theta) in nats, one per theta.
        w1s: Wasserstein-1 distances, one per theta.

    Raises:
        AssertionError: the JSD does not saturate at log 2 (e.g. computed in bits, or as a KL),
            or W1 is not equal to the shift (e.g. theta squared, or the JSD passed twice).
    """
    thetas = _finite_vector("thetas", thetas)
    jsds = _finite_vector("jsds", jsds, len(thetas))
    w1s = _finite_vector("w1s", w1s, len(thetas))
    assert len(thetas) >= 5 and thetas.min() == 0.0 and thetas.max() >= 0.5, (
        "use at least 5 shifts theta from 0 to 1 (including theta = 0)."
    )
    at_zero = thetas == 0.0
    far = thetas >= 0.1  # 10 standard deviations apart: no overlap to double precision
    assert np.all(np.abs(jsds[at_zero]) < 1e-6), f"JSD(p || p) must be 0, got {jsds[at_zero]}."
    assert np.all(np.abs(jsds[far] - LOG2) < 1e-3), (
        f"for theta >= 0.1 the two Gaussians do not overlap and the JSD must be log 2 = "
        f"{LOG2:.4f} nats; got {np.round(jsds[far], 4)}. (In bits it would be 1; a KL would "
        "grow with theta.)"
    )
    assert np.allclose(w1s, thetas, atol=1e-3), (
        f"W1 between two Gaussians of the same width is the shift |theta|; got "
        f"{np.round(w1s, 4)} for theta = {np.round(thetas, 4)}."
    )
    correct()


def check_exercise_3(kid_halves, kid_halves_se, kid_random, kid_random_se):
    """Exercise 3: KID between the first and last 5,000 test images, and between random halves.

    Args:
        kid_halves, kid_halves_se: KID and its standard error, first vs last 5,000 test images.
        kid_random, kid_random_se: the same for a random split into two halves of 5,000.

    Raises:
        AssertionError: the halves' KID is not many standard errors above 0, the random split's
            KID is not within a few standard errors of 0 or not small beside the halves' KID
            (e.g. the two results swapped, or a standard error passed as the value).
    """
    kid_halves = _finite_scalar("kid_halves", kid_halves)
    kid_halves_se = _finite_scalar("kid_halves_se", kid_halves_se)
    kid_random = _finite_scalar("kid_random", kid_random)
    kid_random_se = _finite_scalar("kid_random_se", kid_random_se)
    assert kid_halves_se > 0 and kid_random_se > 0, (
        "standard errors must be positive: use several KID subsets (n_subsets >= 2)."
    )
    assert kid_halves > 5 * kid_halves_se, (
        f"the first and last 5,000 test images differ: their KID should be more than 5 standard "
        f"errors above 0, got {kid_halves:.4f} ± {kid_halves_se:.4f}. Did you split "
        "features[:5000] and features[5000:] of the *whole* test set, in its original order?"
    )
    assert abs(kid_random) < 3 * kid_random_se + 1e-3 * abs(kid_halves), (
        f"two random halves come from one distribution: their KID should be within about 3 "
        f"standard errors of 0, got {kid_random:.4f} ± {kid_random_se:.4f}. Shuffle the rows "
        "before splitting."
    )
    assert abs(kid_random) < 0.1 * kid_halves, (
        f"the random split's KID ({kid_random:.4f}) should be tiny beside the halves' KID "
        f"({kid_halves:.4f}); are the two results swapped?"
    )
    correct()
