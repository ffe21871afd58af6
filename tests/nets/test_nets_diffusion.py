"""ε-prediction DDPM (algorithms.md §3.6): VP schedule, denoising loss, clipped ancestral sampler,
the MLP "U-net" score network, and a fit of a state-conditioned bimodal action distribution."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from seamrl.nets import ScoreNet, diffusion

# β_t = 1 − exp(−0.1/T − ½·9.9·(2t − 1)/T²), T = 10, worked out by hand (§3.6):
# t = 1: 1 − exp(−0.01 − 0.0495) = 1 − exp(−0.0595);  t = 2: 1 − exp(−0.01 − 0.1485);  t = 10: 1 − exp(−0.01 − 0.9405)
BETA_1, BETA_2, BETA_10 = 1 - math.exp(-0.0595), 1 - math.exp(-0.1585), 1 - math.exp(-0.9505)


def test_vp_schedule_matches_formula_by_hand():
    s = diffusion.make_schedule(10)
    assert s.steps == 10 and s.betas.dtype == jnp.float32
    np.testing.assert_allclose([BETA_1, BETA_2, BETA_10], [0.0577645, 0.1465770, 0.6134523], atol=1e-7)
    np.testing.assert_allclose(np.asarray(s.betas)[[0, 1, 9]], [BETA_1, BETA_2, BETA_10], rtol=1e-6)
    np.testing.assert_allclose(s.alphas, 1.0 - s.betas, rtol=1e-6)
    np.testing.assert_allclose(s.alpha_bars[1], (1 - BETA_1) * (1 - BETA_2), rtol=1e-6)
    assert np.all(np.diff(np.asarray(s.betas)) > 0) and 0 < float(s.alpha_bars[-1]) < 0.01  # x_T ≈ N(0, I)
    np.testing.assert_allclose(diffusion.vp_beta_schedule(5, 0.2, 5.0)[0], 1 - math.exp(-0.2 / 5 - 0.5 * 4.8 / 25))


def test_denoising_loss_hand_computed():
    """ε_θ(x, s, t) = x (identity): loss = ‖ε − √ᾱ_t a − √(1 − ᾱ_t) ε‖², per sample."""
    s = diffusion.make_schedule(10)
    ab1, ab2 = 1 - BETA_1, (1 - BETA_1) * (1 - BETA_2)
    actions = jnp.array([[0.5, 0.0], [0.2, -0.4]])
    eps = jnp.array([[1.0, 0.0], [-1.0, 0.5]])
    t = jnp.array([0, 1])
    x0 = math.sqrt(ab1) * 0.5 + math.sqrt(1 - ab1) * 1.0
    x1 = [math.sqrt(ab2) * 0.2 - math.sqrt(1 - ab2), math.sqrt(ab2) * -0.4 + math.sqrt(1 - ab2) * 0.5]
    want = [(1.0 - x0) ** 2, (-1.0 - x1[0]) ** 2 + (0.5 - x1[1]) ** 2]
    np.testing.assert_allclose(want, [0.0752479, 0.9491117], atol=1e-6)
    loss = diffusion.denoising_loss(lambda o, x, tt: x, s, jnp.zeros((2, 3)), actions, t, eps)
    np.testing.assert_allclose(loss, want, rtol=1e-5)
    tt, ee = diffusion.sample_noise(jax.random.PRNGKey(0), 500, 2, 10)
    assert tt.shape == (500,) and ee.shape == (500, 2) and int(tt.min()) == 0 and int(tt.max()) == 9


def test_sampler_recovers_point_mass_with_its_exact_noise_predictor():
    """For data a ≡ a₀ the optimal ε̂(x_t, t) = (x_t − √ᾱ_t a₀)/√(1 − ᾱ_t); the last reverse step
    (x − β₁/√(1 − ᾱ₁) ε̂)/√α₁ then returns a₀ exactly, whatever the earlier iterates were."""
    s = diffusion.make_schedule(10)
    a0 = jnp.array([0.3, -0.7])
    eps_fn = lambda o, x, t: (x - jnp.sqrt(s.alpha_bars[t])[:, None] * a0) / jnp.sqrt(1 - s.alpha_bars[t])[:, None]  # noqa: E731
    a = diffusion.ddpm_sample(eps_fn, s, jnp.zeros((64, 3)), jax.random.PRNGKey(1), 2)
    np.testing.assert_allclose(a, jnp.broadcast_to(a0, (64, 2)), atol=1e-5)


def test_sampler_shape_clipping_and_gradient_through_last_k_steps():
    s = diffusion.make_schedule(10)
    obs = jax.random.normal(jax.random.PRNGKey(0), (32, 3))
    wild = lambda c: (lambda o, x, t: -c * (x + 1.0) - 3.0)  # noqa: E731  pushes the iterate far out of [−1, 1]
    a = diffusion.ddpm_sample(wild(2.0), s, obs, jax.random.PRNGKey(1), 4)
    assert a.shape == (32, 4) and float(jnp.abs(a).max()) <= 1.0
    free = diffusion.ddpm_sample(wild(2.0), s, obs, jax.random.PRNGKey(1), 4, clip=False)
    assert float(jnp.abs(free).max()) > 2.0  # the clip is what keeps it inside

    def objective(c, k):  # a scalar parameter c of the noise predictor
        eps_fn = lambda o, x, t: c * jnp.tanh(x + o[:, :1])  # noqa: E731
        return diffusion.ddpm_sample(eps_fn, s, obs, jax.random.PRNGKey(2), 2, grad_last_k=k).sum()

    value_and_grad = jax.jit(jax.value_and_grad(objective), static_argnums=1)
    values, grads = zip(*[value_and_grad(0.3, k) for k in (0, 1, 3, 10)])
    grads = dict(zip((0, 1, 3, 10), map(float, grads)))
    assert grads[0] == 0.0 and grads[1] != 0.0 and grads[3] != grads[1] and grads[10] != grads[3]
    np.testing.assert_allclose(values, values[0], rtol=1e-6)  # truncation changes gradients only, not samples
    fd = (float(value_and_grad(0.3 + 1e-2, 10)[0]) - float(value_and_grad(0.3 - 1e-2, 10)[0])) / 2e-2
    assert abs(grads[10] - fd) < 0.05 * abs(fd) + 1e-2  # full back-propagation = finite difference


def test_score_net_structure_and_fixed_fourier_features():
    net = ScoreNet(3, diffusion_steps=10)
    obs, x, t = jnp.ones((5, 7)), jnp.zeros((5, 3)), jnp.arange(5)
    params = jax.eval_shape(net.init, jax.random.PRNGKey(0), obs, x, t)  # shapes only: no compute
    assert jax.eval_shape(net.apply, params, obs, x, t).shape == (5, 3)
    p = params["params"]
    assert set(p) == {"time_embed", "state_embed", "cond_0", "cond_1", "down_0", "down_1", "down_2", "middle", "up_0", "up_1", "out"}
    assert p["time_embed"]["kernel"].shape == (32, 32) and p["state_embed"]["kernel"].shape == (7, 32)
    assert p["cond_0"]["kernel"].shape == (64, 128) and p["cond_1"]["kernel"].shape == (128, 128)
    assert p["up_0"]["Dense_0"]["kernel"].shape == (256, 256) and p["up_1"]["Dense_0"]["kernel"].shape == (512, 512)
    assert p["out"]["kernel"].shape == (1024, 3)
    n_params = sum(int(np.prod(v.shape)) for v in jax.tree_util.tree_leaves(params))
    assert 1.5e6 < n_params < 1.7e6  # all trainable: the Fourier frequencies are constants, not parameters
    small = ScoreNet(3, widths=(16, 8), embed_dim=8, cond_dim=8)
    params = jax.jit(small.init)(jax.random.PRNGKey(0), obs, x, t)
    apply = jax.jit(small.apply)
    out, different_t = apply(params, obs, x, t), apply(params, obs, x, t[::-1])
    assert float(jnp.abs(different_t - out).min(axis=1).max()) > 1e-4  # time conditioning is wired


def _modes(obs):
    """Two modes per state: 0.3 s ± 0.5 (s = +1: −0.2 / 0.8, s = −1: −0.8 / 0.2)."""
    return jnp.stack([0.3 * obs[:, 0] - 0.5, 0.3 * obs[:, 0] + 0.5], axis=-1)


def test_fit_state_conditioned_bimodal_actions():
    sched = diffusion.make_schedule(10)
    net = ScoreNet(1, widths=(32, 16), embed_dim=16, cond_dim=32)
    params = net.init(jax.random.PRNGKey(0), jnp.zeros((1, 1)), jnp.zeros((1, 1)), jnp.zeros((1,), jnp.int32))
    tx = optax.adam(3e-3)

    @jax.jit
    def train(params, key):
        def step(carry, k):
            params, opt = carry
            k_s, k_m, k_n, k_d = jax.random.split(k, 4)
            obs = jnp.where(jax.random.bernoulli(k_s, 0.5, (256, 1)), 1.0, -1.0)
            pick = jax.random.bernoulli(k_m, 0.5, (256,)).astype(jnp.int32)
            act = jnp.take_along_axis(_modes(obs), pick[:, None], axis=1) + 0.05 * jax.random.normal(k_n, (256, 1))
            t, eps = diffusion.sample_noise(k_d, 256, 1, sched.steps)

            def loss(p):
                return diffusion.denoising_loss(lambda o, x, tt: net.apply(p, o, x, tt), sched, obs, act, t, eps).mean()

            value, grads = jax.value_and_grad(loss)(params)
            updates, opt = tx.update(grads, opt, params)
            return (optax.apply_updates(params, updates), opt), value

        return jax.lax.scan(step, (params, tx.init(params)), jax.random.split(key, 500))

    (params, _), losses = train(params, jax.random.PRNGKey(1))
    assert float(losses[-50:].mean()) < 0.8 * float(losses[:50].mean())
    obs = jnp.repeat(jnp.array([[1.0], [-1.0]]), 1000, axis=0)
    sample = jax.jit(lambda p, k: diffusion.ddpm_sample(lambda o, x, t: net.apply(p, o, x, t), sched, obs, k, 1))
    actions = np.asarray(sample(params, jax.random.PRNGKey(2)))[:, 0].reshape(2, 1000)
    for s, a in zip((1.0, -1.0), actions):
        lo, hi = 0.3 * s - 0.5, 0.3 * s + 0.5
        near_lo, near_hi = np.mean(np.abs(a - lo) < 0.2), np.mean(np.abs(a - hi) < 0.2)
        assert near_lo > 0.3 and near_hi > 0.3, (s, near_lo, near_hi)  # both modes are produced
        assert np.mean(np.abs(a - 0.3 * s) < 0.2) < 0.15  # little mass between them (a unimodal fit centres there)
        assert np.mean(np.abs(a + 0.8 * s) < 0.2) < 0.05  # the other state's outer mode is not produced


@pytest.mark.parametrize("n", [1, 8])
def test_best_of_n_picks_highest_score(n):
    obs = jnp.zeros((16, 2))
    sample_fn = lambda o, k: jax.random.uniform(k, (o.shape[0], 1), minval=-1, maxval=1)  # noqa: E731
    a = diffusion.best_of_n(sample_fn, lambda o, x: x[:, 0], obs, jax.random.PRNGKey(0), n)
    candidates = jax.vmap(lambda k: sample_fn(obs, k))(jax.random.split(jax.random.PRNGKey(0), n))
    np.testing.assert_allclose(a, candidates.max(axis=0))
