"""Shared math of seamrl.algos.common and seamrl.nets.policies against hand computations."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from seamrl.algos.common import apply_grad, cosine_then_constant, expectile_loss, make_state, polyak, split
from seamrl.nets import GaussianPolicy, TanhGaussianPolicy, critic_ensemble, gaussian_sample, normal_log_prob, tanh_normal_sample
from seamrl.nets.policies import tanh_log_det_jacobian

# --------------------------------------------------------------------------- polyak (§1.5)


def test_polyak_hand_numbers():
    target = {"a": jnp.array([1.0, 2.0]), "b": {"c": jnp.array(-4.0)}}
    online = {"a": jnp.array([3.0, -2.0]), "b": {"c": jnp.array(4.0)}}
    out = polyak(target, online, 0.25)
    # θ̄ ← τ θ + (1 − τ) θ̄ : 0.25·3 + 0.75·1 = 1.5; 0.25·(−2) + 0.75·2 = 1.0; 0.25·4 + 0.75·(−4) = −2
    np.testing.assert_allclose(out["a"], [1.5, 1.0], rtol=1e-6)
    np.testing.assert_allclose(out["b"]["c"], -2.0, rtol=1e-6)


def test_polyak_extremes_and_small_tau():
    target, online = {"w": jnp.array([0.0, 10.0])}, {"w": jnp.array([1.0, 20.0])}
    np.testing.assert_allclose(polyak(target, online, 0.0)["w"], [0.0, 10.0])
    np.testing.assert_allclose(polyak(target, online, 1.0)["w"], [1.0, 20.0])
    np.testing.assert_allclose(polyak(target, online, 0.005)["w"], [0.005, 10.05], rtol=1e-6)


# --------------------------------------------------------------------------- expectile (§7.6)


def test_expectile_loss_hand_numbers():
    u = jnp.array([-2.0, -0.5, 0.0, 0.5, 2.0])
    # |τ − 1(u<0)| u², τ = 0.7 → negatives weighted 0.3, positives 0.7
    expected = np.array([0.3 * 4.0, 0.3 * 0.25, 0.0, 0.7 * 0.25, 0.7 * 4.0])
    np.testing.assert_allclose(expectile_loss(u, 0.7), expected, rtol=1e-6)
    np.testing.assert_allclose(expectile_loss(u, 0.5), 0.5 * np.asarray(u) ** 2, rtol=1e-6)
    np.testing.assert_allclose(expectile_loss(u, 0.9), [0.4, 0.025, 0.0, 0.225, 3.6], rtol=1e-5)


def test_expectile_loss_gradient_and_minimiser():
    # d/du |τ − 1(u<0)| u² = 2|τ − 1(u<0)| u
    u = jnp.array([-1.5, 0.8])
    g = jax.grad(lambda x: expectile_loss(x, 0.8).sum())(u)
    np.testing.assert_allclose(g, [2 * 0.2 * -1.5, 2 * 0.8 * 0.8], rtol=1e-6)
    # The minimiser over a constant v of mean expectile_loss(q − v) is the τ-expectile of q,
    # which exceeds the mean for τ > 0.5; for q ∈ {0, 1} it is τ exactly (hand: τ(1−v) = (1−τ)v).
    q = jnp.array([0.0, 1.0])
    vs = jnp.linspace(0.0, 1.0, 10001)
    losses = jax.vmap(lambda v: expectile_loss(q - v, 0.9).mean())(vs)
    assert abs(float(vs[jnp.argmin(losses)]) - 0.9) < 2e-4


# --------------------------------------------------------------------------- distributions (§1.4)


def _np_normal_logpdf(x, mean, std):
    return np.log(np.exp(-0.5 * ((x - mean) / std) ** 2) / (std * np.sqrt(2 * np.pi)))


def test_normal_log_prob_hand_numbers():
    x = np.array([[0.3, -1.2], [2.0, 0.0]])
    mean = np.array([[0.0, -1.0], [1.0, 0.5]])
    log_std = np.array([[0.0, -0.5], [0.7, np.log(2.0)]])
    expected = _np_normal_logpdf(x, mean, np.exp(log_std)).sum(-1)
    out = normal_log_prob(jnp.asarray(x), jnp.asarray(mean), jnp.asarray(log_std))
    assert out.shape == (2,)
    np.testing.assert_allclose(out, expected, rtol=1e-5)
    # standard normal at 0 in 1-D: −½ log 2π
    np.testing.assert_allclose(normal_log_prob(jnp.zeros((1,)), jnp.zeros((1,)), jnp.zeros((1,))), -0.5 * math.log(2 * math.pi), rtol=1e-6)


def test_tanh_log_det_jacobian_is_stable_and_exact():
    u = np.array([[-20.0, -3.0, -0.4, 0.0, 0.4, 3.0, 20.0]])
    # log(1 − tanh²u) = log sech² u = 2 log 2 − 2 log(eᵘ + e⁻ᵘ) (float64, no cancellation)
    expected = (2 * np.log(2.0) - 2 * np.logaddexp(u, -u)).sum(-1)
    out = tanh_log_det_jacobian(jnp.asarray(u, jnp.float32))
    assert np.isfinite(out).all()
    np.testing.assert_allclose(out, expected, rtol=1e-5)


def test_tanh_normal_sample_log_density_by_change_of_variables():
    key = jax.random.PRNGKey(3)
    mean = jnp.array([[0.2, -1.0, 1.5], [0.0, 0.5, -0.3]])
    log_std = jnp.array([[0.0, -1.0, 0.5], [-2.0, 0.3, 0.0]])
    action, log_prob = tanh_normal_sample(key, mean, log_std)
    # the same reparameterised pre-tanh sample, rebuilt from the key
    xi = np.asarray(jax.random.normal(key, mean.shape), np.float64)
    m, s = np.asarray(mean, np.float64), np.exp(np.asarray(log_std, np.float64))
    u = m + s * xi
    np.testing.assert_allclose(action, np.tanh(u), rtol=1e-5, atol=1e-6)
    # numerical Jacobian of a = tanh(u) by central differences; p_A(a) = p_U(u) / |da/du|
    eps = 1e-6
    dadu = (np.tanh(u + eps) - np.tanh(u - eps)) / (2 * eps)
    expected = (_np_normal_logpdf(u, m, s) - np.log(dadu)).sum(-1)
    np.testing.assert_allclose(log_prob, expected, rtol=1e-4, atol=1e-4)


def test_tanh_normal_density_matches_sample_histogram():
    """The returned density of a 1-D tanh-Normal equals the empirical density of its samples."""
    n = 400_000
    mean, log_std = jnp.full((n, 1), 0.5), jnp.zeros((n, 1))  # σ = 1: much mass near ±1
    action, log_prob = tanh_normal_sample(jax.random.PRNGKey(0), mean, log_std)
    a, p = np.asarray(action[:, 0], np.float64), np.exp(np.asarray(log_prob, np.float64))
    edges = np.linspace(-0.95, 0.95, 20)
    counts, _ = np.histogram(a, edges)
    empirical = counts / (n * np.diff(edges))
    which = np.digitize(a, edges) - 1
    for b in range(len(edges) - 1):
        model = p[which == b].mean()  # average density over the bin's samples ≈ bin density
        assert abs(empirical[b] - model) / model < 0.04, (b, empirical[b], model)
    # without the Jacobian term the density near the edges would be far off
    assert empirical[-1] > 1.5 * np.exp(_np_normal_logpdf(np.arctanh(0.9), 0.5, 1.0))


def test_gaussian_sample_moments():
    n = 200_000
    mean = jnp.broadcast_to(jnp.array([0.3, -0.7]), (n, 2))
    log_std = jnp.broadcast_to(jnp.log(jnp.array([0.5, 2.0])), (n, 2))
    x = np.asarray(gaussian_sample(jax.random.PRNGKey(1), mean, log_std))
    np.testing.assert_allclose(x.mean(0), [0.3, -0.7], atol=0.02)
    np.testing.assert_allclose(x.std(0), [0.5, 2.0], rtol=0.02)


def test_tanh_gaussian_log_std_bounded_in_minus5_2():
    net = TanhGaussianPolicy(2, (16, 16))
    params = net.init(jax.random.PRNGKey(0), jnp.zeros((1, 3)))
    obs = 1e3 * jax.random.normal(jax.random.PRNGKey(1), (512, 3))
    _, log_std = net.apply(params, obs)
    assert float(log_std.min()) >= -5.0 and float(log_std.max()) <= 2.0
    # extreme inputs really reach both ends (the rescaled tanh saturates)
    assert float(log_std.min()) < -4.9 and float(log_std.max()) > 1.9


def test_gaussian_policy_mean_in_unit_box_and_state_independent_std():
    net = GaussianPolicy(2, (16, 16))
    params = net.init(jax.random.PRNGKey(0), jnp.zeros((1, 3)))
    mean, log_std = net.apply(params, 100.0 * jax.random.normal(jax.random.PRNGKey(1), (64, 3)))
    assert float(jnp.abs(mean).max()) <= 1.0
    np.testing.assert_allclose(log_std, 0.0)  # init 0, state independent
    params = jax.tree_util.tree_map(lambda x: x, params)
    params["params"]["log_std"] = jnp.array([-9.0, 5.0])
    _, log_std = net.apply(params, jnp.zeros((4, 3)))
    np.testing.assert_allclose(log_std, np.tile([-5.0, 2.0], (4, 1)))  # clipped to [−5, 2]


def test_critic_ensemble_members_are_independent():
    net = critic_ensemble(2, (16, 16))
    params = net.init(jax.random.PRNGKey(0), jnp.zeros((1, 3)), jnp.zeros((1, 2)))
    q = net.apply(params, jax.random.normal(jax.random.PRNGKey(1), (8, 3)), jnp.ones((8, 2)) * 0.5)
    assert q.shape == (2, 8)
    assert float(jnp.abs(q[0] - q[1]).max()) > 1e-3


# --------------------------------------------------------------------------- optimiser plumbing


def test_apply_grad_is_one_adam_step_on_the_loss():
    # first Adam step: θ ← θ − lr · g / (|g| + ε)  (bias-corrected m̂ = g, v̂ = g²)
    state = make_state(GaussianPolicy(1, (4,)), {"x": jnp.array([1.0, -2.0, 0.5])}, 0.1)
    new, aux = apply_grad(state, lambda p: ((p["x"] ** 2).sum() * 0.5, {"tag": jnp.array(7.0)}))
    g = np.array([1.0, -2.0, 0.5])
    np.testing.assert_allclose(new.params["x"], g - 0.1 * g / (np.abs(g) + 1e-8), rtol=1e-5)
    assert float(aux["tag"]) == 7.0
    assert int(new.step) == 1


@pytest.mark.parametrize("clip", [0.5, None])
def test_make_state_grad_clip(clip):
    # Step 1 sees g1 = [3, −4] (norm 5), step 2 sees g2 = g1 / 10 (norm 0.5). With global-norm
    # clipping at 0.5 both steps see the same gradient [0.3, −0.4], so Adam's second step is
    # again exactly −lr·sign(g); without clipping the moments mix two scales and it is not.
    state = make_state(GaussianPolicy(1, (4,)), {"x": jnp.array([0.0, 0.0])}, 0.1, grad_clip=clip)
    g1, g2 = {"x": jnp.array([3.0, -4.0])}, {"x": jnp.array([0.3, -0.4])}
    u1, opt = state.tx.update(g1, state.opt_state, state.params)
    u2, _ = state.tx.update(g2, opt, state.params)
    np.testing.assert_allclose(u1["x"], [-0.1, 0.1], rtol=1e-5)
    same = np.allclose(u2["x"], [-0.1, 0.1], rtol=1e-4)
    assert same == (clip is not None)


def test_cosine_then_constant_schedule():
    sched = cosine_then_constant(1.0, 100, after=0.3)
    np.testing.assert_allclose(sched(0), 1.0, rtol=1e-6)
    np.testing.assert_allclose(sched(50), 0.5 * (1 + math.cos(math.pi * 0.5)), atol=1e-6)
    np.testing.assert_allclose(sched(100), 0.3, rtol=1e-6)
    np.testing.assert_allclose(sched(5000), 0.3, rtol=1e-6)
    np.testing.assert_allclose(cosine_then_constant(2e-3, 0)(123), 2e-3, rtol=1e-6)
    np.testing.assert_allclose(cosine_then_constant(1.0, 100)(200), 1.0, rtol=1e-6)


def test_split_returns_distinct_keys():
    key = jax.random.PRNGKey(0)
    new, a, b = split(key, 2)
    draws = [float(jax.random.uniform(k)) for k in (key, new, a, b)]
    assert len(set(draws)) == 4


@pytest.mark.parametrize("tau", [0.005, 0.5])
def test_polyak_converges_geometrically(tau):
    t, o = {"w": jnp.array(0.0)}, {"w": jnp.array(1.0)}
    for _ in range(10):
        t = polyak(t, o, tau)
    np.testing.assert_allclose(t["w"], 1.0 - (1.0 - tau) ** 10, rtol=1e-5)
