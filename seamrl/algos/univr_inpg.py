"""UNIVR's In-sample Policy Gradient (algorithms.md §3.4): the weight network w_φ, the estimators E1
(weight net + one JVP, §3.4.1), E2 (per-state projection, §3.4.2) and E3 (Gaussian parameter space,
§3.4.3), and the policy step that turns their weights into a weighted-BC update, for either policy
class of :mod:`seamrl.algos.univr_policies`. ``config`` is a :class:`seamrl.algos.univr.Config`.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from flax.traverse_util import flatten_dict, unflatten_dict

from seamrl.algos.common import apply_grad
from seamrl.algos.ivr import DIVERGENCES
from seamrl.algos.univr_policies import policy_class
from seamrl.nets.mlp import MLP

NORMALISE_EPS = 1e-6  # §3.4.1 step 6
PROJECTION_EPS = 1e-8  # ε of E2's t_i = ⟨p_i, g_i⟩_+/(‖g_i‖² + ε) (§3.4.2)


def f_divergence(divergence: str, x: jnp.ndarray) -> jnp.ndarray:
    """The generator f of D_f: χ² (x − 1)², KL x log x (0 at x = 0)."""
    if DIVERGENCES[divergence.lower()] == "chi2":
        return (x - 1.0) ** 2
    return jnp.where(x > 0, x * jnp.log(jnp.maximum(x, 1e-30)), 0.0)


class WeightNet(nn.Module):
    """w_φ(s, a) → scalar pre-activation; last layer small weights and bias b0 so that u ≈ 1 at init."""

    hidden_dims: tuple[int, ...]
    bias_init: float = 1.0

    @nn.compact
    def __call__(self, obs: jnp.ndarray, action: jnp.ndarray) -> jnp.ndarray:
        h = MLP(self.hidden_dims)(jnp.concatenate([obs, action], axis=-1))
        out = nn.Dense(1, kernel_init=nn.initializers.orthogonal(1e-2), bias_init=nn.initializers.constant(self.bias_init))
        return out(h).squeeze(-1)


def weight_activation(name: str, x: jnp.ndarray) -> jnp.ndarray:
    return jax.nn.relu(x) if name == "relu" else jax.nn.softplus(x)


def jvp_alignments(ll_fn, params, direction) -> jnp.ndarray:
    """c_i = ⟨∇_θ ℓ_i(θ), r⟩ for all i with one forward-mode pass of θ ↦ (ℓ_1..ℓ_B) along r."""
    return jax.jvp(ll_fn, (params,), (direction,))[1]


def normalise_weights(u: jnp.ndarray, config) -> jnp.ndarray:
    """ŵ = clip((u − min u)/(max u − min u + 1e-6), w_min, w_max), detached (§3.4.1 step 6)."""
    u = jax.lax.stop_gradient(u)
    lo, hi = u.min(), u.max()
    w = jnp.clip((u - lo) / (hi - lo + NORMALISE_EPS), config.w_min, config.w_max)
    if config.uniform_weight_guard:
        w = jnp.where(hi - lo < 1e-3 * u.mean(), jnp.full_like(w, config.w_min), w)
    return w


def subset_mask(params, config):
    """A tree of booleans over the actor's parameters: True on Θ_S (``config.inpg_params``)."""
    subset = config.inpg_params or "all"
    pc = policy_class(config)
    flat = flatten_dict(params)
    return unflatten_dict({k: subset == "all" or pc.in_subset(k, config, subset) for k in flat})


def _split_subset(params, config):
    """(θ_S, closure θ_S ↦ full θ with the other parameters fixed)."""
    flat = flatten_dict(params)
    mask = flatten_dict(subset_mask(params, config))
    sub = {k: v for k, v in flat.items() if mask[k]}
    return sub, lambda s: unflatten_dict({**flat, **s})


