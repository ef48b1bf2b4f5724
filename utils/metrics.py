"""Sample-quality metrics of the course, measured in one fixed feature space.

Models without a likelihood (GANs) and models whose likelihoods are not comparable (a GAN and a
PixelCNN) are compared by looking at their *samples*. The course does this in the feature space of
one small MNIST classifier (:mod:`utils.classifier`, trained once and committed in ``data/``):
its penultimate layer (128 ReLU units) gives the **features**, its softmax the class
probabilities. On top of it:

- :func:`frechet_distance` — "FID on MNIST classifier features": the Fréchet distance between two
  Gaussians fitted to the features (Heusel et al. 2017, eq. 6 of the TTUR paper).
- :func:`kernel_inception_distance` — the unbiased KID with the cubic polynomial kernel and its
  standard error over subsets (Bińkowski et al. 2018, section 3 and appendix).
- :func:`precision_recall` — improved precision (sample quality) and recall (coverage) from k-NN
  manifolds of the features (Kynkäänniemi et al. 2019).
- :func:`inception_score` — the classifier Inception Score (Salimans et al. 2016, section 4).
- :func:`class_histogram` — the digit classes of samples: mode coverage at a glance.
- :func:`sample_quality` and :func:`real_data_floor` — all of these at once, and the same numbers
  between real training and real test images at the same sample count N: the floor a perfect
  generator would reach. FID and KID estimates depend on N (FID is biased upwards for small N), so
  only numbers at the same N may be compared.

These are *not* the Inception-v3 numbers of papers on natural images: the features differ, so the
values differ in scale. Only comparisons inside the course are meaningful.

References:

- M. Heusel, H. Ramsauer, T. Unterthiner, B. Nessler, S. Hochreiter (2017). GANs trained by a two
  time-scale update rule converge to a local Nash equilibrium. *NeurIPS*.
- M. Bińkowski, D. J. Sutherland, M. Arbel, A. Gretton (2018). Demystifying MMD GANs. *ICLR*.
- T. Salimans, I. Goodfellow, W. Zaremba, V. Cheung, A. Radford, X. Chen (2016). Improved
  techniques for training GANs. *NeurIPS*.
- T. Kynkäänniemi, T. Karras, S. Laine, J. Lehtinen, T. Aila (2019). Improved precision and recall
  metric for assessing generative models. *NeurIPS*.
- D. C. Dowson, B. V. Landau (1982). The Fréchet distance between multivariate normal
  distributions. *Journal of Multivariate Analysis* 12(3).
"""

from __future__ import annotations

import collections
import hashlib
import numbers

import numpy as np
import scipy.linalg

from .checks import nonnegative_int, positive_int
from .classifier import _as_images, classifier_outputs

# ----------------------------------------------------------------------------------------------
# Distances between feature sets
# ----------------------------------------------------------------------------------------------


