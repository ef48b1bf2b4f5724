"""The checks of chapter 05's exercises accept right answers and reject plausible wrong ones."""

from utils.exercises import ch05

import numpy as np
import pytest


@pytest.fixture
def mixture_case():
    rng = np.random.default_rng(3)
    log_px_given = -90.0 + 4.0 * rng.standard_normal((50, 10))
    y = rng.integers(0, 10, 50)
    return log_px_given, y


def _right_mixture(log_px_given):
    # independently of the check: the log of the mean probability, shifted by a constant that
    # keeps exp() in range for these magnitudes
    shift = 90.0
    return -(np.log(np.mean(np.exp(log_px_given + shift), axis=1)) - shift)


def test_exercise_1_accepts_the_right_sums(capsys):
    ch05.check_exercise_1(1.0 + 3e-7, 1.1058)
    assert capsys.readouterr().out.strip() == "correct"


@pytest.mark.parametrize(
    "total, cheater_total",
    [
        (1.0, 1.0),  # the Gated PixelCNN scored twice (the neighbouring answer)
        (-6.2, 1.1),  # sum of log-probabilities, not probabilities
        (0.5, 1.1),  # half of the images enumerated
        (1.1, 1.0),  # the two answers swapped
    ],
)
def test_exercise_1_rejects_wrong_sums(total, cheater_total):
    with pytest.raises(AssertionError):
        ch05.check_exercise_1(total, cheater_total)


def test_exercise_2_accepts_the_mixture(mixture_case, capsys):
    log_px_given, y = mixture_case
    nll = _right_mixture(log_px_given)
    fraction = np.mean(nll < -log_px_given[np.arange(len(y)), y])
    ch05.check_exercise_2(log_px_given, y, nll, fraction)
    assert capsys.readouterr().out.strip() == "correct"


def test_exercise_2_rejects_wrong_mixtures(mixture_case):
    log_px_given, y = mixture_case
    right = _right_mixture(log_px_given)
    fraction = np.mean(right < -log_px_given[np.arange(len(y)), y])
    wrong = {
        "no prior": right - np.log(10.0),
        "max": -log_px_given.max(axis=1),
        "sign": -right,
        "true label": -log_px_given[np.arange(len(y)), y],
        "constant": np.full(len(y), right.mean()),
    }
    for name, nll in wrong.items():
        with pytest.raises(AssertionError):
            ch05.check_exercise_2(log_px_given, y, nll, fraction)
    with pytest.raises(AssertionError, match="opposite"):
        ch05.check_exercise_2(log_px_given, y, right, 1 - fraction)
    with pytest.raises(AssertionError):
        ch05.check_exercise_2(log_px_given, y, right, 0.0)


def test_exercise_3_accepts_the_measured_reach(capsys):
    depths = [2, 4, 6]
    ch05.check_exercise_3(depths, [d + 1 for d in depths], 26)
    assert capsys.readouterr().out.strip() == "correct"


@pytest.mark.parametrize(
    "rows_up, layers",
    [
        ([2, 4, 6], 26),  # off by one: the depth itself
        ([3, 5, 7], 27),  # the right reach, the layer count solved with n_layers >= 27
        ([3, 5, 7], 28),  # one layer per image row
        ([27, 27, 27], 26),  # "sees everything above"
        ([6, 10, 14], 26),  # two rows per layer
    ],
)
def test_exercise_3_rejects_wrong_reaches(rows_up, layers):
    with pytest.raises(AssertionError):
        ch05.check_exercise_3([2, 4, 6], rows_up, layers)
