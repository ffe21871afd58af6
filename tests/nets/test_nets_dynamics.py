"""Dynamics ensemble (§4.4): loss by hand, fitting a tiny linear system, elites, terminations."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from seamrl.nets import dynamics as dyn


def test_gaussian_nll_hand_computed():
    # 2 members, 2 samples, 1 output dim
    mean = jnp.array([[[1.0], [0.0]], [[2.0], [-1.0]]])
    logvar = jnp.array([[[0.0], [np.log(4.0)]], [[np.log(0.5)], [0.0]]])
    y = jnp.array([[[0.0], [2.0]], [[0.0], [1.0]]])
    member0 = np.mean([1.0 / 1.0, 4.0 / 4.0]) + np.mean([0.0, np.log(4.0)])
    member1 = np.mean([4.0 / 0.5, 4.0 / 1.0]) + np.mean([np.log(0.5), 0.0])
    np.testing.assert_allclose(dyn.gaussian_nll(mean, logvar, y), member0 + member1, rtol=1e-6)


def test_full_loss_adds_weight_decay_and_bound_terms_and_clamps_logvar():
    cfg = dyn.DynamicsConfig(num_members=2, hidden_dims=(4,), weight_decay=(0.1, 0.2))
    net = dyn.GaussianEnsemble(3, 2, cfg.hidden_dims)
    params = net.init(jax.random.PRNGKey(0), jnp.zeros((2, 1, 5)))
    x, y = jax.random.normal(jax.random.PRNGKey(1), (2, 7, 5)), jax.random.normal(jax.random.PRNGKey(2), (2, 7, 3))
    mean, logvar = net.apply(params, x)
    layers = params["params"]["members"]
    decay = 0.1 * 0.5 * np.sum(np.asarray(layers["Dense_0"]["kernel"]) ** 2) + 0.2 * 0.5 * np.sum(np.asarray(layers["Dense_1"]["kernel"]) ** 2)
    bounds = 0.01 * (3 * 0.5 - 3 * -10.0)
    expected = float(dyn.gaussian_nll(mean, logvar, y)) + decay + bounds
    np.testing.assert_allclose(dyn.dynamics_loss(params, net, x, y, cfg), expected, rtol=1e-5)
    # soft clamp keeps log σ² inside (min, max) even for extreme raw values
    clamped = dyn.soft_clamp(jnp.array([-1e3, 0.0, 1e3]), jnp.array(-10.0), jnp.array(0.5))
    assert float(clamped.min()) >= -10.0 - 1e-3 and float(clamped.max()) <= 0.5 + 1e-3  # soft: up to ~softplus(−10.5)
    h = 0.5 - np.log1p(np.exp(0.5))  # upper softplus at x = 0, then the lower one (≈ identity far above −10)
    np.testing.assert_allclose(clamped[1], -10.0 + np.log1p(np.exp(h + 10.0)), rtol=1e-5)


A = np.array([[0.9, 0.1], [-0.2, 0.8]], np.float32)
B = np.array([[0.5], [0.3]], np.float32)


def _linear_data(n, seed):
    rng = np.random.default_rng(seed)
    obs = rng.normal(size=(n, 2)).astype(np.float32)
    act = rng.uniform(-1, 1, (n, 1)).astype(np.float32)
    nxt = obs @ A.T + act @ B.T
    rew = (obs[:, 0] - 0.5 * act[:, 0]).astype(np.float32)
    return obs, act, rew, nxt


@pytest.fixture(scope="module")
def fitted():
    cfg = dyn.DynamicsConfig(num_members=4, num_elites=2, hidden_dims=(32, 32), max_epochs=40, lr=3e-3)
    return dyn.fit_dynamics(jax.random.PRNGKey(0), *_linear_data(2000, 0), config=cfg, termination="hopper")


def test_fits_a_tiny_linear_system(fitted):
    model, info = fitted
    obs, act, rew, nxt = _linear_data(500, 1)
    mean, logvar = dyn.predict(model, jnp.asarray(obs), jnp.asarray(act))
    target = np.concatenate([nxt - obs, rew[:, None]], -1)
    err = np.mean((np.asarray(mean)[np.asarray(model.elites)] - target) ** 2)
    assert err < 0.01 * target.var(), (err, target.var())  # explains > 99 % of the variance
    assert float(jnp.exp(logvar).mean()) < 0.05  # the model is confident on a deterministic system
    assert info["epochs"] >= 5 and len(info["holdout_mse"]) == 4


def test_elites_are_the_best_holdout_members_and_step_samples_only_them(fitted):
    model, info = fitted
    order = np.argsort(info["holdout_mse"])
    assert list(np.asarray(model.elites)) == list(order[:2])
    obs, act, _, _ = _linear_data(256, 2)
    obs, act = jnp.asarray(obs), jnp.asarray(act)
    mean, logvar = dyn.predict(model, obs, act)
    worst = int(order[-1])
    only_worst = dataclasses.replace(model, elites=jnp.array([worst], jnp.int32))
    nxt, rew, _ = dyn.step(only_worst, obs, act, jax.random.PRNGKey(3))
    z = (jnp.concatenate([nxt - obs, rew[:, None]], -1) - mean[worst]) * jnp.exp(-0.5 * logvar[worst])
    assert float(jnp.abs(z).max()) < 6.0  # a sample of member `worst`
    assert float(jnp.abs(z).std()) > 0.3  # and really sampled (not the mean)


def test_step_gives_each_row_one_elite_in_balanced_shares_and_keeps_row_order():
    """Members told apart by a large offset on their predicted mean: each row's (s', r) comes from
    one elite, the elites share the rows equally (±1), and the row a sample lands on is its own."""
    net = dyn.GaussianEnsemble(3, 4, (8,))
    params = net.init(jax.random.PRNGKey(0), jnp.zeros((4, 1, 5)))
    out = params["params"]["members"]["Dense_1"]
    offsets = 1e5 * jnp.arange(4.0)[:, None] * jnp.concatenate([jnp.ones(3), jnp.zeros(3)])  # mean half only
    members = {**params["params"]["members"], "Dense_1": {**out, "bias": out["bias"] + offsets}}
    params = {"params": {**params["params"], "members": members}}
    model = dyn.DynamicsModel(params, jnp.zeros(5), jnp.ones(5), jnp.array([3, 1], jnp.int32), jnp.zeros(4), net)
    n = 257
    obs = jnp.arange(n, dtype=jnp.float32)[:, None] * jnp.array([[10.0, -10.0]])  # rows with distinct predictions
    act = jnp.zeros((n, 3))
    nxt, rew, _ = dyn.step(model, obs, act, jax.random.PRNGKey(4))
    member = np.rint(np.asarray(rew) / 1e5).astype(int)
    assert set(member) == {1, 3}  # elites only
    assert sorted(np.bincount(member, minlength=4)[[1, 3]].tolist()) == [128, 129]
    mean, _ = dyn.predict(model, obs, act)
    expected = np.asarray(mean)[member, np.arange(n)]  # each row's own prediction from its member
    got = np.concatenate([np.asarray(nxt - obs), np.asarray(rew)[:, None]], -1)
    assert np.abs(got - expected).max() < 8.0  # within 6σ (σ ≤ e^0.25) of the row's own mean ...
    spread = np.ptp(expected[member == 3, :3], axis=0).max()
    assert spread > 50.0, spread  # ... while the means of the rows lie far apart


def test_termination_functions():
    def term(name, next_obs):
        next_obs = jnp.asarray(next_obs, jnp.float32)
        return list(np.asarray(dyn.TERMINATIONS[name](next_obs, None, next_obs)))

    hop = np.zeros((4, 11))
    hop[:, 0] = [1.2, 0.6, 1.2, 1.2]  # height
    hop[:, 1] = [0.1, 0.1, 0.3, 0.1]  # angle
    hop[3, 5] = 150.0  # a diverged velocity
    assert term("hopper", hop) == [False, True, True, True]
    walker = np.zeros((4, 17))
    walker[:, 0] = [1.2, 0.7, 2.1, 1.2]
    walker[:, 1] = [0.5, 0.0, 0.0, -1.2]
    assert term("walker2d", walker) == [False, True, True, True]
    cheetah = np.zeros((3, 17))
    cheetah[1, 3], cheetah[2, 0] = 120.0, np.nan
    assert term("halfcheetah", cheetah) == [False, True, True]
    ant = np.zeros((3, 105))
    ant[:, 0] = [0.5, 0.1, 1.1]
    assert term("ant", ant) == [False, True, True]
    assert term("pointmaze", np.zeros((2, 4))) == [False, False]
    assert [dyn.termination_for(t) for t in ("hopper-medium-v2", "Walker2d-v5", "halfcheetah-expert-v2", "Ant-v5",
                                              "antmaze-umaze-v2", "maze2d-umaze-v1", "Pendulum-v1")] == \
        ["hopper", "walker2d", "halfcheetah", "ant", "none", "pointmaze", "none"]
