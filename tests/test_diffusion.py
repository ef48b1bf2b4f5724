"""Diffusion models and flow matching (utils.diffusion): the noise schedules against their closed
forms, the forward process by Monte Carlo (closed form against the step-by-step chain), the
samplers against exact noise / velocity oracles (DDIM and DDPM reconstruct x_0, DDIM with eta = 1
is DDPM, Euler and Heun are exact on a straight path), classifier-free guidance, inpainting, the
time embedding and the U-Net, both models on the course contract (generate, training, .keras
round trips), the variational bound against an independent computation, and bad inputs. Every
network is tiny; runs on every backend."""

import utils  # noqa: F401  (registers the course's models with keras.saving)
from utils import diffusion
from utils.contract import LIKELIHOOD_KINDS, LikelihoodUnavailableError

import math

import keras
import numpy as np
import pytest
from keras import ops
from scipy import stats

# -- helpers ---------------------------------------------------------------------------------------


def _np(x):
    return np.asarray(ops.convert_to_numpy(x))


def _unet(num_classes=None, *, patch_size=2, groups=4, seed=0, out_scale=0.1, **kwargs):
    """A tiny U-Net; unless ``out_scale`` is 0, its zero-initialized output layer gets random
    weights so that its predictions are not identically 0 (round trips and samplers then see a
    network that depends on x, t and the label). With ``groups=0`` every residual branch starts at
    zero (Fixup), so that the untrained network would ignore t and the label: hence groups=4."""
    keras.utils.set_random_seed(seed)
    net = diffusion.build_unet(
        widths=(8, 16),
        patch_size=patch_size,
        groups=groups,
        embedding_dim=16,
        num_classes=num_classes,
        **kwargs,
    )
    if out_scale:
        kernel = net.get_layer("out").kernel
        rng = np.random.default_rng(seed + 100)
        kernel.assign((out_scale * rng.standard_normal(kernel.shape)).astype("float32"))
    return net


def _images(n=3, seed=0):
    """Random 8-bit grey images in [0, 1], (n, 28, 28, 1)."""
    rng = np.random.default_rng(seed)
    return (rng.integers(0, 256, (n, 28, 28, 1)) / 255.0).astype("float32")


def _eps_oracle(x0, schedule):
    """The exact noise predictor for data that is the single point ``x0`` (in [-1, 1] space):
    ``eps(x_t, t) = (x_t - sqrt(ab_t) x0) / sqrt(1 - ab_t)``."""

    def fn(x, t):
        ab = schedule.alpha_bars[t]
        return (x - np.sqrt(ab) * x0) / np.sqrt(1.0 - ab)

    return fn


def _smooth_eps(x, t):
    """A nontrivial, deterministic stand-in for a noise predictor."""
    return 0.3 * x + 0.05 * np.sin(3.0 * x + 0.01 * t)


def _coupled_eps(x, t):
    """Like :func:`_smooth_eps`, but every pixel also sees the image's mean (as a network's
    receptive field lets it), so that known pixels can steer the others."""
    return _smooth_eps(x, t) + 0.5 * x.mean(axis=tuple(range(1, x.ndim)), keepdims=True)


class _EpsOracleLayer(keras.layers.Layer):
    """Network layer: the exact noise of a fixed batch ``x0`` (shape (N, H, W, C), [-1, 1]) under
    ``alpha_bars``: ``(x - sqrt(ab[t]) x0) / sqrt(1 - ab[t])``, plus a constant ``offset``."""

    def __init__(self, x0, alpha_bars, offset=0.0, **kwargs):
        super().__init__(**kwargs)
        self.x0 = np.asarray(x0, dtype="float32")
        self.alpha_bars = np.asarray(alpha_bars, dtype="float32")
        self.offset = float(offset)

    def call(self, x, t):
        ab = ops.take(ops.convert_to_tensor(self.alpha_bars), ops.cast(t, "int32"))
        ab = ops.reshape(ab, (-1, 1, 1, 1))
        x0 = ops.convert_to_tensor(self.x0)
        return (x - ops.sqrt(ab) * x0) / ops.sqrt(1.0 - ab) + self.offset

    def compute_output_shape(self, x_shape, t_shape):
        return x_shape


class _TimeEchoLayer(keras.layers.Layer):
    """Network layer: the network's time input broadcast to the image's shape."""

    def call(self, x, t):
        return ops.zeros_like(x) + ops.reshape(ops.cast(t, x.dtype), (-1, 1, 1, 1))

    def compute_output_shape(self, x_shape, t_shape):
        return x_shape


class _IdentityLayer(keras.layers.Layer):
    """Network layer: returns its noisy image input unchanged (so ``call`` exposes ``x_t``)."""

    def call(self, x, t):
        return x + 0.0 * ops.reshape(ops.cast(t, x.dtype), (-1, 1, 1, 1))

    def compute_output_shape(self, x_shape, t_shape):
        return x_shape


def _network_of(layer, image_shape=(28, 28, 1)):
    x_in = keras.Input(image_shape, name="x")
    t_in = keras.Input((), name="t")
    return keras.Model([x_in, t_in], layer(x_in, t_in))


# -- 1. noise schedules ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", diffusion.SCHEDULES)
@pytest.mark.parametrize("timesteps", [2, 10, 100, 1000])
def test_schedule_is_a_decreasing_alpha_bar_in_the_unit_interval(name, timesteps):
    if name == "linear" and timesteps <= 20:  # beta_end * 1000 / T must stay below 1
        with pytest.raises(ValueError, match="below 1"):
            diffusion.NoiseSchedule(name, timesteps)
        return
    s = diffusion.NoiseSchedule(name, timesteps)
    for arr in (s.betas, s.alphas, s.alpha_bars, s.alpha_bars_prev, s.posterior_variance):
        assert arr.shape == (timesteps,) and arr.dtype == np.float64
    assert np.all((s.betas > 0) & (s.betas < 1))
    assert np.all((s.alpha_bars > 0) & (s.alpha_bars < 1))
    assert np.all(np.diff(s.alpha_bars) < 0)
    np.testing.assert_allclose(s.alphas, 1.0 - s.betas, rtol=0, atol=0)
    np.testing.assert_allclose(s.alpha_bars, np.cumprod(1.0 - s.betas), rtol=1e-12)
    np.testing.assert_array_equal(s.alpha_bars_prev, np.r_[1.0, s.alpha_bars[:-1]])
    # Ho et al. (2020) eq. 7, computed element by element.
    expected = [
        (1.0 - (1.0 if t == 0 else s.alpha_bars[t - 1])) / (1.0 - s.alpha_bars[t]) * s.betas[t]
        for t in range(timesteps)
    ]
    np.testing.assert_allclose(s.posterior_variance, expected, rtol=1e-12)
    assert s.posterior_variance[0] == 0.0
    assert np.all(s.posterior_variance[1:] > 0) and np.all(s.posterior_variance <= s.betas)
    snr = s.snr()
    np.testing.assert_allclose(snr, s.alpha_bars / (1.0 - s.alpha_bars), rtol=1e-12)
    assert np.all(np.diff(snr) < 0)
    np.testing.assert_allclose(s.snr(np.array([0, timesteps - 1])), snr[[0, -1]], rtol=1e-12)
    assert s.get_config() == {"name": name, "timesteps": timesteps}


def test_linear_schedule_ends_and_scaling():
    s = diffusion.NoiseSchedule("linear", 1000)
    assert s.betas[0] == pytest.approx(1e-4, rel=1e-12)
    assert s.betas[-1] == pytest.approx(0.02, rel=1e-12)
    np.testing.assert_allclose(np.diff(s.betas), (0.02 - 1e-4) / 999, rtol=1e-8)
    # another T: both ends scaled by 1000 / T
    betas = diffusion.linear_betas(250)
    assert betas[0] == pytest.approx(4e-4) and betas[-1] == pytest.approx(0.08)
    np.testing.assert_allclose(diffusion.linear_betas(21)[-1], 0.02 * 1000 / 21, rtol=1e-12)
    with pytest.raises(ValueError, match="below 1"):
        diffusion.linear_betas(20)
    with pytest.raises(ValueError, match="beta_end"):
        diffusion.linear_betas(1000, beta_start=0.01, beta_end=0.001)


