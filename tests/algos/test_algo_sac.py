"""SAC (§7.3) against hand computations.

Critic: y = r + γ m (min_k Q̄_k(s', ã') − α log π(ã'|s')),  ã' ~ π(·|s')   (backup entropy)
        L_Q = Σ_k mean (Q_k(s, a) − y)²
Actor:  L_π = mean (α log π(ã|s) − min_k Q_k(s, ã))
Temp.:  L_α = α (−log π − H̄)  ⇒  α decreases when the entropy is above H̄, increases below.
log π of the tanh-Gaussian includes the Jacobian: Σ log N(u; μ, σ) − Σ log(1 − tanh² u).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from seamrl.algos import sac
from seamrl.algos.common import AgentSpec, polyak

OBS, ACT, N = 3, 2, 16


def _actor(p, obs, **_):
    mean = obs @ p["M"]
    return mean, jnp.broadcast_to(p["log_std"], mean.shape)


def _state(h, lr=0.1, alpha=0.5, target_entropy=-float(ACT), **cfg):
    """A SAC state with a linear tanh-Gaussian actor and linear twin critics (no flax networks)."""
    rng = np.random.default_rng(5)
    return sac.State(
        actor=h.make_ts(_actor, {"M": rng.normal(size=(OBS, ACT)), "log_std": np.array([-0.5, 0.3])}, lr),
        critic=h.make_ts(h.critic_fn, h.critic_params(2, OBS, ACT, 0), lr),
        critic_target=jax.tree_util.tree_map(jnp.asarray, h.critic_params(2, OBS, ACT, 1)),
        temperature=h.make_ts(lambda p: jnp.exp(p["log_alpha"]), {"log_alpha": np.log(alpha)}, lr),
        rng=h.rng0(),
        step=h.step0(),
        target_entropy=target_entropy,
        config=sac.Config(hidden_dims=(8,), **cfg),
    )


def _np(tree):
    return jax.tree_util.tree_map(lambda x: np.asarray(x, np.float64), tree)


def _critic_np(p, obs, act):
    return (act @ p["w"].T + obs @ p["b"].T + p["c"][None, :]).T


def _sample_np(state, obs, key):
    """ã = tanh(u), u = μ + σ ξ, and log π(ã|s) by the change-of-variables formula (float64)."""
    p = _np(state.actor.params)
    mean = obs @ p["M"]
    std = np.exp(p["log_std"])[None, :] * np.ones_like(mean)
    xi = np.asarray(jax.random.normal(key, mean.shape), np.float64)
    u = mean + std * xi
    log_n = -0.5 * ((u - mean) / std) ** 2 - np.log(std) - 0.5 * np.log(2 * np.pi)
    return np.tanh(u), (log_n - np.log(1.0 - np.tanh(u) ** 2)).sum(-1)


@pytest.mark.parametrize("backup_entropy", [True, False])
def test_sac_critic_loss_hand_computation(h, backup_entropy):
    state = _state(h, discount=0.9, backup_entropy=backup_entropy)
    batch = h.random_batch(jax.random.PRNGKey(1), N, OBS, ACT)
    b = h.np_batch(batch)
    key = jax.random.PRNGKey(3)
    a_next, logp_next = _sample_np(state, b["next_observations"], key)
    q_next = _critic_np(_np(state.critic_target), b["next_observations"], a_next).min(0)
    if backup_entropy:
        q_next = q_next - 0.5 * logp_next
    y = b["rewards"] + 0.9 * b["masks"] * q_next
    q = _critic_np(_np(state.critic.params), b["observations"], b["actions"])
    expected = ((q - y[None]) ** 2).mean(1).sum()
    loss, info = sac.critic_loss(state.critic.params, state, batch, key)
    np.testing.assert_allclose(loss, expected, rtol=1e-4)
    np.testing.assert_allclose(info["q_mean"], q.mean(), rtol=1e-5, atol=1e-6)
    # the gradient treats y as a constant: dL/dc_k = 2 mean_i (Q_k − y)
    g = jax.grad(lambda p: sac.critic_loss(p, state, batch, key)[0])(state.critic.params)
    np.testing.assert_allclose(g["c"], 2 * (q - y[None]).mean(1), rtol=1e-4, atol=1e-5)


def test_sac_actor_loss_hand_computation(h):
    state = _state(h, alpha=0.3)
    batch = h.random_batch(jax.random.PRNGKey(2), N, OBS, ACT)
    b = h.np_batch(batch)
    key = jax.random.PRNGKey(4)
    a, logp = _sample_np(state, b["observations"], key)
    q = _critic_np(_np(state.critic.params), b["observations"], a)
    assert np.abs(q[0] - q[1]).max() > 0.1
    loss, info = sac.actor_loss(state.actor.params, state, batch, key)
    np.testing.assert_allclose(loss, (0.3 * logp - q.min(0)).mean(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(info["entropy"], -logp.mean(), rtol=1e-4, atol=1e-5)


def test_sac_temperature_loss_value_and_gradient(h):
    state = _state(h, alpha=0.4).replace(target_entropy=-2.0)
    for entropy, sign in ((1.0, +1), (-5.0, -1)):
        loss, info = sac.temperature_loss(state.temperature.params, state, jnp.asarray(entropy))
        np.testing.assert_allclose(info["temperature"], 0.4, rtol=1e-6)
        np.testing.assert_allclose(loss, 0.4 * (entropy + 2.0), rtol=1e-5)
        g = jax.grad(lambda p: sac.temperature_loss(p, state, jnp.asarray(entropy))[0])(state.temperature.params)
        (g_log_alpha,) = jax.tree_util.tree_leaves(g)
        # d/d log α of α (H − H̄) = α (H − H̄): positive (α goes down) iff H > H̄
        np.testing.assert_allclose(g_log_alpha, 0.4 * (entropy + 2.0), rtol=1e-5)
        assert np.sign(float(g_log_alpha)) == sign


@pytest.mark.parametrize("target_entropy, direction", [(-50.0, -1), (50.0, +1)])
def test_sac_temperature_moves_toward_target_entropy(h, target_entropy, direction):
    state = _state(h, lr=0.01, alpha=1.0, target_entropy=target_entropy)
    update = jax.jit(sac.update)
    alphas = [1.0]
    for i in range(4):
        state, metrics = update(state, h.random_batch(jax.random.PRNGKey(i), 32, OBS, ACT))
        alphas.append(float(state.temperature.apply_fn(state.temperature.params)))
        assert (float(metrics["entropy"]) - target_entropy) * direction < 0  # entropy on the expected side
    steps = np.diff(alphas)
    assert (np.sign(steps) == direction).all(), alphas


def test_sac_update_order_and_polyak_every_step(h):
    lr, tau = 0.05, 0.1
    state = _state(h, lr=lr, alpha=0.5, tau=tau, discount=0.9)
    update = jax.jit(sac.update)
    leaves = jax.tree_util.tree_leaves
    for i in range(2):
        batch = h.random_batch(jax.random.PRNGKey(10 + i), 32, OBS, ACT)
        new, metrics = update(state, batch)
        for a, b in zip(leaves(new.critic_target), leaves(polyak(state.critic_target, new.critic.params, tau))):
            np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
        for tree in ("actor", "critic", "temperature"):
            old, cur = leaves(getattr(state, tree).params), leaves(getattr(new, tree).params)
            assert any(not np.array_equal(x, y) for x, y in zip(old, cur)), (i, tree)
        assert all(np.isfinite(float(v)) for v in metrics.values())
        # the temperature step uses the entropy reported by the actor step: log α moves by
        # −lr·sign(α (H − H̄)) on the first Adam step
        if i == 0:
            H = float(metrics["entropy"])
            expected = np.log(0.5) - lr * np.sign(0.5 * (H + ACT))
            np.testing.assert_allclose(new.temperature.params["log_alpha"], expected, rtol=1e-5)
            np.testing.assert_allclose(metrics["temperature"], 0.5, rtol=1e-6)
        assert not np.array_equal(np.asarray(new.rng), np.asarray(state.rng))  # fresh noise each step
        state = new


def test_sac_act(h):
    state = _state(h)
    obs = jax.random.normal(jax.random.PRNGKey(5), (64, OBS))
    det = np.asarray(sac.act(state, obs, jax.random.PRNGKey(0), True))
    np.testing.assert_allclose(det, np.tanh(np.asarray(obs, np.float64) @ _np(state.actor.params)["M"]), rtol=1e-5, atol=1e-6)
    key = jax.random.PRNGKey(6)
    sto = np.asarray(sac.act(state, obs, key, False))
    a_np, _ = _sample_np(state, h.np_batch({"o": obs})["o"], key)
    np.testing.assert_allclose(sto, a_np, rtol=1e-5, atol=1e-5)
    assert float(np.abs(sto).max()) <= 1.0 and np.abs(sto - det).max() > 0.05


def test_sac_defaults_and_init():
    c = sac.Config()
    assert (c.actor_lr, c.critic_lr, c.temperature_lr, c.tau, c.init_temperature) == (3e-4, 1e-3, 1e-3, 0.005, 1.0)
    assert c.backup_entropy is True and c.target_entropy is None and c.learning_starts == 5000
    assert tuple(c.hidden_dims) == (256, 256) and c.num_critics == 2
    state = sac.init(jax.random.PRNGKey(0), AgentSpec(5, 3), sac.Config(hidden_dims=(8,), init_temperature=0.2))
    assert state.target_entropy == -3.0  # −|A|
    np.testing.assert_allclose(state.temperature.apply_fn(state.temperature.params), 0.2, rtol=1e-6)
    shapes = jax.eval_shape(lambda: sac.init(jax.random.PRNGKey(0), AgentSpec(5, 3), sac.Config(hidden_dims=(8,), target_entropy=-1.5)))
    assert shapes.target_entropy == -1.5
