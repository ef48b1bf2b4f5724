"""The checks of chapter 08's exercises accept right answers and reject plausible wrong ones."""

from utils import data
from utils.exercises import ch08

import numpy as np
import pytest

NAMES = ["a", "b", "c", "d", "e"]
SECONDS = [1.0, 2.0, 3.0, 100.0, 5.0]
FIDS = [50.0, 60.0, 20.0, 10.0, 20.0]  # b is dominated by a, e by c (tie on FID, slower)


def test_pareto_front_by_brute_force():
    rng = np.random.default_rng(0)
    for _ in range(50):
        costs, losses = rng.integers(0, 5, 8), rng.integers(0, 5, 8)
        front = ch08.pareto_front(costs, losses)
        for i in range(8):
            beaten = any(
                costs[j] <= costs[i]
                and losses[j] <= losses[i]
                and (costs[j], losses[j]) != (costs[i], losses[i])
                for j in range(8)
            )
            assert (i in front) == (not beaten)


def test_exercise_1(capsys):
    ch08.check_exercise_1(NAMES, SECONDS, FIDS, ["d", "c", "a"])
    assert capsys.readouterr().out.strip() == "correct"
    for wrong in (
        ["a", "d"],
        ["a", "c", "d", "e"],
        ["a", "b", "c", "d"],
        ["a", "c"],
        "acd",
        ["a", "c", "x"],
        ["a", "c", "d", "d"],
    ):
        with pytest.raises(AssertionError):
            ch08.check_exercise_1(NAMES, SECONDS, FIDS, wrong)


def test_exercise_2(capsys):
    small, large = np.array([80.0, 40.0, 130.0]), np.array([60.0, 25.0, 110.0])
    expected = (1000 * large - 100 * small) / 900
    ch08.check_exercise_2(100, small, 1000, large, expected)
    assert capsys.readouterr().out.strip() == "correct"
    swapped = (100 * large - 1000 * small) / (100 - 1000)
    for wrong in (large - small, large, small, swapped, expected + 0.5, (large + small) / 2):
        with pytest.raises(AssertionError):
            ch08.check_exercise_2(100, small, 1000, large, wrong)


def test_exercise_3(capsys):
    x, y = data.load_mnist("test", limit=200)  # real digits: the classifier mostly agrees
    from utils.classifier import classifier_outputs

    _, p = classifier_outputs(x)
    agreement = float(np.mean(p.argmax(axis=1) == y))
    assert agreement > 0.9
    ch08.check_exercise_3(x, y, agreement)
    assert capsys.readouterr().out.strip() == "correct"
    shuffled = np.roll(y, 1)
    for wrong in (
        1.0 - agreement,
        float(np.mean(p.max(axis=1))),
        float(np.mean(p.argmax(1) == shuffled)),
        1.0,
    ):
        with pytest.raises(AssertionError):
            ch08.check_exercise_3(x, y, wrong)
    with pytest.raises(AssertionError, match="fraction"):
        ch08.check_exercise_3(x, y, 1.5)
