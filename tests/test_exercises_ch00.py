"""Chapter 00's exercise checks accept the right answers and reject plausible wrong ones."""

from utils.exercises import ch00

import math

import numpy as np
import pytest
from scipy.special import logsumexp

# ---------------------------------------------------------------------------------------------
# Exercise 1: nats -> bits per dimension
# ---------------------------------------------------------------------------------------------


def test_exercise_1_right(capsys):
    ch00.check_exercise_1(100.0 / 784 / math.log(2))
    assert capsys.readouterr().out.strip() == "correct"


@pytest.mark.parametrize(
    "wrong",
    [
        100.0 / 784,  # ln 2 forgotten
        100.0 * math.log(2) / 784,  # multiplied by ln 2
        100.0 / math.log(2),  # the 784 dimensions forgotten
        100.0 / 784 / math.log(10),  # log base 10
        0.18,  # rounded too coarsely
    ],
)
def test_exercise_1_wrong(wrong):
    with pytest.raises(AssertionError):
        ch00.check_exercise_1(wrong)


# ---------------------------------------------------------------------------------------------
# Exercise 2: mixture of Bernoullis
# ---------------------------------------------------------------------------------------------

P = 64  # pixels of the synthetic images (the check takes any size)


@pytest.fixture(scope="module")
def prototype_data():
    """Binary images drawn around 4 random prototypes, split into train and test."""
    rng = np.random.default_rng(0)
    prototypes = rng.random((4, P)) < 0.3
    which = rng.integers(0, 4, 1200)
    flips = rng.random((1200, P)) < 0.05
    x = np.logical_xor(prototypes[which], flips).astype(np.float64)
    return x[:1000], x[1000:]


def _em(x, n_components, iterations, start):
    """Independent EM for a Bernoulli mixture from given starting means."""
    mu = start.copy()
    log_pi = np.full(n_components, -np.log(n_components))
    for _ in range(iterations):
        joint = log_pi + x @ np.log(mu).T + (1 - x) @ np.log1p(-mu).T
        resp = np.exp(joint - logsumexp(joint, axis=1, keepdims=True))
        counts = resp.sum(0)
        mu = (resp.T @ x + 1.0) / (counts[:, None] + 2.0)
        with np.errstate(divide="ignore"):
            log_pi = np.log(counts / counts.sum())
    return log_pi, mu


def _nll(x, log_pi, mu):
    joint = log_pi + x @ np.log(mu).T + (1 - x) @ np.log1p(-mu).T
    return -logsumexp(joint, axis=1).mean()


def _independent_nll(train, test):
    theta = (train.sum(0) + 1) / (len(train) + 2)
    return -(test @ np.log(theta) + (1 - test) @ np.log1p(-theta)).mean()


@pytest.fixture(scope="module")
def good_fit(prototype_data):
    train, test = prototype_data
    rng = np.random.default_rng(1)
    start = np.clip(
        0.5 * train[rng.choice(len(train), 4, replace=False)] + 0.5 * train.mean(0), 1e-3, 1 - 1e-3
    )
    log_pi, mu = _em(train, 4, 20, start)
    return log_pi, mu, _nll(test, log_pi, mu), _independent_nll(train, test)


def test_exercise_2_right(prototype_data, good_fit, capsys):
    _, test = prototype_data
    log_pi, mu, nll, independent = good_fit
    ch00.check_exercise_2(log_pi, mu, test, nll, independent)
    assert capsys.readouterr().out.strip() == "correct"


def test_exercise_2_rejects_a_dead_component(prototype_data, good_fit):
    _, test = prototype_data
    log_pi, mu, _, independent = good_fit
    # a fifth component that took no images (weight 0), the symptom of the uniform start
    dead_log_pi = np.append(log_pi, -np.inf)
    dead_mu = np.vstack([mu, np.full(P, 0.5)])
    with np.errstate(divide="ignore"):
        nll = _nll(test, dead_log_pi, dead_mu)
    with pytest.raises(AssertionError, match="dead|weights"):
        ch00.check_exercise_2(dead_log_pi, dead_mu, test, nll, independent)
    # ... and one that kept a negligible weight
    tiny = np.log(np.append(np.exp(log_pi) * (1 - 1e-4), 1e-4))
    nll = _nll(test, tiny, dead_mu)
    with pytest.raises(AssertionError, match="dead"):
        ch00.check_exercise_2(tiny, dead_mu, test, nll, independent)


