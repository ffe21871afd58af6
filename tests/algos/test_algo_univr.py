"""UNIVR, Gaussian policy (algorithms.md §3): InPG estimator E1 tests of §3.4.4, the reference
policy π̄ and the offline/online switch, and the jitted update.

E1 (§3.4.1): ℓ_i = log π_θ(a^μ_i|s_i), u_i = relu(w_φ(s_i, a^μ_i)),
  r = sg(∇_θ mean Q̂(s, ã) − ∇_θ mean sg(u) ℓ),  c_i = ⟨∇_θ ℓ_i, r⟩  (one JVP),
  L_w = −(2/B) Σ sg(c_i) u_i + ρ mean u²,  ŵ = clip(minmax(u), 0.1, 0.9),  L_π = −mean ŵ ℓ.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax.traverse_util import flatten_dict

from seamrl.algos import get, ivr, univr
from seamrl.algos import univr_inpg as inpg
from seamrl.algos.common import AgentSpec, apply_grad
from seamrl.algos.univr_policies import Gaussian
from seamrl.config import RunConfig, agent_config
from seamrl.errors import ConfigError
from seamrl.nets import GaussianPolicy, normal_log_prob
from seamrl.train.trainer import Phase

OBS, ACT, B = 3, 2, 64
SMALL = dict(hidden_dims=(32, 32))


def _state(spec=None, **overrides):
    spec = spec or AgentSpec(OBS, ACT, offline_steps=100)
    return _init(jax.random.PRNGKey(0), spec, univr.Config(**{**SMALL, **overrides}))


_init = jax.jit(univr.init, static_argnums=(1, 2))  # one compiled program instead of many eager ops


@pytest.fixture(scope="module")
def base():
    return _state()


def _leaves(tree):
    return [np.asarray(x) for x in jax.tree_util.tree_leaves(tree)]


def _assert_tree_equal(a, b):
    for x, y in zip(_leaves(a), _leaves(b)):
        np.testing.assert_array_equal(x, y)


def _assert_tree_differs(a, b):
    assert any(not np.array_equal(x, y) for x, y in zip(_leaves(a), _leaves(b)))


# ---------------------------------------------------------------------------------------
# Config.


def test_config_defaults_follow_tables_2_to_5():
    c = univr.Config()
    assert c.policy == "gaussian" and c.divergence == "chi2"
    assert univr.resolve(c, AgentSpec(OBS, ACT, offline_steps=1)).estimator == "E1"
    assert c.lr == 2e-4 and c.online_lr == 1e-3
    assert c.hidden_dims == (256,) * 4 and c.online_hidden_dims == (256,) * 3
    assert (c.w_min, c.w_max, c.tau, c.ridge) == (0.1, 0.9, 0.005, 1e-4)
    assert c.reward_transform == "range" and c.dataset_action_clip == 1e-5 and c.value_layer_norm
    assert ivr.resolve_alpha(c) == 1.0 and ivr.resolve_alpha(dataclasses.replace(c, divergence="kl")) == 2.0
    assert get("UNIVR") is univr


@pytest.mark.parametrize(
    "field, value",
    [("policy", "flow"), ("estimator", "E4"), ("estimator", "e1"), ("inpg_params", "first"),
     ("pg_through_last_k_steps", 11), ("best_of_n", 0), ("diffusion_steps", 0), ("divergence", "tv"), ("weight_activation", "tanh"),
     ("e3_target", "ratio"), ("alpha", -1.0), ("ref_lambda", 1.5), ("w_min", 0.95), ("reference_samples", 0)],
)
def test_config_rejects_bad_values(field, value):
    with pytest.raises(ConfigError, match="UNIVR"):
        univr.Config(**{field: value})


def test_antmaze_preset_and_overrides():
    cfg = agent_config(univr, RunConfig(algo="univr", task="antmaze-umaze-v2", agent={"alpha": 0.5}))
    assert cfg.sql_alpha == 0.1 and cfg.reward_shift == -1.0 and ivr.resolve_alpha(cfg) == 0.5


@pytest.mark.parametrize(
    "task, setting, alpha, lam",
    [("dm_control/quadruped-walk-v0", "online", 0.5, 0.1), ("dm_control/finger-turn_hard-v0", "online", 0.5, 0.1),
     ("AntBulletEnv-v0", "online", 1.0, 0.1), ("BipedalWalker-v3", "online", 1.0, 0.1), ("Hopper-v5", "online", 1.0, 0.2),
     ("antmaze-medium-play-v2", "offline", 0.1, None), ("antmaze-umaze-diverse-v2", "offline", 2.0, None),
     ("antmaze-medium-play-v2", "offline-to-online", 0.5, None), ("pen-cloned-v1", "offline-to-online", 1.0, None),
     ("door-cloned-v1", "offline-to-online", 2.0, None), ("hopper-medium-v0", "offline", 1.0, None)],
)
def test_tables_3_to_5_per_task_presets(task, setting, alpha, lam):
    """α (and online λ) per environment / dataset as Tables 3–5; an explicit --set still wins."""
    cfg = agent_config(univr, RunConfig(algo="univr", task=task, setting=setting))
    assert ivr.resolve_alpha(cfg) == alpha
    if lam is not None:
        assert univr.resolve(cfg, AgentSpec(OBS, ACT, online_steps=100)).ref_lambda == lam
    forced = agent_config(univr, RunConfig(algo="univr", task=task, setting=setting, agent={"sql_alpha": 0.3, "online_ref_lambda": 0.05}))
    assert forced.sql_alpha == 0.3 and forced.online_ref_lambda == 0.05


def test_locomotion_fine_tuning_uses_the_measured_lambda_and_the_rest_table_5():
    o2o = AgentSpec(OBS, ACT, offline_steps=100, online_steps=100)
    lam = lambda task: univr.resolve(agent_config(univr, RunConfig(algo="univr", task=task, setting="offline-to-online")), o2o).ref_lambda  # noqa: E731
    assert lam("hopper-medium-v0") == 0.001 and lam("walker2d-medium-replay-v2") == 0.001
    assert lam("antmaze-medium-play-v2") == 0.01 and lam("pen-cloned-v1") == 0.01


def test_init_picks_online_architecture_only_from_scratch(base):
    cfg = univr.Config(**SMALL)
    c = univr.resolve(cfg, AgentSpec(OBS, ACT, online_steps=100))  # online from scratch
    assert c.hidden_dims == (256,) * 3 and c.lr == 1e-3 and c.state_dependent_std and c.ref_lambda == 0.2
    assert c.alpha == 1.0 and c.estimator == "E3" and c.clip_reference_bc and c.log_std_min == -2.3
    assert univr.resolve(univr.resolve(cfg, AgentSpec(OBS, ACT, online_steps=100)), AgentSpec(OBS, ACT, online_steps=100)) == c
    c = univr.resolve(cfg, AgentSpec(OBS, ACT, offline_steps=100, online_steps=100))  # O2O
    assert c.hidden_dims == (32, 32) and c.lr == 2e-4 and not c.state_dependent_std and c.ref_lambda == 0.01
    assert c.estimator == "E1" and not c.clip_reference_bc and c.log_std_min == -5.0
    diffusion = univr.resolve(univr.Config(**SMALL, policy="diffusion"), AgentSpec(OBS, ACT, online_steps=100))
    assert diffusion.estimator == "E1"  # E3 is Gaussian-only
    explicit = univr.Config(**SMALL, estimator="E1", clip_reference_bc=False, log_std_min=-5.0)  # set values win online too
    c = univr.resolve(explicit, AgentSpec(OBS, ACT, online_steps=1))
    assert c.estimator == "E1" and not c.clip_reference_bc and c.log_std_min == -5.0
    assert univr.resolve(dataclasses.replace(cfg, ref_lambda=0.3), AgentSpec(OBS, ACT, online_steps=1)).ref_lambda == 0.3
    online = _state(AgentSpec(OBS, ACT, online_steps=100), online_hidden_dims=(8, 8, 8))
    kernels = [k for k in flatten_dict(online.actor.params) if k[-1] == "kernel"]
    assert len(kernels) == 3 + 2  # 3 hidden layers + mean and log-std heads
    assert online.config.hidden_dims == (8, 8, 8) and online.config.lr == 1e-3
    assert "log_std" in base.actor.params["params"]  # offline: state-independent log-std parameter
    _assert_tree_equal(base.actor_ref, base.actor.params)  # π̄ = π at init
    assert not bool(base.online)


def test_log_std_floor_reaches_the_policy_and_defaults_to_minus_5_offline():
    """``log_std_min`` bounds π's log σ from below (−2.3 online from scratch, −5 otherwise, unless set)."""
    obs = jax.random.normal(jax.random.PRNGKey(1), (B, OBS))
    floor = 1.5  # above every log σ of the fresh network (≈ 0.2 ± 0.5), so each one sits at the floor
    for spec, value, expected in ((AgentSpec(OBS, ACT, online_steps=100), floor, floor),
                                  (AgentSpec(OBS, ACT, offline_steps=100), None, -5.0)):
        st = _state(spec, online_hidden_dims=(8, 8, 8), log_std_min=value)
        assert st.config.log_std_min == expected
        _, log_std = st.actor.apply_fn(st.actor.params, obs)
        assert bool(jnp.all(log_std >= expected)) and (expected < 0 or float(log_std.min()) == floor)


