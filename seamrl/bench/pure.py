"""Minimal pure-JAX IQL and TD3+BC updates: the baseline for the trainer's overhead.

The same math as :mod:`seamrl.algos.iql` and :mod:`seamrl.algos.td3bc` (same losses, update
order, Adam, learning-rate schedule, Polyak averaging, random numbers), written with ``jnp``
only: parameters are plain lists of ``(W, b)`` pairs, Adam is written out, nothing is logged,
and ``k`` updates run on ONE fixed device batch under ``lax.scan`` in one jitted call (the
sampled variant gathers a fresh batch from a device array each step, as the trainer does,
without the trainer's two-storage mixing). No trainer, no buffer, no flax modules, no
metrics: the fastest these updates run on the hardware.

Parameters are taken from a seamrl agent state (:func:`iql_params`, :func:`td3bc_params`) so
that a test can check that one pure update gives the same numbers as ``iql.update``.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import jax
import jax.numpy as jnp

LOG_2PI = math.log(2.0 * math.pi)
Layers = list  # [(W, b), ...]; critics: W (K, in, out), b (K, out)


# ---------------------------------------------------------------------- building blocks
def mlp(layers: Layers, x: jnp.ndarray, last_relu: bool = False) -> jnp.ndarray:
    """ReLU between layers (and after the last one if ``last_relu``)."""
    for i, (w, b) in enumerate(layers):
        x = x @ w + b
        if last_relu or i < len(layers) - 1:
            x = jax.nn.relu(x)
    return x


def critics(layers: Layers, obs: jnp.ndarray, act: jnp.ndarray) -> jnp.ndarray:
    """Q ensemble with stacked parameters → ``(K, batch)``."""
    x = jnp.concatenate([obs, act], axis=-1)
    return jax.vmap(lambda ls: mlp(ls, x))(layers)[..., 0]


def adam_init(params: Any) -> tuple:
    zeros = jax.tree_util.tree_map(jnp.zeros_like, params)
    return zeros, zeros, jnp.zeros((), jnp.int32)


def adam(params: Any, grads: Any, opt: tuple, lr, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8):
    """One Adam step (optax.adam's formula: bias-corrected moments, eps outside the sqrt)."""
    mu, nu, t = opt
    mu = jax.tree_util.tree_map(lambda m, g: (1 - b1) * g + b1 * m, mu, grads)
    nu = jax.tree_util.tree_map(lambda v, g: (1 - b2) * g * g + b2 * v, nu, grads)
    t1 = t + 1
    c1, c2 = 1 - b1**t1, 1 - b2**t1
    params = jax.tree_util.tree_map(lambda p, m, v: p - lr * ((m / c1) / (jnp.sqrt(v / c2) + eps)), params, mu, nu)
    return params, (mu, nu, t1)


def cosine_lr(lr: float, decay_steps: int, after: float, t: jnp.ndarray) -> jnp.ndarray:
    """Cosine decay of ``lr`` to 0 over ``decay_steps``, then ``after`` (common.cosine_then_constant)."""
    if decay_steps <= 0:
        return jnp.asarray(lr, jnp.float32)
    cosine = lr * 0.5 * (1 + jnp.cos(jnp.pi * jnp.minimum(t, decay_steps) / decay_steps))
    return jnp.where(t < decay_steps, cosine, after)


def polyak(target: Any, online: Any, tau: float) -> Any:
    return jax.tree_util.tree_map(lambda t, o: tau * o + (1.0 - tau) * t, target, online)


def _dense_layers(tree: dict) -> Layers:
    """flax ``{'Dense_0': {'kernel', 'bias'}, ...}`` → ``[(W, b), ...]`` in layer order."""
    names = sorted(tree, key=lambda n: int(n.split("_")[-1]))
    return [(tree[n]["kernel"], tree[n]["bias"]) for n in names]


def _critic_layers(params: dict) -> Layers:
    (ensemble,) = params["params"].values()
    return _dense_layers(ensemble["MLP_0"])


def _mlp_params(params: dict) -> Layers:
    """A flax module whose only child is an ``MLP`` (StateValue, DeterministicPolicy) → its layers."""
    return _dense_layers(params["params"]["MLP_0"])


def _opt(opt_state: tuple, convert: Callable) -> tuple:
    """seamrl's optax (adam, schedule) state → ``(mu, nu, count)`` of the pure Adam."""
    adam_state = opt_state[0]
    return convert(adam_state.mu), convert(adam_state.nu), adam_state.count


# ---------------------------------------------------------------------- IQL
def _gaussian_actor_params(p: dict) -> dict:
    p = p["params"]
    return {"hidden": _dense_layers(p["MLP_0"]), "mean": (p["Dense_0"]["kernel"], p["Dense_0"]["bias"]), "log_std": p["log_std"]}


def iql_params(state) -> dict:
    """A seamrl IQL state (default nets, no dropout) as the pure update's parameter dict."""
    critic = _critic_layers
    return {
        "actor": _gaussian_actor_params(state.actor.params),
        "value": _mlp_params(state.value.params),
        "critic": critic(state.critic.params),
        "target": critic(state.critic_target),
        "opt_actor": _opt(state.actor.opt_state, _gaussian_actor_params),
        "opt_value": _opt(state.value.opt_state, _mlp_params),
        "opt_critic": _opt(state.critic.opt_state, critic),
    }


def make_iql_update(config, offline_steps: int) -> Callable:
    """``update(params, batch) -> params``: V → actor → Q → Polyak, as iql.update."""
    c = config

    def update(p: dict, batch: dict) -> dict:
        obs, act = batch["observations"], batch["actions"]
        q = critics(p["target"], obs, act).min(axis=0)

        def value_loss(vp):
            diff = q - mlp(vp, obs)[:, 0]
            return (jnp.where(diff > 0, c.expectile, 1.0 - c.expectile) * diff**2).mean()

        value, opt_value = adam(p["value"], jax.grad(value_loss)(p["value"]), p["opt_value"], c.value_lr)
        weights = jnp.minimum(jnp.exp(c.beta * (q - mlp(value, obs)[:, 0])), c.max_weight)

        def actor_loss(ap):
            h = mlp(ap["hidden"], obs, last_relu=True)
            mean = jnp.tanh(h @ ap["mean"][0] + ap["mean"][1])
            log_std = jnp.clip(ap["log_std"], -5.0, 2.0)
            z = (act - mean) * jnp.exp(-log_std)
            log_prob = jnp.sum(-0.5 * z**2 - log_std - 0.5 * LOG_2PI, axis=-1)
            return -(weights * log_prob).mean()

        lr = cosine_lr(c.actor_lr, offline_steps, c.online_actor_lr, p["opt_actor"][2])
        actor, opt_actor = adam(p["actor"], jax.grad(actor_loss)(p["actor"]), p["opt_actor"], lr)
        target = batch["rewards"] + c.discount * batch["masks"] * mlp(value, batch["next_observations"])[:, 0]

        def critic_loss(cp):
            return ((critics(cp, obs, act) - target) ** 2).mean(axis=1).sum()

        critic, opt_critic = adam(p["critic"], jax.grad(critic_loss)(p["critic"]), p["opt_critic"], c.critic_lr)
        return {
            "actor": actor,
            "critic": critic,
            "target": polyak(p["target"], critic, c.tau),
            "value": value,
            "opt_actor": opt_actor,
            "opt_critic": opt_critic,
            "opt_value": opt_value,
        }

    return update


# ---------------------------------------------------------------------- TD3+BC
def td3bc_params(state) -> dict:
    """A seamrl TD3+BC state as the pure update's parameter dict (``rng``: the state's key)."""
    return {
        "actor": _mlp_params(state.actor.params),
        "critic": _critic_layers(state.critic.params),
        "actor_target": _mlp_params(state.actor_target),
        "critic_target": _critic_layers(state.critic_target),
        "opt_actor": _opt(state.actor.opt_state, _mlp_params),
        "opt_critic": _opt(state.critic.opt_state, _critic_layers),
        "rng": state.rng,
    }


def make_td3bc_update(config) -> Callable:
    """``update(params, batch, actor_step: bool) -> params``; the caller alternates ``actor_step``
    (True on even steps, as td3.make_update's ``step % policy_freq == 0`` with policy_freq 2)."""
    c = config

    def update(p: dict, batch: dict, actor_step: bool) -> dict:
        obs, act = batch["observations"], batch["actions"]
        keys = jax.random.split(p["rng"], 2)
        next_action = jnp.tanh(mlp(p["actor_target"], batch["next_observations"]))
        noise = jnp.clip(c.policy_noise * jax.random.normal(keys[1], next_action.shape), -c.noise_clip, c.noise_clip)
        next_action = jnp.clip(next_action + noise, -1.0, 1.0)
        next_q = critics(p["critic_target"], batch["next_observations"], next_action).min(axis=0)
        target = batch["rewards"] + c.discount * batch["masks"] * next_q

        def critic_loss(cp):
            return ((critics(cp, obs, act) - target) ** 2).mean(axis=1).sum()

        critic, opt_critic = adam(p["critic"], jax.grad(critic_loss)(p["critic"]), p["opt_critic"], c.critic_lr)
        p = {**p, "critic": critic, "opt_critic": opt_critic, "rng": keys[0]}
        if not actor_step:
            return p

        def actor_loss(ap):
            action = jnp.tanh(mlp(ap, obs))
            q1 = critics(critic, obs, action)[0]
            lmbda = jax.lax.stop_gradient(c.alpha / jnp.abs(q1).mean())
            return -lmbda * q1.mean() + ((action - act) ** 2).mean()

        actor, opt_actor = adam(p["actor"], jax.grad(actor_loss)(p["actor"]), p["opt_actor"], c.actor_lr)
        return {
            **p,
            "actor": actor,
            "opt_actor": opt_actor,
            "actor_target": polyak(p["actor_target"], actor, c.tau),
            "critic_target": polyak(p["critic_target"], critic, c.tau),
        }

    return update


# ---------------------------------------------------------------------- the timed calls
def scanned(update: Callable, k: int, pairs: bool = False, sample: bool = False, batch_size: int = 256) -> Callable:
    """A jitted ``(params, data, key) -> params`` running ``k`` updates under ``lax.scan``.

    ``data`` is one fixed batch (``sample=False``) or a whole device dataset from which each step
    gathers ``batch_size`` uniform rows with ``fold_in(key, i)``. ``pairs``: TD3+BC's update,
    scanned as (actor step, critic-only step) pairs so no ``lax.cond`` is needed (``k`` even).
    """

    def batch_at(data, key, i):
        if not sample:
            return data
        n = next(iter(data.values())).shape[0]
        idx = jax.random.randint(jax.random.fold_in(key, i), (batch_size,), 0, n)
        return {name: value[idx] for name, value in data.items()}

    steps = k // 2 if pairs else k

    @jax.jit
    def run(params, data, key):
        def body(params, i):
            if pairs:
                params = update(params, batch_at(data, key, 2 * i), True)
                return update(params, batch_at(data, key, 2 * i + 1), False), None
            return update(params, batch_at(data, key, i)), None

        return jax.lax.scan(body, params, jnp.arange(steps))[0]

    return run


def pure_timers(k: int, arrays: dict, batch_size: int = 256, offline_steps: int = 10_000) -> dict[tuple[str, str], Callable]:
    """Warmed-up timers ``{(algo, "fixed" | "sampled"): () -> {"seconds": s, "steps": k}}`` for IQL and
    TD3+BC with the default configs, parameters initialised as seamrl does."""
    import time

    from seamrl.algos import iql, td3bc
    from seamrl.algos.common import AgentSpec

    data = {
        "observations": jnp.asarray(arrays["observations"]),
        "actions": jnp.asarray(arrays["actions"]),
        "rewards": jnp.asarray(arrays["rewards"]),
        "next_observations": jnp.asarray(arrays["next_observations"]),
        "masks": 1.0 - jnp.asarray(arrays["terminals"], jnp.float32),
    }
    fixed = jax.tree_util.tree_map(lambda x: x[:batch_size], data)
    spec = AgentSpec(obs_dim=data["observations"].shape[1], action_dim=data["actions"].shape[1], offline_steps=offline_steps)
    key = jax.random.PRNGKey(0)
    agents = {
        "iql": (iql_params(iql.init(key, spec, iql.Config())), make_iql_update(iql.Config(), offline_steps), False),
        "td3bc": (td3bc_params(td3bc.init(key, spec, td3bc.Config())), make_td3bc_update(td3bc.Config()), True),
    }
    timers = {}
    for name, (params, update, pairs) in agents.items():
        for variant, sample, batch in (("fixed", False, fixed), ("sampled", True, data)):
            run = scanned(update, k, pairs=pairs, sample=sample, batch_size=batch_size)
            holder = {"params": jax.block_until_ready(run(params, batch, key))}  # compile + warm-up

            def timed(run=run, holder=holder, batch=batch, steps=2 * (k // 2) if pairs else k) -> dict:
                start = time.perf_counter()
                holder["params"] = jax.block_until_ready(run(holder["params"], batch, key))
                return {"seconds": time.perf_counter() - start, "steps": steps}

            timers[(name, variant)] = timed
    return timers
