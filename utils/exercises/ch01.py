"""Checks of chapter 01's exercises (autoencoders).

Each ``check_exercise_N`` takes the student's answer, raises ``AssertionError`` with a hint when it
is wrong, and prints ``correct`` when it is right. The checks recompute what they can with NumPy
from the arrays passed in, so they are cheap and unit-tested against plausible wrong answers
(``tests/test_exercises_ch01.py``).

Some conditions judge how well a model was *trained* (a linear autoencoder close to PCA, an
autoencoder beating PCA). Smoke mode trains every model for a single pass over 1,000 images, which
cannot meet them, so by default (``strict=None``) they are applied in full mode only; the
conditions that hold for any model (a linear map cannot beat PCA, an AUC must match its scores) are
checked in both modes.
"""

from __future__ import annotations

import math

import numpy as np

from . import correct

#: Exercise 1: a linear autoencoder may beat PCA on test images by at most this fraction (noise) ...
EX1_MIN_RATIO = 0.98
#: ... and, trained as the chapter trains it, must come within this factor of PCA's error.
EX1_MAX_RATIO = 1.05
#: Exercise 2: the smallest acceptable ROC AUC, and the margin over the total-ink baseline.
EX2_MIN_AUC = 0.9
EX2_MIN_MARGIN = 0.1
#: Exercise 3: the 2-D autoencoder must beat 2-D PCA by this much 5-NN accuracy.
EX3_MIN_GAIN = 0.1


def _strict(strict):
    if strict is None:
        from ..runtime import smoke_mode

        return not smoke_mode()
    return bool(strict)


_SMOKE_NOTE = "correct (smoke mode: the thresholds on training quality apply in full mode only)"


def _done(strict):
    correct("correct" if strict else _SMOKE_NOTE)


def _number(name, value, *, low=None, high=None):
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise AssertionError(f"{name} should be a number, got {type(value).__name__}.") from None
    assert math.isfinite(value), f"{name} should be finite, got {value}."
    if low is not None:
        assert value >= low, f"{name} should be >= {low}, got {value:.6g}."
    if high is not None:
        assert value <= high, f"{name} should be <= {high}, got {value:.6g}."
    return value


def check_exercise_1(linear_sse, pca_sse, *, strict=None):
    """Exercise 1: a linear autoencoder's test squared error against PCA's, same code size.

    Args:
        linear_sse: mean test squared error per image of the linear autoencoder (d = 10).
        pca_sse: the same for 10-component PCA.
        strict: apply the training-quality bound (default: in full mode only).

    Raises:
        AssertionError: a "linear" model that beats PCA by more than 2 % (it has a nonlinearity,
            or the two numbers come from different code sizes or images), or, when strict, one more
            than 5 % worse than PCA (untrained or badly trained: a higher learning rate or more
            epochs help).
    """
    strict = _strict(strict)
    linear = _number("linear_sse", linear_sse, low=0.0)
    pca = _number("pca_sse", pca_sse, low=0.0)
    assert pca > 0, "pca_sse should be PCA's positive test error."
    assert linear >= EX1_MIN_RATIO * pca, (
        f"the linear autoencoder ({linear:.2f}) beats PCA ({pca:.2f}) by "
        f"{1 - linear / pca:.1%}. No linear map of rank 10 can do that beyond noise (Baldi and "
        "Hornik 1989): check that the model has no hidden layer and no output activation, and "
        "that both numbers use d = 10 and the same test images."
    )
    if strict:
        assert linear <= EX1_MAX_RATIO * pca, (
            f"the linear autoencoder ({linear:.2f}) is {linear / pca - 1:.1%} worse than PCA "
            f"({pca:.2f}); trained with the mean squared error it should come within "
            f"{EX1_MAX_RATIO - 1:.0%}. Is it trained (loss='mse', learning_rate=3e-3, a few "
            "epochs)?"
        )
    _done(strict)


