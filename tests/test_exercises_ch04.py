"""The checks of chapter 04's exercises accept right answers and reject plausible wrong ones."""

from utils.exercises import ch04

import math

import numpy as np
import pytest

D = 784


def test_exercise_1_accepts_a_normalized_density(capsys):
    ch04.check_exercise_1(0.9991, 0.0412)
    assert capsys.readouterr().out.strip() == "correct"


@pytest.mark.parametrize(
    "with_det, without_det",
    [
        (0.0412, 0.9991),  # the two answers swapped
        (0.9991, 0.9991),  # log_det added in both sums
        (-812.0, -1650.0),  # sums of log-densities, not of densities
        (17.3, 0.04),  # cell area forgotten (a 0.03 x 0.03 cell: about 1 / 1111)
        (0.62, 0.04),  # a window that cuts off part of the mass
    ],
)
def test_exercise_1_rejects_wrong_masses(with_det, without_det):
    with pytest.raises(AssertionError):
        ch04.check_exercise_1(with_det, without_det)


@pytest.fixture
def draws():
    rng = np.random.default_rng(4)
    per_image = -D * math.log(2) * (1.3 + 0.2 * rng.standard_normal(40))  # about 1.3 bits/dim
    return per_image + 3.0 * rng.standard_normal((6, 40))  # 6 noise draws per image


def _right(log_liks):
    # independently of the check: float64 mean of probabilities after a shift that keeps exp()
    # in range
    shift = log_liks.max()
    lme = np.log(np.mean(np.exp(log_liks - shift), axis=0)) + shift
    return -log_liks.mean(axis=0) / (D * math.log(2)), -lme / (D * math.log(2))


def test_exercise_2_accepts_both_bounds(draws, capsys):
    bits_mean, bits_lme = _right(draws)
    assert np.all(bits_lme <= bits_mean)  # log-mean-exp is the tighter bound
    ch04.check_exercise_2(draws, bits_mean, bits_lme)
    assert capsys.readouterr().out.strip() == "correct"


def test_exercise_2_rejects_wrong_conversions(draws):
    bits_mean, bits_lme = _right(draws)
    nats_per_dim = -draws.mean(axis=0) / D
    wrong = {
        "nats, not bits": (nats_per_dim, bits_lme),
        "sign": (-bits_mean, bits_lme),
        "mean over images": (np.full(40, bits_mean.mean()), bits_lme),
        "mean for both": (bits_mean, bits_mean),
        "logsumexp without log K": (bits_mean, bits_lme - math.log(6) / (D * math.log(2))),
        "constant": (bits_mean, np.full(40, 1.3)),
    }
    for name, (a, b) in wrong.items():
        with pytest.raises(AssertionError):
            ch04.check_exercise_2(draws, a, b)
    with pytest.raises(AssertionError, match="per image"):
        ch04.check_exercise_2(draws, bits_mean.mean(), bits_lme)
    with pytest.raises(AssertionError, match="different seed"):  # one seed for every draw
        same = np.repeat(draws[:1], 6, axis=0)
        ch04.check_exercise_2(same, *_right(same))
    with pytest.raises(AssertionError, match="NLL"):  # negative log-likelihoods passed
        ch04.check_exercise_2(-draws, *_right(-draws))
    with pytest.raises(AssertionError, match="K >= 2"):
        ch04.check_exercise_2(draws[:1], *_right(draws[:1]))


def test_exercise_3_accepts_half_and_none(capsys):
    ch04.check_exercise_3(0.5, 0.0)
    assert capsys.readouterr().out.strip() == "correct"


@pytest.mark.parametrize(
    "same, alternating",
    [
        (1.0, 1.0),  # untrained couplings: the identity
        (0.0, 0.5),  # swapped
        (0.5, 0.5),  # the same parity in both stacks
        (0.25, 0.0),  # counted per layer, or a quarter of the pixels
        (0.5, 1.0),  # the fraction changed, not unchanged, for the alternating stack
        (50.0, 0.0),  # a percentage
    ],
)
def test_exercise_3_rejects_wrong_fractions(same, alternating):
    with pytest.raises(AssertionError):
        ch04.check_exercise_3(same, alternating)