@pytest.mark.parametrize("activation", ["relu", "softplus"])
def test_e1_weights_fall_to_zero_on_a_flat_critic_with_pi_own_samples_as_targets(activation):
    """The start of online learning from scratch: the critic is flat (G_PG ≈ 0) and ℓ's targets are π's
    own samples, so u = 0 is E1's least-squares optimum and the relu weight net heads there (on Hopper-v5
    every output died within 3k updates and stayed dead: the reason online from scratch defaults to E3).
    Softplus heads there too but no output dies, so ŵ keeps its spread (the diffusion policy's default)."""
    st = _state(lr=1e-3, weight_activation=activation)

    @jax.jit
    def run(actor, weight, key):
        def body(carry, kk):
            actor, weight = carry
            k1, k2, k3 = jax.random.split(kk, 3)
            obs = jax.random.normal(k1, (B, OBS))
            ref = Gaussian.reference_samples(actor.apply_fn, actor.params, obs, k2, 1, jnp.inf, st.config)[0]
            flat = lambda s, a: jnp.zeros(a.shape[0])  # noqa: E731
            actor, weight, m = inpg.policy_step(actor, weight, obs, ref, flat, k3, st.config)
            return (actor, weight), m

        return jax.lax.scan(body, (actor, weight), jax.random.split(key, 300))

    _, m = run(st.actor, st.weight, jax.random.PRNGKey(1))
    assert float(m["u_mean"][0]) > 0.9  # u ≈ 1 at init ...
    assert float(m["u_mean"][-1]) < 0.1  # ... and near the optimum u = 0 300 steps later:
    if activation == "relu":  # mostly dead, ŵ squeezed
        assert float(m["u_dead_frac"][-1]) > 0.5
    else:  # none dead, ŵ spread over [w_min, w_max]
        assert float(m["u_dead_frac"][-1]) == 0.0 and float(m["weight_std"][-1]) > 0.1


