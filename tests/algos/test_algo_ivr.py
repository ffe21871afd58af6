"""IVR: SQL (χ²) and EQL (KL) (algorithms.md §2) against hand computations.

Value, SQL:  z = (q − v)/(2α) + 1,   L_V = mean(1[z > 0] z² + v/α)
Value, EQL:  x = min((q − v)/α, 5),  M = sg(max(max x, −1)),  L_V = mean(exp(x − M) + exp(−M) v/α)
Critic:      L_Q = Σ_k mean (Q_k(s, a) − r − γ m V(s'))²          (freshly updated V)
Actor:       L_π = −mean w log π(a|s), weights (clipped at 100)
             code:   SQL (q − v)_+             EQL exp(10 (q − v)/α)
             theory: SQL (1 + (q − v)/(2α))_+  EQL exp((q − v)/α)
Order:       V → actor (new V) → Q (new V) → Polyak on Q̄.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax.traverse_util import flatten_dict

from seamrl.algos import get, ivr
from seamrl.algos.common import AgentSpec
from seamrl.config import RunConfig, agent_config
from seamrl.errors import ConfigError

OBS, ACT, N = 3, 2, 16


def _np(tree):
    return jax.tree_util.tree_map(lambda x: np.asarray(x, np.float64), tree)


def _f32(x):
    return jnp.asarray(x, jnp.float32)


# ---------------------------------------------------------------------------------------
# Value losses (pure functions).


def test_sql_value_loss_hand_numbers_and_dead_zone():
    alpha = 0.5
    q, v = _f32([1.0, 0.0, -2.0]), _f32([0.5, 1.0, 0.0])
    # z = (q − v)/(2α) + 1 = [1.5, 0, −1];  z_+² = [2.25, 0, 0];  v/α = [1, 2, 0]
    np.testing.assert_allclose(ivr.sql_value_loss(q, v, alpha), (2.25 + 3.0) / 3.0, rtol=1e-6)
    # dL/dv_i = (−z_+/α + 1/α)/3 = [(−3 + 2)/3, 2/3, 2/3]
    g = jax.grad(ivr.sql_value_loss, argnums=1)(q, v, alpha)
    np.testing.assert_allclose(g, [-1.0 / 3.0, 2.0 / 3.0, 2.0 / 3.0], rtol=1e-6)
    # §9.2.2: the squared term has zero gradient where z ≤ 0 (entries 1 and 2)
    g_sq = jax.grad(lambda v_: ivr.sql_value_loss(q, v_, alpha) - jnp.mean(v_ / alpha))(v)
    np.testing.assert_allclose(g_sq, [-1.0, 0.0, 0.0], atol=1e-7)
    # the paper's printed max(x²/4 + x + 1, 0), x = (q − v)/α = −4 at entry 2, would be 1 there, not 0
    assert (-4.0) ** 2 / 4 - 4.0 + 1.0 == 1.0


def test_sql_value_minimiser_normalises_the_chi2_ratio():
    """For one state with several dataset actions, the scalar minimiser v* of L_V satisfies
    mean((1 + (q − v*)/(2α))_+) = 1: the χ² optimal ratios w* of §2.1 average to one."""
    alpha = 0.5
    q = np.array([-3.0, -1.0, 0.0, 0.2, 0.5, 2.0])

    def ratio_mean(v):
        return np.maximum(1.0 + (q - v) / (2 * alpha), 0.0).mean()

    lo, hi = -10.0, 10.0  # ratio_mean is decreasing in v
    for _ in range(100):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if ratio_mean(mid) > 1.0 else (lo, mid)
    v_star = 0.5 * (lo + hi)
    loss_at = lambda v: ivr.sql_value_loss(_f32(q), jnp.full(q.shape, v, jnp.float32), alpha)  # noqa: E731
    dv = jax.grad(loss_at)
    assert abs(float(dv(v_star))) < 1e-5
    assert float(dv(v_star - 0.1)) < 0 < float(dv(v_star + 0.1))  # a minimum
    assert v_star > q.mean()  # χ² regularised value sits above the mean (in-sample soft max)
    assert (q - v_star < -2 * alpha).any()  # and some actions are in the dead zone


def test_eql_value_loss_hand_numbers():
    alpha = 2.0
    e = math.exp
    # x = [1, 0, −1], M = 1
    q, v = _f32([3.0, 1.0, 0.0]), _f32([1.0, 1.0, 2.0])
    expected = (e(0) + e(-1) + e(-2)) / 3 + e(-1) * (4.0 / 3.0) / alpha
    np.testing.assert_allclose(ivr.eql_value_loss(q, v, alpha), expected, rtol=1e-6)
    # all x < −1: x = [−2, −3], M = −1
    q, v = _f32([0.0, 0.0]), _f32([4.0, 6.0])
    expected = (e(-1) + e(-2)) / 2 + e(1) * 5.0 / alpha
    np.testing.assert_allclose(ivr.eql_value_loss(q, v, alpha), expected, rtol=1e-6)
    # x_raw = [10, 0] → x = [5, 0], M = 5: the clipped entry's exp term has no gradient
    q, v = _f32([20.0, 0.0]), _f32([0.0, 0.0])
    np.testing.assert_allclose(ivr.eql_value_loss(q, v, alpha), (1.0 + e(-5)) / 2, rtol=1e-6)
    g = jax.grad(ivr.eql_value_loss, argnums=1)(q, v, alpha)
    # dL/dv_i = (−1[x_raw < 5] e^{x_i − M}/α + e^{−M}/α)/2 = [e^{−5}/4, 0]
    np.testing.assert_allclose(g, [e(-5) / 4.0, 0.0], rtol=1e-5, atol=1e-9)


def test_eql_value_loss_finite_for_huge_advantages():
    """§9.2.2: finite loss and gradient for (q − v)/α up to ±1e3 (the plain form overflows)."""
    alpha = 0.5
    x = np.linspace(-1e3, 1e3, 11)
    q, v = _f32(alpha * x), jnp.zeros(11, jnp.float32)
    with np.errstate(over="ignore"):
        assert not np.isfinite(np.exp(np.float32(x)).mean())  # what the clip and shift prevent
    loss, g = jax.value_and_grad(ivr.eql_value_loss, argnums=1)(q, v, alpha)
    assert np.isfinite(float(loss)) and np.isfinite(np.asarray(g)).all()
    # M = 5 (clipped max): the largest entries contribute e^0 = 1 each, the very negative ones 0
    assert 0 < float(loss) < 11.0
    for scale in (1e3, -1e3):  # all advantages huge of one sign, with large V too
        q, v = _f32(np.full(4, scale * alpha)), _f32([1e3, -1e3, 0.0, 5.0])
        loss, g = jax.value_and_grad(ivr.eql_value_loss, argnums=1)(q + v, v, alpha)
        assert np.isfinite(float(loss)) and np.isfinite(np.asarray(g)).all(), scale


def test_eql_gradient_is_plain_gradient_times_exp_minus_m_and_same_minimiser():
    alpha = 2.0
    rng = np.random.default_rng(0)
    v = rng.normal(size=32)
    x = rng.uniform(-1.0, 3.0, size=32)  # moderate: no clipping at 5, M = max x
    q = v + alpha * x
    g = np.asarray(jax.grad(ivr.eql_value_loss, argnums=1)(_f32(q), _f32(v), alpha), np.float64)
    g_plain = (-np.exp(x) / alpha + 1.0 / alpha) / x.size  # ∇_v mean(exp((q − v)/α) + v/α)
    np.testing.assert_allclose(g, np.exp(-x.max()) * g_plain, rtol=1e-4, atol=1e-7)
    # minimiser of the plain form, one state: mean exp((q − v*)/α) = 1 ⇔ v* = α log mean exp(q/α)
    q = rng.normal(size=8)
    v_star = alpha * np.log(np.mean(np.exp(q / alpha)))
    dv = jax.grad(lambda s: ivr.eql_value_loss(_f32(q), jnp.full(q.shape, s, jnp.float32), alpha))
    assert abs(float(dv(v_star))) < 1e-6
    assert float(dv(v_star - 0.1)) < 0 < float(dv(v_star + 0.1))


# ---------------------------------------------------------------------------------------
# Actor weights.

_ADV = [-10.0, -1.0, 0.0, 0.5, 3.0, 500.0]  # q − v, α = 2
_E = math.exp
_WEIGHTS = {
    ("chi2", "code"): [0.0, 0.0, 0.0, 0.5, 3.0, 100.0],  # (q − v)_+, clip 100
    ("chi2", "theory"): [0.0, 0.75, 1.0, 1.125, 1.75, 100.0],  # (1 + d/4)_+: −1.5 → 0, 126 → 100
    ("kl", "code"): [_E(-50), _E(-5), 1.0, _E(2.5), 100.0, 100.0],  # exp(10 d/2) = exp(5d)
    ("kl", "theory"): [_E(-5), _E(-0.5), 1.0, _E(0.25), _E(1.5), 100.0],  # exp(d/2)
}


@pytest.mark.parametrize("divergence, mode", list(_WEIGHTS))
def test_actor_weights_hand_numbers(divergence, mode):
    q, v = _f32(_ADV), jnp.zeros(6, jnp.float32)
    w = np.asarray(ivr.actor_weights(q + 1.0, v + 1.0, 2.0, divergence, mode, 100.0))  # only q − v matters
    np.testing.assert_allclose(w, _WEIGHTS[divergence, mode], rtol=1e-5, atol=1e-30)
    # extreme advantages (exp overflow in float32) stay in [0, 100], never inf / NaN
    w = np.asarray(ivr.actor_weights(_f32([-1e6, 1e6]), _f32([0.0, 0.0]), 2.0, divergence, mode))
    np.testing.assert_array_equal(w, [0.0, 100.0])


def test_divergence_aliases():
    q, v = _f32(_ADV), jnp.zeros(6, jnp.float32)
    for alias, canon in (("sql", "chi2"), ("EQL", "kl")):
        np.testing.assert_array_equal(ivr.actor_weights(q, v, 2.0, alias), ivr.actor_weights(q, v, 2.0, canon))
        assert ivr.value_loss_fn(alias) is ivr.value_loss_fn(canon)
    assert ivr.value_loss_fn("chi2") is ivr.sql_value_loss and ivr.value_loss_fn("kl") is ivr.eql_value_loss


# ---------------------------------------------------------------------------------------
# The agent with hand-made linear networks.


def _state(h, divergence="chi2", actor_lr=0.1, critic_lr=0.1, value_lr=0.1, **cfg):
    """An IVR state with tanh-mean Gaussian actor, linear critics and linear V."""
    rng = np.random.default_rng(3)
    return ivr.State(
        actor=h.make_ts(h.gaussian_actor, {"M": rng.normal(size=(OBS, ACT)), "log_std": np.array([-0.3, 0.2])}, actor_lr),
        critic=h.make_ts(h.critic_fn, h.critic_params(2, OBS, ACT, 0), critic_lr),
        critic_target=jax.tree_util.tree_map(jnp.asarray, h.critic_params(2, OBS, ACT, 1)),
        value=h.make_ts(h.value_fn, {"u": rng.normal(size=(OBS,)), "v0": np.array(0.2)}, value_lr),
        rng=h.rng0(),
        step=h.step0(),
        config=ivr.Config(hidden_dims=(8,), divergence=divergence, **cfg),
    )


def _v_np(p, obs):
    return obs @ p["u"] + p["v0"]


def _weights_np(q, v, alpha, divergence, mode, cap=100.0):
    d = q - v
    if divergence == "chi2":
        w = np.maximum(d, 0.0) if mode == "code" else np.maximum(1.0 + d / (2 * alpha), 0.0)
    else:
        with np.errstate(over="ignore"):
            w = np.exp((10.0 if mode == "code" else 1.0) * d / alpha)
    return np.minimum(w, cap)


def _value_loss_and_grad_np(q, v, alpha, divergence):
    """Loss and dL/dv_i written out from §2.2."""
    n = q.size
    if divergence == "chi2":
        z = (q - v) / (2 * alpha) + 1.0
        zp = np.maximum(z, 0.0)
        return (zp**2 + v / alpha).mean(), (-zp / alpha + 1.0 / alpha) / n
    raw = (q - v) / alpha
    x = np.minimum(raw, 5.0)
    m = max(x.max(), -1.0)
    loss = (np.exp(x - m) + np.exp(-m) * v / alpha).mean()
    return loss, (-(raw < 5.0).astype(float) * np.exp(x - m) / alpha + np.exp(-m) / alpha) / n


def _adam1(p, g, lr):
    return p - lr * g / (np.abs(g) + 1e-8)


@pytest.mark.parametrize("divergence, alpha, mode", [("chi2", 1.0, "code"), ("kl", 5.0, "code"), ("kl", 2.0, "theory")])
def test_ivr_update_order_hand_computation(h, divergence, alpha, mode):
    """One full update: V first (big lr so its change is visible) on the *target* critics; the
    actor weights and the critic target then use the *updated* V; Polyak on Q̄ last."""
    lr_a, lr_c, lr_v, tau, gamma = 0.05, 0.05, 0.5, 0.2, 0.9
    state = _state(h, divergence, actor_lr=lr_a, critic_lr=lr_c, value_lr=lr_v, tau=tau, discount=gamma, alpha=alpha, weight_mode=mode)
    batch = h.random_batch(jax.random.PRNGKey(5), N, OBS, ACT)
    b = h.np_batch(batch)
    s, a = b["observations"], b["actions"]
    pv, pc, pt, pa = _np(state.value.params), _np(state.critic.params), _np(state.critic_target), _np(state.actor.params)

    # 1. value step on q from the target critics
    q_t = h.critic_np(pt, s, a).min(0)
    v_loss, dv = _value_loss_and_grad_np(q_t, _v_np(pv, s), alpha, divergence)
    new_v = {"u": _adam1(pv["u"], s.T @ dv, lr_v), "v0": _adam1(pv["v0"], dv.sum(), lr_v)}
    # the online critic would give another value loss
    q_online = h.critic_np(pc, s, a).min(0)
    assert abs(_value_loss_and_grad_np(q_online, _v_np(pv, s), alpha, divergence)[0] - v_loss) > 1e-2
    # 2. weights with the new V, actor step
    w = _weights_np(q_t, _v_np(new_v, s), alpha, divergence, mode)
    w_old = _weights_np(q_t, _v_np(pv, s), alpha, divergence, mode)
    assert np.abs(w.mean() - w_old.mean()) > 1e-2  # the order is observable
    assert 0 < w.mean() < 100 and (w > 0).sum() >= 2
    mean, std = np.tanh(s @ pa["M"]), np.exp(pa["log_std"])[None, :]
    z = (a - mean) / std
    logp = (-0.5 * z**2 - np.log(std) - 0.5 * np.log(2 * np.pi)).sum(-1)
    g_M = s.T @ (-(w[:, None] * z / std) * (1 - mean**2) / N)
    g_ls = -(w[:, None] * (z**2 - 1.0)).mean(0)
    new_a = {"M": _adam1(pa["M"], g_M, lr_a), "log_std": _adam1(pa["log_std"], g_ls, lr_a)}
    # 3. critic step on r + γ m V_new(s')
    y = b["rewards"] + gamma * b["masks"] * _v_np(new_v, b["next_observations"])
    err = h.critic_np(pc, s, a) - y[None]
    g_c = {"w": 2 * err @ a / N, "b": 2 * err @ s / N, "c": 2 * err.mean(1)}
    new_c = {k: _adam1(pc[k], g_c[k], lr_c) for k in pc}

    new, metrics = jax.jit(ivr.update)(state, batch)
    tol = dict(rtol=1e-4, atol=1e-5)
    for k in new_v:
        np.testing.assert_allclose(new.value.params[k], new_v[k], **tol)
    for k in new_a:
        np.testing.assert_allclose(new.actor.params[k], new_a[k], **tol)
    for k in new_c:
        np.testing.assert_allclose(new.critic.params[k], new_c[k], **tol)
        np.testing.assert_allclose(new.critic_target[k], tau * new_c[k] + (1 - tau) * pt[k], **tol)
    np.testing.assert_allclose(metrics["value_loss"], v_loss, rtol=1e-4)
    np.testing.assert_allclose(metrics["adv_mean"], (q_t - _v_np(pv, s)).mean(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(metrics["adv_weight_mean"], w.mean(), rtol=1e-4)
    np.testing.assert_allclose(metrics["actor_loss"], -(w * logp).mean(), rtol=1e-4)
    np.testing.assert_allclose(metrics["critic_loss"], (err**2).mean(1).sum(), rtol=1e-4)
    assert int(new.step) == 1


def test_ivr_act_is_tanh_mean_or_clipped_sample(h):
    state = _state(h)
    obs = jax.random.normal(jax.random.PRNGKey(6), (500, OBS))
    det = np.asarray(ivr.act(state, obs, jax.random.PRNGKey(0), True))
    np.testing.assert_allclose(det, np.tanh(np.asarray(obs, np.float64) @ _np(state.actor.params)["M"]), rtol=1e-5, atol=1e-6)
    key = jax.random.PRNGKey(7)
    sto = np.asarray(ivr.act(state, obs, key, False))
    std = np.exp(_np(state.actor.params)["log_std"])
    np.testing.assert_allclose(sto, np.clip(det + std * np.asarray(jax.random.normal(key, det.shape)), -1, 1), rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------------------------------
# Real networks: LayerNorm/dropout on V, jitted updates, config resolution.


@pytest.fixture(scope="module")
def eql_state(h):
    """One real EQL agent (α left to the default) with V dropout 0.5 and actor dropout 0.1."""
    cfg = ivr.Config(hidden_dims=(16, 16), divergence="kl", value_dropout=0.5, actor_dropout=0.1)
    return h.settle(ivr.init(jax.random.PRNGKey(0), AgentSpec(OBS, ACT, offline_steps=30), cfg))


def test_ivr_init_records_alpha_and_puts_layer_norm_on_v_only(eql_state):
    assert eql_state.config.alpha == 2.0 and ivr.resolve_alpha(eql_state.config) == 2.0  # §2.4 MuJoCo EQL
    assert "LayerNorm_0" in eql_state.value.params["params"]["MLP_0"]  # §2.3: LayerNorm on V
    paths = lambda tree: ["/".join(map(str, k)) for k in flatten_dict(tree)]  # noqa: E731
    assert not any("LayerNorm" in p for p in paths(eql_state.actor.params) + paths(eql_state.critic.params))


def test_ivr_value_dropout_only_while_training_v(h, eql_state):
    state = eql_state
    batch = h.random_batch(jax.random.PRNGKey(1), 64, OBS, ACT)
    loss = jax.jit(lambda key: ivr.value_loss(state.value.params, state, batch, key)[0])
    l1, l2 = loss(jax.random.PRNGKey(2)), loss(jax.random.PRNGKey(3))
    assert abs(float(l1) - float(l2)) > 1e-4  # dropout active in the V loss
    # the actor weights (and the critic target) use V without dropout: EQL code weights, α = 2
    v_eval = np.asarray(state.value.apply_fn(state.value.params, batch["observations"]), np.float64)
    q = np.asarray(state.critic.apply_fn(state.critic_target, batch["observations"], batch["actions"]).min(0), np.float64)
    np.testing.assert_allclose(ivr.advantage_weights(state, batch), np.minimum(np.exp(5.0 * (q - v_eval)), 100.0), rtol=1e-5)


def test_ivr_jitted_updates_finite_with_dropout_and_large_rewards(h, eql_state):
    """30 scanned EQL updates with both dropouts on and rewards ×100 (large q − v inside exp).
    (χ² and EQL without dropout run jitted in the registry and bandit tests.)"""
    data = h.random_batch(jax.random.PRNGKey(1), 512, OBS, ACT)
    data["rewards"] = 100.0 * data["rewards"]
    new, metrics = h.train_loop(ivr.update, eql_state, data, jax.random.PRNGKey(2), 30, batch_size=64)
    assert set(metrics) == {"value_loss", "v_mean", "adv_mean", "actor_loss", "adv_weight_mean", "critic_loss", "q_mean"}
    for k, v in metrics.items():
        assert np.isfinite(np.asarray(v)).all(), k
    for leaf in jax.tree_util.tree_leaves(new):
        assert np.isfinite(np.asarray(leaf)).all()
    assert int(new.step) == 30
    assert abs(float(metrics["v_mean"][-1]) - float(metrics["v_mean"][0])) > 1e-3  # V moves


def test_ivr_defaults_presets_and_alpha_resolution():
    c = ivr.Config()
    assert (c.divergence, c.alpha, c.weight_mode, c.max_weight, c.tau) == ("chi2", None, "code", 100.0, 0.005)
    assert (c.actor_lr, c.critic_lr, c.value_lr) == (3e-4, 3e-4, 3e-4) and tuple(c.hidden_dims) == (256, 256)
    assert c.value_layer_norm and c.value_dropout == 0.0 and c.actor_dropout == 0.0
    assert c.reward_transform == "range" and c.dataset_action_clip == pytest.approx(1e-5)
    assert ivr.SETTINGS == ("offline", "offline-to-online") and ivr.POLICY == "gaussian"
    # §2.4 α by (task family, divergence), through the run-config resolution (preset → --set)
    table = {
        ("hopper-medium-v2", "chi2"): 1.0,
        ("hopper-medium-v2", "kl"): 2.0,
        ("antmaze-umaze-v2", "chi2"): 0.1,
        ("antmaze-umaze-v2", "kl"): 0.5,
        ("kitchen-partial-v0", "sql"): 0.5,
        ("kitchen-partial-v0", "eql"): 2.0,
    }
    for (task, div), alpha in table.items():
        cfg = agent_config(ivr, RunConfig(algo="ivr", task=task, agent={"divergence": div}))
        assert ivr.resolve_alpha(cfg) == alpha, (task, div)
    am = agent_config(ivr, RunConfig(algo="ivr", task="antmaze-large-play-v2"))
    assert (am.actor_lr, am.critic_lr, am.value_lr, am.online_actor_lr) == (2e-4, 2e-4, 2e-4, 2e-4)
    assert (am.value_dropout, am.reward_transform, am.reward_shift) == (0.5, "none", -1.0)
    kit = agent_config(ivr, RunConfig(algo="ivr", task="kitchen-mixed-v0"))
    assert (kit.actor_dropout, kit.reward_transform, kit.value_dropout) == (0.1, "none", 0.0)
    # an explicit α wins over the family default
    cfg = agent_config(ivr, RunConfig(algo="ivr", task="antmaze-umaze-v2", agent={"divergence": "kl", "alpha": 5.0}))
    assert ivr.resolve_alpha(cfg) == 5.0
    for bad in ({"divergence": "js"}, {"weight_mode": "paper"}, {"alpha": 0.0}, {"eql_alpha": -1.0}):
        with pytest.raises(ConfigError):
            ivr.Config(**bad)


# ---------------------------------------------------------------------------------------
# Learning smoke test (the bandit of test_algo_learning.py, smaller budget).


@pytest.mark.parametrize("divergence", ["chi2", "kl"])
def test_ivr_beats_behaviour_cloning_on_mixed_bandit(h, divergence):
    """Half near-optimal, half uniform actions: BC's MSE optimum is ≈ a*(s)/2; IVR's in-sample
    weighting must get at least 5× closer to a*(s) than that."""
    steps = 600  # IVR is at ≈ −0.002 after 500 steps (seeds 1, 7), −0.0005 after 1500
    mod = get("ivr")
    data = h.bandit_data(jax.random.PRNGKey(0), 8192, "mixed")
    spec = AgentSpec(h.BANDIT_OBS, h.BANDIT_ACT, offline_steps=steps)
    cfg = mod.Config(hidden_dims=(32, 32), divergence=divergence, actor_lr=1e-3, critic_lr=1e-3, value_lr=1e-3)
    state = mod.init(jax.random.PRNGKey(1), spec, cfg)
    before = h.expected_reward(mod.act, state, jax.random.PRNGKey(2))
    state, metrics = h.train_loop(mod.update, state, data, jax.random.PRNGKey(3), steps)
    after = h.expected_reward(mod.act, state, jax.random.PRNGKey(2))
    for k, v in metrics.items():
        assert bool(jnp.isfinite(jnp.nanmean(v))), k
    obs = jax.random.uniform(jax.random.PRNGKey(2), (4096, h.BANDIT_OBS), minval=-1.0, maxval=1.0)
    bc_bound = float(-(0.25 * h.bandit_opt(obs) ** 2).sum(-1).mean())  # ≈ −0.05
    assert after > before + 0.1, (before, after)
    assert after > 0.2 * bc_bound, (after, bc_bound)