def test_exercise_2_rejects_the_uniform_start_when_it_kills_components(prototype_data):
    train, test = prototype_data
    start = np.random.default_rng(0).uniform(0.25, 0.75, size=(10, P))
    log_pi, mu = _em(train, 10, 20, start)
    weights = np.exp(log_pi)
    assert weights.min() < 0.01, "the synthetic case should reproduce dead components"
    with np.errstate(divide="ignore"):
        nll = _nll(test, log_pi, mu)
    with pytest.raises(AssertionError):
        ch00.check_exercise_2(log_pi, mu, test, nll, _independent_nll(train, test))


def test_exercise_2_rejects_identical_components(prototype_data):
    train, test = prototype_data
    theta = (train.sum(0) + 1) / (len(train) + 2)
    log_pi, mu = np.full(4, -np.log(4)), np.tile(theta, (4, 1))  # the independent model, 4 times
    with pytest.raises(AssertionError, match="beats independent pixels"):
        ch00.check_exercise_2(
            log_pi, mu, test, _nll(test, log_pi, mu), _independent_nll(train, test)
        )


def test_exercise_2_rejects_a_typo_in_the_nll(prototype_data, good_fit):
    _, test = prototype_data
    log_pi, mu, _, independent = good_fit
    only_ones = -logsumexp(log_pi + test @ np.log(mu).T, axis=1).mean()  # (1 - x) term forgotten
    with pytest.raises(AssertionError, match="recomputed"):
        ch00.check_exercise_2(log_pi, mu, test, only_ones, independent)
    wrong_sign = _nll(test, log_pi, mu) * -1
    with pytest.raises(AssertionError, match="recomputed"):
        ch00.check_exercise_2(log_pi, mu, test, wrong_sign, independent)


def test_exercise_2_rejects_unnormalized_weights(prototype_data, good_fit):
    _, test = prototype_data
    log_pi, mu, nll, independent = good_fit
    with pytest.raises(AssertionError, match="sum"):
        ch00.check_exercise_2(log_pi + 0.1, mu, test, nll, independent)


# ---------------------------------------------------------------------------------------------
# Exercise 3: majority-class accuracy
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def labels():
    counts = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]  # MNIST test counts
    return np.repeat(np.arange(10), counts)


def test_exercise_3_right(labels, capsys):
    ch00.check_exercise_3(1135 / 10000, labels)
    assert capsys.readouterr().out.strip() == "correct"


@pytest.mark.parametrize("wrong", [0.1, 1135, 892 / 10000, 6742 / 60000, 0.11])
def test_exercise_3_wrong(labels, wrong):
    with pytest.raises(AssertionError):
        ch00.check_exercise_3(wrong, labels)


# ---------------------------------------------------------------------------------------------
# Exercise 4: moments of a mixture
# ---------------------------------------------------------------------------------------------

W, M, S = np.array([0.4, 0.6]), np.array([-2.0, 2.0]), np.array([0.6, 0.6])


def test_exercise_4_right(capsys):
    mean = 0.4 * -2.0 + 0.6 * 2.0
    second_moment = 0.4 * (0.36 + 4.0) + 0.6 * (0.36 + 4.0)
    ch00.check_exercise_4(mean, second_moment - mean**2, W, M, S)
    assert capsys.readouterr().out.strip() == "correct"


@pytest.mark.parametrize(
    "mean, variance",
    [
        (0.4, 0.36),  # within-component variance only
        (0.4, 4.36),  # - mean^2 forgotten
        (0.4, math.sqrt(4.2)),  # a standard deviation
        (0.0, 4.2),  # unweighted mean of the means
        (0.4, 4.0),  # spread of the means only
    ],
)
def test_exercise_4_wrong(mean, variance):
    with pytest.raises(AssertionError):
        ch00.check_exercise_4(mean, variance, W, M, S)