@pytest.mark.parametrize("activation", ["relu", "softplus"])
def test_weight_net_starts_near_one(base, activation):
    """u ≈ 1 at init for either activation: bias 1 for relu, log(e − 1) for softplus (softplus(log(e − 1)) = 1)."""
    state = base if activation == "relu" else _state(weight_activation="softplus")
    assert state.config.weight_activation == activation
    obs = jax.random.normal(jax.random.PRNGKey(1), (B, OBS))
    act = jax.random.uniform(jax.random.PRNGKey(2), (B, ACT), minval=-1, maxval=1)
    pre = state.weight.apply_fn(state.weight.params, obs, act)
    np.testing.assert_allclose(inpg.weight_activation(activation, pre), 1.0, atol=0.1)


def test_normalise_weights_minmax_and_clip():
    cfg = univr.Config()
    u = jnp.array([0.0, 1.0, 2.0, 4.0])
    np.testing.assert_allclose(inpg.normalise_weights(u, cfg), [0.1, 0.25, 0.5, 0.9], atol=1e-5)
    np.testing.assert_allclose(inpg.normalise_weights(jnp.full(4, 3.0), cfg), 0.1)  # degenerate: uniform BC


# ---------------------------------------------------------------------------------------
# §3.4.4 test 3: JVP alignments = brute-force per-sample inner products.


def test_jvp_alignments_equal_bruteforce_per_sample_inner_products():
    net = GaussianPolicy(2, (5, 4))
    k1, k2, k3, k4 = jax.random.split(jax.random.PRNGKey(3), 4)
    obs = jax.random.normal(k1, (7, 3))
    ref = jax.random.uniform(k2, (7, 2), minval=-0.9, maxval=0.9)
    params = net.init(k3, obs)
    leaves, treedef = jax.tree_util.tree_flatten(params)
    r = jax.tree_util.tree_unflatten(
        treedef, [0.1 * jax.random.normal(k, x.shape) for k, x in zip(jax.random.split(k4, len(leaves)), leaves)]
    )

    def ll_fn(p):
        mean, log_std = net.apply(p, obs)
        return normal_log_prob(ref, mean, log_std)

    c = inpg.jvp_alignments(ll_fn, params, r)

    def ll_one(p, s, a):
        mean, log_std = net.apply(p, s[None])
        return normal_log_prob(a[None], mean, log_std)[0]

    brute, grad_one = [], jax.jit(jax.grad(ll_one))
    for i in range(obs.shape[0]):
        g = grad_one(params, obs[i], ref[i])
        brute.append(sum(float(jnp.vdot(a, b)) for a, b in zip(jax.tree_util.tree_leaves(g), jax.tree_util.tree_leaves(r))))
    np.testing.assert_allclose(np.asarray(c), brute, rtol=1e-5, atol=1e-5)
    assert np.abs(brute).max() > 1e-2  # a non-trivial comparison