@pytest.mark.parametrize("timesteps", [50, 1000, 4000])
def test_cosine_alpha_bar_is_nichol_and_dhariwal_eq_17(timesteps):
    s = diffusion.NoiseSchedule("cosine", timesteps)
    offset = 0.008

    def f(t):
        return math.cos((t / timesteps + offset) / (1 + offset) * math.pi / 2) ** 2

    # index t is the paper's step t + 1; clipping only touches the last steps
    for t in [0, 1, 2, timesteps // 4, timesteps // 2, (3 * timesteps) // 4, timesteps - 3]:
        assert s.alpha_bars[t] == pytest.approx(f(t + 1) / f(0), rel=1e-9), t
    # the singular last step is clipped at max_beta = 0.999
    assert s.betas[-1] == pytest.approx(0.999)
    assert s.betas.max() <= 0.999


@pytest.mark.parametrize("timesteps", [2, 7, 10, 37, 1000])
def test_respaced_timesteps(timesteps):
    s = diffusion.NoiseSchedule("cosine", timesteps)
    candidates = range(2, timesteps + 1) if timesteps < 100 else [2, 3, 10, 50, 999, 1000]
    for steps in candidates:
        ts = s.respaced(steps)
        assert ts.shape == (steps,) and ts.dtype == np.int64
        assert ts[0] == timesteps - 1 and ts[-1] == 0
        assert np.all(np.diff(ts) < 0), (steps, ts)
        if steps > 2:  # evenly spaced up to rounding
            gaps = -np.diff(ts)
            assert gaps.max() - gaps.min() <= 1
    np.testing.assert_array_equal(s.respaced(timesteps), np.arange(timesteps - 1, -1, -1))
    np.testing.assert_array_equal(s.respaced(1), [timesteps - 1])  # one step: T-1 then x_0
    for bad in (0, timesteps + 1, -3, 2.0, True):
        with pytest.raises(ValueError, match="steps"):
            s.respaced(bad)


# -- 2. the forward process ------------------------------------------------------------------------


def test_q_sample_is_the_closed_form(rng):
    s = diffusion.NoiseSchedule("linear", 100)
    x0 = rng.uniform(-1, 1, (4, 3, 3, 1))
    eps = rng.standard_normal(x0.shape)
    t = np.array([0, 5, 50, 99])
    out = diffusion.q_sample(x0, t, eps, s)
    assert out.dtype == np.float32 and out.shape == x0.shape
    ab = s.alpha_bars[t].reshape(-1, 1, 1, 1)
    np.testing.assert_allclose(out, np.sqrt(ab) * x0 + np.sqrt(1 - ab) * eps, atol=1e-6)
    step = diffusion.forward_step(x0, t, eps, s)
    b = s.betas[t].reshape(-1, 1, 1, 1)
    np.testing.assert_allclose(step, np.sqrt(1 - b) * x0 + np.sqrt(b) * eps, atol=1e-6)
    # at t = 0 the closed form and one step agree exactly (alpha_bar_0 = alpha_0)
    np.testing.assert_allclose(out[0], step[0], atol=1e-6)


@pytest.mark.parametrize("name, timesteps, t", [("cosine", 10, 4), ("linear", 100, 30)])
def test_closed_form_matches_iterated_forward_steps_in_distribution(name, timesteps, t):
    s = diffusion.NoiseSchedule(name, timesteps)
    rng = np.random.default_rng(7)
    n = 20_000
    pixels = np.array([-1.0, -0.3, 0.5, 1.0])
    x0 = np.broadcast_to(pixels, (n, 4)).copy()
    # the chain x_0 -> x_1 -> ... -> x_t, t + 1 steps (indices 0 .. t), fresh noise at each
    x = x0
    for k in range(t + 1):
        x = diffusion.forward_step(x, np.full(n, k), rng.standard_normal(x.shape), s)
    closed = diffusion.q_sample(x0, np.full(n, t), rng.standard_normal(x0.shape), s)
    ab = s.alpha_bars[t]
    mean, var = np.sqrt(ab) * pixels, 1.0 - ab
    se_mean = math.sqrt(var / n)
    se_var = var * math.sqrt(2.0 / (n - 1))
    for sample in (x, closed):
        assert np.all(np.abs(sample.mean(axis=0) - mean) < 4 * se_mean), sample.mean(axis=0)
        assert np.all(np.abs(sample.var(axis=0, ddof=1) - var) < 4 * se_var), sample.var(axis=0)
    # the tolerance is tight enough to reject a wrong alpha_bar: alpha_t alone (no product), or
    # alpha_bar one step off
    for wrong in (s.alphas[t], s.alpha_bars[t - 1]):
        wrong_mean = np.sqrt(wrong) * pixels
        wrong_var = 1.0 - wrong
        assert (
            np.max(np.abs(x.mean(axis=0) - wrong_mean)) > 4 * se_mean
            or abs(x.var(axis=0, ddof=1).mean() - wrong_var) > 4 * se_var
        ), wrong


# -- 3. DDIM ---------------------------------------------------------------------------------------


def test_ddim_with_eta_zero_is_deterministic_given_x_T(rng):
    s = diffusion.NoiseSchedule("cosine", 100)
    x_T = rng.standard_normal((2, 4, 4, 1)).astype("float32")
    a = diffusion.ddim_sample(_smooth_eps, x_T, s, steps=10, eta=0.0)
    b = diffusion.ddim_sample(_smooth_eps, x_T, s, steps=10, eta=0.0, rng=np.random.default_rng(1))
    c = diffusion.ddim_sample(_smooth_eps, x_T, s, steps=10, eta=0.0, rng=np.random.default_rng(2))
    assert a.dtype == np.float32 and a.shape == x_T.shape
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, c)
    assert np.all(np.abs(a) <= 1.0)  # clip=True: the last step returns a clipped x_0
    # with eta > 0 the rng matters
    d = diffusion.ddim_sample(_smooth_eps, x_T, s, steps=10, eta=1.0, rng=np.random.default_rng(1))
    e = diffusion.ddim_sample(_smooth_eps, x_T, s, steps=10, eta=1.0, rng=np.random.default_rng(2))
    assert not np.allclose(d, e)
    with pytest.raises(ValueError, match="rng"):
        diffusion.ddim_sample(_smooth_eps, x_T, s, steps=10, eta=0.5)


@pytest.mark.parametrize(
    "name, timesteps, steps",
    [
        ("cosine", 1000, 10),
        ("linear", 1000, 10),
        ("linear", 1000, 1),
        ("cosine", 8, 8),
        ("linear", 25, 25),
        ("cosine", 50, 7),
    ],
)
def test_ddim_with_an_exact_oracle_reconstructs_x0(rng, name, timesteps, steps):
    s = diffusion.NoiseSchedule(name, timesteps)
    x0 = rng.uniform(-1, 1, (3, 5, 5, 1))
    x_T = diffusion.q_sample(x0, np.full(3, timesteps - 1), rng.standard_normal(x0.shape), s)
    out = diffusion.ddim_sample(_eps_oracle(x0, s), x_T, s, steps=steps, eta=0.0, clip=False)
    np.testing.assert_allclose(out, x0, atol=1e-4)
    # any start, even far from q(x_T | x_0), ends at the oracle's x_0
    out = diffusion.ddim_sample(
        _eps_oracle(x0, s), 3 * rng.standard_normal(x0.shape), s, steps=steps, clip=False
    )
    np.testing.assert_allclose(out, x0, atol=1e-4)
    # and with eta > 0 (fresh noise at every step) too
    out = diffusion.ddim_sample(
        _eps_oracle(x0, s), x_T, s, steps=steps, eta=1.0, rng=rng, clip=False
    )
    np.testing.assert_allclose(out, x0, atol=1e-4)


