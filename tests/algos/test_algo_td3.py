"""TD3 (§7.2) and TD3+BC (§7.5) against hand computations.

Target: y = r + γ m min_k Q̄_k(s', clip(π̄(s') + clip(σ ε, −c, c), −1, 1))
Critic: L_Q = Σ_k mean (Q_k(s, a) − y)²
Actor every ``policy_freq`` steps (step % freq == 0), then Polyak on both targets:
    TD3:    L_π = −mean Q_1(s, π(s))
    TD3+BC: L_π = −λ mean Q_1(s, π(s)) + mean (π(s) − a)²,  λ = α / sg(mean |Q_1(s, π(s))|)
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from seamrl.algos import td3, td3bc
from seamrl.algos.common import polyak

OBS, ACT, N = 3, 2, 16


def _state(h, module=td3, lr=0.1, W=None, W_target=None, critic_seed=0, target_seed=1, **cfg):
    """A TD3 state with linear actor π(s) = sW and linear twin critics (no flax networks)."""
    rng = np.random.default_rng(42)
    W = rng.normal(size=(OBS, ACT)) * 0.5 if W is None else W
    W_target = rng.normal(size=(OBS, ACT)) * 0.5 if W_target is None else W_target
    return td3.State(
        actor=h.make_ts(h.linear_actor, {"W": W}, lr),
        critic=h.make_ts(h.critic_fn, h.critic_params(2, OBS, ACT, critic_seed), lr),
        actor_target={"W": jnp.asarray(W_target, jnp.float32)},
        critic_target=jax.tree_util.tree_map(jnp.asarray, h.critic_params(2, OBS, ACT, target_seed)),
        rng=h.rng0(),
        step=h.step0(),
        config=module.Config(hidden_dims=(8,), **cfg),
    )


def _np(tree):
    return jax.tree_util.tree_map(lambda x: np.asarray(x, np.float64), tree)


def _target_np(state, b, xi):
    cfg = state.config
    a_next = b["next_observations"] @ _np(state.actor_target)["W"]
    noise = np.clip(cfg.policy_noise * xi, -cfg.noise_clip, cfg.noise_clip)
    a_next = np.clip(a_next + noise, -1.0, 1.0)
    q_next = _critic_np(_np(state.critic_target), b["next_observations"], a_next).min(0)
    return b["rewards"] + cfg.discount * b["masks"] * q_next, a_next


def _critic_np(p, obs, act):
    return (act @ p["w"].T + obs @ p["b"].T + p["c"][None, :]).T


# --------------------------------------------------------------------------- target


def test_td3_target_hand_computation(h):
    state = _state(h, discount=0.9)
    batch = h.random_batch(jax.random.PRNGKey(1), N, OBS, ACT)
    batch["next_observations"] = 2.0 * batch["next_observations"]  # some π̄(s') outside [−1, 1]
    key = jax.random.PRNGKey(7)
    xi = np.asarray(jax.random.normal(key, (N, ACT)), np.float64)
    expected, a_next = _target_np(state, h.np_batch(batch), xi)
    assert (np.abs(a_next) == 1.0).any() and (np.abs(a_next) < 1.0).any()  # both regimes exercised
    np.testing.assert_allclose(td3.td3_target(state, batch, key), expected, rtol=1e-5, atol=1e-5)


def test_td3_target_uses_target_networks_not_online(h):
    state = _state(h, policy_noise=0.0)
    batch = h.random_batch(jax.random.PRNGKey(2), N, OBS, ACT)
    y = td3.td3_target(state, batch, jax.random.PRNGKey(0))
    # swap online and target nets: the target must change accordingly
    swapped = state.replace(
        actor=state.actor.replace(params=state.actor_target),
        actor_target=state.actor.params,
        critic=state.critic.replace(params=state.critic_target),
        critic_target=state.critic.params,
    )
    y_swapped = td3.td3_target(swapped, batch, jax.random.PRNGKey(0))
    expected_swapped, _ = _target_np(swapped, h.np_batch(batch), np.zeros((N, ACT)))
    np.testing.assert_allclose(y_swapped, expected_swapped, rtol=1e-5, atol=1e-5)
    assert float(jnp.abs(y - y_swapped).max()) > 1e-2


def test_td3_target_noise_is_clipped_to_noise_clip(h):
    # σ = 100 → every noise draw saturates at ±c; π̄ ≡ 0 so a' = c·sign(ε) exactly
    state = _state(h, W_target=np.zeros((OBS, ACT)), policy_noise=100.0, noise_clip=0.3, discount=1.0)
    batch = h.random_batch(jax.random.PRNGKey(3), N, OBS, ACT)
    batch["masks"] = jnp.ones((N,))
    key = jax.random.PRNGKey(11)
    sign = np.sign(np.asarray(jax.random.normal(key, (N, ACT)), np.float64))
    b, p = h.np_batch(batch), _np(state.critic_target)
    expected = b["rewards"] + _critic_np(p, b["next_observations"], 0.3 * sign).min(0)
    np.testing.assert_allclose(td3.td3_target(state, batch, key), expected, rtol=1e-5, atol=1e-5)


def test_td3_target_action_is_clipped_to_unit_box(h):
    # π̄(s') = ±50 ⇒ a' = ±1 whatever the (clipped) noise; masks 0 rows give y = r
    W_t = np.array([[50.0, -50.0], [0.0, 0.0], [0.0, 0.0]])
    state = _state(h, W_target=W_t, discount=0.99)
    batch = h.random_batch(jax.random.PRNGKey(4), N, OBS, ACT)
    batch["next_observations"] = batch["next_observations"].at[:, 0].set(jnp.where(jnp.arange(N) % 2 == 0, 1.0, -1.0))
    b, p = h.np_batch(batch), _np(state.critic_target)
    a_next = np.sign(b["next_observations"][:, :1]) * np.array([[1.0, -1.0]])
    expected = b["rewards"] + 0.99 * b["masks"] * _critic_np(p, b["next_observations"], a_next).min(0)
    np.testing.assert_allclose(td3.td3_target(state, batch, jax.random.PRNGKey(5)), expected, rtol=1e-5, atol=1e-5)
    zero = np.asarray(batch["masks"]) == 0
    assert zero.any()
    np.testing.assert_allclose(np.asarray(td3.td3_target(state, batch, jax.random.PRNGKey(5)))[zero], b["rewards"][zero], rtol=1e-6)


# --------------------------------------------------------------------------- losses


def test_td3_critic_loss_sums_member_mses(h):
    state = _state(h)
    batch = h.random_batch(jax.random.PRNGKey(6), N, OBS, ACT)
    y = jnp.linspace(-1.0, 2.0, N)
    b = h.np_batch(batch)
    q = _critic_np(_np(state.critic.params), b["observations"], b["actions"])
    expected = ((q[0] - np.asarray(y)) ** 2).mean() + ((q[1] - np.asarray(y)) ** 2).mean()
    loss, info = td3.critic_loss(state.critic.params, state, batch, y)
    np.testing.assert_allclose(loss, expected, rtol=1e-5)
    np.testing.assert_allclose(info["q_mean"], q.mean(), rtol=1e-5, atol=1e-6)


def test_td3_actor_loss_uses_first_online_critic(h):
    state = _state(h)
    batch = h.random_batch(jax.random.PRNGKey(7), N, OBS, ACT)
    b = h.np_batch(batch)
    a = b["observations"] @ _np(state.actor.params)["W"]
    q = _critic_np(_np(state.critic.params), b["observations"], a)
    assert np.abs(q[0] - q[1]).max() > 0.1  # Q_1 ≠ Q_2, so min/mean would be detected
    loss, _ = td3.td3_actor_loss(state.actor.params, state, batch)
    np.testing.assert_allclose(loss, -q[0].mean(), rtol=1e-5)
    # hand gradient for the linear Q_1 = w_1·(sW) + …: dL/dW = −mean_i s_i ⊗ w_1
    g = jax.grad(lambda p: td3.td3_actor_loss(p, state, batch)[0])(state.actor.params)["W"]
    w1 = _np(state.critic.params)["w"][0]
    np.testing.assert_allclose(g, -np.outer(b["observations"].mean(0), w1), rtol=1e-4, atol=1e-6)


def test_td3bc_actor_loss_value_lambda_and_bc(h):
    state = _state(h, module=td3bc, alpha=2.5)
    batch = h.random_batch(jax.random.PRNGKey(8), N, OBS, ACT)
    b = h.np_batch(batch)
    pi = b["observations"] @ _np(state.actor.params)["W"]
    q1 = _critic_np(_np(state.critic.params), b["observations"], pi)[0]
    assert (q1 < 0).any() and (q1 > 0).any()  # |Q| differs from Q: the abs matters
    lam = 2.5 / np.abs(q1).mean()
    bc_mse = ((pi - b["actions"]) ** 2).mean()
    loss, info = td3bc.td3bc_actor_loss(state.actor.params, state, batch)
    np.testing.assert_allclose(info["lambda"], lam, rtol=1e-5)
    np.testing.assert_allclose(info["bc_mse"], bc_mse, rtol=1e-5)
    np.testing.assert_allclose(loss, -lam * q1.mean() + bc_mse, rtol=1e-5)


def test_td3bc_lambda_is_stop_gradient(h):
    # Make Q_1 > 0 everywhere: without sg, −α·mean Q/mean|Q| ≡ −α has zero gradient and only
    # the BC term would remain; with sg the Q term contributes −λ·mean_i s_i ⊗ w_1.
    state = _state(h, module=td3bc, alpha=2.5)
    p = state.critic.params
    state = state.replace(critic=state.critic.replace(params={**p, "c": p["c"] + 100.0}))
    batch = h.random_batch(jax.random.PRNGKey(9), N, OBS, ACT)
    b = h.np_batch(batch)
    W = _np(state.actor.params)["W"]
    pi = b["observations"] @ W
    q1 = _critic_np(_np(state.critic.params), b["observations"], pi)[0]
    assert (q1 > 0).all()
    lam = 2.5 / np.abs(q1).mean()
    w1 = _np(state.critic.params)["w"][0]
    g_hand = -lam * np.outer(b["observations"].mean(0), w1) + b["observations"].T @ (2.0 * (pi - b["actions"]) / pi.size)
    g = jax.grad(lambda q: td3bc.td3bc_actor_loss(q, state, batch)[0])(state.actor.params)["W"]
    np.testing.assert_allclose(g, g_hand, rtol=1e-4, atol=1e-6)


# --------------------------------------------------------------------------- full update


def _adam1(p, g, lr):
    return p - lr * g / (np.abs(g) + 1e-8)


def test_td3_update_hand_computation_step0(h):
    """Step 0: critic step on the hand target, then actor step through the *updated* critic
    (CleanRL order), then Polyak on both targets."""
    lr, tau = 0.05, 0.3
    state = _state(h, lr=lr, policy_noise=0.0, discount=0.9, tau=tau)
    batch = h.random_batch(jax.random.PRNGKey(10), N, OBS, ACT)
    b = h.np_batch(batch)
    y, _ = _target_np(state, b, np.zeros((N, ACT)))
    pc = _np(state.critic.params)
    err = _critic_np(pc, b["observations"], b["actions"]) - y[None]  # (2, N)
    g_critic = {"w": 2 * err @ b["actions"] / N, "b": 2 * err @ b["observations"] / N, "c": 2 * err.mean(1)}
    new_critic = {k: _adam1(pc[k], g_critic[k], lr) for k in pc}
    W = _np(state.actor.params)["W"]
    new_W = _adam1(W, -np.outer(b["observations"].mean(0), new_critic["w"][0]), lr)

    new, metrics = jax.jit(td3.update)(state, batch)
    for k in pc:
        np.testing.assert_allclose(new.critic.params[k], new_critic[k], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(new.actor.params["W"], new_W, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(new.actor_target["W"], tau * new_W + (1 - tau) * _np(state.actor_target)["W"], rtol=1e-4, atol=1e-5)
    for k in pc:
        expected = tau * new_critic[k] + (1 - tau) * _np(state.critic_target)[k]
        np.testing.assert_allclose(new.critic_target[k], expected, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(metrics["critic_loss"], (err**2).mean(1).sum(), rtol=1e-4)
    # the actor loss is evaluated with the freshly updated critic
    pi = b["observations"] @ W
    loss_new = -_critic_np(new_critic, b["observations"], pi)[0].mean()
    loss_old = -_critic_np(pc, b["observations"], pi)[0].mean()
    assert abs(loss_new - loss_old) > 1e-2
    np.testing.assert_allclose(metrics["actor_loss"], loss_new, rtol=1e-4, atol=1e-5)
    assert int(new.step) == 1


@pytest.mark.parametrize("module, freq", [(td3, 2), (td3, 3), (td3bc, 2)])
def test_delayed_actor_and_target_updates(h, module, freq):
    state = _state(h, module=module, lr=0.01, tau=0.1, policy_freq=freq)
    update = jax.jit(module.update)
    actor_keys = {"actor_loss"} | ({"bc_mse", "lambda"} if module is td3bc else set())
    leaves = jax.tree_util.tree_leaves
    for i in range(2 * freq + 1):
        new, metrics = update(state, h.random_batch(jax.random.PRNGKey(100 + i), 32, OBS, ACT))
        assert int(new.step) == i + 1
        assert set(metrics) >= actor_keys | {"critic_loss", "q_mean"}
        assert np.isfinite(float(metrics["critic_loss"]))
        assert any(not np.array_equal(a, b) for a, b in zip(leaves(new.critic.params), leaves(state.critic.params)))
        actor_changed = any(not np.array_equal(a, b) for a, b in zip(leaves(new.actor.params), leaves(state.actor.params)))
        if i % freq == 0:
            assert actor_changed, i
            for k in actor_keys:
                assert np.isfinite(float(metrics[k])), (i, k)
            exp_at = polyak(state.actor_target, new.actor.params, 0.1)
            exp_ct = polyak(state.critic_target, new.critic.params, 0.1)
            for a, b in zip(leaves(new.actor_target), leaves(exp_at)):
                np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
            for a, b in zip(leaves(new.critic_target), leaves(exp_ct)):
                np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
        else:
            assert not actor_changed, i
            for k in actor_keys:
                assert np.isnan(float(metrics[k])), (i, k)
            for a, b in zip(leaves(new.actor_target), leaves(state.actor_target)):
                np.testing.assert_array_equal(a, b)
            for a, b in zip(leaves(new.critic_target), leaves(state.critic_target)):
                np.testing.assert_array_equal(a, b)
            # Adam state of the actor untouched too
            for a, b in zip(leaves(new.actor.opt_state), leaves(state.actor.opt_state)):
                np.testing.assert_array_equal(a, b)
        state = new


# --------------------------------------------------------------------------- act and config


def test_td3_act_deterministic_and_exploration_noise(h):
    state = _state(h, exploration_noise=0.1)
    obs = jax.random.normal(jax.random.PRNGKey(12), (4000, OBS)) * 0.3
    det = np.asarray(td3.act(state, obs, jax.random.PRNGKey(0), True))
    np.testing.assert_allclose(det, np.asarray(obs) @ np.asarray(state.actor.params["W"]), rtol=1e-5, atol=1e-6)
    key = jax.random.PRNGKey(13)
    sto = np.asarray(td3.act(state, obs, key, False))
    expected = np.clip(det + 0.1 * np.asarray(jax.random.normal(key, det.shape)), -1.0, 1.0)
    np.testing.assert_allclose(sto, expected, rtol=1e-5, atol=1e-6)
    inside = np.abs(det) < 0.6
    assert 0.09 < (sto - det)[inside].std() < 0.11


def test_td3_and_td3bc_defaults_match_spec():
    c = td3.Config()
    assert (c.actor_lr, c.critic_lr, c.tau, c.policy_noise, c.noise_clip, c.policy_freq, c.exploration_noise) == (
        3e-4, 3e-4, 0.005, 0.2, 0.5, 2, 0.1)
    assert tuple(c.hidden_dims) == (256, 256) and c.learning_starts == 25_000 and c.discount == 0.99 and c.batch_size == 256
    b = td3bc.Config()
    assert isinstance(b, td3.Config) and b.alpha == 2.5 and b.normalize_observations is True
    assert (b.policy_noise, b.noise_clip, b.policy_freq, b.tau, b.actor_lr, b.critic_lr) == (0.2, 0.5, 2, 0.005, 3e-4, 3e-4)
    assert td3bc.PRESETS["antmaze"]["reward_shift"] == -1.0