# ---------------------------------------------------------------------------------------
# §3.4.4 test 1: 1-D contextual bandit, Q(s, a) = −(a − 0.8)², μ uniform on [−1, 1].


def _bandit_run(config, steps: int, plain_bc: bool = False):
    st = _init(jax.random.PRNGKey(0), AgentSpec(1, 1, offline_steps=steps), config)
    q_fn = lambda s, a: -((a - 0.8) ** 2).sum(-1)  # noqa: E731  fixed analytic Q̂ instead of critics

    def bc_step(actor, weight, obs, ref, key):
        def loss(p):
            mean, log_std = actor.apply_fn(p, obs)
            return -normal_log_prob(ref, mean, log_std).mean(), {}

        return apply_grad(actor, loss)[0], weight, {}

    @jax.jit
    def run(actor, weight, key):
        def body(carry, k):
            k1, k2, k3 = jax.random.split(k, 3)
            obs = jax.random.uniform(k1, (128, 1), minval=-1.0, maxval=1.0)
            ref = jax.random.uniform(k2, (128, 1), minval=-0.999, maxval=0.999)  # a^μ ~ U[−1, 1]
            if plain_bc:
                actor, weight, m = bc_step(*carry, obs, ref, k3)
            else:
                actor, weight, m = inpg.policy_step(*carry, obs, ref, q_fn, k3, st.config)
            return (actor, weight), m

        return jax.lax.scan(body, (actor, weight), jax.random.split(key, steps))

    (actor, _), metrics = run(st.actor, st.weight, jax.random.PRNGKey(1))
    means = univr.act(st.replace(actor=actor), jnp.linspace(-1, 1, 21)[:, None], jax.random.PRNGKey(2), True)
    return np.asarray(means).ravel(), metrics


def test_bandit_inpg_moves_mean_toward_maximiser_plain_bc_stays_near_zero():
    cfg = univr.Config(hidden_dims=(32, 32), lr=1e-3)
    inpg, metrics = _bandit_run(cfg, 500)
    bc, _ = _bandit_run(cfg, 500, plain_bc=True)  # unweighted log-likelihood of the same μ samples
    assert np.abs(bc).max() < 0.15, bc
    assert inpg.min() > 0.3, inpg  # moved toward a* = 0.8 ...
    assert inpg.max() < 0.8, inpg  # ... but stays inside the support, short of it (clip ratio 9, Thm 1)
    assert np.isfinite(np.asarray(metrics["weight_loss"])).all()
    assert float(metrics["weight_std"][-100:].mean()) > 0.05  # weights are not uniform


# ---------------------------------------------------------------------------------------
# §3.4.4 test 2: sign test with Q̂(s, a) = ⟨q, a⟩.


def test_sign_test_positive_alignment_gets_larger_weights(base):
    q = jnp.array([1.0, -0.5])
    st = base
    q_fn = lambda s, a: a @ q  # noqa: E731
    actor = st.actor  # fixed policy: only the weight net learns

    def sample(key):
        k1, k2 = jax.random.split(key)
        obs = jax.random.normal(k1, (256, OBS))
        mean, _ = actor.apply_fn(actor.params, obs)
        ref = jnp.clip(mean + 0.5 * jax.random.normal(k2, mean.shape), -0.999, 0.999)
        return obs, ref, mean

    @jax.jit
    def run(weight, key):
        def body(weight, k):
            obs, ref, _ = sample(k)
            _, weight, m = inpg.policy_step(actor, weight, obs, ref, q_fn, jax.random.fold_in(k, 1), st.config)
            return weight, m

        return jax.lax.scan(body, weight, jax.random.split(key, 300))

    weight, _ = run(st.weight, jax.random.PRNGKey(5))
    obs, ref, mean = sample(jax.random.PRNGKey(99))
    w_hat = inpg.normalise_weights(jax.nn.relu(weight.apply_fn(weight.params, obs, ref)), st.config)
    side = (ref - mean) @ q
    pos, neg = float(w_hat[side > 0].mean()), float(w_hat[side < 0].mean())
    assert pos > neg + 0.1, (pos, neg)


