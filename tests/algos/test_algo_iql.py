"""IQL (§7.6) against hand computations.

Value:  L_V = mean |τ − 1(u < 0)| u²,  u = min_k Q̄_k(s, a) − V(s)
Critic: L_Q = Σ_k mean (Q_k(s, a) − r − γ m V(s'))²        (freshly updated V)
Actor:  L_π = −mean min(exp(β (min_k Q̄_k(s, a) − V(s))), 100) log π(a|s)
Order:  V → actor → Q → Polyak on Q̄.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from seamrl.algos import iql
from seamrl.algos.common import AgentSpec

OBS, ACT, N = 3, 2, 16


def _np(tree):
    return jax.tree_util.tree_map(lambda x: np.asarray(x, np.float64), tree)


def _critic_np(p, obs, act):
    return (act @ p["w"].T + obs @ p["b"].T + p["c"][None, :]).T


def _state(h, actor_lr=0.1, critic_lr=0.1, value_lr=0.1, **cfg):
    """An IQL state with tanh-mean Gaussian actor, linear critics and V (no flax networks)."""
    rng = np.random.default_rng(3)
    return iql.State(
        actor=h.make_ts(h.gaussian_actor, {"M": rng.normal(size=(OBS, ACT)), "log_std": np.array([-0.3, 0.2])}, actor_lr),
        critic=h.make_ts(h.critic_fn, h.critic_params(2, OBS, ACT, 0), critic_lr),
        critic_target=jax.tree_util.tree_map(jnp.asarray, h.critic_params(2, OBS, ACT, 1)),
        value=h.make_ts(h.value_fn, {"u": rng.normal(size=(OBS,)), "v0": np.array(0.2)}, value_lr),
        rng=h.rng0(),
        step=h.step0(),
        config=iql.Config(hidden_dims=(8,), **cfg),
    )


def _v_np(p, obs):
    return obs @ p["u"] + p["v0"]


def _weights_np(q_min, v, beta, cap=100.0):
    return np.minimum(np.exp(beta * (q_min - v)), cap)


def _expectile_np(u, tau):
    return np.abs(tau - (u < 0)) * u**2


def test_iql_value_loss_hand_computation(h):
    state = _state(h, expectile=0.8)
    batch = h.random_batch(jax.random.PRNGKey(1), N, OBS, ACT)
    b = h.np_batch(batch)
    q = _critic_np(_np(state.critic_target), b["observations"], b["actions"]).min(0)  # target critics
    v = _v_np(_np(state.value.params), b["observations"])
    u = q - v
    assert (u > 0).any() and (u < 0).any()
    loss, info = iql.value_loss(state.value.params, state, batch)
    np.testing.assert_allclose(loss, _expectile_np(u, 0.8).mean(), rtol=1e-5)
    np.testing.assert_allclose(info["v_mean"], v.mean(), rtol=1e-5, atol=1e-6)
    # the online critic must not be used
    q_online = _critic_np(_np(state.critic.params), b["observations"], b["actions"]).min(0)
    assert abs(_expectile_np(q_online - v, 0.8).mean() - float(loss)) > 1e-2


def test_iql_advantage_weights_hand_and_clip(h):
    state = _state(h, beta=3.0)
    batch = h.random_batch(jax.random.PRNGKey(2), N, OBS, ACT)
    b = h.np_batch(batch)
    q = _critic_np(_np(state.critic_target), b["observations"], b["actions"]).min(0)
    v = _v_np(_np(state.value.params), b["observations"])
    w = np.asarray(iql.advantage_weights(state, batch))
    np.testing.assert_allclose(w, _weights_np(q, v, 3.0), rtol=1e-4)
    # shift V so advantages span [−∞-ish, +huge]: weights saturate at exactly 100, never inf/NaN
    offsets = np.linspace(-5.0, 400.0, N)  # β·(Q − V) up to 1200 → exp overflows in float32
    v_target = jnp.asarray(q - offsets, jnp.float32)  # V(s) := min Q̄(s, a) − offset
    shifted = state.replace(value=state.value.replace(apply_fn=lambda _p, obs, **__: v_target))
    w = np.asarray(iql.advantage_weights(shifted, batch))
    assert np.isfinite(w).all()
    np.testing.assert_allclose(w, np.minimum(np.exp(np.minimum(3.0 * offsets, 50.0)), 100.0), rtol=1e-4)
    assert (w == 100.0).sum() >= N - 3 and w[0] < 1e-5


def test_iql_critic_loss_uses_value_of_next_state(h):
    state = _state(h, discount=0.9)
    batch = h.random_batch(jax.random.PRNGKey(3), N, OBS, ACT)
    b = h.np_batch(batch)
    y = b["rewards"] + 0.9 * b["masks"] * _v_np(_np(state.value.params), b["next_observations"])
    q = _critic_np(_np(state.critic.params), b["observations"], b["actions"])
    loss, info = iql.critic_loss(state.critic.params, state, batch)
    np.testing.assert_allclose(loss, ((q - y[None]) ** 2).mean(1).sum(), rtol=1e-5)
    np.testing.assert_allclose(info["q_mean"], q.mean(), rtol=1e-5, atol=1e-6)


def test_iql_actor_loss_is_weighted_gaussian_nll(h):
    state = _state(h)
    batch = h.random_batch(jax.random.PRNGKey(4), N, OBS, ACT)
    b = h.np_batch(batch)
    p = _np(state.actor.params)
    mean, std = np.tanh(b["observations"] @ p["M"]), np.exp(p["log_std"])[None, :]
    # plain Normal (no tanh Jacobian) on the dataset action
    logp = (-0.5 * ((b["actions"] - mean) / std) ** 2 - np.log(std) - 0.5 * np.log(2 * np.pi)).sum(-1)
    w = np.linspace(0.1, 3.0, N)
    loss, info = iql.actor_loss(state.actor.params, state, batch, jnp.asarray(w, jnp.float32), jax.random.PRNGKey(0))
    np.testing.assert_allclose(loss, -(w * logp).mean(), rtol=1e-5)
    np.testing.assert_allclose(info["adv_weight_mean"], w.mean(), rtol=1e-5)
    # weights are constants for the actor gradient: d/dlog σ = −mean_i w_i ((a−μ)²/σ² − 1)
    g = jax.grad(lambda q: iql.actor_loss(q, state, batch, jnp.asarray(w, jnp.float32), jax.random.PRNGKey(0))[0])(state.actor.params)
    g_log_std = -(w[:, None] * (((b["actions"] - mean) / std) ** 2 - 1.0)).mean(0)
    np.testing.assert_allclose(g["log_std"], g_log_std, rtol=1e-4, atol=1e-6)


def _adam1(p, g, lr):
    return p - lr * g / (np.abs(g) + 1e-8)


def test_iql_update_order_hand_computation(h):
    """One full update: V first (big lr so its change is visible), then the actor weights
    and the critic target both use the *updated* V, then Polyak on Q̄."""
    lr_a, lr_c, lr_v, tau, beta, expectile, gamma = 0.05, 0.05, 0.5, 0.2, 2.0, 0.7, 0.9
    state = _state(h, actor_lr=lr_a, critic_lr=lr_c, value_lr=lr_v, tau=tau, beta=beta, expectile=expectile, discount=gamma)
    batch = h.random_batch(jax.random.PRNGKey(5), N, OBS, ACT)
    b = h.np_batch(batch)
    s, a = b["observations"], b["actions"]
    pv, pc, pt, pa = _np(state.value.params), _np(state.critic.params), _np(state.critic_target), _np(state.actor.params)

    # 1. value step
    q_t = _critic_np(pt, s, a).min(0)
    u = q_t - _v_np(pv, s)
    dv = -2.0 * np.abs(expectile - (u < 0)) * u / N
    new_v = {"u": _adam1(pv["u"], s.T @ dv, lr_v), "v0": _adam1(pv["v0"], dv.sum(), lr_v)}
    # 2. weights with the new V, actor step
    w = _weights_np(q_t, _v_np(new_v, s), beta)
    w_old = _weights_np(q_t, _v_np(pv, s), beta)
    assert np.abs(w.mean() - w_old.mean()) > 1e-2  # the order is observable
    mean, std = np.tanh(s @ pa["M"]), np.exp(pa["log_std"])[None, :]
    z = (a - mean) / std
    logp = (-0.5 * z**2 - np.log(std) - 0.5 * np.log(2 * np.pi)).sum(-1)
    g_M = s.T @ (-(w[:, None] * z / std) * (1 - mean**2) / N)
    g_ls = -(w[:, None] * (z**2 - 1.0)).mean(0)
    new_a = {"M": _adam1(pa["M"], g_M, lr_a), "log_std": _adam1(pa["log_std"], g_ls, lr_a)}
    # 3. critic step on r + γ m V_new(s')
    y = b["rewards"] + gamma * b["masks"] * _v_np(new_v, b["next_observations"])
    err = _critic_np(pc, s, a) - y[None]
    g_c = {"w": 2 * err @ a / N, "b": 2 * err @ s / N, "c": 2 * err.mean(1)}
    new_c = {k: _adam1(pc[k], g_c[k], lr_c) for k in pc}

    new, metrics = jax.jit(iql.update)(state, batch)
    tol = dict(rtol=1e-4, atol=1e-5)
    for k in new_v:
        np.testing.assert_allclose(new.value.params[k], new_v[k], **tol)
    for k in new_a:
        np.testing.assert_allclose(new.actor.params[k], new_a[k], **tol)
    for k in new_c:
        np.testing.assert_allclose(new.critic.params[k], new_c[k], **tol)
        np.testing.assert_allclose(new.critic_target[k], tau * new_c[k] + (1 - tau) * pt[k], **tol)
    np.testing.assert_allclose(metrics["value_loss"], _expectile_np(u, expectile).mean(), rtol=1e-4)
    np.testing.assert_allclose(metrics["adv_weight_mean"], w.mean(), rtol=1e-4)
    np.testing.assert_allclose(metrics["actor_loss"], -(w * logp).mean(), rtol=1e-4)
    np.testing.assert_allclose(metrics["critic_loss"], (err**2).mean(1).sum(), rtol=1e-4)
    assert int(new.step) == 1


def test_iql_act(h):
    state = _state(h)
    obs = jax.random.normal(jax.random.PRNGKey(6), (2000, OBS))
    det = np.asarray(iql.act(state, obs, jax.random.PRNGKey(0), True))
    np.testing.assert_allclose(det, np.tanh(np.asarray(obs, np.float64) @ _np(state.actor.params)["M"]), rtol=1e-5, atol=1e-6)
    key = jax.random.PRNGKey(7)
    sto = np.asarray(iql.act(state, obs, key, False))
    std = np.exp(_np(state.actor.params)["log_std"])
    expected = np.clip(det + std * np.asarray(jax.random.normal(key, det.shape)), -1.0, 1.0)
    np.testing.assert_allclose(sto, expected, rtol=1e-5, atol=1e-5)
    assert np.abs(sto).max() <= 1.0 and (np.abs(sto) == 1.0).any()


def test_iql_dropout_only_in_training():
    state = iql.init(jax.random.PRNGKey(0), AgentSpec(OBS, ACT), iql.Config(hidden_dims=(16,), actor_dropout=0.5))
    obs = jax.random.normal(jax.random.PRNGKey(1), (8, OBS))
    a1 = iql.act(state, obs, jax.random.PRNGKey(2), True)
    a2 = iql.act(state, obs, jax.random.PRNGKey(3), True)
    np.testing.assert_array_equal(a1, a2)  # evaluation: no dropout
    m1, _ = state.actor.apply_fn(state.actor.params, obs, train=True, rngs={"dropout": jax.random.PRNGKey(4)})
    assert float(jnp.abs(m1 - a1).max()) > 1e-4  # training: dropout active


def test_iql_defaults_and_presets_match_spec():
    c = iql.Config()
    assert (c.expectile, c.beta, c.max_weight, c.tau) == (0.7, 3.0, 100.0, 0.005)
    assert (c.actor_lr, c.critic_lr, c.value_lr) == (3e-4, 3e-4, 3e-4) and tuple(c.hidden_dims) == (256, 256)
    assert c.reward_transform == "range" and c.dataset_action_clip == pytest.approx(1e-5)
    am = iql.PRESETS["antmaze"]
    assert (am["expectile"], am["beta"], am["reward_shift"]) == (0.9, 10.0, -1.0)
    assert iql.PRESETS["kitchen"]["actor_dropout"] == 0.1
