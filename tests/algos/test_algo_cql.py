"""CQL (§7.8, §5.6) against hand computations.

CQL_k(s) = T log Σ_j exp(x_j / T) over 3n candidates:
    x = Q_k(s, u) − log 0.5^|A| (u uniform),  Q_k(s, ã) − log π(ã|·) (ã ~ π(·|s), π(·|s'))
L_Q = Σ_k mean (Q_k − y)² + Σ_k α' mean_i w_i (clip(CQL_k(s_i) − Q_k(s_i, a_i), c_min, c_max) − g)
y = r + γ m min_k Q̄_k(s', a') (max over n samples a' with max_target_backup)
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from seamrl.algos import cql, get
from seamrl.algos.common import AgentSpec

OBS, ACT, N, NA = 3, 2, 8, 4


@pytest.fixture(scope="session")
def pendulum_npz(tmp_path_factory):
    """1,000 transitions of a uniform-random policy on Pendulum-v1 (5 episodes of 200 steps)."""
    from seamrl.data import collect, save_npz

    rng = np.random.default_rng(1)
    path = tmp_path_factory.mktemp("data") / "pendulum-random.npz"
    save_npz(collect(lambda obs: rng.uniform(-2, 2, (len(obs), 1)), "Pendulum-v1", 1000, seed=1), path)
    return path


def bandit_run(h, name: str, steps: int = 600, mc: bool = False, **cfg) -> tuple[float, float]:
    """Expected bandit reward before/after ``steps`` updates on the *mixed* dataset (half near-optimal
    actions, half uniform; MSE regression reaches ≈ −0.05). ``mc``: one-step episodes, G^MC = r."""
    mod = get(name)
    data = h.bandit_data(jax.random.PRNGKey(0), 8192, "mixed")
    if mc:
        data["mc_returns"] = data["rewards"]
    state = mod.init(jax.random.PRNGKey(1), AgentSpec(h.BANDIT_OBS, h.BANDIT_ACT, offline_steps=steps), mod.Config(hidden_dims=(32, 32), **cfg))
    before = h.expected_reward(mod.act, state, jax.random.PRNGKey(2))
    state, metrics = h.train_loop(mod.update, state, data, jax.random.PRNGKey(3), steps)
    for k, v in metrics.items():
        assert bool(jnp.isfinite(jnp.nanmean(v))), k
    return before, h.expected_reward(mod.act, state, jax.random.PRNGKey(2))


FAST = dict(actor_lr=3e-3, critic_lr=3e-3, temperature_lr=3e-3, cql_n_actions=4)


def _critic(params, obs, act, **_):
    """Q_k(s, a) = w_k·a + b_k·s + c_k with any leading axes → (K, …)."""
    return jnp.moveaxis(act @ params["w"].T + obs @ params["b"].T + params["c"], -1, 0)


def _critic_np(p, obs, act):
    return np.moveaxis(act @ p["w"].T + obs @ p["b"].T + p["c"], -1, 0)


def _actor(p, obs, **_):
    mean = obs @ p["M"]
    return mean, jnp.broadcast_to(p["log_std"], mean.shape)


def _state(h, lr=0.1, **cfg):
    rng = np.random.default_rng(3)
    return cql.State(
        actor=h.make_ts(_actor, {"M": rng.normal(size=(OBS, ACT)) * 0.5, "log_std": np.array([-0.5, 0.2])}, lr),
        critic=h.make_ts(_critic, h.critic_params(2, OBS, ACT, 0), lr),
        critic_target=jax.tree_util.tree_map(jnp.asarray, h.critic_params(2, OBS, ACT, 1)),
        temperature=h.make_ts(lambda p: jnp.exp(p["log_alpha"]), {"log_alpha": np.log(0.5)}, lr),
        alpha_prime=h.make_ts(lambda p: jnp.exp(p["log_alpha"]), {"log_alpha": 1.0}, lr),
        rng=h.rng0(),
        step=h.step0(),
        target_entropy=-float(ACT),
        config=cql.Config(hidden_dims=(8,), cql_n_actions=NA, **cfg),
    )


def _np(tree):
    return jax.tree_util.tree_map(lambda x: np.asarray(x, np.float64), tree)


def _lse_np(q_u, q_cur, lp_cur, q_next, lp_next, act_dim, temp=1.0, bound=None):
    if bound is not None:
        q_cur, q_next = np.maximum(q_cur, bound), np.maximum(q_next, bound)
    x = np.concatenate([q_u - act_dim * np.log(0.5), q_next - lp_next, q_cur - lp_cur], axis=1) / temp
    m = x.max(axis=1, keepdims=True)
    return temp * (m[:, 0] + np.log(np.exp(x - m).sum(axis=1)))


def test_conservative_logsumexp_scalar_hand_value():
    # one critic, one state, one candidate of each kind, |A| = 2: x = [1 + 2 ln 2, 0 − 0.3, 2 + 0.5]
    q = lambda v: jnp.full((1, 1, 1), v)  # noqa: E731
    lp = lambda v: jnp.full((1, 1), v)  # noqa: E731
    got = cql.conservative_logsumexp(q(1.0), q(2.0), lp(-0.5), q(0.0), lp(0.3), action_dim=2)
    expected = math.log(math.exp(1.0 + 2 * math.log(2)) + math.exp(-0.3) + math.exp(2.5))
    np.testing.assert_allclose(got, [[expected]], rtol=1e-6)
    # temperature T: T log Σ exp(x / T)
    got_t = cql.conservative_logsumexp(q(1.0), q(2.0), lp(-0.5), q(0.0), lp(0.3), action_dim=2, temperature=0.5)
    expected_t = 0.5 * math.log(sum(math.exp(x / 0.5) for x in (1.0 + 2 * math.log(2), -0.3, 2.5)))
    np.testing.assert_allclose(got_t, [[expected_t]], rtol=1e-6)


def test_conservative_logsumexp_random_shapes():
    rng = np.random.default_rng(0)
    q_u, q_c, q_n = (rng.normal(size=(2, NA, N)) * 3 for _ in range(3))
    lp_c, lp_n = rng.normal(size=(NA, N)), rng.normal(size=(NA, N))
    got = cql.conservative_logsumexp(*(jnp.asarray(x, jnp.float32) for x in (q_u, q_c, lp_c, q_n, lp_n)), action_dim=ACT, temperature=2.0)
    assert got.shape == (2, N)
    np.testing.assert_allclose(got, _lse_np(q_u, q_c, lp_c, q_n, lp_n, ACT, 2.0), rtol=1e-5)


def _candidates(seed=0):
    rng = np.random.default_rng(seed)
    arr = lambda *s: jnp.asarray(rng.uniform(-1, 1, size=s), jnp.float32)  # noqa: E731
    return cql.Candidates(arr(NA, N, ACT), arr(NA, N, ACT), arr(NA, N) - 1.0, arr(NA, N, ACT), arr(NA, N) + 0.5)


def _critic_loss_np(state, b, target, cand, alpha_prime, weight, gap=0.0, clip=(-np.inf, np.inf)):
    p = _np(state.critic.params)
    c = _np(cand)
    obs_n = np.broadcast_to(b["observations"], (NA, N, OBS))
    q = _critic_np(p, b["observations"], b["actions"])
    ood = _lse_np(_critic_np(p, obs_n, c.uniform), _critic_np(p, obs_n, c.current), c.log_pi_current,
                  _critic_np(p, obs_n, c.next), c.log_pi_next, ACT)
    td = ((q - target) ** 2).mean(1).sum()
    penalty = (weight * (np.clip(ood - q, *clip) - gap)).mean(1)
    return td + alpha_prime * penalty.sum(), penalty


@pytest.mark.parametrize("clip", [(-np.inf, np.inf), (-0.5, 1.0)])
def test_cql_critic_loss_hand_computation(h, clip):
    state = _state(h, cql_alpha=10.0, cql_clip_diff_min=clip[0], cql_clip_diff_max=clip[1])
    batch = h.random_batch(jax.random.PRNGKey(1), N, OBS, ACT)
    b, cand = h.np_batch(batch), _candidates()
    target = np.linspace(-1.0, 1.0, N)
    expected, penalty = _critic_loss_np(state, b, target, cand, 1.0, 10.0, clip=clip)
    loss, info = cql.critic_loss(state.critic.params, state, batch, jnp.asarray(target), cand, jnp.ones(()))
    np.testing.assert_allclose(loss, expected, rtol=1e-5)
    np.testing.assert_allclose(info["penalty"], penalty, rtol=1e-5)
    # per-sample coefficients from the batch (SSAR's β̃) replace α_cql
    w = np.linspace(0.0, 3.0, N)
    expected_w, _ = _critic_loss_np(state, b, target, cand, 1.0, w, clip=clip)
    loss_w, _ = cql.critic_loss(state.critic.params, state, {**batch, "reg_weight": jnp.asarray(w)}, jnp.asarray(target), cand, jnp.ones(()))
    np.testing.assert_allclose(loss_w, expected_w, rtol=1e-5)


def test_cql_lagrange_penalty_and_alpha_prime_ascent(h):
    state = _state(h, cql_alpha=5.0, cql_lagrange=True, cql_target_gap=0.8)
    batch = h.random_batch(jax.random.PRNGKey(2), N, OBS, ACT)
    b, cand, target = h.np_batch(batch), _candidates(1), np.zeros(N)
    alpha_prime = float(cql.lagrange_value(state))
    np.testing.assert_allclose(alpha_prime, math.e, rtol=1e-6)  # log α' init 1.0
    expected, penalty = _critic_loss_np(state, b, target, cand, alpha_prime, 5.0, gap=0.8)
    loss, info = cql.critic_loss(state.critic.params, state, batch, jnp.asarray(target), cand, jnp.asarray(alpha_prime))
    np.testing.assert_allclose(loss, expected, rtol=1e-5)
    # L(α') = −α' mean_k penalty_k: α' grows while the gap exceeds the target gap, shrinks otherwise
    for pen in (info["penalty"], -jnp.abs(info["penalty"]) - 1.0):
        g = jax.grad(lambda p: cql.lagrange_loss(p, state, pen)[0])(state.alpha_prime.params)["log_alpha"]
        np.testing.assert_allclose(g, -alpha_prime * float(np.mean(pen)), rtol=1e-5)
    assert (penalty > 0).all()  # random candidates: CQL_k(s) − Q_k − 0.8 > 0 here, so the first case raises α'


@pytest.mark.parametrize("max_backup", [False, True])
def test_cql_target_hand_computation(h, max_backup):
    state = _state(h, max_target_backup=max_backup, discount=0.9)
    batch = h.random_batch(jax.random.PRNGKey(3), N, OBS, ACT)
    b = h.np_batch(batch)
    key = jax.random.PRNGKey(5)
    n = NA if max_backup else 1
    p = _np(state.actor.params)
    mean = np.broadcast_to(b["next_observations"] @ p["M"], (n, N, ACT))
    xi = np.asarray(jax.random.normal(key, (n, N, ACT)), np.float64)
    a_next = np.tanh(mean + np.exp(p["log_std"]) * xi)
    q = _critic_np(_np(state.critic_target), np.broadcast_to(b["next_observations"], (n, N, OBS)), a_next)  # (K, n, N)
    expected = b["rewards"] + 0.9 * b["masks"] * q.min(0).max(0)
    np.testing.assert_allclose(cql.cql_target(state, batch, key), expected, rtol=1e-5, atol=1e-5)


def test_candidates_shapes_and_no_gradient_to_actor(h):
    state = _state(h)
    batch = h.random_batch(jax.random.PRNGKey(4), N, OBS, ACT)
    cand = cql.candidates(state, batch, jax.random.PRNGKey(0))
    assert cand.uniform.shape == cand.current.shape == cand.next.shape == (NA, N, ACT)
    assert cand.log_pi_current.shape == cand.log_pi_next.shape == (NA, N)
    assert float(jnp.abs(cand.uniform).max()) <= 1.0
    # ã = tanh(m(s) + σ ξ), ξ ~ N(0, I) of shape (n, B, A); log π(ã|s) = log N(pre; m, σ) − Σ log(1 − tanh²(pre))
    p, b = _np(state.actor.params), h.np_batch(batch)
    _, k_current, k_next = jax.random.split(jax.random.PRNGKey(0), 3)
    sigma = np.exp(p["log_std"])
    for obs, key, actions, log_pi in ((b["observations"], k_current, cand.current, cand.log_pi_current),
                                      (b["next_observations"], k_next, cand.next, cand.log_pi_next)):
        pre = obs @ p["M"] + sigma * np.asarray(jax.random.normal(key, (NA, N, ACT)), np.float64)
        log_normal = -0.5 * ((pre - obs @ p["M"]) / sigma) ** 2 - np.log(sigma) - 0.5 * np.log(2 * np.pi)
        np.testing.assert_allclose(actions, np.tanh(pre), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(log_pi, (log_normal - np.log(1 - np.tanh(pre) ** 2)).sum(-1), rtol=1e-4, atol=1e-4)

    def loss_through_actor(actor_params):
        s = state.replace(actor=state.actor.replace(params=actor_params))
        c = cql.candidates(s, batch, jax.random.PRNGKey(0))
        return cql.critic_loss(s.critic.params, s, batch, jnp.zeros(N), c, jnp.ones(()))[0]

    grads = jax.grad(loss_through_actor)(state.actor.params)
    assert all(float(jnp.abs(g).max()) == 0.0 for g in jax.tree_util.tree_leaves(grads))


def test_cql_update_steps_every_part_and_polyak(h):
    tau = 0.1
    state = _state(h, tau=tau, cql_lagrange=True)
    new, metrics = jax.jit(cql.update)(state, h.random_batch(jax.random.PRNGKey(6), N, OBS, ACT))
    for tree in ("actor", "critic", "temperature", "alpha_prime"):
        old, cur = jax.tree_util.tree_leaves(getattr(state, tree).params), jax.tree_util.tree_leaves(getattr(new, tree).params)
        assert any(not np.array_equal(x, y) for x, y in zip(old, cur)), tree
    expected = jax.tree_util.tree_map(lambda t, o: tau * o + (1 - tau) * t, state.critic_target, new.critic.params)
    for x, y in zip(jax.tree_util.tree_leaves(new.critic_target), jax.tree_util.tree_leaves(expected)):
        np.testing.assert_allclose(x, y, rtol=1e-6)
    assert {"critic_loss", "td_loss", "cql_gap", "q_mean", "actor_loss", "entropy", "temperature", "alpha_prime"} <= set(metrics)
    assert int(new.step) == 1
    # the actor loss is SAC's, evaluated at the pre-update critic (CORL: all losses, then all steps)
    from seamrl.algos import sac

    _, k_actor, _, _ = jax.random.split(state.rng, 4)
    np.testing.assert_allclose(metrics["actor_loss"], sac.actor_loss(state.actor.params, state, h.random_batch(jax.random.PRNGKey(6), N, OBS, ACT), k_actor)[0], rtol=1e-5)


def test_cql_actor_log_std_affine_and_clip():
    net = cql.Actor(ACT, (8,))
    params = net.init(jax.random.PRNGKey(0), jnp.zeros((1, OBS)))
    assert float(params["params"]["log_std_multiplier"]) == 1.0 and float(params["params"]["log_std_offset"]) == -1.0
    obs = jax.random.normal(jax.random.PRNGKey(1), (5, OBS)) * 1e4
    _, log_std = net.apply(params, obs)
    assert float(log_std.min()) >= -20.0 and float(log_std.max()) <= 2.0


def test_cql_defaults_and_presets_match_spec():
    c = cql.Config()
    assert (c.actor_lr, c.critic_lr, c.cql_alpha, c.cql_n_actions, c.cql_lagrange, c.max_target_backup) == (3e-5, 3e-4, 10.0, 10, False, False)
    assert c.hidden_dims == (256, 256, 256) and c.normalize_observations and c.reward_transform == "none" and c.tau == 0.005
    a = cql.Config(**cql.PRESETS["antmaze"])
    assert (a.cql_alpha, a.cql_lagrange, a.cql_target_gap, a.max_target_backup, a.cql_clip_diff_min) == (5.0, True, 0.8, True, -200.0)
    assert (a.actor_lr, a.normalize_observations, a.reward_scale, a.reward_shift, a.critic_hidden_dims) == (1e-4, False, 10.0, -5.0, (256,) * 5)
    assert cql.Config(**cql.PRESETS["adroit"]).cql_alpha == 1.0
    state = cql.init(jax.random.PRNGKey(0), AgentSpec(5, 3), cql.Config(hidden_dims=(8,), critic_hidden_dims=(4, 4, 4)))
    assert state.target_entropy == -3.0
    assert len(state.critic.params["params"]["VmapStateActionValue_0"]["MLP_0"]) == 4  # 3 hidden + output


def test_cql_learns_bandit(h):
    before, after = bandit_run(h, "cql", **FAST)
    assert after > before + 0.1 and after > -0.025, (before, after)  # twice closer to a* than BC's −0.05
