"""Uni-O4's policy ensemble and its offline policy evaluation (algorithms.md §4.3–4.7).

Members are one Gaussian policy network with parameters stacked on a leading axis E and
evaluated with ``jax.vmap`` (as the ensembles of seamrl/nets); every member has its own Adam state
(and gradient clipping), updated by a vmapped ``apply_gradients``.

Ensemble BC (§4.3, Eq. 6), member i, ℓ_j = log π_j(a|s) on dataset actions, M_i = sg(max_{j≠i} ℓ_j):
    heuristic     L_i = mean[−ℓ_i − α (ℓ_i − M_i)]                           (official default)
    distribution  L_i = mean[−ℓ_i − α KL(π_i(·|s) ‖ sg π_{j*}(·|s))],  j* = argmax_{j≠i} ℓ_j
    sign          L_i = mean[−ℓ_i − α ℓ_i]  where ℓ_i > M_i,  mean[−ℓ_i + α ℓ_i] elsewhere
Members update simultaneously (Jacobi) on one shared batch: each sees the others' parameters from
before the step, where the official code updates them one after another in a random order.
Only member i's own terms depend on its parameters, so one gradient of Σ_i L_i is every member's.

AM-Q gate (§4.5–4.6): the scores of all members use the same start states and model noise.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from seamrl import ope
from seamrl.algos.common import make_state
from seamrl.nets import dynamics, normal_log_prob

BC_MODES = ("heuristic", "distribution", "sign")
TERMINATION_IDS = {name: i for i, name in enumerate(dynamics.TERMINATIONS)}


def members_init(key: jax.Array, net, obs_dim: int, num: int, lr, grad_clip: float | None = None):
    """E independently initialised members, each with its own optimiser state."""
    params = jax.vmap(lambda k: net.init(k, jnp.zeros((1, obs_dim))))(jax.random.split(key, num))
    return members_from(net, params, lr, grad_clip)


def members_from(net, params: dict, lr, grad_clip: float | None = None):
    return jax.vmap(lambda p: make_state(net, p, lr, grad_clip))(params)


def members_apply(apply_fn, params: dict, obs: jnp.ndarray):
    """``(mean, log_std)`` of every member, shape ``(E, B, A)``."""
    return jax.vmap(apply_fn, in_axes=(0, None))(params, obs)


def step_members(members, grads):
    return jax.vmap(lambda m, g: m.apply_gradients(grads=g))(members, grads)


def member(params: dict, index) -> dict:
    return jax.tree_util.tree_map(lambda x: x[index], params)


def gaussian_kl(mean_p, log_std_p, mean_q, log_std_q) -> jnp.ndarray:
    """KL(N_p ‖ N_q) of diagonal Gaussians, summed over the last axis."""
    var_p, var_q = jnp.exp(2 * log_std_p), jnp.exp(2 * log_std_q)
    return jnp.sum(log_std_q - log_std_p + (var_p + (mean_p - mean_q) ** 2) / (2 * var_q) - 0.5, axis=-1)


def disagreement_losses(mean: jnp.ndarray, log_std: jnp.ndarray, actions: jnp.ndarray, alpha: float, mode: str):
    """Per-member ensemble-BC losses ``(E,)`` (Eq. 6, the three modes above) and diagnostics."""
    logp = normal_log_prob(actions[None], mean, log_std)  # (E, B)
    num = logp.shape[0]
    if num == 1 or alpha == 0.0:
        return -logp.mean(1), {"bc_loss": -logp.mean(), "disagreement": jnp.float32(0.0)}
    others = jnp.where(jnp.eye(num, dtype=bool)[:, :, None], -jnp.inf, jax.lax.stop_gradient(logp)[None])  # (i, j, B)
    best = others.max(axis=1)  # M_i
    if mode == "heuristic":
        per = -logp - alpha * (logp - best)
    elif mode == "sign":
        per = jnp.where(logp > best, -(1.0 + alpha) * logp, -(1.0 - alpha) * logp)
    elif mode == "distribution":
        j = others.argmax(axis=1)  # (E, B)
        rows = jnp.arange(logp.shape[1])[None, :]
        ref_mean, ref_log_std = (jax.lax.stop_gradient(x[j, rows]) for x in (mean, log_std))
        per = -logp - alpha * gaussian_kl(mean, log_std, ref_mean, ref_log_std)
    else:
        raise ValueError(f"bc_mode '{mode}' is unknown; expected one of {', '.join(BC_MODES)}")
    return per.mean(1), {"bc_loss": -logp.mean(), "disagreement": (logp - best).mean()}


# ------------------------------------------------------------------ AM-Q over members


def model_step(model: dynamics.DynamicsModel, termination: jnp.ndarray, obs, act, key):
    """The dynamics ensemble's step with the task's termination rule chosen by index (a pytree leaf,
    so a resumed run keeps it)."""
    nxt, reward, diverged = dynamics.step(model, obs, act, key)
    rule = jax.lax.switch(termination, list(dynamics.TERMINATIONS.values()), obs, act, nxt)
    return nxt, reward, diverged | rule


def amq_scores(apply_fn, params: dict, q_fn, model, termination, start_raw: jnp.ndarray, obs_mean, obs_std, obs_clip,
               horizon: int, key: jax.Array) -> jnp.ndarray:
    """AM-Q of every member's deterministic policy ``(E,)``; the model works on raw states."""

    def observe(s):
        z = (s - obs_mean) / obs_std
        return jnp.where(obs_clip > 0, jnp.clip(z, -obs_clip, obs_clip), z)

    step = partial(model_step, model, termination)
    one = lambda p: ope.am_q(lambda o: apply_fn(p, o)[0], q_fn, step, start_raw, horizon, key, observe)[0]  # noqa: E731
    return jax.vmap(one)(params)


def fit_model(template: dynamics.DynamicsModel, dataset, transforms, config, key: jax.Array) -> dynamics.DynamicsModel:
    """Fit the §4.4 ensemble on raw states and agent-space actions (``fit_dynamics``: hold-out early stopping, elites)."""
    cfg = dynamics.DynamicsConfig(num_members=template.net.num_members, num_elites=template.elites.shape[0],
                                  hidden_dims=tuple(template.net.hidden_dims), lr=config.dynamics_lr,
                                  max_epochs=config.dynamics_max_epochs)
    actions = np.clip(transforms.action_from_env(dataset.actions), -1.0, 1.0)
    model, _ = dynamics.fit_dynamics(key, dataset.observations, actions, transforms.reward(dataset.rewards),
                                     dataset.next_observations, cfg)
    return model
