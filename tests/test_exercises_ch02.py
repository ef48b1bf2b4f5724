"""The checks of chapter 02's exercises pass right answers and fail plausible wrong ones."""

from utils.exercises import ch02

import numpy as np
import pytest


def _sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


# -- Exercise 1: the Gaussian KL --------------------------------------------------------------


def _monte_carlo_kl(mu, sigma, n, seed=0, sample_mu=None, sample_sigma=None):
    rng = np.random.default_rng(seed)
    loc = mu if sample_mu is None else sample_mu
    scale = sigma if sample_sigma is None else sample_sigma
    z = rng.normal(loc, scale, n)
    log_q = -0.5 * np.log(2 * np.pi * sigma**2) - (z - mu) ** 2 / (2 * sigma**2)
    log_p = -0.5 * np.log(2 * np.pi) - z**2 / 2
    return float(np.mean(log_q - log_p))


def test_exercise_1_right_answer(capsys):
    closed = 0.5 * (0.25 + 1.0 - 1.0 - np.log(0.25))
    ch02.check_exercise_1(closed, _monte_carlo_kl(1.0, 0.5, 200_000), 200_000)
    assert capsys.readouterr().out.strip() == "correct"


@pytest.mark.parametrize(
    "closed",
    [
        0.5 * (0.5 + 1.0 - 1.0 - np.log(0.5)),  # sigma in place of sigma^2
        0.25 + 1.0 - 1.0 - np.log(0.25),  # the 1/2 forgotten
        0.5 * (0.25 + 1.0 - 1.0 - np.log(0.25)) / np.log(2),  # bits
        0.5 * (0.25 + 1.0 - 1.0 + np.log(0.25)),  # sign of the log term
        0.0,  # a constant
    ],
)
def test_exercise_1_wrong_closed_form(closed):
    with pytest.raises(AssertionError):
        ch02.check_exercise_1(closed, _monte_carlo_kl(1.0, 0.5, 200_000), 200_000)


def test_exercise_1_wrong_monte_carlo():
    closed = 0.5 * (0.25 + 1.0 - 1.0 - np.log(0.25))
    from_prior = _monte_carlo_kl(1.0, 0.5, 200_000, sample_mu=0.0, sample_sigma=1.0)
    with pytest.raises(AssertionError):
        ch02.check_exercise_1(closed, from_prior, 200_000)  # samples of p, not of q
    with pytest.raises(AssertionError):
        ch02.check_exercise_1(closed, closed, 10)  # too few samples


# -- Exercise 2: temperature ------------------------------------------------------------------


def _decoder(z):
    """A fixed toy 'decoder': (n, d) codes -> (n, 28, 28, 1) Bernoulli means."""
    w = np.random.default_rng(1).normal(size=(z.shape[1], 784))
    return _sigmoid(3.0 * z @ w / np.sqrt(z.shape[1])).reshape(-1, 28, 28, 1)


def _entropy(p):
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return float(np.mean(-(p * np.log(p) + (1 - p) * np.log(1 - p))))


def _exercise_2_answer(scale=lambda tau: tau, entropy=_entropy):
    z = np.random.default_rng(0).standard_normal((20, 32))
    codes = {tau: scale(tau) * z for tau in (0.6, 1.0)}
    probs = {tau: _decoder(c) for tau, c in codes.items()}
    ent = {tau: entropy(p) for tau, p in probs.items()}
    return codes, probs, ent, ent[0.6] < ent[1.0]


def test_exercise_2_right_answer(capsys):
    ch02.check_exercise_2(*_exercise_2_answer())
    assert capsys.readouterr().out.strip() == "correct"


def test_exercise_2_wrong_answers():
    codes, probs, ent, helps = _exercise_2_answer()
    with pytest.raises(AssertionError):  # the opposite conclusion
        ch02.check_exercise_2(codes, probs, ent, not helps)
    with pytest.raises(AssertionError):  # temperatures swapped in the entropy dict
        ch02.check_exercise_2(codes, probs, {0.6: ent[1.0], 1.0: ent[0.6]}, helps)
    with pytest.raises(AssertionError):  # entropy in bits
        ch02.check_exercise_2(*_exercise_2_answer(entropy=lambda p: _entropy(p) / np.log(2)))
    with pytest.raises(AssertionError):  # the (1 - p) term forgotten

        def only_p(p):
            p = np.clip(p, 1e-6, 1)
            return float(np.mean(-p * np.log(p)))

        ch02.check_exercise_2(*_exercise_2_answer(entropy=only_p))
    with pytest.raises(AssertionError):  # tau^2 used as the standard deviation
        ch02.check_exercise_2(*_exercise_2_answer(scale=lambda tau: tau**2))
    with pytest.raises(AssertionError):  # the same codes at both temperatures
        ch02.check_exercise_2(*_exercise_2_answer(scale=lambda tau: 1.0))
    with pytest.raises(AssertionError):  # a constant
        ch02.check_exercise_2(codes, probs, {0.6: 0.1, 1.0: 0.1}, helps)
    fresh = dict(codes)
    fresh[0.6] = 0.6 * np.random.default_rng(5).standard_normal((20, 32))
    with pytest.raises(AssertionError):  # a fresh draw per temperature
        ch02.check_exercise_2(fresh, probs, ent, helps)


# -- Exercise 3: the importance-weighted bound ------------------------------------------------


def _toy_log_weights(n=50, k=200, seed=0):
    """Log-weights of a toy model: per-image offsets plus Gaussian noise, in nats."""
    rng = np.random.default_rng(seed)
    return -90.0 + rng.normal(0, 5, (n, 1)) + rng.normal(0, 2.0, (n, k)) - 2.0


def _lme(w):
    m = w.max(axis=1, keepdims=True)
    return (m + np.log(np.exp(w - m).mean(axis=1, keepdims=True)))[:, 0]


def test_exercise_3_right_answer(capsys):
    w = _toy_log_weights()
    bounds = {k: _lme(w[:, :k]) for k in (1, 10, 200)}
    noise = np.random.default_rng(3).normal(0, 0.3, 50)  # an independent estimate of L_200
    reference = _lme(w) + noise
    ch02.check_exercise_3(w, bounds, reference)
    assert capsys.readouterr().out.strip() == "correct"


def test_exercise_3_wrong_answers():
    w = _toy_log_weights()
    ks = (1, 10, 200)
    reference = _lme(w)
    right = {k: _lme(w[:, :k]) for k in ks}
    elbo_everywhere = {k: w[:, :k].mean(axis=1) for k in ks}  # the ELBO at every K
    sum_not_mean = {k: _lme(w[:, :k]) + np.log(k) for k in ks}  # log-sum-exp, no - log K
    maximum = {k: w[:, :k].max(axis=1) for k in ks}
    for bounds in (elbo_everywhere, sum_not_mean, maximum):
        with pytest.raises(AssertionError):
            ch02.check_exercise_3(w, bounds, reference)
    with pytest.raises(AssertionError):  # another model's log-weights (log q added, not subtracted)
        shifted = w - 30.0
        ch02.check_exercise_3(shifted, {k: _lme(shifted[:, :k]) for k in ks}, reference)
    with pytest.raises(AssertionError):  # only K = 1 and K_max: too few K
        ch02.check_exercise_3(w, {1: right[1], 200: right[200]}, reference)
    with pytest.raises(AssertionError), np.errstate(divide="ignore"):
        naive = {k: np.log(np.mean(np.exp(10 * w[:, :k]), axis=1)) for k in ks}  # exp underflows
        ch02.check_exercise_3(w * 10, naive, reference)
