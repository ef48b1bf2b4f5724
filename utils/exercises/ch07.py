"""Checks of the exercises of chapter 07 (diffusion models and flow matching).

Each function raises ``AssertionError`` with a hint on a wrong answer and prints ``correct``
otherwise. They recompute the answer independently in float64 NumPy.
"""

from __future__ import annotations

import numpy as np

from . import correct
from . import finite_array as _finite


def check_exercise_1(betas, alpha_bar, first_below_1):
    """Exercise 1: ``alpha_bar_t = prod_{s <= t} (1 - beta_s)`` and the first ``t`` (index) with
    ``SNR(t) = alpha_bar_t / (1 - alpha_bar_t) < 1``.

    Args:
        betas: (T,) the schedule's betas.
        alpha_bar: (T,) the student's ``alpha_bar``.
        first_below_1: the student's index (int).
    """
    betas = _finite("betas", betas)
    assert betas.ndim == 1 and np.all((betas > 0) & (betas < 1)), "betas must be (T,) in (0, 1)."
    answer = _finite("alpha_bar", alpha_bar, betas.shape)
    expected = np.cumprod(1.0 - betas)
    if np.allclose(answer, 1.0 - betas):
        raise AssertionError("that is alpha_t = 1 - beta_t: alpha_bar_t is its running product.")
    if np.allclose(answer, np.cumprod(betas)):
        raise AssertionError("multiply the alphas (1 - beta), not the betas.")
    assert np.allclose(answer, expected, rtol=1e-6, atol=1e-12), (
        f"largest error {np.max(np.abs(answer - expected)):.3g}: alpha_bar_t is the running "
        "product of 1 - beta_s for s <= t (np.cumprod)."
    )
    snr = expected / (1.0 - expected)
    index = int(np.argmax(snr < 1.0))
    assert isinstance(first_below_1, (int, np.integer)), "first_below_1 must be an int index."
    assert int(first_below_1) == index, (
        f"got {first_below_1}: the SNR alpha_bar / (1 - alpha_bar) first drops below 1 at index "
        f"{'before' if first_below_1 > index else 'after'} that (alpha_bar < 0.5)."
    )
    correct()


def check_exercise_2(schedule, x_t, eps, t, s, x_s):
    """Exercise 2: one deterministic DDIM step (eta = 0, no clipping) from ``t`` to ``s``.

    Args:
        schedule: the :class:`utils.diffusion.NoiseSchedule` used.
        x_t, eps: (N, ...) the noisy batch and the predicted noise.
        t, s: int timestep indices, ``s < t``.
        x_s: the student's result, the shape of ``x_t``.
    """
    x_t = _finite("x_t", x_t)
    eps = _finite("eps", eps, x_t.shape)
    answer = _finite("x_s", x_s, x_t.shape)
    ab_t, ab_s = float(schedule.alpha_bars[t]), float(schedule.alpha_bars[s])
    x0 = (x_t - np.sqrt(1.0 - ab_t) * eps) / np.sqrt(ab_t)
    expected = np.sqrt(ab_s) * x0 + np.sqrt(1.0 - ab_s) * eps
    if np.allclose(answer, x0, atol=1e-4):
        raise AssertionError("that is x0_hat: the step goes on to x_s with the noise level of s.")
    swapped = np.sqrt(ab_t) * ((x_t - np.sqrt(1.0 - ab_s) * eps) / np.sqrt(ab_s))
    if np.allclose(answer, swapped + np.sqrt(1.0 - ab_t) * eps, atol=1e-4):
        raise AssertionError("t and s are swapped: x0_hat uses alpha_bar_t, x_s uses alpha_bar_s.")
    assert np.allclose(answer, expected, atol=1e-4), (
        f"largest error {np.max(np.abs(answer - expected)):.3g}: x0_hat = (x_t - sqrt(1 - ab_t) "
        "eps) / sqrt(ab_t), then x_s = sqrt(ab_s) x0_hat + sqrt(1 - ab_s) eps."
    )
    correct()


def check_exercise_3(model, x_t, t, labels, guidance, guided_eps):
    """Exercise 3: classifier-free guidance by hand,
    ``(1 + w) eps(x, t, y) - w eps(x, t, null)``, against the model's own predictor.

    Args:
        model: a class-conditional :class:`utils.diffusion.DiffusionModel`.
        x_t: (N, 28, 28, 1) noisy batch; t: int timestep index; labels: (N,) int labels.
        guidance: ``w``.
        guided_eps: the student's guided prediction, the shape of ``x_t``.
    """
    x_t = _finite("x_t", x_t).astype("float32")
    answer = _finite("guided_eps", guided_eps, x_t.shape)
    assert model.num_classes is not None, "use the class-conditional model."
    labels = np.asarray(labels, dtype="int32")
    expected = model.predictor(labels, guidance=float(guidance))(x_t, int(t)).astype("float64")
    if np.allclose(answer, expected, atol=2e-3):
        correct()
        return
    cond = model.predictor(labels)(x_t, int(t)).astype("float64")
    if np.allclose(answer, cond, atol=1e-3) and guidance:
        raise AssertionError("that is the conditional prediction alone: w = 0.")
    w = float(guidance)
    null = model.predictor(None)(x_t, int(t)).astype("float64")
    if np.allclose(answer, w * cond - (w - 1.0) * null, atol=1e-3):
        raise AssertionError("the weights are (1 + w) on the conditional and -w on the null one.")
    raise AssertionError(
        f"largest error {np.max(np.abs(answer - expected)):.3g}: (1 + w) * eps(x, t, y) - w * "
        "eps(x, t, null), with the null class id = num_classes and t as a float input."
    )
