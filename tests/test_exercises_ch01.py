"""Chapter 01's exercise checks accept the right answers and reject plausible wrong ones."""

from utils.exercises import ch01

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

# ---------------------------------------------------------------------------------------------
# Exercise 1: linear autoencoder vs PCA
# ---------------------------------------------------------------------------------------------


def test_exercise_1_right(capsys):
    ch01.check_exercise_1(26.83, 26.71, strict=True)  # the committed full-mode run
    assert capsys.readouterr().out.strip() == "correct"


@pytest.mark.parametrize(
    "linear, pca",
    [
        (180.0, 26.71),  # an untrained linear autoencoder
        (11.08, 26.71),  # the nonlinear dense AE's error at d = 10
        (26.83, 13.87),  # PCA at d = 30 instead of 10
        (31.0, 26.71),  # trained too little: 16 % worse than PCA
        (26.83, 0.0),  # a constant
        (float("nan"), 26.71),
    ],
)
def test_exercise_1_wrong(linear, pca):
    with pytest.raises(AssertionError):
        ch01.check_exercise_1(linear, pca, strict=True)


def test_exercise_1_smoke_mode_keeps_the_bound_that_holds_for_any_model(capsys):
    ch01.check_exercise_1(60.0, 28.0, strict=False)  # a barely trained model passes ...
    assert "smoke mode" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="beats PCA"):
        ch01.check_exercise_1(11.08, 26.71, strict=False)  # ... a nonlinear one never does


# ---------------------------------------------------------------------------------------------
# Exercise 2: corrupted digits
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def corrupted_set():
    """Synthetic 'clean' images and copies with a bright square; errors as an AE would give."""
    rng = np.random.default_rng(0)
    density = rng.uniform(0.05, 0.3, (200, 1, 1, 1))  # digits differ a lot in their amount of ink
    clean = (rng.random((200, 28, 28, 1)) < density) * rng.random((200, 28, 28, 1))
    corrupted = clean.copy()
    for image in corrupted:
        r, c = rng.integers(0, 22, 2)
        image[r : r + 6, c : c + 6] = 1.0
    images = np.concatenate([clean, corrupted]).astype(np.float32)
    labels = np.r_[np.zeros(200), np.ones(200)]
    # a good detector: reconstruction error ~ 3 per clean image, + most of the square's 36 pixels
    good = rng.normal(3.0, 1.0, 400) + labels * rng.normal(25.0, 5.0, 400)
    return images, labels, good


def test_exercise_2_right(corrupted_set, capsys):
    images, labels, good = corrupted_set
    ch01.check_exercise_2(roc_auc_score(labels, good), good, labels, images, strict=True)
    assert capsys.readouterr().out.strip() == "correct"


def test_exercise_2_rejects_a_mismatched_or_flipped_auc(corrupted_set):
    images, labels, good = corrupted_set
    auc = roc_auc_score(labels, good)
    with pytest.raises(AssertionError, match="ROC AUC of these scores"):
        ch01.check_exercise_2(1 - auc, good, labels, images, strict=True)  # labels flipped
    ink_auc = roc_auc_score(labels, images.reshape(len(images), -1).sum(axis=1))
    with pytest.raises(AssertionError, match="ROC AUC of these scores"):
        ch01.check_exercise_2(ink_auc, good, labels, images, strict=True)  # another score's AUC


def test_exercise_2_rejects_weak_scores(corrupted_set):
    images, labels, _ = corrupted_set
    rng = np.random.default_rng(1)
    untrained = rng.normal(100.0, 10.0, 400) + labels * rng.normal(2.0, 1.0, 400)
    ink = images.reshape(400, -1).sum(axis=1)
    for scores in (untrained, ink, rng.random(400)):
        with pytest.raises(AssertionError):
            ch01.check_exercise_2(
                roc_auc_score(labels, scores), scores, labels, images, strict=True
            )


def test_exercise_2_rejects_bad_labels(corrupted_set):
    images, labels, good = corrupted_set
    with pytest.raises(AssertionError, match="0 \\(clean\\)"):
        ch01.check_exercise_2(0.9, good, np.zeros(400), images, strict=True)


# ---------------------------------------------------------------------------------------------
# Exercise 3: kNN on 2-D codes
# ---------------------------------------------------------------------------------------------


def test_exercise_3_right(capsys):
    rng = np.random.default_rng(0)
    from sklearn.neighbors import KNeighborsClassifier

    # classes well separated in one 2-D representation, mixed in the other
    y = rng.integers(0, 10, 600)
    centres = rng.normal(0, 5, (10, 2))
    good = centres[y] + rng.normal(0, 0.7, (600, 2))
    poor = centres[y] + rng.normal(0, 4.0, (600, 2))
    acc = {
        name: KNeighborsClassifier(5).fit(f[:500], y[:500]).score(f[500:], y[500:])
        for name, f in (("AE", good), ("PCA", poor))
    }
    ch01.check_exercise_3(acc["AE"], acc["PCA"], strict=True)
    assert capsys.readouterr().out.strip() == "correct"


@pytest.mark.parametrize(
    "ae, pca",
    [
        (0.426, 0.675),  # swapped
        (0.50, 0.426),  # an under-trained AE, barely better
        (0.21, 0.402),  # the smoke-mode AE
        (0.426, 0.426),  # the same codes twice
        (67.5, 42.6),  # percentages
        (0.1, 0.09),  # chance
    ],
)
def test_exercise_3_wrong(ae, pca):
    with pytest.raises(AssertionError):
        ch01.check_exercise_3(ae, pca, strict=True)


def test_checks_follow_the_mode_by_default(monkeypatch, capsys):
    monkeypatch.setenv("COURSE_SMOKE", "0")
    with pytest.raises(AssertionError):
        ch01.check_exercise_3(0.21, 0.402)
    monkeypatch.setenv("COURSE_SMOKE", "1")
    ch01.check_exercise_3(0.21, 0.402)
    assert "smoke mode" in capsys.readouterr().out