def e2_weights(actor, obs: jnp.ndarray, ref: jnp.ndarray, draw, q_fn, key: jax.Array, config):
    """E2 (§3.4.2): per-state projection t_i = ⟨p_i, g_i⟩_+ / (‖g_i‖² + ε) over Θ_S.

    p_i = ∇_θ Q̂(s_i, h_θ(s_i, ξ_i)) and g_i = ∇_θ ℓ_i, per sample (``vmap(grad)``, restricted to
    Θ_S = ``inpg_params``, default the last two layers, to bound memory). Returns, detached: t (B,),
    p̄ = mean_i p_i (≈ G_PG on Θ_S), ⟨p_i, g_i⟩ (B,), Q̂(s_i, ã_i) (B,) and ã (B, A).
    """
    pc = policy_class(config)
    sub, full = _split_subset(actor.params, config)

    def pg_one(s_params, s, k):
        a = pc.rsample(actor.apply_fn, full(s_params), s[None], k, config)
        return q_fn(s[None], a)[0], a[0]

    def ll_one(s_params, s, a, d):
        one = jax.tree_util.tree_map(lambda x: x[None], d)
        return pc.log_lik(actor.apply_fn, full(s_params), s[None], a[None], one, config)[0]

    keys = jax.random.split(key, obs.shape[0])
    (q, a), p = jax.vmap(jax.value_and_grad(pg_one, has_aux=True), (None, 0, 0))(sub, obs, keys)  # leading axis B
    g = jax.vmap(jax.grad(ll_one), (None, 0, 0, 0))(sub, obs, ref, draw)
    dot, g_sq = _per_sample_dot(p, g), _per_sample_dot(g, g)
    t = jnp.maximum(dot, 0.0) / (g_sq + PROJECTION_EPS)
    mean_p = jax.tree_util.tree_map(lambda x: x.mean(axis=0), p)
    return jax.lax.stop_gradient((t, mean_p, dot, q, a))


def _per_sample_dot(a, b) -> jnp.ndarray:
    """⟨a_i, b_i⟩ (B,) for two trees of per-sample gradients with a leading axis B."""
    leaves = zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b))
    return sum(jnp.sum((x * y).reshape(x.shape[0], -1), axis=1) for x, y in leaves)


def e3_weights(actor, obs: jnp.ndarray, ref: jnp.ndarray, q_fn, xi: jnp.ndarray, target: str = "projection"):
    """E3 (§3.4.3, diagnostic): matching in the space of the policy outputs (m(s), log σ(s)).

    p = (∇_a Q̂(s, ã), ∇_a Q̂(s, ã) ⊙ σ ⊙ ξ),  g = ((a − m)/σ², ((a − m)/σ)² − 1),  t = ⟨p, g⟩_+ / ‖g‖²
    (``target="projection"``, the per-state least squares of §3.4.3), or t = ⟨p, g⟩_+ (``"alignment"``,
    [I]: E1's per-sample signal c_i at u = 0, in output space; it does not grow as a → m, where ‖g‖ → 0),
    or t = ⟨p, g⟩_+ / (‖p‖ ‖g‖) (``"cosine"``, [I]: bounded in [0, 1], free of the per-state scale of ∇_a Q̂).
    Ignores the network Jacobian. Returns t (B,) and, for the metrics, the alignments ⟨p, g⟩ (B,),
    p (B, 2A), Q̂(s, ã) (B,) and ã (B, A), all detached.
    """
    mean, log_std = actor.apply_fn(actor.params, obs)
    std = jnp.exp(log_std)
    a = jnp.clip(mean + std * xi, -1.0, 1.0)
    q, q_vjp = jax.vjp(lambda x: q_fn(obs, x), a)
    dq = q_vjp(jnp.ones_like(q))[0]
    p = jnp.concatenate([dq, dq * std * xi], axis=-1)
    z = (ref - mean) / std
    g = jnp.concatenate([z / std, z**2 - 1.0], axis=-1)
    c = jnp.sum(p * g, axis=-1)
    norm = {"projection": jnp.sum(g**2, axis=-1) + 1e-8, "alignment": 1.0,
            "cosine": jnp.sqrt(jnp.sum(g**2, axis=-1) * jnp.sum(p**2, axis=-1)) + 1e-8}[target]
    t = jnp.maximum(c, 0.0) / norm
    return jax.lax.stop_gradient((t, (c, p, q, a)))


