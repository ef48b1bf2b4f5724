"""Evaluation helpers: reconstruction errors, the PCA baseline, linear probes, simple likelihoods.

All functions take and return NumPy arrays (call ``model.predict`` first) and work on any image
shape: errors are summed over every axis but the first.

Units:

- squared error: squared intensity (images scaled to [0, 1]) summed over the pixels of an image,
  the measure of Hinton and Salakhutdinov (2006, Fig. 2), who report 3.00 for a 30-unit deep
  autoencoder and 13.87 for 30-component PCA on the MNIST test set;
- binary cross-entropy and Bernoulli negative log-likelihood: nats per image (divide by
  ``784 * ln 2`` for bits per dimension: :func:`utils.likelihood.nats_to_bits_per_dim`, re-exported
  here as ``nats_to_bits_per_dim``).
"""

from __future__ import annotations

import numpy as np


def _pair(x, x_hat):
    x = np.asarray(x, dtype=np.float64)
    x_hat = np.asarray(x_hat, dtype=np.float64)
    if x.shape != x_hat.shape:
        raise ValueError(f"x and x_hat must have the same shape, got {x.shape} and {x_hat.shape}.")
    if x.ndim < 2:
        raise ValueError(f"expected a batch (N, ...) of at least 2 axes, got shape {x.shape}.")
    return x.reshape(len(x), -1), x_hat.reshape(len(x), -1)


def per_image_squared_error(x, x_hat):
    """Sum of squared pixel errors of each image.

    Args:
        x: (N, ...) targets, e.g. (N, 28, 28, 1) in [0, 1].
        x_hat: reconstructions of the same shape.

    Returns:
        float64 array (N,): squared intensity summed over the pixels of each image. Divide by the
        number of pixels for the per-pixel mean squared error.

    Raises:
        ValueError: shapes differ or there is no batch axis.
    """
    x, x_hat = _pair(x, x_hat)
    return np.sum((x - x_hat) ** 2, axis=1)


def per_image_binary_cross_entropy(x, x_hat, eps=1e-7):
    """Binary cross-entropy of each image, in nats, summed over pixels.

    ``-sum_i [x_i log p_i + (1 - x_i) log(1 - p_i)]`` with ``p = clip(x_hat, eps, 1 - eps)``. For
    binary ``x`` it is the negative log-likelihood of ``x`` under independent Bernoulli pixels with
    means ``x_hat``; for grey-level ``x`` it is the cross-entropy used as a reconstruction loss.

    Args:
        x: (N, ...) targets in [0, 1].
        x_hat: (N, ...) predicted probabilities in [0, 1].
        eps: clipping that keeps the logarithms finite (0 < eps < 0.5).

    Returns:
        float64 array (N,), nats per image.

    Raises:
        ValueError: shapes differ, values outside [0, 1], or a bad ``eps``.
    """
    if not 0.0 < eps < 0.5:
        raise ValueError(f"eps must be in (0, 0.5), got {eps!r}.")
    x, x_hat = _pair(x, x_hat)
    if x.min() < 0 or x.max() > 1 or x_hat.min() < 0 or x_hat.max() > 1:
        raise ValueError("x and x_hat must hold values in [0, 1].")
    p = np.clip(x_hat, eps, 1.0 - eps)
    return -np.sum(x * np.log(p) + (1.0 - x) * np.log1p(-p), axis=1)


def pca_reconstruction(x_train, x_eval, n_components):
    """Fit PCA on ``x_train`` and reconstruct ``x_eval`` from its first ``n_components``.

    PCA gives the best linear reconstruction in squared error (Eckart and Young 1936), so it is the
    baseline an autoencoder must beat. Uses ``sklearn.decomposition.PCA`` with the full SVD solver.

    Args:
        x_train: (N, ...) training images.
        x_eval: (M, ...) images of the same trailing shape to encode and reconstruct.
        n_components: number of principal components (1 <= k <= min(N, D)).

    Returns:
        ``(x_hat, codes, pca)``: reconstructions (M, ...) float32, codes (M, k) float32 and the
        fitted ``PCA`` object.

    Raises:
        ValueError: trailing shapes differ or ``n_components`` is out of range.
    """
    from sklearn.decomposition import PCA

    x_train = np.asarray(x_train, dtype=np.float32)
    x_eval = np.asarray(x_eval, dtype=np.float32)
    if x_train.shape[1:] != x_eval.shape[1:]:
        raise ValueError(
            f"x_train and x_eval must share their trailing shape, "
            f"got {x_train.shape} and {x_eval.shape}."
        )
    flat_train = x_train.reshape(len(x_train), -1)
    dim = flat_train.shape[1]
    if not isinstance(n_components, int) or not 1 <= n_components <= min(len(flat_train), dim):
        raise ValueError(
            f"n_components must be an int in [1, {min(len(flat_train), dim)}], "
            f"got {n_components!r}."
        )
    pca = PCA(n_components=n_components, svd_solver="full").fit(flat_train)
    codes = pca.transform(x_eval.reshape(len(x_eval), -1)).astype(np.float32)
    x_hat = pca.inverse_transform(codes).astype(np.float32).reshape(x_eval.shape)
    return x_hat, codes, pca


