"""Gaussian behaviour cloning by maximum likelihood: an algorithm written outside seamrl.

    L_π = −mean_i log N(a_i; μ(s_i), diag σ²(s_i)),   μ = tanh(·) and log σ ∈ [−5, 2] from one MLP

A file like this one is an algorithm as much as the built-in ones: the trainer runs it in every
setting listed in ``SETTINGS``, with checkpoints, resume, evaluation, export and tables:

    seamrl train examples/gaussian_bc.py --task hopper-medium-v0 --offline-steps 100000
    seamrl algos examples/gaussian_bc.py           # its options, from Config's field comments

The agent protocol (docs/design.md): ``Config`` subclassing ``AgentConfig``, ``SETTINGS``,
``init(key, spec, config) -> state``, a pure ``update(state, batch) -> (state, metrics)`` and
``act(state, obs, key, deterministic) -> actions`` in [−1, 1].
"""

from __future__ import annotations

from dataclasses import dataclass

import flax.struct as struct
import jax
import jax.numpy as jnp

from seamrl.algos.common import AgentConfig, AgentSpec, Batch, apply_grad, make_state
from seamrl.nets import GaussianPolicy, normal_log_prob

SETTINGS = ("offline",)
POLICY = "gaussian"


@dataclass(frozen=True)
class Config(AgentConfig):
    actor_lr: float = 3e-4  # Adam step size
    hidden_dims: tuple[int, ...] = (256, 256)  # MLP widths
    normalize_observations: bool = True  # (s − mean)/(std + 1e-3) from the dataset


@struct.dataclass
class State:
    actor: object
    step: jnp.ndarray
    config: Config = struct.field(pytree_node=False)


def init(key: jax.Array, spec: AgentSpec, config: Config) -> State:
    net = GaussianPolicy(spec.action_dim, config.hidden_dims, state_dependent_std=True)
    actor = make_state(net, net.init(key, jnp.zeros((1, spec.obs_dim))), config.actor_lr)
    return State(actor, jnp.zeros((), jnp.int32), config)


def nll_loss(params, state: State, batch: Batch):
    """−mean log π(a|s) of the dataset's actions."""
    mean, log_std = state.actor.apply_fn(params, batch["observations"])
    loss = -normal_log_prob(batch["actions"], mean, log_std).mean()
    return loss, {"nll": loss, "std_mean": jnp.exp(log_std).mean()}


def update(state: State, batch: Batch) -> tuple[State, dict]:
    actor, info = apply_grad(state.actor, lambda p: nll_loss(p, state, batch))
    return state.replace(actor=actor, step=state.step + 1), info


def act(state: State, obs: jnp.ndarray, key: jax.Array, deterministic: bool) -> jnp.ndarray:
    mean, log_std = state.actor.apply_fn(state.actor.params, obs)
    if deterministic:
        return mean
    return jnp.clip(mean + jnp.exp(log_std) * jax.random.normal(key, mean.shape), -1.0, 1.0)