def test_ddim_calls_the_predictor_at_the_respaced_timesteps(rng):
    s = diffusion.NoiseSchedule("cosine", 100)
    seen = []

    def eps_fn(x, t):
        seen.append(t)
        assert isinstance(t, int) and x.dtype == np.float32
        return np.zeros_like(x)

    diffusion.ddim_sample(eps_fn, rng.standard_normal((1, 2, 2, 1)), s, steps=5)
    assert seen == list(s.respaced(5))
    with pytest.raises(ValueError, match="eps_fn returned shape"):
        diffusion.ddim_sample(lambda x, t: x[:, :1], np.zeros((1, 2, 2, 1)), s, steps=2)
    with pytest.raises(TypeError, match="callable"):
        diffusion.ddim_sample("eps", np.zeros((1, 2, 2, 1)), s, steps=2)
    with pytest.raises(ValueError, match="eta"):
        diffusion.ddim_sample(eps_fn, np.zeros((1, 2, 2, 1)), s, steps=2, eta=-0.1)
    with pytest.raises(ValueError, match="steps"):
        diffusion.ddim_sample(eps_fn, np.zeros((1, 2, 2, 1)), s, steps=101)
    with pytest.raises(ValueError, match="NaN"):
        diffusion.ddim_sample(eps_fn, np.full((1, 2, 2, 1), np.nan), s, steps=2)


# -- 4. DDPM ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, timesteps, steps",
    [("cosine", 1000, None), ("linear", 1000, 1000), ("cosine", 60, None), ("cosine", 200, 12)],
)
@pytest.mark.parametrize("clip", [False, True])
def test_ddpm_is_ddim_with_eta_one(rng, name, timesteps, steps, clip):
    s = diffusion.NoiseSchedule(name, timesteps)
    x_T = rng.standard_normal((2, 4, 4, 1)).astype("float32")
    ddpm = diffusion.ddpm_sample(
        _smooth_eps, x_T, s, steps=steps, rng=np.random.default_rng(5), clip=clip
    )
    ddim = diffusion.ddim_sample(
        _smooth_eps,
        x_T,
        s,
        steps=steps or timesteps,
        eta=1.0,
        rng=np.random.default_rng(5),
        clip=clip,
    )
    np.testing.assert_allclose(ddpm, ddim, rtol=1e-4, atol=1e-4)
    # not equal to DDIM's deterministic sampler, nor to DDPM with other noise
    ddim0 = diffusion.ddim_sample(_smooth_eps, x_T, s, steps=steps or timesteps, clip=clip)
    assert np.max(np.abs(ddpm - ddim0)) > 1e-2
    other = diffusion.ddpm_sample(
        _smooth_eps, x_T, s, steps=steps, rng=np.random.default_rng(6), clip=clip
    )
    assert np.max(np.abs(ddpm - other)) > 1e-2


@pytest.mark.parametrize("steps", [None, 10, 1])
def test_ddpm_with_an_exact_oracle_ends_at_x0(rng, steps):
    # The last step (to "t = -1", alpha_bar = 1) has posterior variance 0 and mean x0_hat, so the
    # noise added on the way is forgotten and an exact oracle's x_0 comes out.
    s = diffusion.NoiseSchedule("linear", 200)
    x0 = rng.uniform(-1, 1, (3, 4, 4, 1))
    x_T = rng.standard_normal(x0.shape)
    out = diffusion.ddpm_sample(_eps_oracle(x0, s), x_T, s, steps=steps, rng=rng, clip=False)
    np.testing.assert_allclose(out, x0, atol=1e-4)
    with pytest.raises(TypeError, match="Generator"):
        diffusion.ddpm_sample(_eps_oracle(x0, s), x_T, s, rng=None)
    with pytest.raises(TypeError, match="Generator"):
        diffusion.ddpm_sample(_eps_oracle(x0, s), x_T, s, rng=0)


# -- 5. the flow-matching ODE ----------------------------------------------------------------------


@pytest.mark.parametrize("solver", diffusion.SOLVERS)
@pytest.mark.parametrize("steps", [1, 7, 20])
def test_ode_solvers_are_exact_on_the_straight_path(rng, solver, steps):
    x0 = rng.uniform(-1, 1, (3, 4, 4, 1))
    calls = []

    def velocity(x, t):
        calls.append(t)
        assert isinstance(t, float) and 0.0 < t <= 1.0
        return (x - x0) / t  # the straight path through x: x_t = (1 - t) x0 + t z

    x_1 = rng.standard_normal(x0.shape)
    out = diffusion.ode_sample(velocity, x_1, steps=steps, solver=solver)
    assert out.dtype == np.float32 and out.shape == x0.shape
    np.testing.assert_allclose(out, x0, atol=1e-5)
    assert calls[0] == 1.0
    assert len(calls) == (steps if solver == "euler" else 2 * steps - 1)


def test_heun_is_second_order_and_euler_first_order():
    # dx/dt = x from t = 1 (x = 1) to t = 0: exact x(0) = e^-1.
    def velocity(x, t):
        return x

    x_1 = np.ones((1, 1, 1, 1))
    errors = {
        solver: [
            abs(
                float(diffusion.ode_sample(velocity, x_1, steps=n, solver=solver)[0, 0, 0, 0])
                - math.exp(-1)
            )
            for n in (10, 20)
        ]
        for solver in diffusion.SOLVERS
    }
    # Heun's last step is Euler's: a local error O(h^2), the same order as its global error.
    assert 1.7 < errors["euler"][0] / errors["euler"][1] < 2.3
    assert errors["heun"][1] < errors["euler"][1] / 3


def test_ode_sample_rejects_bad_arguments(rng):
    x = rng.standard_normal((2, 3, 3, 1))
    v = lambda x, t: np.zeros_like(x)  # noqa: E731
    for steps in (0, -1, 2.5, None):
        with pytest.raises(ValueError, match="steps"):
            diffusion.ode_sample(v, x, steps=steps)
    with pytest.raises(ValueError, match="solver"):
        diffusion.ode_sample(v, x, steps=2, solver="rk4")
    with pytest.raises(TypeError, match="velocity_fn"):
        diffusion.ode_sample(None, x, steps=2)
    with pytest.raises(ValueError, match="velocity_fn returned shape"):
        diffusion.ode_sample(lambda x, t: x[0], x, steps=2)
    with pytest.raises(ValueError, match="rng"):
        diffusion.ode_sample(v, x, steps=2, known=np.zeros_like(x), mask=np.ones_like(x))


# -- 6. classifier-free guidance -------------------------------------------------------------------


def test_guided_prediction(rng):
    c = rng.standard_normal((2, 3, 3, 1))
    u = rng.standard_normal((2, 3, 3, 1))
    out = diffusion.guided_prediction(c, u, 0.0)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, c.astype("float32"))
    for w in (0.5, 1.0, 3.0):
        np.testing.assert_allclose(
            diffusion.guided_prediction(c, u, w), (1 + w) * c - w * u, rtol=1e-5, atol=1e-6
        )
    with pytest.raises(ValueError, match="guidance"):
        diffusion.guided_prediction(c, u, -1.0)
    with pytest.raises(ValueError, match="guidance"):
        diffusion.guided_prediction(c, u, float("nan"))
    with pytest.raises(ValueError, match="shape"):
        diffusion.guided_prediction(c, u[:1], 1.0)
    with pytest.raises(ValueError, match="NaN"):
        diffusion.guided_prediction(c, np.full_like(u, np.nan), 1.0)