def test_e3_sign_test_closed_form(base):
    """E3 (§3.4.3) with Q̂ = ⟨q, a⟩: only samples with ⟨q, a − m⟩ > 0 (mean part) get t > 0."""
    st = base.replace(config=dataclasses.replace(base.config, estimator="E3"))
    q = jnp.array([1.0, -0.5])
    obs = jax.random.normal(jax.random.PRNGKey(0), (512, OBS))
    mean, log_std = st.actor.apply_fn(st.actor.params, obs)
    ref = jnp.clip(mean + 0.5 * jax.random.normal(jax.random.PRNGKey(1), mean.shape), -0.999, 0.999)
    xi = jnp.zeros_like(ref)  # ã = m: the log-σ part of p vanishes, t ∝ ⟨q, a − m⟩_+ / σ²
    t, (c, p, _, a) = jax.jit(inpg.e3_weights, static_argnums=3)(st.actor, obs, ref, lambda s, a: a @ q, xi)
    side = (ref - mean) @ q
    assert bool(jnp.all(t[side < 0] == 0.0)) and bool(jnp.all(t[side > 0] > 0.0))
    assert bool(jnp.all((c > 0) == (side > 0))) and jnp.allclose(p[:, :2], q) and jnp.allclose(a, jnp.clip(mean, -1, 1))
    # e3_target="alignment": t = ⟨p, g⟩₊ itself, ordered like ⟨q, a − m⟩ (σ is state-independent here)
    t_align, _ = jax.jit(inpg.e3_weights, static_argnums=(3, 5))(st.actor, obs, ref, lambda s, a: a @ q, xi, "alignment")
    assert jnp.allclose(t_align, jnp.maximum(c, 0.0)) and not jnp.allclose(t_align, t)
    assert float(jnp.corrcoef(t_align[side > 0], side[side > 0])[0, 1]) > 0.99
    # "cosine": ⟨p, g⟩₊ / (‖p‖ ‖g‖), in [0, 1] and free of Q's scale (alignment is not)
    e3 = jax.jit(inpg.e3_weights, static_argnums=(3, 5))
    t_cos, _ = e3(st.actor, obs, ref, lambda s, a: a @ q, xi, "cosine")
    t_cos10, _ = e3(st.actor, obs, ref, lambda s, a: 10.0 * (a @ q), xi, "cosine")
    t_align10, _ = e3(st.actor, obs, ref, lambda s, a: 10.0 * (a @ q), xi, "alignment")
    assert 0.0 <= float(t_cos.min()) and float(t_cos.max()) <= 1.0 and bool(jnp.all((t_cos > 0) == (side > 0)))
    assert jnp.allclose(t_cos10, t_cos, atol=1e-6) and jnp.allclose(t_align10, 10.0 * t_align, rtol=1e-5)
    # wiring of the E3 branch in policy_step, traced only (compiling it again would cost seconds)
    step = lambda actor, weight: inpg.policy_step(actor, weight, obs, ref, lambda s, a: a @ q, jax.random.PRNGKey(2), st.config)  # noqa: E731
    _, weight, m = jax.eval_shape(step, st.actor, st.weight)
    assert set(m) >= {"weight_loss", "weight_mean", "df_estimate"} and all(v.shape == () for v in m.values())
    assert "residual_norm" not in m  # E3 forms no θ-space residual, so no JVP either


# ---------------------------------------------------------------------------------------
# Update, phases and the reference policy.


_update = jax.jit(univr.update)


def _batch(seed: int, n: int = B) -> dict:
    keys = jax.random.split(jax.random.PRNGKey(seed), 5)
    return {
        "observations": jax.random.normal(keys[0], (n, OBS)),
        "actions": jax.random.uniform(keys[1], (n, ACT), minval=-0.999, maxval=0.999),
        "rewards": jax.random.normal(keys[2], (n,)),
        "next_observations": jax.random.normal(keys[3], (n, OBS)),
        "masks": (jax.random.uniform(keys[4], (n,)) > 0.2).astype(jnp.float32),
    }


@pytest.mark.parametrize("divergence", ["chi2", "kl"])
def test_update_jitted_one_compilation_for_both_phases(base, divergence):
    st = base if divergence == "chi2" else base.replace(config=univr.resolve(
        dataclasses.replace(base.config, divergence=divergence, alpha=None), AgentSpec(OBS, ACT, offline_steps=100)))
    assert st.config.alpha == (1.0 if divergence == "chi2" else 2.0)
    update = jax.jit(univr.update)
    online = univr.begin_phase(st, Phase("online", 10, 1))
    sizes = []
    for state in (st, online):
        for i in range(3):
            state, metrics = update(state, _batch(i))
            for k, v in metrics.items():
                assert jnp.shape(v) == () and np.isfinite(float(v)), (k, float(v))
        assert int(state.step) == 3
        assert 0.1 - 1e-6 <= float(metrics["weight_min"]) <= float(metrics["weight_max"]) <= 0.9 + 1e-6
        for leaf in jax.tree_util.tree_leaves(state):
            assert bool(jnp.isfinite(leaf).all()) if jnp.issubdtype(jnp.asarray(leaf).dtype, jnp.floating) else True
        sizes.append(update._cache_size())  # (the cache is shared by every jit of univr.update)
    assert sizes[1] == sizes[0]  # the online flag is data: no new compilation for the online phase