def _roc_auc(scores, labels):
    """ROC AUC by the Mann-Whitney rank statistic (ties count one half)."""
    from scipy.stats import rankdata

    ranks = rankdata(scores)
    positive = labels == 1
    n_pos, n_neg = positive.sum(), (~positive).sum()
    return (ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def check_exercise_2(auc, scores, is_corrupted, images, *, strict=None):
    """Exercise 2: clean vs corrupted digits, scored by reconstruction error.

    Args:
        auc: the student's ROC AUC.
        scores: (N,) anomaly scores (higher = more anomalous), one per image.
        is_corrupted: (N,) 0/1 labels, 1 for the images with a pasted square.
        images: (N, ...) the scored images, for the total-ink baseline.
        strict: apply the quality thresholds (default: in full mode only).

    Raises:
        AssertionError: labels that are not 0/1 with both classes, an AUC that is not the ROC AUC
            of ``scores`` (e.g. labels flipped, or 1 - AUC), or, when strict, an AUC under 0.9 or
            not at least 0.1 above the AUC of the total ink of each image (a score that uses no
            model).
    """
    strict = _strict(strict)
    labels = np.asarray(is_corrupted).reshape(-1)
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    images = np.asarray(images, dtype=np.float64)
    assert len(scores) == len(labels) == len(images), (
        f"scores, is_corrupted and images should have one entry per image, got {len(scores)}, "
        f"{len(labels)} and {len(images)}."
    )
    assert np.all((labels == 0) | (labels == 1)) and 0 < labels.sum() < len(labels), (
        "is_corrupted should hold 0 (clean) and 1 (corrupted), with both present."
    )
    assert np.all(np.isfinite(scores)), "scores should be finite."
    value = _number("auc", auc, low=0.0, high=1.0)
    expected = _roc_auc(scores, labels)
    assert abs(value - expected) < 1e-6, (
        f"the ROC AUC of these scores with corrupted = 1 is {expected:.4f}; you report {value:.4f}."
        " Pass the labels first and the scores second (roc_auc_score(y_true, y_score)), with the "
        "corrupted images as the positive class and the reconstruction error as the score."
    )
    if strict:
        ink = _roc_auc(images.reshape(len(images), -1).sum(axis=1), labels)
        assert value >= EX2_MIN_AUC, (
            f"ROC AUC {value:.3f} < {EX2_MIN_AUC}: the trained convolutional autoencoder should "
            "reconstruct a pasted square badly. Score with reconstruction.per_image_squared_error "
            "between each image and its reconstruction."
        )
        assert value >= ink + EX2_MIN_MARGIN, (
            f"ROC AUC {value:.3f} is not clearly above {ink:.3f}, the AUC of the total ink of each "
            "image (a score that uses no model). Score with the autoencoder's reconstruction error."
        )
    _done(strict)


def check_exercise_3(ae_accuracy, pca_accuracy, *, strict=None):
    """Exercise 3: 5-NN test accuracy on 2-D autoencoder codes vs 2-D PCA codes.

    Raises:
        AssertionError: accuracies outside [0.1, 1] (chance is about 0.1; a percentage instead of a
            fraction), two identical numbers (the same features twice), or, when strict, an
            autoencoder that does not beat PCA by ``EX3_MIN_GAIN`` (untrained, or the two swapped).
    """
    strict = _strict(strict)
    ae = _number("ae_accuracy", ae_accuracy, low=0.0, high=1.0)
    pca = _number("pca_accuracy", pca_accuracy, low=0.0, high=1.0)
    assert ae != pca, "the two accuracies are identical: did both classifiers get the same codes?"
    if strict:
        for name, value in (("AE", ae), ("PCA", pca)):
            assert value > 0.15, (
                f"{name} accuracy {value:.3f} is near chance (0.1): fit on the training codes, "
                "score on the test codes of the same model."
            )
        assert ae >= pca + EX3_MIN_GAIN, (
            f"AE {ae:.3f} vs PCA {pca:.3f}: the trained 2-D autoencoder should keep the classes "
            f"apart better than two principal components (by at least {EX3_MIN_GAIN:g}). Are the "
            "two numbers swapped, or is the AE codes' encoder the trained d = 2 one?"
        )
    _done(strict)