# -- 7. inpainting ---------------------------------------------------------------------------------


def _inpaint_setup(rng):
    x_T = rng.standard_normal((3, 6, 6, 1)).astype("float32")
    known = rng.uniform(-1, 1, x_T.shape).astype("float32")
    mask = np.zeros(x_T.shape, "float32")
    mask[:, :3] = 1.0  # the top half is known
    return x_T, known, mask


@pytest.mark.parametrize("sampler", ["ddim", "ddim_eta", "ddpm", "euler", "heun"])
def test_samplers_keep_the_known_pixels(rng, sampler):
    s = diffusion.NoiseSchedule("cosine", 50)
    x_T, known, mask = _inpaint_setup(rng)
    kw = {"known": known, "mask": mask, "rng": np.random.default_rng(0)}
    if sampler.startswith("ddim"):
        eta = 1.0 if sampler == "ddim_eta" else 0.0
        out = diffusion.ddim_sample(_coupled_eps, x_T, s, steps=8, eta=eta, **kw)
        plain = diffusion.ddim_sample(
            _coupled_eps, x_T, s, steps=8, eta=eta, rng=np.random.default_rng(0)
        )
    elif sampler == "ddpm":
        out = diffusion.ddpm_sample(_coupled_eps, x_T, s, steps=8, **kw)
        plain = diffusion.ddpm_sample(_coupled_eps, x_T, s, steps=8, rng=np.random.default_rng(0))
    else:
        out = diffusion.ode_sample(_coupled_eps, x_T, steps=8, solver=sampler, **kw)
        plain = diffusion.ode_sample(_coupled_eps, x_T, steps=8, solver=sampler)
    assert out.shape == x_T.shape and out.dtype == np.float32
    np.testing.assert_array_equal(out[mask == 1], known[mask == 1])
    # the unknown pixels are drawn, not copied, and the known ones steer them
    assert not np.allclose(out[mask == 0], known[mask == 0], atol=1e-2)
    assert np.max(np.abs(out[mask == 0] - plain[mask == 0])) > 1e-3


def test_sampler_inpainting_rejects_bad_masks(rng):
    s = diffusion.NoiseSchedule("cosine", 50)
    x_T, known, mask = _inpaint_setup(rng)
    g = np.random.default_rng(0)
    for fn in (
        lambda **kw: diffusion.ddim_sample(_smooth_eps, x_T, s, steps=2, rng=g, **kw),
        lambda **kw: diffusion.ddpm_sample(_smooth_eps, x_T, s, steps=2, rng=g, **kw),
        lambda **kw: diffusion.ode_sample(_smooth_eps, x_T, steps=2, rng=g, **kw),
    ):
        with pytest.raises(ValueError, match="binary"):
            fn(known=known, mask=0.5 * mask)
        with pytest.raises(ValueError, match="both"):
            fn(known=known, mask=None)
        with pytest.raises(ValueError, match="both"):
            fn(known=None, mask=mask)
        with pytest.raises(ValueError, match="shape"):
            fn(known=known[:2], mask=mask[:2])
        with pytest.raises(ValueError, match="shape"):
            fn(known=known, mask=mask[:, :3])
    with pytest.raises(ValueError, match="rng"):
        diffusion.ddim_sample(_smooth_eps, x_T, s, steps=2, known=known, mask=mask)


# -- 8. the time embedding, the residual block, the U-Net ------------------------------------------


@pytest.mark.parametrize("dim, max_period", [(16, 10_000.0), (6, 100.0), (2, 10.0)])
def test_sinusoidal_embedding_matches_its_formula(dim, max_period):
    layer = diffusion.SinusoidalEmbedding(dim, max_period=max_period)
    t = np.array([0.0, 1.0, 17.5, 999.0], dtype="float32")
    half = dim // 2
    freqs = max_period ** (-np.arange(half) / half)
    angles = t.astype(np.float64)[:, None] * freqs[None, :]
    expected = np.concatenate([np.sin(angles), np.cos(angles)], axis=1)
    for inputs in (t, t[:, None]):
        out = _np(layer(ops.convert_to_tensor(inputs)))
        assert out.shape == (4, dim) and out.dtype == np.float32
        np.testing.assert_allclose(out, expected, atol=3e-4)
    np.testing.assert_allclose(out[0], [0.0] * half + [1.0] * half, atol=0)  # t = 0
    assert layer.compute_output_shape((4,)) == (4, dim)


def test_sinusoidal_embedding_rejects_bad_arguments():
    with pytest.raises(ValueError, match="even"):
        diffusion.SinusoidalEmbedding(7)
    with pytest.raises(ValueError, match="dim"):
        diffusion.SinusoidalEmbedding(0)
    with pytest.raises(ValueError, match="max_period"):
        diffusion.SinusoidalEmbedding(8, max_period=1.0)
    layer = diffusion.SinusoidalEmbedding(8)
    with pytest.raises(ValueError, match=r"shape \(B,\)"):
        layer(ops.zeros((3, 2)))
    with pytest.raises(ValueError, match=r"shape \(B,\)"):
        layer(ops.zeros((3, 1, 1)))


@pytest.mark.parametrize("groups", [0, 4])
@pytest.mark.parametrize("in_channels", [8, 4])
def test_residual_block_shapes_and_identity_start(rng, groups, in_channels):
    keras.utils.set_random_seed(0)
    block = diffusion.ResidualBlock(8, groups=groups, dropout=0.1)
    x = rng.standard_normal((2, 6, 6, in_channels)).astype("float32")
    emb = rng.standard_normal((2, 5)).astype("float32")
    out = _np(block(x, emb))
    assert out.shape == (2, 6, 6, 8)
    assert block.compute_output_shape(x.shape, emb.shape) == (2, 6, 6, 8)
    assert (block.skip is None) == (in_channels == 8)
    if groups == 0 and in_channels == 8:
        # Fixup: without normalization the residual branch starts at zero, the block as identity.
        np.testing.assert_array_equal(out, x)
    else:
        assert not np.allclose(out, x if in_channels == 8 else 0.0)
    # the embedding conditions the block
    if groups:
        assert not np.allclose(_np(block(x, emb + 1.0)), out)
    # dropout is active in training only
    np.testing.assert_array_equal(_np(block(x, emb, training=False)), out)


def test_residual_block_rejects_bad_arguments():
    with pytest.raises(ValueError, match="divide filters"):
        diffusion.ResidualBlock(6, groups=4)
    with pytest.raises(ValueError, match="filters"):
        diffusion.ResidualBlock(0)
    with pytest.raises(ValueError, match="dropout"):
        diffusion.ResidualBlock(8, dropout=1.0)
    with pytest.raises(ValueError, match="groups"):
        diffusion.ResidualBlock(8, groups=-1)
    with pytest.raises(ValueError, match="divisible by groups"):
        diffusion.ResidualBlock(8, groups=4)(np.zeros((1, 4, 4, 6), "float32"), np.zeros((1, 3)))
    with pytest.raises(ValueError, match=r"embedding of shape \(B, E\)"):
        diffusion.ResidualBlock(8, groups=0)(
            np.zeros((1, 4, 4, 8), "float32"), np.zeros((1, 1, 3), "float32")
        )


def test_layer_configs_round_trip():
    emb = diffusion.SinusoidalEmbedding(12, max_period=500.0, name="e")
    clone = diffusion.SinusoidalEmbedding.from_config(emb.get_config())
    assert (clone.dim, clone.max_period, clone.name) == (12, 500.0, "e")
    t = ops.convert_to_tensor(np.array([3.0, 40.0], "float32"))
    np.testing.assert_array_equal(_np(clone(t)), _np(emb(t)))
    block = diffusion.ResidualBlock(16, groups=4, dropout=0.25, name="b")
    clone = diffusion.ResidualBlock.from_config(block.get_config())
    assert (clone.filters, clone.groups, clone.dropout, clone.name) == (16, 4, 0.25, "b")