def test_begin_phase_switches_reference_policy(base):
    st = base
    update = _update
    st = univr.begin_phase(st, Phase("offline", 10, 0))
    assert not bool(st.online)
    init_actor = st.actor.params
    for i in range(3):
        st, _ = update(st, _batch(i))
    _assert_tree_equal(st.actor_ref, init_actor)  # π̄ untouched offline
    _assert_tree_differs(st.actor_ref, st.actor.params)
    switched = univr.begin_phase(st, Phase("online", 10, 1))  # offline → online: π̄ ← π
    assert bool(switched.online)
    _assert_tree_equal(switched.actor_ref, st.actor.params)
    scratch = univr.begin_phase(st, Phase("online", 10, 0))  # from scratch: π̄ kept (= π at init)
    assert bool(scratch.online)
    _assert_tree_equal(scratch.actor_ref, st.actor_ref)
    # the hook keeps leaf types (no retrace of the trainer's jitted chunk)
    sig = lambda t: [(x.dtype, x.shape, x.weak_type) for x in jax.tree_util.tree_leaves(t)]  # noqa: E731
    assert sig(switched) == sig(st)


def test_online_value_loss_uses_pi_bar_samples_and_pi_bar_tracks_pi(base):
    st = base
    st = univr.begin_phase(st, Phase("online", 10, 1))
    ref_params = st.actor_ref["params"]  # π̄ with σ = 0.2: its samples are rarely clipped
    st = st.replace(actor_ref={"params": {**ref_params, "log_std": jnp.full_like(ref_params["log_std"], np.log(0.2))}})
    batch = _batch(3)
    _, k_ref, _ = jax.random.split(st.rng, 3)  # the update's split (common.split)
    ref = jax.jit(univr.reference_actions)(st, batch, k_ref)
    assert ref.shape == (1, B, ACT)
    assert float(jnp.abs(ref[0] - batch["actions"]).mean()) > 0.1  # not the dataset actions
    mean, log_std = st.actor.apply_fn(st.actor_ref, batch["observations"])
    z = (ref[0] - mean) / jnp.exp(log_std)  # π̄ samples: standardised residuals ≈ N(0, 1)
    assert abs(float(z.mean())) < 0.2 and 0.8 < float(z.std()) < 1.2

    new, metrics = _update(st, batch)
    value_loss = jax.jit(univr.value_loss)
    expected, _ = value_loss(st.value.params, st, batch["observations"], ref)
    on_data, _ = value_loss(st.value.params, st, batch["observations"], batch["actions"][None])
    np.testing.assert_allclose(metrics["value_loss"], expected, rtol=1e-6)
    assert abs(float(expected) - float(on_data)) > 1e-4
    wide = ref * 3.0  # beyond the bound: Q sees the clipped actions
    clipped = jnp.clip(wide, -1.0 + 1e-5, 1.0 - 1e-5)
    np.testing.assert_allclose(value_loss(st.value.params, st, batch["observations"], wide)[0],
                               value_loss(st.value.params, st, batch["observations"], clipped)[0], rtol=1e-6)
    assert float(metrics["ref_action_shift"]) > 0.1
    lam = st.config.ref_lambda  # π̄ ← λ π_new + (1 − λ) π̄
    want = jax.tree_util.tree_map(lambda p, r: lam * p + (1 - lam) * r, new.actor.params, st.actor_ref)
    for a, b in zip(_leaves(new.actor_ref), _leaves(want)):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)

    offline = st.replace(online=jnp.zeros((), jnp.bool_))
    ref_off = jax.jit(univr.reference_actions)(offline, batch, k_ref)
    np.testing.assert_array_equal(ref_off[0], batch["actions"])
    _, m_off = _update(offline, batch)
    assert float(m_off["ref_action_shift"]) == 0.0


