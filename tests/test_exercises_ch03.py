"""Chapter 03's exercise checks accept the right answers and reject plausible wrong ones.

The right answers are computed here independently of :mod:`utils.exercises.ch03` (a different
grid and integration rule, SciPy for W1, Gaussian features for KID).
"""

from utils import metrics
from utils.exercises import ch03

import numpy as np
import pytest
from scipy import integrate, stats

LOG4 = np.log(4.0)


def _exercise_1_answer():
    p = stats.norm(0.0, 1.0).pdf
    q = stats.norm(1.0, 1.0).pdf

    def jsd_integrand(x):
        m = 0.5 * (p(x) + q(x))
        return 0.5 * p(x) * np.log(p(x) / m) + 0.5 * q(x) * np.log(q(x) / m)

    def value_integrand(x):
        d = p(x) / (p(x) + q(x))
        return p(x) * np.log(d) + q(x) * np.log(1 - d)

    jsd = integrate.quad(jsd_integrand, -15, 16)[0]
    return integrate.quad(value_integrand, -15, 16)[0], jsd, -LOG4


def test_exercise_1_accepts_the_right_answer(capsys):
    value_star, jsd, value_half = _exercise_1_answer()
    ch03.check_exercise_1(value_star, jsd, value_half)
    assert capsys.readouterr().out.strip() == "correct"


@pytest.mark.parametrize(
    "wrong",
    [
        "jsd_in_bits",
        "plus_log4",
        "half_as_star",
        "kl_instead_of_jsd",
        "constant_zero",
        "jsd_not_halved",
    ],
)
def test_exercise_1_rejects_wrong_answers(wrong):
    value_star, jsd, value_half = _exercise_1_answer()
    kl = 0.5  # KL(N(0,1) || N(1,1)) = 1/2
    answers = {
        "jsd_in_bits": (value_star, jsd / np.log(2), value_half),
        "plus_log4": (2 * jsd + LOG4, jsd, value_half),
        "half_as_star": (value_half, jsd, value_half),
        "kl_instead_of_jsd": (2 * kl - LOG4, kl, value_half),
        "constant_zero": (0.0, 0.0, 0.0),
        "jsd_not_halved": (value_star, 2 * jsd, value_half),
    }
    with pytest.raises(AssertionError):
        ch03.check_exercise_1(*answers[wrong])


def _exercise_2_answer():
    thetas = np.linspace(0.0, 1.0, 11)
    jsds = np.where(thetas == 0.0, 0.0, np.log(2.0))  # no overlap beyond 10 standard deviations
    rng = np.random.default_rng(0)
    base = rng.normal(0.0, 0.01, 2_000)
    w1s = np.array([stats.wasserstein_distance(base, base + t) for t in thetas])
    return thetas, jsds, w1s


def test_exercise_2_accepts_the_right_answer(capsys):
    ch03.check_exercise_2(*_exercise_2_answer())
    assert capsys.readouterr().out.strip() == "correct"


@pytest.mark.parametrize("wrong", ["bits", "w1_squared", "jsd_twice", "kl", "too_few"])
def test_exercise_2_rejects_wrong_answers(wrong):
    thetas, jsds, w1s = _exercise_2_answer()
    kl = thetas**2 / (2 * 0.01**2)
    answers = {
        "bits": (thetas, jsds / np.log(2), w1s),
        "w1_squared": (thetas, jsds, thetas**2),
        "jsd_twice": (thetas, jsds, jsds),
        "kl": (thetas, kl, w1s),
        "too_few": (thetas[:2], jsds[:2], w1s[:2]),
    }
    with pytest.raises(AssertionError):
        ch03.check_exercise_2(*answers[wrong])


def _kid_pair(shift, seed):
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(1_000, 8))
    b = rng.normal(size=(1_000, 8)) + shift
    return metrics.kernel_inception_distance(a, b, n_subsets=10, subset_size=300, seed=seed)


def test_exercise_3_accepts_the_right_answer(capsys):
    kid_halves, se_halves = _kid_pair(0.5, 1)
    kid_random, se_random = _kid_pair(0.0, 2)
    ch03.check_exercise_3(kid_halves, se_halves, kid_random, se_random)
    assert capsys.readouterr().out.strip() == "correct"


@pytest.mark.parametrize("wrong", ["swapped", "zeros", "se_as_value", "both_random", "no_se"])
def test_exercise_3_rejects_wrong_answers(wrong):
    kid_halves, se_halves = _kid_pair(0.5, 1)
    kid_random, se_random = _kid_pair(0.0, 2)
    answers = {
        "swapped": (kid_random, se_random, kid_halves, se_halves),
        "zeros": (0.0, 0.0, 0.0, 0.0),
        "se_as_value": (se_halves, se_halves, kid_random, se_random),
        "both_random": (kid_random, se_random, kid_random, se_random),
        "no_se": (kid_halves, float("nan"), kid_random, se_random),
    }
    with pytest.raises(AssertionError):
        ch03.check_exercise_3(*answers[wrong])