@pytest.mark.parametrize("num_classes", [None, 3])
@pytest.mark.parametrize("patch_size, groups", [(1, 4), (2, 0)])
def test_unet_shapes_and_zero_start(rng, num_classes, patch_size, groups):
    net = _unet(num_classes, patch_size=patch_size, groups=groups, out_scale=0)
    assert len(net.inputs) == (2 if num_classes is None else 3)
    x = rng.standard_normal((2, 28, 28, 1)).astype("float32")
    inputs = [x, np.array([3.0, 700.0], "float32")]
    if num_classes:
        inputs.append(np.array([0, num_classes], "int32"))  # a class and the null class
    out = _np(net(inputs))
    assert out.shape == x.shape
    np.testing.assert_array_equal(out, 0.0)  # zero-initialized output layer


def test_unet_other_image_shapes_and_depth(rng):
    net = diffusion.build_unet(
        (8, 12, 2), widths=(4, 8, 8), groups=4, embedding_dim=8, blocks_per_level=2, patch_size=1
    )
    out = np.asarray(
        net.predict_on_batch([rng.standard_normal((1, 8, 12, 2)), np.zeros(1, "float32")])
    )
    assert out.shape == (1, 8, 12, 2)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"image_shape": (28, 28)}, "image_shape"),
        ({"image_shape": (28, 28, 0)}, "image_shape"),
        ({"image_shape": (28.0, 28, 1)}, "image_shape"),
        ({"widths": ()}, "at least one"),
        ({"widths": (8, 12), "groups": 8}, "divisible by groups"),
        ({"widths": (8, 0), "groups": 0}, "widths"),
        ({"widths": (8, 16, 16, 16)}, "divisible"),  # 28 is not divisible by 8
        ({"patch_size": 3}, "divisible"),
        ({"patch_size": 0}, "patch_size"),
        ({"blocks_per_level": 0}, "blocks_per_level"),
        ({"embedding_dim": 0}, "embedding_dim"),
        ({"num_classes": 0}, "num_classes"),
    ],
)
def test_unet_rejects_bad_arguments(kwargs, message):
    args = {"widths": (8, 16), "groups": 4, "embedding_dim": 8, **kwargs}
    with pytest.raises(ValueError, match=message):
        diffusion.build_unet(**args)


# -- 9. the models ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def diffusion_model():
    return diffusion.DiffusionModel(_unet(), schedule="cosine", timesteps=100, seed=0)


@pytest.fixture(scope="module")
def conditional_diffusion():
    return diffusion.DiffusionModel(
        _unet(num_classes=3, seed=1), schedule="linear", timesteps=100, num_classes=3, seed=0
    )


@pytest.fixture(scope="module")
def flow_model():
    return diffusion.FlowMatchingModel(_unet(seed=2), seed=0)


@pytest.fixture(scope="module")
def conditional_flow():
    return diffusion.FlowMatchingModel(_unet(num_classes=3, seed=3), num_classes=3, seed=0)


def _generate(model, n=3, **kwargs):
    steps = kwargs.pop("steps", 4)
    return model.generate(n, steps=steps, **kwargs)


@pytest.mark.parametrize("which", ["diffusion", "flow"])
def test_generate_contract_and_repeatability(which, diffusion_model, flow_model):
    model = diffusion_model if which == "diffusion" else flow_model
    a = _generate(model, seed=3)
    assert a.shape == (3, 28, 28, 1) and a.dtype == np.float32
    assert a.min() >= 0.0 and a.max() <= 1.0
    np.testing.assert_array_equal(a, _generate(model, seed=3))
    assert not np.allclose(a, _generate(model, seed=4))
    # the seed fixes the starting noise; the samples come out of it deterministically
    b, noise = _generate(model, seed=3, return_noise=True)
    np.testing.assert_array_equal(a, b)
    assert noise.shape == (3, 28, 28, 1) and noise.dtype == np.float32
    np.testing.assert_array_equal(
        noise, np.random.default_rng(3).standard_normal(noise.shape, dtype="float32")
    )
    # batches: the same images (deterministic samplers, per-image networks); up to float error,
    # which the first DDIM step amplifies by 1 / sqrt(alpha_bar_T)
    np.testing.assert_allclose(_generate(model, seed=3, batch_size=2), a, atol=1e-3)
    # seed=None draws from the model's generator: two calls differ
    assert not np.allclose(_generate(model, n=1), _generate(model, n=1))
    assert model.likelihood_kind in LIKELIHOOD_KINDS


def test_generate_samples_from_the_sampler_functions(diffusion_model, flow_model):
    """generate = the sampler on the model's predictor, mapped from [-1, 1] to [0, 1]."""
    model = diffusion_model
    images, noise = model.generate(2, seed=5, steps=3, sampler="ddim", eta=0.0, return_noise=True)
    x = diffusion.ddim_sample(model.predictor(), noise, model.schedule, steps=3)
    np.testing.assert_allclose(images, np.clip((x + 1) / 2, 0, 1), atol=1e-6)
    images, noise = flow_model.generate(2, seed=5, steps=3, solver="heun", return_noise=True)
    x = diffusion.ode_sample(flow_model.predictor(), noise, steps=3, solver="heun")
    np.testing.assert_allclose(images, np.clip((x + 1) / 2, 0, 1), atol=1e-6)


def test_generate_with_ddpm_and_eta(diffusion_model):
    ddpm = _generate(diffusion_model, seed=1, sampler="ddpm")
    assert ddpm.shape == (3, 28, 28, 1) and 0 <= ddpm.min() and ddpm.max() <= 1
    np.testing.assert_array_equal(ddpm, _generate(diffusion_model, seed=1, sampler="ddpm"))
    # DDPM is DDIM with eta = 1 (same seed, same noise draws)
    np.testing.assert_allclose(ddpm, _generate(diffusion_model, seed=1, eta=1.0), atol=1e-4)
    assert not np.allclose(ddpm, _generate(diffusion_model, seed=1, eta=0.0))
    with pytest.raises(ValueError, match="sampler"):
        diffusion_model.generate(1, sampler="euler")
    with pytest.raises(ValueError, match="steps"):
        diffusion_model.generate(1, steps=101)
    with pytest.raises(ValueError, match="eta"):
        diffusion_model.generate(1, eta=-1.0)


def test_predictors_scale_time_for_each_model():
    echo = _network_of(_TimeEchoLayer())
    x = np.zeros((2, 28, 28, 1), "float32")
    dm = diffusion.DiffusionModel(echo, timesteps=100)
    np.testing.assert_allclose(dm.predictor()(x, 37), 37.0)
    fm = diffusion.FlowMatchingModel(echo)
    np.testing.assert_allclose(fm.predictor()(x, 0.25), 250.0)  # 1000 t: a diffusion step's range
    # training feeds the network the same time scale as sampling
    t_train = _np(dm(_images(200))[0])[:, 0, 0, 0]
    assert np.all(t_train == np.round(t_train)) and t_train.min() >= 0 and t_train.max() <= 99
    assert len(np.unique(t_train)) > 50  # t ~ U{0 .. T-1}
    t_train = _np(fm(_images(200))[0])[:, 0, 0, 0]
    assert t_train.min() >= 0 and t_train.max() <= 1000 and t_train.max() > 900
    assert len(np.unique(t_train)) == 200  # t ~ U(0, 1)