def policy_step(actor, weight, obs: jnp.ndarray, ref: jnp.ndarray, q_fn, key: jax.Array, config):
    """InPG (§3.4.1 steps 1–7, or E2 / E3 for steps 1–5): one weight-net step, then one weighted-BC
    actor step, for either policy class.

    ``q_fn(obs, actions) -> (B,)`` is the Q̂ of G_PG (the update passes min of the current critics);
    ``ref`` (B, A) are the reference actions a^μ. Returns ``(actor, weight, metrics)``.
    """
    pc = policy_class(config)
    theta = actor.params
    batch_size = obs.shape[0]
    draw = pc.draw(jax.random.fold_in(key, 1), batch_size, ref.shape[-1], config)  # one (t, ε) draw: steps 2, 4, 7

    def ll_fn(params):
        return pc.log_lik(actor.apply_fn, params, obs, ref, draw, config)  # (B,)

    def pg_objective(params):
        a = pc.rsample(actor.apply_fn, params, obs, key, config)
        q = q_fn(obs, a)
        return q.mean(), (q, a)

    def u_fn(phi):
        return weight_activation(config.weight_activation, weight.apply_fn(phi, obs, ref))

    ll, ll_vjp = jax.vjp(ll_fn, theta)  # ℓ(θ) and its pull-back, shared by G_BC and the actor step
    if config.estimator == "E3":  # steps 1–5 in output space: no θ-gradient but the actor step's
        u, (c, p, q_pi, a_pi) = e3_weights(actor, obs, ref, q_fn, jax.random.normal(key, ref.shape), config.e3_target)
        g_pg, r, w_info = p, None, {"weight_loss": jnp.zeros(())}
    elif config.estimator == "E2":  # steps 1–5 replaced by the per-state projection (§3.4.2)
        t, g_pg, c, q_pi, a_pi = e2_weights(actor, obs, ref, draw, q_fn, key, config)
        u = u_fn(weight.params)
        g_bc = ll_vjp(jax.lax.stop_gradient(u) / batch_size)[0]
        r = jax.tree_util.tree_map(jnp.subtract, g_pg, _split_subset(g_bc, config)[0])
        target = t / (jnp.mean(t) + PROJECTION_EPS)  # [I] scale-free target: only the spacing matters (§3.10.3)

        def w_loss(phi):
            loss = jnp.mean((u_fn(phi) - target) ** 2)
            return loss, {"weight_loss": loss}
    else:
        g_pg, (q_pi, a_pi) = jax.grad(pg_objective, has_aux=True)(theta)  # step 1
        u = u_fn(weight.params)
        g_bc = ll_vjp(jax.lax.stop_gradient(u) / batch_size)[0]  # step 2: ∇ mean sg(u) ℓ
        r = jax.tree_util.tree_map(jnp.subtract, g_pg, g_bc)  # step 3
        if config.inpg_params not in (None, "all"):  # r restricted to Θ_S (zero elsewhere)
            r = jax.tree_util.tree_map(lambda m, x: x if m else jnp.zeros_like(x), subset_mask(theta, config), r)
        r = jax.lax.stop_gradient(r)
        c = jax.lax.stop_gradient(jvp_alignments(ll_fn, theta, r))  # step 4

        def w_loss(phi):  # step 5
            u_ = u_fn(phi)
            loss = -(2.0 / batch_size) * jnp.sum(c * u_) + config.ridge * jnp.mean(u_**2)
            return loss, {"weight_loss": loss}

    if config.estimator == "E3":
        u_new = u  # weight net unused
    elif config.estimator == "E2" and not config.e2_regress:
        u_new, w_info = t, {"weight_loss": jnp.zeros(())}  # weight net unused
    else:
        weight, w_info = apply_grad(weight, w_loss)
        u_new = u_fn(weight.params)
    w_hat = normalise_weights(u_new, config)  # step 6

    # step 7: L_π = −mean ŵ ℓ(θ); its gradient is the pull-back of −ŵ/B (same θ and draw as G_BC)
    actor = actor.apply_gradients(grads=ll_vjp(-w_hat / batch_size)[0])
    bc_metric = {"log_prob_mean": ll.mean()} if config.policy == "gaussian" else {"denoise_loss": -ll.mean()}
    # §3.10.4 (Thm 1): π_InPG/μ = ŵ/Z, Z = E_μ[ŵ]; plug-in D_f = mean f(ŵ/Z), and since ŵ/Z lies in
    # [w_min/Z, w_max/Z] and f is convex, D_f ≤ max(f(w_min/Z), f(w_max/Z)) (the clip's trust region).
    z = w_hat.mean()
    f = lambda x: f_divergence(config.divergence, x)  # noqa: E731
    metrics = {
        **w_info,
        "actor_loss": -(w_hat * ll).mean(),
        **bc_metric,
        "q_pi_mean": q_pi.mean(),
        # where π's samples ã are: at the action bound (clipped), and how far from a^μ (the data offline, π̄ online)
        "pi_at_bound_frac": jnp.mean(jnp.abs(a_pi) >= 1.0 - 1e-6),
        "pi_ref_gap": jnp.abs(jax.lax.stop_gradient(a_pi) - ref).mean(),
        "weight_mean": z,
        "weight_std": w_hat.std(),
        "weight_min": w_hat.min(),
        "weight_max": w_hat.max(),
        "u_mean": u_new.mean(),
        "u_dead_frac": jnp.mean(u_new <= 0.0),
        "alignment_pos_frac": jnp.mean(c > 0),  # E3: of ⟨p, g⟩, the alignment in output space
        "df_estimate": jnp.mean(f(w_hat / z)),
        "df_upper": jnp.maximum(f(config.w_min / z), f(config.w_max / z)),  # f convex: max at an endpoint
        "pg_grad_norm": optax.tree.norm(g_pg),  # E3: of p, the gradient in output space
        **({} if r is None else {"residual_norm": optax.tree.norm(r)}),
    }
    return actor, weight, metrics
