"""UNIVR with the diffusion policy (algorithms.md §3.6): ℓ_i = −‖ε_i − ε_θ(x_{t_i}, s_i, t_i)‖² in InPG,
G_PG back-propagated through the clipped DDPM sampler, π̄ samples from the sampler online, acting
with one sampler draw; the §3.4.4 tests that apply to a diffusion policy; E2 with a diffusion policy."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from seamrl.algos import univr
from seamrl.algos import univr_inpg as inpg
from seamrl.algos.common import AgentSpec, apply_grad
from seamrl.algos.univr_policies import Diffusion
from seamrl.errors import ConfigError
from seamrl.nets import ScoreNet
from seamrl.train.trainer import Phase

OBS, ACT, B = 3, 2, 64
TINY = dict(policy="diffusion", hidden_dims=(32, 32), score_widths=(16, 8))
HEALTH = {"weight_mean", "weight_std", "weight_min", "weight_max", "df_estimate", "df_upper", "q_mean", "v_mean",
          "q_pi_mean", "denoise_loss", "weight_loss", "actor_loss"}

_init = jax.jit(univr.init, static_argnums=(1, 2))
_update = jax.jit(univr.update)


def test_config_diffusion_defaults_and_checks():
    c = univr.Config(policy="diffusion")
    assert (c.diffusion_steps, c.pg_through_last_k_steps, c.best_of_n) == (10, 10, 1)  # Table 2, §3.6
    assert tuple(c.score_widths) == (512, 256, 128)
    with pytest.raises(ConfigError, match="E3"):
        univr.Config(policy="diffusion", estimator="E3")
    spec = AgentSpec(OBS, ACT, offline_steps=10)
    assert univr.resolve(c, spec).inpg_params == "last2"  # §9.3: the last two layers for diffusion nets
    assert univr.resolve(dataclasses.replace(c, inpg_params="all"), spec).inpg_params == "all"
    assert univr.resolve(dataclasses.replace(c, estimator="E2"), spec).inpg_params == "last2"
    # §3.4.1 "softplus if many outputs die": the diffusion policy's relu net died (benchmarks/README.md)
    assert univr.resolve(c, spec).weight_activation == "softplus"
    assert univr.resolve(dataclasses.replace(c, weight_activation="relu"), spec).weight_activation == "relu"
    assert univr.resolve(univr.Config(), spec).weight_activation == "relu"  # the Gaussian keeps the paper's relu
    params = jax.eval_shape(ScoreNet(ACT, widths=(16, 8)).init, jax.random.PRNGKey(0), *Diffusion.init_args(jnp.zeros((1, OBS)), jnp.zeros((1, ACT))))
    small = dataclasses.replace(c, score_widths=(16, 8))
    chosen = lambda subset: sorted("/".join(k) for k, m in _flat(inpg.subset_mask(params, dataclasses.replace(small, inpg_params=subset))).items() if m)  # noqa: E731
    assert chosen("last") == ["params/out/bias", "params/out/kernel"]
    assert chosen("last2") == ["params/out/bias", "params/out/kernel", "params/up_0/Dense_2/bias", "params/up_0/Dense_2/kernel"]


def _flat(tree):
    from flax.traverse_util import flatten_dict

    return flatten_dict(tree)


@pytest.fixture(scope="module")
def diffusion_state():
    return _init(jax.random.PRNGKey(0), AgentSpec(OBS, ACT, offline_steps=100), univr.Config(**TINY))


def test_diffusion_update_offline_then_online(diffusion_state, h):
    _batch = lambda seed: h.random_batch(jax.random.PRNGKey(seed), B, OBS, ACT)  # noqa: E731
    st = univr.begin_phase(diffusion_state, Phase("offline", 10, 0))
    for i in range(2):
        st, metrics = _update(st, _batch(i))
    assert HEALTH <= set(metrics) and "log_prob_mean" not in metrics
    for k, v in metrics.items():
        assert jnp.shape(v) == () and np.isfinite(float(v)), (k, float(v))
    assert float(metrics["ref_action_shift"]) == 0.0 and float(metrics["pg_grad_norm"]) > 0.0
    assert 0.1 - 1e-6 <= float(metrics["weight_min"]) <= float(metrics["weight_max"]) <= 0.9 + 1e-6
    online = univr.begin_phase(st, Phase("online", 10, 1))
    size = _update._cache_size()
    new, metrics = _update(online, _batch(5))
    assert _update._cache_size() == size  # the online flag is data: no new compilation
    assert float(metrics["ref_action_shift"]) > 0.1 and all(np.isfinite(float(v)) for v in metrics.values())  # a^μ ~ π̄
    lam = online.config.ref_lambda
    want = jax.tree_util.tree_map(lambda p, r: lam * p + (1 - lam) * r, new.actor.params, online.actor_ref)
    for a, b in zip(jax.tree_util.tree_leaves(new.actor_ref), jax.tree_util.tree_leaves(want)):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    act = jax.jit(univr.act, static_argnums=3)
    a1, a2 = act(new, _batch(6)["observations"], jax.random.PRNGKey(0), True), act(new, _batch(6)["observations"], jax.random.PRNGKey(1), True)
    assert a1.shape == (B, ACT) and float(jnp.abs(a1).max()) <= 1.0
    assert float(jnp.abs(a1 - a2).max()) > 1e-3  # evaluation is one sampler draw (§3.6), not a mode


def test_diffusion_jvp_alignments_equal_bruteforce_per_sample_inner_products():
    """§3.4.4 test 3 with the diffusion ℓ_i (fixed draw (t_i, ε_i))."""
    cfg = univr.Config(policy="diffusion", score_widths=(8, 4))
    net = ScoreNet(2, widths=(8, 4), embed_dim=8, cond_dim=8)
    k1, k2, k3, k4, k5 = jax.random.split(jax.random.PRNGKey(3), 5)
    obs = jax.random.normal(k1, (6, 3))
    ref = jax.random.uniform(k2, (6, 2), minval=-0.9, maxval=0.9)
    params = net.init(k3, *Diffusion.init_args(obs, ref))
    draw = Diffusion.draw(k5, 6, 2, cfg)
    leaves, treedef = jax.tree_util.tree_flatten(params)
    r = jax.tree_util.tree_unflatten(treedef, [0.1 * jax.random.normal(k, x.shape) for k, x in zip(jax.random.split(k4, len(leaves)), leaves)])
    ll_fn = lambda p: Diffusion.log_lik(net.apply, p, obs, ref, draw, cfg)  # noqa: E731
    c = jax.jit(inpg.jvp_alignments, static_argnums=0)(ll_fn, params, r)

    def ll_one(p, s, a, t, e):
        return Diffusion.log_lik(net.apply, p, s[None], a[None], (t[None], e[None]), cfg)[0]

    grad_one = jax.jit(jax.grad(ll_one))
    brute = []
    for i in range(6):
        g = grad_one(params, obs[i], ref[i], draw[0][i], draw[1][i])
        brute.append(sum(float(jnp.vdot(a, b)) for a, b in zip(jax.tree_util.tree_leaves(g), jax.tree_util.tree_leaves(r))))
    np.testing.assert_allclose(np.asarray(c), brute, rtol=1e-5, atol=1e-5)
    assert np.abs(brute).max() > 1e-2


def _bandit(config, steps: int, plain_bc: bool):
    """§3.4.4 test 1 with a diffusion policy: Q̂(s, a) = −(a − 0.8)², μ uniform on [−1, 1]."""
    st = _init(jax.random.PRNGKey(0), AgentSpec(1, 1, offline_steps=steps), config)
    q_fn = lambda s, a: -((a - 0.8) ** 2).sum(-1)  # noqa: E731

    def body(carry, k):
        k1, k2, k3 = jax.random.split(k, 3)
        obs = jax.random.uniform(k1, (128, 1), minval=-1.0, maxval=1.0)
        ref = jax.random.uniform(k2, (128, 1), minval=-0.999, maxval=0.999)
        actor, weight = carry
        if plain_bc:  # unweighted denoising loss on the same μ samples
            draw = Diffusion.draw(k3, 128, 1, config)
            loss = lambda p: (-Diffusion.log_lik(actor.apply_fn, p, obs, ref, draw, config).mean(), {})  # noqa: E731
            return (apply_grad(actor, loss)[0], weight), {}
        actor, weight, m = inpg.policy_step(actor, weight, obs, ref, q_fn, k3, st.config)
        return (actor, weight), m["weight_std"]

    run = jax.jit(lambda a, w, key: jax.lax.scan(body, (a, w), jax.random.split(key, steps)))
    (actor, _), weight_std = run(st.actor, st.weight, jax.random.PRNGKey(1))
    actions = univr.act(st.replace(actor=actor), jnp.linspace(-1, 1, 512)[:, None], jax.random.PRNGKey(2), True)
    return np.asarray(actions).ravel(), weight_std


def test_diffusion_bandit_inpg_moves_samples_toward_maximiser_plain_bc_does_not():
    cfg = univr.Config(policy="diffusion", hidden_dims=(32, 32), score_widths=(32, 16), lr=1e-3)
    inpg, weight_std = _bandit(cfg, 400, plain_bc=False)
    bc, _ = _bandit(cfg, 400, plain_bc=True)
    assert abs(bc.mean()) < 0.1 and np.mean(bc < -0.4) > 0.2, bc.mean()  # BC reproduces U[−1, 1]
    assert inpg.mean() > bc.mean() + 0.25, (inpg.mean(), bc.mean())  # moved toward a* = 0.8 ...
    assert np.mean(inpg < -0.4) < 0.5 * np.mean(bc < -0.4)  # ... by down-weighting the far side of μ
    assert float(np.mean(weight_std[-100:])) > 0.05  # weights are not uniform


def test_diffusion_e2_update_runs_and_is_finite(diffusion_state, h):
    st = diffusion_state.replace(config=univr.resolve(dataclasses.replace(diffusion_state.config, estimator="E2", inpg_params=None),
                                                      AgentSpec(OBS, ACT, offline_steps=100)))
    assert st.config.inpg_params == "last2"
    new, metrics = jax.jit(univr.update)(st, h.random_batch(jax.random.PRNGKey(0), B, OBS, ACT))
    assert HEALTH <= set(metrics) and all(np.isfinite(float(v)) for v in metrics.values())
    assert float(metrics["weight_std"]) > 0.0 and float(metrics["pg_grad_norm"]) > 0.0
    changed = [not np.array_equal(a, b) for a, b in zip(jax.tree_util.tree_leaves(new.actor.params), jax.tree_util.tree_leaves(st.actor.params))]
    assert all(changed)  # the actor step (step 7) updates every parameter, not only Θ_S