def test_training_draws_follow_the_forward_process():
    x = _images(64, seed=3)
    x0 = 2.0 * x - 1.0
    # diffusion: x_t = sqrt(ab_t) x0 + sqrt(1 - ab_t) eps for one ab_t per image, eps ~ N(0, I)
    dm = diffusion.DiffusionModel(_network_of(_IdentityLayer()), schedule="linear", timesteps=25)
    x_t, eps = (_np(a).astype(np.float64) for a in dm(x))
    assert abs(eps.mean()) < 0.02 and abs(eps.std() - 1) < 0.02
    ab = dm.schedule.alpha_bars
    # each image fits x_t - sqrt(1 - ab) eps = sqrt(ab) x0 for one of the schedule's ab_t
    for i in range(len(x)):
        residuals = [
            np.abs(x_t[i] - np.sqrt(1 - a) * eps[i] - np.sqrt(a) * x0[i]).max() for a in ab
        ]
        assert min(residuals) < 1e-4, i
    # flow matching: x_t = (1 - t) x0 + t eps and target eps - x0, i.e. x_t = x0 + t * target
    fm = diffusion.FlowMatchingModel(_network_of(_IdentityLayer()))
    x_t, target = (_np(a).astype(np.float64) for a in fm(x))
    eps = target + x0
    assert abs(eps.mean()) < 0.02 and abs(eps.std() - 1) < 0.02
    t = ((x_t - x0) * target).sum(axis=(1, 2, 3)) / (target**2).sum(axis=(1, 2, 3))
    assert np.all((t >= 0) & (t <= 1))
    np.testing.assert_allclose(x_t, x0 + t[:, None, None, None] * target, atol=1e-5)


def test_guided_predictor_uses_the_null_class(conditional_diffusion, rng):
    model = conditional_diffusion
    x = rng.standard_normal((2, 28, 28, 1)).astype("float32")
    labels = np.array([0, 2])

    def net(lab):
        t = np.full(2, 40.0, "float32")
        return np.asarray(model.network.predict_on_batch([x, t, np.asarray(lab, "int32")]))

    cond, null = net(labels), net([3, 3])
    assert not np.allclose(cond, null)
    np.testing.assert_allclose(model.predictor(labels)(x, 40), cond, atol=1e-5)
    np.testing.assert_allclose(model.predictor()(x, 40), null, atol=1e-5)
    np.testing.assert_allclose(
        model.predictor(labels, guidance=2.0)(x, 40), 3 * cond - 2 * null, atol=1e-4
    )
    with pytest.raises(ValueError, match="guidance needs labels"):
        model.predictor(None, guidance=1.0)


@pytest.mark.parametrize("which", ["diffusion", "flow"])
def test_conditional_generate_and_label_checks(
    which, conditional_diffusion, conditional_flow, diffusion_model, flow_model
):
    cond = conditional_diffusion if which == "diffusion" else conditional_flow
    uncond = diffusion_model if which == "diffusion" else flow_model
    labels = np.array([0, 1, 2])
    a = _generate(cond, labels=labels, seed=0)
    assert a.shape == (3, 28, 28, 1) and 0 <= a.min() and a.max() <= 1
    np.testing.assert_array_equal(a, _generate(cond, labels=labels, seed=0))
    assert not np.allclose(a, _generate(cond, labels=[2, 0, 1], seed=0))  # labels matter
    assert not np.allclose(a, _generate(cond, seed=0))  # None: the null class
    guided = _generate(cond, labels=labels, seed=0, guidance=2.0)
    assert guided.shape == a.shape and not np.allclose(guided, a)
    with pytest.raises(ValueError, match="unconditional"):
        _generate(uncond, labels=labels)
    with pytest.raises(ValueError, match="one-hot"):
        _generate(cond, labels=np.eye(3, dtype="int32"))
    with pytest.raises(ValueError, match="guidance needs labels"):
        _generate(cond, guidance=1.0)
    with pytest.raises(ValueError, match="class-conditional"):
        _generate(uncond, guidance=1.0)
    with pytest.raises(ValueError, match=r"lie in \[0, 3\)"):
        _generate(cond, labels=[0, 1, 3])  # the null class is not a label a user passes
    with pytest.raises(ValueError, match="shape"):
        _generate(cond, labels=[0, 1])
    with pytest.raises(TypeError, match="integer"):
        _generate(cond, labels=[0.0, 1.0, 2.0])
    with pytest.raises(ValueError, match="guidance"):
        _generate(cond, labels=labels, guidance=-1.0)
    with pytest.raises(TypeError, match="seed"):
        _generate(cond, labels=labels, seed=1.5)
    with pytest.raises(ValueError, match="n must"):
        _generate(cond, n=0)


def test_flow_generate_rejects_bad_solver_and_steps(flow_model):
    with pytest.raises(ValueError, match="solver"):
        flow_model.generate(1, solver="ddim")
    with pytest.raises(ValueError, match="steps"):
        flow_model.generate(1, steps=0)
    heun = _generate(flow_model, seed=2, solver="heun")
    assert not np.allclose(heun, _generate(flow_model, seed=2, solver="euler"))


def test_models_reject_mismatched_networks_and_losses():
    net = _unet(out_scale=0)
    with pytest.raises(ValueError, match="needs a network with 3 inputs"):
        diffusion.DiffusionModel(net, num_classes=3)
    with pytest.raises(ValueError, match="needs a network with 2 inputs"):
        diffusion.FlowMatchingModel(_unet(num_classes=3, out_scale=0))
    with pytest.raises(ValueError, match="network"):
        diffusion.DiffusionModel(keras.layers.Dense(3))
    with pytest.raises(ValueError, match="name must be one of"):
        diffusion.DiffusionModel(net, schedule="quadratic")
    with pytest.raises(ValueError, match="label_dropout"):
        diffusion.FlowMatchingModel(net, label_dropout=1.0)
    for cls in (diffusion.DiffusionModel, diffusion.FlowMatchingModel):
        with pytest.raises(ValueError, match="pass no loss"):
            cls(net).compile(optimizer="adam", loss="mse")


def test_compute_loss_is_the_weighted_mean_squared_error(diffusion_model, rng):
    pred = rng.standard_normal((3, 28, 28, 1)).astype("float32")
    target = rng.standard_normal((3, 28, 28, 1)).astype("float32")
    per_image = ((pred - target) ** 2).mean(axis=(1, 2, 3))
    loss = diffusion_model.compute_loss(y_pred=(pred, target))
    np.testing.assert_allclose(_np(loss), per_image.mean(), rtol=1e-5)
    w = np.array([1.0, 0.0, 3.0], "float32")
    loss = diffusion_model.compute_loss(y_pred=(pred, target), sample_weight=w)
    np.testing.assert_allclose(_np(loss), (w * per_image).sum() / w.sum(), rtol=1e-5)


def test_call_returns_prediction_and_target(diffusion_model, flow_model):
    x = _images(2)
    pred, eps = diffusion_model(x)
    assert _np(pred).shape == x.shape and _np(eps).shape == x.shape
    # the flow target is eps - x0 with x0 in [-1, 1]: an all-black image gives eps + 1
    pred, target = flow_model(np.zeros((2, 28, 28, 1), "float32"))
    target = _np(target)
    assert target.shape == x.shape
    assert abs(target.mean() - 1.0) < 0.1 and abs(target.std() - 1.0) < 0.1
    with pytest.raises(ValueError, match="unconditional"):
        diffusion_model((x, np.zeros(2, "int32")))


def test_conditional_call_needs_labels(conditional_flow):
    x = _images(2)
    pred, _ = conditional_flow((x, np.array([0, 2])))
    assert _np(pred).shape == x.shape
    with pytest.raises(ValueError, match=r"\(x, labels\)"):
        conditional_flow(x)