def _features(name, f, *, min_rows=2):
    try:
        f = np.asarray(f, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a numeric (N, d) array, got {type(f).__name__}.") from None
    if f.ndim != 2 or len(f) < min_rows or f.shape[1] < 1:
        raise ValueError(
            f"{name} must be a (N, d) array with N >= {min_rows} and d >= 1, got shape {f.shape}."
        )
    if not np.all(np.isfinite(f)):
        raise ValueError(
            f"{name} must be finite, got {int(np.sum(~np.isfinite(f)))} NaN or inf values "
            "(check the images or the model that produced them)."
        )
    return f


def _same_width(name_a, a, name_b, b):
    if a.shape[1] != b.shape[1]:
        raise ValueError(
            f"feature sizes differ: {name_a} has {a.shape[1]} columns and {name_b} has "
            f"{b.shape[1]}; both must come from the same feature space."
        )


def feature_statistics(features):
    """Mean and covariance of features, the Gaussian fit of FID.

    Args:
        features: (N, d) array, N >= 2, finite.

    Returns:
        ``(mean, covariance)``: float64 arrays (d,) and (d, d) (unbiased, divisor N - 1).

    Raises:
        ValueError: not (N, d) with N >= 2, or NaN/inf values.
    """
    f = _features("features", features)
    return f.mean(axis=0), np.cov(f, rowvar=False).reshape(f.shape[1], f.shape[1])


def _psd_factor(name, sigma):
    """``F`` (d, r) with ``F F^T = sigma``: eigenvectors of the eigenvalues above round-off, scaled.

    Eigenvalues below ``d * eps * max|eigenvalue|`` (the usual numerical-rank tolerance) are zero
    to working precision; keeping them would add ``sqrt(round-off)`` noise to the trace term.

    Raises:
        ValueError: an eigenvalue below ``-tolerance``: the matrix is not positive semi-definite.
    """
    w, v = np.linalg.eigh(sigma)
    scale = float(np.max(np.abs(w))) if w.size else 0.0
    tol = max(len(w), 1) * np.finfo(np.float64).eps * scale
    if w.size and w[0] < -max(tol, 1e-10 * scale):
        raise ValueError(
            f"{name} must be positive semi-definite (a covariance), but its smallest eigenvalue "
            f"is {w[0]:.3g} (largest {w[-1]:.3g})."
        )
    keep = w > tol
    return v[:, keep] * np.sqrt(w[keep])


def _trace_sqrt_product(s1, s2):
    """``Tr((S1 S2)^{1/2})`` for symmetric positive semi-definite S1, S2, exact for any rank.

    With ``S1 = F1 F1^T`` and ``S2 = F2 F2^T`` (:func:`_psd_factor`), ``S1^{1/2} S2 S1^{1/2}`` has
    the eigenvalues of ``(F1^T F2)(F1^T F2)^T``, so the trace of its square root, which equals
    ``Tr((S1 S2)^{1/2})``, is the sum of the singular values of the small (r1, r2) matrix
    ``F1^T F2``. Singular values carry round-off of order ``eps * ||F1^T F2||`` rather than the
    ``sqrt(eps)`` that square roots of tiny eigenvalues of a product would add.
    """
    f1, f2 = _psd_factor("sigma1", s1), _psd_factor("sigma2", s2)
    if f1.shape[1] == 0 or f2.shape[1] == 0:
        return 0.0
    return float(np.sum(scipy.linalg.svdvals(f1.T @ f2)))


def _covariance(name, sigma, d):
    s = np.atleast_2d(np.asarray(sigma, np.float64))
    if s.shape != (d, d):
        raise ValueError(
            f"{name} must be a ({d}, {d}) covariance to match the means, got shape {s.shape}."
        )
    if not np.all(np.isfinite(s)):
        raise ValueError(f"{name} must be finite, got NaN or inf entries.")
    scale = max(float(np.max(np.abs(s))), np.finfo(np.float64).tiny)
    asym = float(np.max(np.abs(s - s.T)))
    if asym > 1e-8 * scale:
        raise ValueError(
            f"{name} must be symmetric (a covariance), got max |S - S^T| = {asym:.3g} "
            f"for entries of size {scale:.3g}."
        )
    return 0.5 * (s + s.T)


def frechet_distance_from_statistics(mu1, sigma1, mu2, sigma2, *, eps=1e-6):
    """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2).

    ``d^2 = ||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^{1/2})`` (Dowson and Landau 1982; used as FID
    by Heusel et al. 2017, eq. 6 of the TTUR paper). The trace term is computed from the symmetric
    form ``Tr((S1^{1/2} S2 S1^{1/2})^{1/2})`` as the sum of singular values of ``F1^T F2``, where
    ``F F^T = S`` are eigen-factors of the covariances with round-off eigenvalues removed. Unlike
    ``scipy.linalg.sqrtm`` of the non-symmetric product ``S1 S2``, this stays exact when the
    covariances are rank-deficient (fewer samples than features, dead ReLU units, features in a
    subspace) and needs no regularization.

    Args:
        mu1, mu2: (d,) means (finite).
        sigma1, sigma2: (d, d) covariances: finite, symmetric and positive semi-definite.
        eps: accepted for backward compatibility and ignored (the ``eps * I`` regularization of
            ``sqrtm`` is no longer needed).

    Returns:
        float, in squared units of the features (>= 0 up to round-off).

    Raises:
        ValueError: shapes that do not match, NaN/inf entries, or a covariance that is not
            symmetric or not positive semi-definite.
    """
    mu1 = np.atleast_1d(np.asarray(mu1, np.float64))
    mu2 = np.atleast_1d(np.asarray(mu2, np.float64))
    if mu1.ndim != 1:
        raise ValueError(f"mu1 must be a (d,) mean vector, got shape {mu1.shape}.")
    d = mu1.shape[0]
    if mu2.shape != (d,):
        raise ValueError(f"mu2 must have the shape of mu1, ({d},), got {mu2.shape}.")
    for name, mu in (("mu1", mu1), ("mu2", mu2)):
        if not np.all(np.isfinite(mu)):
            raise ValueError(f"{name} must be finite, got NaN or inf entries.")
    s1, s2 = _covariance("sigma1", sigma1, d), _covariance("sigma2", sigma2, d)
    diff = mu1 - mu2
    trace_covmean = _trace_sqrt_product(s1, s2)
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * trace_covmean)


