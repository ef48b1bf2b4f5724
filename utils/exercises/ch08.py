"""Checks of the exercises of chapter 08 (comparing generative models).

Each function raises ``AssertionError`` with a hint on a wrong answer and prints ``correct``
otherwise. They recompute the answer independently in NumPy.
"""

from __future__ import annotations

import numpy as np

from . import correct
from . import finite_array as _finite


def pareto_front(costs, losses):
    """Indices of the points no other point beats: none has ``cost <=`` and ``loss <=`` with
    one of them strictly smaller. Sorted by cost."""
    costs, losses = np.asarray(costs, float), np.asarray(losses, float)
    front = []
    for i in range(len(costs)):
        dominated = np.any(
            (costs <= costs[i])
            & (losses <= losses[i])
            & ((costs < costs[i]) | (losses < losses[i]))
        )
        if not dominated:
            front.append(i)
    return sorted(front, key=lambda i: costs[i])


def check_exercise_1(names, seconds, fids, front):
    """Exercise 1: the models on the Pareto front of (seconds per 1,000 images, FID).

    Args:
        names: (M,) model names; seconds, fids: (M,) their costs and scores.
        front: the student's list of names on the front (any order).
    """
    names = list(names)
    seconds = _finite("seconds", seconds, (len(names),))
    fids = _finite("fids", fids, (len(names),))
    assert not isinstance(front, str), "front must be a list of names, not one string."
    answer = list(front)
    unknown = [name for name in answer if name not in names]
    assert not unknown, f"{unknown} are not model names; expected names from {names}."
    expected = {names[i] for i in pareto_front(seconds, fids)}
    assert len(set(answer)) == len(answer), "a model appears twice in front."
    fastest, best = names[int(np.argmin(seconds))], names[int(np.argmin(fids))]
    if set(answer) == {fastest, best} and expected != {fastest, best}:
        raise AssertionError(
            "the front holds more than the fastest and the best: every model that no other model "
            "beats on both axes at once."
        )
    missing, extra = expected - set(answer), set(answer) - expected
    assert not extra, (
        f"{sorted(extra)} are dominated: another model is at least as fast and at least as good "
        "(and strictly better on one)."
    )
    assert not missing, f"{sorted(missing)} are missing: no model is both faster and better."
    correct()


def fid_infinity(n_small, fid_small, n_large, fid_large):
    """FID extrapolated to infinitely many samples, from FID being linear in ``1/N``
    (Chong and Forsyth 2020): ``FID(N) = FID_inf + k / N``."""
    n_small, n_large = float(n_small), float(n_large)
    return (n_large * np.asarray(fid_large) - n_small * np.asarray(fid_small)) / (n_large - n_small)


def check_exercise_2(n_small, fid_small, n_large, fid_large, fid_inf):
    """Exercise 2: ``FID_inf`` of each model from its FID at two sample sizes.

    Args:
        n_small, n_large: the two N (ints, n_small < n_large).
        fid_small, fid_large: (M,) FIDs at those N.
        fid_inf: the student's (M,) extrapolations.
    """
    assert 1 < int(n_small) < int(n_large), "need 1 < n_small < n_large."
    fid_small = _finite("fid_small", fid_small)
    fid_large = _finite("fid_large", fid_large, fid_small.shape)
    answer = _finite("fid_inf", fid_inf, fid_small.shape)
    expected = fid_infinity(n_small, fid_small, n_large, fid_large)
    if np.allclose(answer, fid_large - fid_small):
        raise AssertionError(
            "that is the change in FID; solve FID(N) = FID_inf + k / N for FID_inf."
        )
    swapped = fid_infinity(n_large, fid_small, n_small, fid_large)
    if not np.allclose(expected, swapped) and np.allclose(answer, swapped):
        raise AssertionError("each FID goes with its own N: N_large with FID(N_large).")
    assert np.allclose(answer, expected, rtol=1e-6, atol=1e-6), (
        f"largest error {np.max(np.abs(answer - expected)):.3g}: with two points (1/N, FID) the "
        "line's value at 1/N = 0 is (N_large FID_large - N_small FID_small) / (N_large - N_small)."
    )
    correct()


def check_exercise_3(samples, labels, agreement, classifier=None):
    """Exercise 3: the label agreement of a conditional model: the fraction of samples the
    course classifier assigns to the label they were drawn for.

    Args:
        samples: (N, 28, 28, 1) samples; labels: (N,) the labels they were drawn with.
        agreement: the student's fraction in [0, 1].
        classifier: the course classifier (default: the committed one).
    """
    from ..classifier import classifier_outputs

    labels = np.asarray(labels)
    assert labels.shape == (len(samples),), f"labels must have shape ({len(samples)},)."
    value = float(agreement)
    assert 0.0 <= value <= 1.0, f"agreement is a fraction in [0, 1], got {value}."
    _, probabilities = classifier_outputs(samples, classifier=classifier)
    predicted = probabilities.argmax(axis=1)
    expected = float(np.mean(predicted == labels))
    if abs(value - (1.0 - expected)) < 1e-9 and abs(expected - 0.5) > 1e-9:
        raise AssertionError("that is the share of disagreements: count predicted == requested.")
    if abs(value - float(np.mean(probabilities.max(axis=1)))) < 1e-9:
        raise AssertionError("that is the classifier's mean confidence, not agreement with labels.")
    assert abs(value - expected) < 1e-9, (
        f"got {value:.4f}: classify the samples (utils.classifier.classifier_outputs), take the "
        "argmax of the probabilities and count how often it equals the requested label."
    )
    correct()