def test_label_dropout_replaces_labels_by_the_null_class(conditional_diffusion):
    model = diffusion.DiffusionModel(
        conditional_diffusion.network, timesteps=100, num_classes=3, label_dropout=0.3, seed=0
    )
    labels = np.tile(np.array([0, 1, 2], "int32"), 2000)
    dropped = _np(model._drop_labels(ops.convert_to_tensor(labels), training=True))
    null = dropped == 3
    assert 0.27 < null.mean() < 0.33  # 6000 draws: s.e. 0.006
    np.testing.assert_array_equal(dropped[~null], labels[~null])
    kept = _np(model._drop_labels(ops.convert_to_tensor(labels), training=False))
    np.testing.assert_array_equal(kept, labels)


def _eval_loss(model, x, labels=None):
    """The training objective on a fixed draw of (t, noise), computed outside the model."""
    rng = np.random.default_rng(0)
    x0 = 2.0 * x - 1.0
    eps = rng.standard_normal(x0.shape).astype("float32")
    if isinstance(model, diffusion.DiffusionModel):
        t = rng.integers(0, model.schedule.timesteps, len(x))
        x_t = diffusion.q_sample(x0, t, eps, model.schedule)
        target, t_net = eps, t.astype("float32")
    else:
        t = rng.uniform(0, 1, len(x)).astype("float32")
        x_t = ((1 - t[:, None, None, None]) * x0 + t[:, None, None, None] * eps).astype("float32")
        target, t_net = eps - x0, 1000.0 * t
    inputs = [x_t, t_net] if labels is None else [x_t, t_net, labels.astype("int32")]
    pred = np.asarray(model.network.predict_on_batch(inputs))
    return float(np.mean((pred - target) ** 2))


@pytest.mark.parametrize("which", ["diffusion", "conditional_flow"])
def test_training_lowers_the_loss(which):
    x, y = utils.load_mnist("train", limit=256, path=utils.data.subset_path())
    if which == "diffusion":
        model = diffusion.DiffusionModel(_unet(groups=0, out_scale=0), timesteps=1000, seed=0)
        data, labels, threshold = x, None, 0.6
    else:  # class-conditional, trained on (x, labels) with label dropout
        model = diffusion.FlowMatchingModel(
            _unet(10, groups=0, out_scale=0), num_classes=10, label_dropout=0.2, seed=0
        )
        # the straight path's velocity keeps much irreducible variance: a smaller drop
        data, labels, threshold = (x, y), y[:64], 0.8
    before = _eval_loss(model, x[:64], labels)
    # zero-initialized output: the loss starts at E|eps|^2 = 1 (flow: E|eps - x0|^2 = 1 + E x0^2)
    expected = 1.0 if labels is None else 1.0 + np.mean((2 * x[:64] - 1) ** 2)
    assert before == pytest.approx(expected, rel=0.02)
    if labels is not None:
        class_embedding = _np(model.network.get_layer("class_embedding").embeddings).copy()
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    history = model.fit(data, epochs=8, batch_size=32, verbose=0)  # 64 steps
    after = _eval_loss(model, x[:64], labels)
    assert len(history.history["loss"]) == 8 and np.all(np.isfinite(history.history["loss"]))
    assert after < threshold * before, (before, after)
    if labels is not None:  # the labels reached the network: every class's embedding, and the
        # null class's (label dropout), has been trained
        moved = np.abs(_np(model.network.get_layer("class_embedding").embeddings) - class_embedding)
        assert np.all(moved.max(axis=1) > 1e-4), moved.max(axis=1)


# -- inpainting with the models --------------------------------------------------------------------


@pytest.mark.parametrize("sampler", ["ddim", "ddpm"])
def test_model_inpaint_keeps_known_pixels(diffusion_model, sampler):
    known = _images(3, seed=1)
    mask = np.zeros((28, 28, 1), "float32")
    mask[:14] = 1.0
    out = diffusion_model.inpaint(known, mask, sampler=sampler, steps=4, seed=0)
    assert out.shape == known.shape and out.dtype == np.float32
    assert out.min() >= 0 and out.max() <= 1
    np.testing.assert_array_equal(out[:, :14], known[:, :14])
    assert not np.allclose(out[:, 14:], known[:, 14:], atol=0.05)
    np.testing.assert_array_equal(
        out, diffusion_model.inpaint(known, mask, sampler=sampler, steps=4, seed=0)
    )
    # a per-image mask
    masks = np.broadcast_to(mask, known.shape).copy()
    masks[1] = 1.0 - masks[1]
    out = diffusion_model.inpaint(known, masks, sampler=sampler, steps=4, seed=0)
    np.testing.assert_array_equal(out[masks == 1], known[masks == 1])


def test_model_inpaint_rejects_bad_inputs(diffusion_model):
    known = _images(2)
    mask = np.ones((28, 28, 1), "float32")
    with pytest.raises(ValueError, match="binary"):
        diffusion_model.inpaint(known, 0.5 * mask, steps=2)
    with pytest.raises(ValueError, match="binary"):
        diffusion_model.inpaint(known, np.ones((14, 14, 1)), steps=2)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        diffusion_model.inpaint(2 * known + 1, mask, steps=2)
    with pytest.raises(ValueError, match="shape"):
        diffusion_model.inpaint(known[:, :14], mask, steps=2)
    with pytest.raises(ValueError, match="sampler"):
        diffusion_model.inpaint(known, mask, sampler="heun")


# -- 10. saving ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "which", ["diffusion", "conditional_diffusion", "flow", "conditional_flow"]
)
def test_keras_save_and_load_round_trip(
    tmp_path, which, diffusion_model, conditional_diffusion, flow_model, conditional_flow
):
    model = {
        "diffusion": diffusion_model,
        "conditional_diffusion": conditional_diffusion,
        "flow": flow_model,
        "conditional_flow": conditional_flow,
    }[which]
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    assert type(loaded) is type(model)
    assert loaded.num_classes == model.num_classes and loaded.seed == model.seed
    assert loaded.label_dropout == model.label_dropout
    if isinstance(model, diffusion.DiffusionModel):
        assert loaded.schedule.get_config() == model.schedule.get_config()
        np.testing.assert_array_equal(loaded.schedule.alpha_bars, model.schedule.alpha_bars)
    x = np.random.default_rng(0).standard_normal((2, 28, 28, 1)).astype("float32")
    inputs = [x, np.array([5.0, 60.0], "float32")]
    labels = None
    if model.num_classes:
        labels = np.array([0, 2])
        inputs.append(labels.astype("int32"))
    expected = np.asarray(model.network.predict_on_batch(inputs))
    assert np.abs(expected).max() > 1e-3  # a network that is not identically zero
    np.testing.assert_array_equal(np.asarray(loaded.network.predict_on_batch(inputs)), expected)
    np.testing.assert_array_equal(
        _generate(loaded, n=2, labels=labels, seed=7), _generate(model, n=2, labels=labels, seed=7)
    )


# -- 11. the variational bound ---------------------------------------------------------------------