def frechet_distance(features_a, features_b):
    """FID between two (N, d) feature sets (see :func:`frechet_distance_from_statistics`).

    Estimated from samples, FID is biased upwards, and more so for small N: compare numbers only
    at the same N (Bińkowski et al. 2018, section 3).

    Args:
        features_a, features_b: (N, d) and (M, d) finite features, N, M >= 2.

    Returns:
        float, squared units of the features.

    Raises:
        ValueError: not 2-D, fewer than two rows, NaN/inf, or different feature sizes.
    """
    a, b = _features("features_a", features_a), _features("features_b", features_b)
    _same_width("features_a", a, "features_b", b)
    return frechet_distance_from_statistics(*feature_statistics(a), *feature_statistics(b))


def _kernel(a, b, degree=3, gamma=None, coef0=1.0):
    gamma = 1.0 / a.shape[1] if gamma is None else gamma
    return (gamma * (a @ b.T) + coef0) ** degree


def polynomial_kernel(a, b, *, degree=3, gamma=None, coef0=1.0):
    """``k(x, y) = (gamma x.y + coef0)^degree`` with ``gamma = 1/d`` by default.

    The kernel of KID (Bińkowski et al. 2018, section 3).

    Args:
        a, b: (N, d) and (M, d) finite features (N, M >= 1).
        degree: positive int; gamma: None (1/d) or a finite number; coef0: a finite number.

    Returns:
        (N, M) float64 kernel matrix.

    Raises:
        ValueError: bad shapes, NaN/inf, different feature sizes, or a bad degree/gamma/coef0.
    """

    a, b = _features("a", a, min_rows=1), _features("b", b, min_rows=1)
    _same_width("a", a, "b", b)
    degree = positive_int("degree", degree)
    for name, value in (("gamma", gamma), ("coef0", coef0)):
        if value is None and name == "gamma":
            continue
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value):
            raise ValueError(f"{name} must be a finite number, got {value!r}.")
    return _kernel(a, b, degree, gamma, coef0)


