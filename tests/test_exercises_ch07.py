"""The checks of chapter 07's exercises accept right answers and reject plausible wrong ones."""

from utils import diffusion
from utils.exercises import ch07

import keras
import numpy as np
import pytest


@pytest.fixture(scope="module")
def schedule():
    return diffusion.NoiseSchedule("cosine", 1000)


@pytest.fixture(scope="module")
def model():
    """A small conditional diffusion model whose predictions depend on the label (random output
    layer), so that the conditional, null and guided predictions all differ."""
    keras.utils.set_random_seed(0)
    net = diffusion.build_unet(widths=(8, 16), groups=4, embedding_dim=16, num_classes=10)
    out = net.get_layer("out")
    rng = np.random.default_rng(0)
    out.set_weights([rng.normal(0, 0.3, w.shape).astype("float32") for w in out.get_weights()])
    return diffusion.DiffusionModel(net, num_classes=10, seed=0)


def test_exercise_1(capsys):
    betas = diffusion.linear_betas(1000)
    alpha_bar = np.cumprod(1.0 - betas)
    index = int(np.argmax(alpha_bar / (1.0 - alpha_bar) < 1.0))
    ch07.check_exercise_1(betas, alpha_bar, index)
    assert capsys.readouterr().out.strip() == "correct"
    for wrong in (1.0 - betas, np.cumprod(betas), alpha_bar * 1.01):
        with pytest.raises(AssertionError):
            ch07.check_exercise_1(betas, wrong, index)
    for wrong_index in (index - 1, index + 1, int(np.argmax(alpha_bar < 0.1))):
        with pytest.raises(AssertionError):
            ch07.check_exercise_1(betas, alpha_bar, wrong_index)


def test_exercise_2(schedule, capsys):
    rng = np.random.default_rng(0)
    x_t = rng.standard_normal((3, 28, 28, 1))
    eps = rng.standard_normal((3, 28, 28, 1))
    ab_t, ab_s = schedule.alpha_bars[600], schedule.alpha_bars[400]
    x0 = (x_t - np.sqrt(1 - ab_t) * eps) / np.sqrt(ab_t)
    right = np.sqrt(ab_s) * x0 + np.sqrt(1 - ab_s) * eps
    ch07.check_exercise_2(schedule, x_t, eps, 600, 400, right)
    assert capsys.readouterr().out.strip() == "correct"
    # The library's sampler agrees with the hand-written step (one DDIM step from t to s).
    wrong_answers = [
        x0,  # stopped at x0_hat
        np.sqrt(ab_s) * x0,  # dropped the noise term
        np.sqrt(ab_t) * ((x_t - np.sqrt(1 - ab_s) * eps) / np.sqrt(ab_s)) + np.sqrt(1 - ab_t) * eps,
        np.sqrt(ab_s) * x0 + np.sqrt(1 - ab_t) * eps,  # noise level of t
    ]
    for wrong in wrong_answers:
        with pytest.raises(AssertionError):
            ch07.check_exercise_2(schedule, x_t, eps, 600, 400, wrong)


def test_exercise_3(model, capsys):
    rng = np.random.default_rng(1)
    x_t = rng.standard_normal((4, 28, 28, 1)).astype("float32")
    labels = np.full(4, 7, dtype="int32")
    t_in = np.full(4, 500.0, dtype="float32")
    cond = model.network.predict_on_batch([x_t, t_in, labels])
    null = model.network.predict_on_batch([x_t, t_in, np.full(4, 10, dtype="int32")])
    assert np.abs(cond - null).max() > 1e-2  # the check below can tell them apart
    ch07.check_exercise_3(model, x_t, 500, labels, 2.0, 3.0 * cond - 2.0 * null)
    assert capsys.readouterr().out.strip() == "correct"
    for wrong in (cond, 2.0 * cond - 1.0 * null, 3.0 * null - 2.0 * cond, cond - null):
        with pytest.raises(AssertionError):
            ch07.check_exercise_3(model, x_t, 500, labels, 2.0, wrong)
    t_wrong = np.full(4, 0.5, dtype="float32")  # time given as a fraction, not the step index
    cond_w = model.network.predict_on_batch([x_t, t_wrong, labels])
    null_w = model.network.predict_on_batch([x_t, t_wrong, np.full(4, 10, dtype="int32")])
    with pytest.raises(AssertionError):
        ch07.check_exercise_3(model, x_t, 500, labels, 2.0, 3.0 * cond_w - 2.0 * null_w)
