"""Checks of the exercises of chapter 05 (autoregressive models: PixelCNN).

Each function raises ``AssertionError`` with a hint on a wrong answer and prints ``correct``
otherwise. They use NumPy only, on small arrays.
"""

from __future__ import annotations

import numpy as np

from . import correct
from . import finite_array as _finite

LOG_10 = float(np.log(10.0))


def check_exercise_1(total, cheater_total):
    """Exercise 1: ``sum_x p(x)`` over all 512 binary 3x3 images.

    Args:
        total: the sum for the (untrained) Gated PixelCNN: must be 1 (to 1e-4).
        cheater_total: the sum for the network with mask B in its first layer: must NOT be 1
            (a network that sees its own pixel defines no normalized distribution).
    """
    total = float(_finite("total", total))
    cheater_total = float(_finite("cheater_total", cheater_total))
    assert abs(total - 1.0) < 1e-4, (
        f"sum_x p(x) = {total:.6f} for the Gated PixelCNN, expected 1: enumerate all 2**9 = 512 "
        "images once each, and sum exp(log p(x)), not log p(x)."
    )
    assert abs(cheater_total - 1.0) > 1e-3, (
        f"the mask-B network sums to {cheater_total:.6f}: did you score the Gated PixelCNN twice? "
        "Its first layer must use mask B, so that each logit sees its own pixel."
    )
    correct()


def check_exercise_2(log_px_given, y_true, nll_mixture, fraction_below_true):
    """Exercise 2: the class mixture ``p(x) = (1/10) sum_y p(x | y)`` and its per-image bounds.

    Args:
        log_px_given: (N, 10) ``log p(x | y)`` in nats for every class (the student's input).
        y_true: (N,) the true digits.
        nll_mixture: (N,) the student's ``-log p(x)`` of the uniform class mixture.
        fraction_below_true: the student's share of images whose mixture NLL is *below*
            ``-log p(x | y_true)``.
    """
    log_px_given = _finite("log_px_given", log_px_given)
    assert log_px_given.ndim == 2 and log_px_given.shape[1] == 10, (
        f"log_px_given should be (N, 10), got {log_px_given.shape}."
    )
    n = len(log_px_given)
    y_true = np.asarray(y_true).astype(int)
    nll_mixture = _finite("nll_mixture", nll_mixture, (n,))
    peak = log_px_given.max(axis=1)
    expected = -(peak + np.log(np.exp(log_px_given - peak[:, None]).sum(axis=1)) - LOG_10)
    error = np.max(np.abs(nll_mixture - expected))
    if error > 1e-6 * (1 + np.max(np.abs(expected))):
        hints = []
        if np.allclose(nll_mixture, expected - LOG_10, atol=1e-6):
            hints.append("you dropped the prior p(y) = 1/10 (a sum, not a mean, over classes)")
        if np.allclose(nll_mixture, -peak, atol=1e-6):
            hints.append("you took the best class (max), not the mixture (logsumexp)")
        if np.allclose(nll_mixture, -expected, atol=1e-6):
            hints.append("the sign is flipped: the NLL is -log p(x)")
        raise AssertionError(
            f"nll_mixture is off by up to {error:.4g} nats"
            + (": " + "; ".join(hints) if hints else "")
            + ". Use -log p(x) = -logsumexp_y [log p(x | y)] + log 10."
        )
    nll_true = -log_px_given[np.arange(n), y_true]
    assert np.all(expected >= -peak - 1e-9) and np.all(expected <= nll_true + LOG_10 + 1e-9)
    fraction = float(np.mean(expected < nll_true))
    answer = float(_finite("fraction_below_true", fraction_below_true))
    assert abs(answer - fraction) < 1e-9, (
        f"fraction_below_true = {answer:.4f}, expected {fraction:.4f}"
        + (": you counted the opposite inequality" if abs(answer - (1 - fraction)) < 1e-9 else "")
        + ". Count images with nll_mixture < -log p(x | y_true)."
    )
    correct()


def check_exercise_3(depths, rows_up, layers_for_whole_digit):
    """Exercise 3: how far up a Gated PixelCNN of 3x3 kernels sees, by depth.

    Args:
        depths: the numbers of layers the student measured (ints >= 1).
        rows_up: for each depth, how many rows above the predicted pixel its receptive field
            reaches (measured with ``pixelcnn.receptive_field``).
        layers_for_whole_digit: the fewest layers for which the bottom row's prediction can see
            the top row of a 28-row image (27 rows up).
    """
    depths = np.asarray(depths).astype(int).ravel()
    rows_up = np.asarray(rows_up).astype(int).ravel()
    assert len(depths) >= 2, "measure at least two depths to see the pattern."
    assert rows_up.shape == depths.shape, "give one rows_up value per depth."
    expected = depths + 1
    if np.array_equal(rows_up, depths):
        raise AssertionError(
            "rows_up equals the depth: count again. The first layer already sees one row up "
            "(through the vertical stack's shift), and each 3x3 layer adds one more."
        )
    assert np.array_equal(rows_up, expected), (
        f"rows_up = {rows_up.tolist()} for depths {depths.tolist()}, expected "
        f"{expected.tolist()}: take r - min(row) over the rows where the receptive field is True."
    )
    assert int(layers_for_whole_digit) == 26, (
        f"{layers_for_whole_digit} layers: solve n_layers + 1 >= 27 (rows 0 .. 26 above row 27)."
    )
    correct()