def test_online_bc_targets_are_unclipped_because_clipped_ones_shrink_sigma(base):
    """π̄ = π with σ = 1 and means near the bound: fitting ℓ to clipped samples of π̄ has a negative
    log-σ gradient (σ shrinks every step) and pulls the mean inward; the unclipped targets of the
    default give gradients ≈ 0 at π = π̄ (the fixed point of weighted BC with uniform weights)."""
    st = univr.begin_phase(base, Phase("online", 10, 1))
    params = st.actor.params["params"]
    pi = {"params": {**params, "log_std": jnp.zeros_like(params["log_std"])}}
    st = st.replace(actor_ref=pi, actor=st.actor.replace(params=pi))
    batch = _batch(5, n=16384)

    def grads(state):
        ref = univr.reference_actions(state, batch, jax.random.PRNGKey(3))[0]
        ll = lambda p: univr.policy_class(state.config).log_lik(state.actor.apply_fn, p, batch["observations"], ref, None, state.config).mean()  # noqa: E731
        return jax.grad(ll)(pi)["params"]["log_std"], ref

    unbiased, ref = grads(st)
    assert float(jnp.abs(ref).max()) > 1.5  # raw samples of π̄
    biased, ref_c = grads(st.replace(config=dataclasses.replace(st.config, clip_reference_bc=True)))
    assert float(jnp.abs(ref_c).max()) <= 1.0
    assert float(jnp.abs(unbiased).max()) < 0.05  # sampling noise only: standard error √2/√16384 ≈ 0.011
    assert float(biased.max()) < -0.2  # ∂ mean ℓ / ∂ log σ < 0 in every dimension: σ would shrink


def test_critic_regresses_stored_actions_online(base):
    st = univr.begin_phase(base, Phase("online", 10, 1))
    batch = _batch(4)
    new, metrics = _update(st, batch)
    loss, _ = jax.jit(univr.critic_loss)(st.critic.params, st.replace(value=new.value), batch)
    np.testing.assert_allclose(metrics["critic_loss"], loss, rtol=1e-6)


def test_policy_sample_metrics_locate_pi_against_the_reference_and_the_bound(base):
    """``pi_ref_gap`` = mean |ã − a^μ| and ``pi_at_bound_frac`` = share of ã's components at ±1: with σ
    = 1e-3 the samples are the means (gap = mean |m − a|, none at the bound); with σ = 5 most clip."""
    batch = _batch(6)
    params = base.actor.params["params"]

    def metrics_with(log_std):
        pi = {"params": {**params, "log_std": jnp.full_like(params["log_std"], log_std)}}
        return _update(base.replace(actor=base.actor.replace(params=pi)), batch)[1]

    mean, _ = base.actor.apply_fn(base.actor.params, batch["observations"])
    narrow, wide = metrics_with(np.log(1e-3)), metrics_with(np.log(5.0))
    np.testing.assert_allclose(narrow["pi_ref_gap"], jnp.abs(mean - batch["actions"]).mean(), atol=5e-3)
    assert float(narrow["pi_at_bound_frac"]) == 0.0
    assert float(wide["pi_at_bound_frac"]) > 0.6  # P(|m + 5ξ| ≥ 1) ≈ 0.84 for |m| < 1
    assert float(wide["pi_ref_gap"]) > float(narrow["pi_ref_gap"]) + 0.2


def test_act_deterministic_is_tanh_mean_and_stochastic_is_clipped(base):
    st = base
    obs = 50.0 * jax.random.normal(jax.random.PRNGKey(1), (32, OBS))
    mean, _ = st.actor.apply_fn(st.actor.params, obs)
    np.testing.assert_array_equal(univr.act(st, obs, jax.random.PRNGKey(0), True), mean)
    a = univr.act(st, obs, jax.random.PRNGKey(0), False)
    assert float(jnp.abs(a).max()) <= 1.0 and float(jnp.abs(a - mean).max()) > 1e-3


# ---------------------------------------------------------------------------------------
# E2 (§3.4.2): per-state projection t_i = ⟨p_i, g_i⟩_+ / (‖g_i‖² + ε) on Θ_S.