def linear_probe_accuracy(features_train, y_train, features_test, y_test, *, max_iter=2000, C=1.0):
    """Test accuracy of a multinomial logistic regression trained on frozen features.

    A linear probe measures how linearly separable the classes are in a representation: it is the
    standard way to score features learned without labels. Features are standardized with the
    training statistics first.

    Args:
        features_train: (N, D) features of the labelled training examples.
        y_train: (N,) integer labels.
        features_test: (M, D) features of the test examples.
        y_test: (M,) integer labels.
        max_iter: iterations of the L-BFGS solver.
        C: inverse L2-regularization strength.

    Returns:
        float: accuracy in [0, 1] on the test examples.

    Raises:
        ValueError: mismatched lengths or feature sizes.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    f_train = np.asarray(features_train, dtype=np.float64).reshape(len(features_train), -1)
    f_test = np.asarray(features_test, dtype=np.float64).reshape(len(features_test), -1)
    if len(f_train) != len(y_train) or len(f_test) != len(y_test):
        raise ValueError(
            f"features and labels must have equal lengths, got {len(f_train)}/{len(y_train)} "
            f"and {len(f_test)}/{len(y_test)}."
        )
    if f_train.shape[1] != f_test.shape[1]:
        raise ValueError(
            f"train and test features must have the same size, "
            f"got {f_train.shape[1]} and {f_test.shape[1]}."
        )
    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=max_iter, C=C))
    probe.fit(f_train, np.asarray(y_train))
    return float(probe.score(f_test, np.asarray(y_test)))


def pca_sweep(x_train, x_eval, dims):
    """PCA reconstructions of ``x_eval`` for several numbers of components, from one fit.

    Principal components are nested (the first k of a fit with K >= k components are the k-component
    solution), so one PCA with ``max(dims)`` components serves every size.

    Args:
        x_train: (N, ...) training images.
        x_eval: (M, ...) images to reconstruct (same trailing shape).
        dims: iterable of component counts, each in [1, min(N, D)].

    Returns:
        ``{k: x_hat_k}``, reconstructions of shape (M, ...) float32 for every ``k`` in ``dims``.

    Raises:
        ValueError: empty ``dims``, a count out of range or mismatched shapes.
    """
    dims = sorted({int(k) for k in dims})
    if not dims:
        raise ValueError("dims must name at least one number of components.")
    _, codes, pca = pca_reconstruction(x_train, x_eval, dims[-1])
    shape = np.asarray(x_eval).shape
    out = {}
    for k in dims:
        if k < 1:
            raise ValueError(f"every entry of dims must be >= 1, got {k}.")
        flat = pca.mean_ + codes[:, :k].astype(np.float64) @ pca.components_[:k]
        out[k] = flat.astype(np.float32).reshape(shape)
    return out


def uniform_quantize(values, low, high, bits=8):
    """Round values to ``2**bits`` evenly spaced levels between ``low`` and ``high``.

    A code stored with ``bits`` bits per dimension: values are clipped to [low, high], mapped to the
    nearest of the ``2**bits`` levels and mapped back (the returned array is what a decoder would
    see after storage).

    Args:
        values: (N, k) codes.
        low: (k,) or scalar lower ends (e.g. the per-dimension minimum over training codes).
        high: (k,) or scalar upper ends, > low.
        bits: bits per dimension, 1 to 16.

    Returns:
        float32 array of the shape of ``values``.

    Raises:
        ValueError: ``bits`` out of range or ``high <= low`` somewhere.
    """
    if not isinstance(bits, int) or not 1 <= bits <= 16:
        raise ValueError(f"bits must be an int in [1, 16], got {bits!r}.")
    values = np.asarray(values, dtype=np.float64)
    low = np.broadcast_to(np.asarray(low, dtype=np.float64), values.shape[1:])
    high = np.broadcast_to(np.asarray(high, dtype=np.float64), values.shape[1:])
    if np.any(high <= low):
        raise ValueError("high must exceed low in every dimension.")
    levels = 2**bits - 1
    index = np.round((np.clip(values, low, high) - low) / (high - low) * levels)
    return (low + index / levels * (high - low)).astype(np.float32)