def _mmd2_unbiased(x, y):
    m, n = len(x), len(y)
    kxx, kyy, kxy = _kernel(x, x), _kernel(y, y), _kernel(x, y)
    return (
        (kxx.sum() - np.trace(kxx)) / (m * (m - 1))
        + (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
        - 2.0 * kxy.mean()
    )


def kernel_inception_distance(features_a, features_b, *, n_subsets=10, subset_size=1000, seed=0):
    """Unbiased KID: squared MMD with the cubic polynomial kernel, averaged over random subsets.

    ``MMD^2_u = 1/(m(m-1)) sum_{i!=j} k(x_i, x_j) + 1/(n(n-1)) sum_{i!=j} k(y_i, y_j)
    - 2/(mn) sum_{i,j} k(x_i, y_j)`` with ``k(x, y) = (x.y / d + 1)^3`` (Bińkowski et al. 2018,
    eq. 3 and section 3). Unlike FID the estimator is unbiased, so it can be negative when the
    two distributions agree; its standard error says how far from 0 is meaningful.

    Args:
        features_a, features_b: (N, d) and (M, d) features.
        n_subsets: number of random subset pairs (>= 2 for a standard error).
        subset_size: rows per subset (capped at the smaller N; >= 2).
        seed: seed of the subset draws.

    Returns:
        ``(kid, standard_error)``: floats, the mean over subsets and ``std / sqrt(n_subsets)``.

    Raises:
        ValueError: bad feature arrays (shape, NaN/inf, sizes), non-positive ``n_subsets``,
            ``subset_size`` < 2, or a negative or non-int ``seed``.
    """
    a, b = _features("features_a", features_a), _features("features_b", features_b)
    _same_width("features_a", a, "features_b", b)
    for name, value, low in (("n_subsets", n_subsets, 1), ("subset_size", subset_size, 2)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
            raise ValueError(f"{name} must be an int >= {low}, got {value!r}.")
    seed = _seed(seed)
    size = min(int(subset_size), len(a), len(b))
    rng = np.random.default_rng(seed)
    values = np.array(
        [
            _mmd2_unbiased(
                a[rng.choice(len(a), size, replace=False)],
                b[rng.choice(len(b), size, replace=False)],
            )
            for _ in range(int(n_subsets))
        ]
    )
    se = float(values.std(ddof=1) / np.sqrt(len(values))) if len(values) > 1 else float("nan")
    return float(values.mean()), se


def _seed(seed, name="seed"):
    return nonnegative_int(name, seed)


def _squared_norms(x):
    return np.einsum("ij,ij->i", x, x)


def _chunk_rows(n_columns, budget_bytes=64 * 2**20):
    """Rows per block so that a (rows, n_columns) float64 block stays within ``budget_bytes``."""
    return max(1, budget_bytes // (8 * max(1, n_columns)))


def _pairwise_sq_distances(a, a_norms, b, b_norms):
    """Squared Euclidean distances (len(a), len(b)), float64, clipped at 0."""
    d2 = a_norms[:, None] + b_norms[None, :] - 2.0 * (a @ b.T)
    return np.maximum(d2, 0.0)


#: The last few k-NN radii computed, by (SHA-1 of the features, k): a benchmark scores many
#: sample sets against the same real features, whose radii (N^2 distances) need computing once.
_RADII_CACHE: collections.OrderedDict = collections.OrderedDict()
_RADII_CACHE_SIZE = 4


def _knn_radii_sq(x, norms, k):
    """Squared distance of each row of ``x`` to its k-th nearest other row (chunked, cached)."""
    key = (hashlib.sha1(np.ascontiguousarray(x).tobytes()).hexdigest(), x.shape, k)
    if key in _RADII_CACHE:
        _RADII_CACHE.move_to_end(key)
        return _RADII_CACHE[key].copy()
    radii = np.empty(len(x))
    step = _chunk_rows(len(x))
    for start in range(0, len(x), step):
        d2 = _pairwise_sq_distances(x[start : start + step], norms[start : start + step], x, norms)
        # Index 0 of each sorted row is the point itself (distance 0): the k-th neighbour is at k.
        radii[start : start + step] = np.partition(d2, k, axis=1)[:, k]
    _RADII_CACHE[key] = radii.copy()
    while len(_RADII_CACHE) > _RADII_CACHE_SIZE:
        _RADII_CACHE.popitem(last=False)
    return radii


def precision_recall(real_features, fake_features, *, k=3, max_points=None, seed=0):
    """Improved precision and recall of generated samples in a feature space (k-NN manifolds).

    Kynkäänniemi, Karras, Laine, Lehtinen and Aila (2019), *Improved precision and recall metric for
    assessing generative models*, NeurIPS, eq. 1-2: each set's manifold is the union of balls
    centred on its points with radius the distance to the point's k-th nearest neighbour in the
    same set (k = 3 in the paper).

    - **precision** = fraction of fake samples inside the real manifold (sample *quality*: are the
      samples realistic?);
    - **recall** = fraction of real samples inside the fake manifold (*coverage*: does the model
      produce the variety of the data?).

    A mode-collapsed generator has high precision and low recall; a blurry one that covers
    everything has the opposite. Distances are computed in row blocks of at most 64 MB, so
    10,000 x 10,000 points with 128 features need well under 1 GB. A distance counts as within a
    radius up to relative round-off (1e-12 of the squared norms), so a set compared with itself
    gets exactly 1 and 1.

    Args:
        real_features: (N, d) finite features of real images (e.g.
            :func:`utils.classifier.classifier_features`).
        fake_features: (M, d) finite features of generated images.
        k: the neighbour that sets each radius (positive int, < N and < M after subsampling).
        max_points: None, or a positive int: use a random subset (drawn with ``seed``, without
            replacement) of at most this many points of each set.
        seed: non-negative int seeding the subsets.

    Returns:
        dict ``{"precision": float, "recall": float}``, both fractions in [0, 1].

    Raises:
        ValueError: bad feature arrays (not 2-D, NaN/inf, different sizes), ``k`` not a positive
            int or not smaller than each set, a bad ``max_points`` or ``seed``.
    """

    real = _features("real_features", real_features)
    fake = _features("fake_features", fake_features)
    _same_width("real_features", real, "fake_features", fake)
    k = positive_int("k", k)
    seed = _seed(seed)
    rng = np.random.default_rng(seed)
    if max_points is not None:
        max_points = positive_int("max_points", max_points)
        if len(real) > max_points:
            real = real[np.sort(rng.choice(len(real), max_points, replace=False))]
        if len(fake) > max_points:
            fake = fake[np.sort(rng.choice(len(fake), max_points, replace=False))]
    smallest = min(len(real), len(fake))
    if k >= smallest:
        raise ValueError(
            f"k must be smaller than the number of points of each set ({len(real)} real, "
            f"{len(fake)} fake after max_points), got k={k}."
        )
    real_norms, fake_norms = _squared_norms(real), _squared_norms(fake)
    real_radii = _knn_radii_sq(real, real_norms, k)
    fake_radii = _knn_radii_sq(fake, fake_norms, k)
    fake_in_real = np.zeros(len(fake), dtype=bool)
    real_in_fake = np.zeros(len(real), dtype=bool)
    step = _chunk_rows(len(real))
    for start in range(0, len(fake), step):
        rows = slice(start, start + step)
        d2 = _pairwise_sq_distances(fake[rows], fake_norms[rows], real, real_norms)
        slack = 1e-12 * (fake_norms[rows][:, None] + real_norms[None, :])
        fake_in_real[rows] = np.any(d2 <= real_radii[None, :] + slack, axis=1)
        real_in_fake |= np.any(d2 <= fake_radii[rows][:, None] + slack, axis=0)
    return {"precision": float(fake_in_real.mean()), "recall": float(real_in_fake.mean())}


# ----------------------------------------------------------------------------------------------
# Scores from class probabilities
# ----------------------------------------------------------------------------------------------


def _probabilities(p):
    p = np.asarray(p, dtype=np.float64)
    if p.ndim != 2 or len(p) == 0 or p.shape[1] == 0:
        raise ValueError(f"probabilities must be a non-empty (N, K) array, got shape {p.shape}.")
    if not np.all(np.isfinite(p)):
        raise ValueError("probabilities must be finite, got NaN or inf values.")
    if np.any(p < -1e-6) or not np.allclose(p.sum(axis=1), 1.0, atol=1e-3):
        raise ValueError(
            "each row of probabilities must be a distribution (non-negative, summing to 1)."
        )
    return np.clip(p, 1e-12, 1.0)


def inception_score(probabilities, *, n_splits=10):
    """Classifier Inception Score ``exp(E_x KL(p(y|x) || p(y)))`` (Salimans et al. 2016, section 4).

    High when each sample is classified confidently (low ``H(y|x)``) *and* the classes are
    balanced (high ``H(y)``). With 10 classes the maximum is 10. As is customary, the score is
    computed on ``n_splits`` disjoint splits; the mean and standard deviation are returned.

    Args:
        probabilities: (N, K) class probabilities of the samples.
        n_splits: number of disjoint splits (1 <= n_splits <= N).

    Returns:
        ``(mean, std)`` floats, in [1, K].

    Raises:
        ValueError: rows that are not distributions, or a bad ``n_splits``.
    """
    p = _probabilities(probabilities)
    if (
        isinstance(n_splits, bool)
        or not isinstance(n_splits, numbers.Integral)
        or not 1 <= n_splits <= len(p)
    ):
        raise ValueError(f"n_splits must be an int in [1, {len(p)}], got {n_splits!r}.")
    scores = []
    for part in np.array_split(p, int(n_splits)):
        marginal = part.mean(axis=0, keepdims=True)
        kl = np.sum(part * (np.log(part) - np.log(marginal)), axis=1)
        scores.append(np.exp(kl.mean()))
    return float(np.mean(scores)), float(np.std(scores))


def class_histogram(probabilities):
    """Fraction of samples assigned to each class (argmax of the classifier).

    Args:
        probabilities: (N, K) rows that are distributions.

    Returns:
        (K,) float64 fractions that sum to 1.

    Raises:
        ValueError: rows that are not distributions, NaN/inf, or a wrong shape.
    """
    p = _probabilities(probabilities)
    return np.bincount(p.argmax(axis=1), minlength=p.shape[1]) / len(p)


def mode_coverage(histogram, *, min_fraction=None):
    """Number of classes holding at least ``min_fraction`` of the samples (default: 1/(4K)).

    Args:
        histogram: (K,) class fractions from :func:`class_histogram` (finite, in [0, 1]).
        min_fraction: None or a number in (0, 1].

    Returns:
        int in [0, K].

    Raises:
        ValueError: a histogram that is not a finite 1-D array of fractions, or a bad
            ``min_fraction``.
    """
    h = np.asarray(histogram, dtype=np.float64)
    if h.ndim != 1 or len(h) == 0:
        raise ValueError(f"histogram must be a non-empty (K,) array, got shape {h.shape}.")
    if not np.all(np.isfinite(h)) or h.min() < 0 or h.max() > 1:
        raise ValueError(
            f"histogram must hold fractions in [0, 1], got values in [{h.min()}, {h.max()}]."
        )
    if min_fraction is not None and (
        isinstance(min_fraction, bool)
        or not isinstance(min_fraction, numbers.Real)
        or not 0 < float(min_fraction) <= 1
    ):
        raise ValueError(f"min_fraction must be None or a number in (0, 1], got {min_fraction!r}.")
    threshold = 1.0 / (4 * len(h)) if min_fraction is None else float(min_fraction)
    return int(np.sum(h >= threshold))


# ----------------------------------------------------------------------------------------------
# Everything at once
# ----------------------------------------------------------------------------------------------


def sample_quality(
    samples, reference, *, kid_subsets=10, kid_subset_size=1000, seed=0, classifier=None, pr_k=3
):
    """FID, KID, precision, recall, Inception Score and class histogram against real images.

    Args:
        samples: (N, 28, 28[, 1]) generated images in [0, 1].
        reference: (M, 28, 28[, 1]) real images in [0, 1] (the course uses a random subset of the
            MNIST test set with M = N, so that numbers are comparable).
        kid_subsets, kid_subset_size, seed: see :func:`kernel_inception_distance`.
        classifier: a classifier from :func:`utils.classifier.load_classifier` (default: the
            committed one).
        pr_k: the ``k`` of :func:`precision_recall` (3, as in Kynkäänniemi et al. 2019).

    Returns:
        dict with ``n`` (int), ``fid``, ``kid``, ``kid_se``, ``precision``, ``recall``,
        ``inception_score``, ``inception_score_std``, ``modes`` (classes covered, int),
        ``class_histogram`` (K,) and ``max_class_fraction``.

    Raises:
        ValueError: see :func:`utils.classifier.classifier_outputs`,
            :func:`kernel_inception_distance` and :func:`precision_recall` (e.g. ``pr_k`` not
            smaller than N and M).
    """

    positive_int("pr_k", pr_k)
    fs, ps = classifier_outputs(_as_images(samples, "samples"), classifier=classifier)
    fr, _ = classifier_outputs(_as_images(reference, "reference"), classifier=classifier)
    kid, kid_se = kernel_inception_distance(
        fs, fr, n_subsets=kid_subsets, subset_size=kid_subset_size, seed=seed
    )
    pr = precision_recall(fr, fs, k=pr_k, seed=seed)
    # Splits of at least 500 samples (10 splits at the course's N = 10,000); tiny splits bias IS
    # to 1.
    is_mean, is_std = inception_score(ps, n_splits=max(1, min(10, len(ps) // 500)))
    hist = class_histogram(ps)
    return {
        "n": len(fs),
        "fid": frechet_distance(fs, fr),
        "kid": kid,
        "kid_se": kid_se,
        "precision": pr["precision"],
        "recall": pr["recall"],
        "inception_score": is_mean,
        "inception_score_std": is_std,
        "modes": mode_coverage(hist),
        "class_histogram": hist,
        "max_class_fraction": float(hist.max()),
    }


def _random_subset(images, n, rng):
    """``n`` rows of ``images`` drawn without replacement."""
    return np.asarray(images)[rng.choice(len(images), int(n), replace=False)]


def real_data_floor(train_images, test_images, n, *, seed=0, **kwargs):
    """:func:`sample_quality` of ``n`` random real training images against ``n`` random test images.

    This is what a generator that reproduced the data distribution exactly would score at this N:
    FID is not 0 but a small positive number (finite-sample bias plus the train/test difference),
    precision and recall are below 1 for the same reasons. Both subsets are drawn at random
    (without replacement, seeded by ``seed``): the first and second halves of the MNIST test set
    differ measurably, so ``test_images[:n]`` would not be a fair sample.

    Args:
        train_images: (N_train, 28, 28[, 1]) real images in [0, 1].
        test_images: (N_test, 28, 28[, 1]) real images in [0, 1].
        n: images drawn from each set (int, 2 <= n <= min(N_train, N_test)).
        seed: non-negative int, seeds both draws (and the KID subsets).
        **kwargs: passed to :func:`sample_quality`.

    Returns:
        The dict of :func:`sample_quality` (with ``precision`` and ``recall``).

    Raises:
        ValueError: ``n`` larger than either set, or not an int >= 2; a bad seed; see
            :func:`sample_quality` for the images.
    """
    for name, images in (("train_images", train_images), ("test_images", test_images)):
        if np.ndim(images) not in (3, 4):
            raise ValueError(
                f"{name} must have shape (N, 28, 28) or (N, 28, 28, 1), got {np.shape(images)}."
            )
    available = min(len(train_images), len(test_images))
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or not 2 <= n <= available:
        raise ValueError(
            f"n must be an int in [2, {available}] (train_images has {len(train_images)} and "
            f"test_images {len(test_images)} images), got {n!r}."
        )
    rng = np.random.default_rng(_seed(seed))
    train = _random_subset(train_images, n, rng)
    test = _random_subset(test_images, n, rng)
    return sample_quality(train, test, seed=seed, **kwargs)