def test_e2_weights_equal_bruteforce_per_sample_projection(base):
    cfg = univr.resolve(dataclasses.replace(base.config, estimator="E2", inpg_params=None), AgentSpec(OBS, ACT, offline_steps=100))
    assert cfg.inpg_params == "last2"
    obs = jax.random.normal(jax.random.PRNGKey(0), (8, OBS))
    ref = jax.random.uniform(jax.random.PRNGKey(1), (8, ACT), minval=-0.9, maxval=0.9)
    q_fn = lambda s, a: jnp.sin(3.0 * a).sum(-1) + s.sum(-1) * a[:, 0]  # noqa: E731  a non-linear Q̂
    key = jax.random.PRNGKey(2)
    draw = jnp.zeros((8, 0))
    t, mean_p, dot, q, _ = jax.jit(inpg.e2_weights, static_argnums=(4, 6))(base.actor, obs, ref, draw, q_fn, key, cfg)

    mask = inpg.subset_mask(base.actor.params, cfg)
    chosen = sorted("/".join(k) for k, m in flatten_dict(mask).items() if m)
    assert chosen == ["params/Dense_0/bias", "params/Dense_0/kernel", "params/MLP_0/Dense_1/bias", "params/MLP_0/Dense_1/kernel",
                      "params/log_std"]  # mean head, log-std and the last hidden layer

    def q_one(p, s, k):  # Q̂(s, clip_st(m(s) + σ ξ)) for one state, ξ from its own key
        mean, log_std = base.actor.apply_fn(p, s[None])
        a = mean + jnp.exp(log_std) * jax.random.normal(k, mean.shape)
        a = a + jax.lax.stop_gradient(jnp.clip(a, -1.0, 1.0) - a)
        return q_fn(s[None], a)[0]

    def ll_one(p, s, a):
        mean, log_std = base.actor.apply_fn(p, s[None])
        return normal_log_prob(a[None], mean, log_std)[0]

    grad_q, grad_ll = jax.jit(jax.grad(q_one)), jax.jit(jax.grad(ll_one))
    flat_mask = flatten_dict(mask)
    for i, k in enumerate(jax.random.split(key, 8)):
        p_i, g_i = flatten_dict(grad_q(base.actor.params, obs[i], k)), flatten_dict(grad_ll(base.actor.params, obs[i], ref[i]))
        d = sum(float(jnp.vdot(p_i[n], g_i[n])) for n in flat_mask if flat_mask[n])
        gg = sum(float(jnp.vdot(g_i[n], g_i[n])) for n in flat_mask if flat_mask[n])
        np.testing.assert_allclose(dot[i], d, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(t[i], max(d, 0.0) / (gg + 1e-8), rtol=1e-4, atol=1e-7)
    assert float((t > 0).mean()) > 0.1 and float((t == 0).mean()) > 0.1  # both signs occur: a real check


def test_e2_sign_test_positive_alignment_gets_larger_projection(base):
    """§3.4.4 test 2 for E2: Q̂ = ⟨q, a⟩; t_i > 0 mostly where ⟨q, a^μ_i − m(s_i)⟩ > 0."""
    cfg = dataclasses.replace(base.config, estimator="E2", inpg_params="last")
    q = jnp.array([1.0, -0.5])
    obs = jax.random.normal(jax.random.PRNGKey(0), (512, OBS))
    mean, _ = base.actor.apply_fn(base.actor.params, obs)
    ref = jnp.clip(mean + 0.5 * jax.random.normal(jax.random.PRNGKey(1), mean.shape), -0.999, 0.999)
    e2 = jax.jit(inpg.e2_weights, static_argnums=(4, 6))
    t = e2(base.actor, obs, ref, jnp.zeros((512, 0)), lambda s, a: a @ q, jax.random.PRNGKey(2), cfg)[0]
    side = (ref - mean) @ q
    assert float(t[side > 0].mean()) > 2.0 * float(t[side < 0].mean())
    assert float((t[side > 0] > 0).mean()) > float((t[side < 0] > 0).mean()) + 0.3


def test_e2_update_and_bandit():
    cfg = univr.Config(hidden_dims=(32, 32), lr=1e-3, estimator="E2")
    inpg, metrics = _bandit_run(cfg, 500)
    assert inpg.min() > 0.2 and inpg.max() < 0.8, inpg  # toward a* = 0.8, inside the support (cf. E1 above)
    assert float(metrics["weight_std"][-100:].mean()) > 0.05 and np.isfinite(np.asarray(metrics["weight_loss"])).all()
    st = _state(estimator="E2")
    new, m = jax.jit(univr.update)(st, _batch(0))
    assert {"weight_mean", "df_estimate", "q_mean", "v_mean", "log_prob_mean", "q_pi_mean"} <= set(m)
    assert all(np.isfinite(float(v)) for v in m.values())


def test_best_of_n_acting_picks_highest_min_q(base):
    obs = jax.random.normal(jax.random.PRNGKey(3), (64, OBS))
    act = jax.jit(univr.act, static_argnums=3)
    q = lambda a: base.critic.apply_fn(base.critic.params, obs, a).min(axis=0)  # noqa: E731
    best = act(base.replace(config=dataclasses.replace(base.config, best_of_n=16)), obs, jax.random.PRNGKey(0), False)
    candidates = jax.vmap(lambda k: act(base, obs, k, False))(jax.random.split(jax.random.PRNGKey(0), 16))
    np.testing.assert_allclose(q(best), jax.vmap(q)(candidates).max(axis=0), rtol=1e-5)
    assert float(q(best).mean()) > float(q(candidates[0]).mean())
