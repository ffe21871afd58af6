"""BC (§7.1): L_π = mean ‖π(s) − a‖², π = tanh(MLP(s))."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from seamrl.algos import bc


def _state(h, W, lr=0.1):
    actor = h.make_ts(lambda p, obs: jnp.tanh(obs @ p["W"]), {"W": W}, lr)
    return bc.State(actor=actor, step=h.step0(), config=bc.Config(hidden_dims=(8,)))


def _batch():
    return {
        "observations": jnp.array([[0.5, -1.0], [1.0, 2.0], [-0.3, 0.2]]),
        "actions": jnp.array([[0.1, 0.2], [-0.5, 0.9], [0.0, -0.4]]),
    }


def test_bc_loss_hand_numbers_and_gradient(h):
    W = np.array([[0.4, -0.2], [0.3, 0.7]])
    state, batch = _state(h, W), _batch()
    s, a = np.asarray(batch["observations"], np.float64), np.asarray(batch["actions"], np.float64)
    pi = np.tanh(s @ W)
    expected = ((pi - a) ** 2).mean()  # mean over batch and action dims (CORL F.mse_loss)
    loss, info = bc.actor_loss(state.actor.params, state, batch)
    np.testing.assert_allclose(loss, expected, rtol=1e-5)
    np.testing.assert_allclose(info["actor_loss"], expected, rtol=1e-5)
    # hand gradient: dL/dW = sᵀ [2/(N·A) (π − a) ⊙ (1 − π²)]
    g_hand = s.T @ (2.0 / pi.size * (pi - a) * (1 - pi**2))
    g = jax.grad(lambda p: bc.actor_loss(p, state, batch)[0])(state.actor.params)
    np.testing.assert_allclose(g["W"], g_hand, rtol=1e-4, atol=1e-6)


def test_bc_update_is_one_adam_step_and_counts(h):
    W = np.array([[0.4, -0.2], [0.3, 0.7]])
    state, batch = _state(h, W, lr=0.01), _batch()
    g = np.asarray(jax.grad(lambda p: bc.actor_loss(p, state, batch)[0])(state.actor.params)["W"])
    new, metrics = jax.jit(bc.update)(state, batch)
    np.testing.assert_allclose(new.actor.params["W"], W - 0.01 * g / (np.abs(g) + 1e-8), rtol=1e-4, atol=1e-6)
    assert int(new.step) == 1
    assert set(metrics) == {"actor_loss"}


def test_bc_act_is_the_deterministic_actor_for_both_flags(h):
    W = np.array([[0.4, -0.2], [0.3, 0.7]])
    state = _state(h, W)
    obs = 5.0 * jax.random.normal(jax.random.PRNGKey(1), (10, 2))
    a_det = bc.act(state, obs, jax.random.PRNGKey(2), True)
    a_sto = bc.act(state, obs, jax.random.PRNGKey(3), False)
    np.testing.assert_allclose(a_det, np.tanh(np.asarray(obs, np.float64) @ W), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(a_det, a_sto)


def test_bc_defaults_match_spec():
    cfg = bc.Config()
    assert cfg.actor_lr == 3e-4 and tuple(cfg.hidden_dims) == (256, 256)
    assert cfg.normalize_observations is True and cfg.dataset_fraction == 1.0
    assert bc.SETTINGS == ("offline",) and bc.POLICY == "deterministic"


def test_bc_prepare_dataset_keeps_top_fraction_only_below_one():
    class Fake:
        def __init__(self):
            self.calls = []

        def top_episodes(self, fraction):
            self.calls.append(fraction)
            return "filtered"

    full = Fake()
    assert bc.prepare_dataset(full, bc.Config()) is full and full.calls == []
    ten = Fake()
    assert bc.prepare_dataset(ten, bc.Config(dataset_fraction=0.1)) == "filtered" and ten.calls == [0.1]