def _bound_by_hand(x, schedule, offset):
    """-(L_T + sum_t L_{t-1} + L_0) in nats for images ``x`` (N, ...) in [0, 1] under a noise
    predictor that is exact up to a constant ``offset`` (so every term is deterministic), written
    with the Gaussian means of Ho et al. (2020) eq. 7 and the KL of two Gaussians, independently
    of the model's noise-space shortcut."""
    x0 = 2.0 * x.astype(np.float64) - 1.0
    n = len(x)
    ab, abp, betas, alphas = (
        schedule.alpha_bars,
        schedule.alpha_bars_prev,
        schedule.betas,
        schedule.alphas,
    )
    # L_T: KL(N(sqrt(ab_T) x0, 1 - ab_T) || N(0, 1))
    m, v = np.sqrt(ab[-1]) * x0, 1.0 - ab[-1]
    total = (0.5 * (v + m**2 - 1.0 - np.log(v))).reshape(n, -1).sum(axis=1)
    # L_{t-1}, t >= 1: the predicted x0 is off by -sqrt(1 - ab_t) / sqrt(ab_t) * offset; the means
    # (eq. 7) differ through the x0 coefficient; the variances are both beta~_t.
    for t in range(1, schedule.timesteps):
        x0_error = -np.sqrt(1.0 - ab[t]) / np.sqrt(ab[t]) * offset
        mean_diff = np.sqrt(abp[t]) * betas[t] / (1.0 - ab[t]) * x0_error
        var = schedule.posterior_variance[t]
        total += x0[0].size * mean_diff**2 / (2.0 * var)
    # L_0: discretized Gaussian around the predicted x0, std sqrt(beta_1), bins 2/255, open ends
    mean = x0 - np.sqrt(1.0 - ab[0]) / np.sqrt(ab[0]) * offset
    std = np.sqrt(betas[0])
    upper = np.where(x0 >= 1.0, 1.0, stats.norm.cdf((x0 + 1 / 255 - mean) / std))
    lower = np.where(x0 <= -1.0, 0.0, stats.norm.cdf((x0 - 1 / 255 - mean) / std))
    total += -np.log(upper - lower).reshape(n, -1).sum(axis=1)
    assert np.allclose(alphas, 1 - betas)
    return -total


@pytest.mark.parametrize("name, timesteps", [("cosine", 10), ("linear", 40)])
@pytest.mark.parametrize("offset", [0.0, 0.05])
def test_log_likelihood_equals_the_bound_for_a_near_exact_predictor(name, timesteps, offset):
    # With n_timesteps = T the stratified draws visit every t exactly once, and a predictor that
    # knows x_0 (up to a constant offset) makes every term deterministic: the estimate must be the
    # exact variational bound.
    x = _images(3, seed=4)
    x[0, :3] = 0.0  # pixels at both open ends of the decoder's bins
    x[0, 3:6] = 1.0
    schedule = diffusion.NoiseSchedule(name, timesteps)
    oracle = _EpsOracleLayer(2.0 * x - 1.0, schedule.alpha_bars, offset=offset)
    model = diffusion.DiffusionModel(_network_of(oracle), schedule=name, timesteps=timesteps)
    expected = _bound_by_hand(x, schedule, offset)
    for seed in (0, 1):
        ll = model.log_likelihood(x, n_timesteps=timesteps, seed=seed)
        assert ll.shape == (3,) and ll.dtype == np.float64
        np.testing.assert_allclose(ll, expected, rtol=1e-4)
    assert np.all(expected < 0)


def test_log_likelihood_contract(diffusion_model, conditional_diffusion):
    x = _images(4, seed=2)
    ll = diffusion_model.log_likelihood(x, n_timesteps=3, seed=0)
    assert ll.shape == (4,) and ll.dtype == np.float64
    assert np.all(np.isfinite(ll)) and np.all(ll < 0)
    np.testing.assert_array_equal(ll, diffusion_model.log_likelihood(x, n_timesteps=3, seed=0))
    other = diffusion_model.log_likelihood(x, n_timesteps=3, seed=1)
    assert not np.array_equal(ll, other)  # a stochastic estimate
    np.testing.assert_allclose(
        diffusion_model.log_likelihood(x, n_timesteps=3, seed=0, batch_size=3), ll, rtol=1e-5
    )
    # the KL to the prior alone: the bound can only be lower
    ab_T = diffusion_model.schedule.alpha_bars[-1]
    x0 = 2.0 * x.astype(np.float64) - 1.0
    kl_T = 0.5 * ((1 - ab_T) + ab_T * x0**2 - 1 - np.log(1 - ab_T))
    assert np.all(ll < -kl_T.reshape(4, -1).sum(axis=1))
    cond = conditional_diffusion.log_likelihood(x, labels=[0, 1, 2, 0], n_timesteps=2)
    assert cond.shape == (4,) and np.all(np.isfinite(cond))
    assert not np.allclose(cond, conditional_diffusion.log_likelihood(x, n_timesteps=2))
    assert diffusion.DiffusionModel.likelihood_kind == "lower_bound"
    assert diffusion.FlowMatchingModel.likelihood_kind == "unavailable"


def test_log_likelihood_rejects_bad_inputs(diffusion_model, flow_model):
    x = _images(2)
    with pytest.raises(ValueError, match="8-bit"):
        diffusion_model.log_likelihood(np.full_like(x, 0.3))  # 76.5 / 255
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        diffusion_model.log_likelihood(x * 2.0)
    with pytest.raises(ValueError, match="uint8"):
        diffusion_model.log_likelihood((x * 255).astype(np.uint8))
    with pytest.raises(ValueError, match="n_timesteps"):
        diffusion_model.log_likelihood(x, n_timesteps=0)
    with pytest.raises(ValueError, match="unconditional"):
        diffusion_model.log_likelihood(x, labels=[0, 1])
    with pytest.raises(ValueError, match="shape"):
        diffusion_model.log_likelihood(x[:, :14])
    with pytest.raises(LikelihoodUnavailableError, match="divergence"):
        flow_model.log_likelihood(x)


# -- 12. bad inputs --------------------------------------------------------------------------------


def test_forward_process_rejects_bad_inputs():
    s = diffusion.NoiseSchedule("cosine", 10)
    x0 = np.zeros((2, 3, 3, 1))
    eps = np.ones((2, 3, 3, 1))
    t = np.array([0, 9])
    for fn in (diffusion.q_sample, diffusion.forward_step):
        with pytest.raises(ValueError, match="NaN"):
            fn(np.full_like(x0, np.nan), t, eps, s)
        with pytest.raises(ValueError, match="NaN"):
            fn(x0, t, np.full_like(eps, np.inf), s)
        with pytest.raises(ValueError, match="shape"):
            fn(x0, t, eps[:1], s)
        with pytest.raises(ValueError, match=r"t must have shape \(2,\)"):
            fn(x0, t[:, None], eps, s)
        with pytest.raises(ValueError, match=r"t must have shape \(2,\)"):
            fn(x0, np.array(3), eps, s)
        with pytest.raises(ValueError, match=r"lie in \[0, 10\)"):
            fn(x0, np.array([0, 10]), eps, s)
        with pytest.raises(ValueError, match=r"lie in \[0, 10\)"):
            fn(x0, np.array([-1, 0]), eps, s)
        with pytest.raises(TypeError, match="integer"):
            fn(x0, np.array([0.0, 1.0]), eps, s)
        with pytest.raises(TypeError, match="NoiseSchedule"):
            fn(x0, t, eps, "cosine")
        with pytest.raises(ValueError, match="non-empty"):
            fn(np.zeros((0, 3)), np.zeros(0, int), np.zeros((0, 3)), s)
    with pytest.raises(TypeError, match="integer"):
        s.snr(0.5)


def test_noise_schedule_rejects_bad_arguments():
    with pytest.raises(ValueError, match="name must be one of"):
        diffusion.NoiseSchedule("quadratic")
    for bad in (1, 0, -5, 10.0, True):
        with pytest.raises(ValueError, match="timesteps"):
            diffusion.NoiseSchedule("cosine", bad)
    with pytest.raises(ValueError, match="below 1"):
        diffusion.linear_betas(10)
    with pytest.raises(ValueError, match="beta_start"):
        diffusion.linear_betas(1000, beta_start=0.0)
    with pytest.raises(ValueError, match="max_beta"):
        diffusion.cosine_betas(100, max_beta=1.0)
    with pytest.raises(ValueError, match="offset"):
        diffusion.cosine_betas(100, offset=-0.1)
    schedule = diffusion.NoiseSchedule("linear", 50)
    assert repr(schedule) == "NoiseSchedule(name='linear', timesteps=50)"
