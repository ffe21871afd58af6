"""IQL — implicit Q-learning (Kostrikov et al., 2022); algorithms.md §7.6.

Value:   L_V = mean |τ − 1(u < 0)| u²,        u = min_k Q̄_k(s, a) − V(s)
Critic:  L_Q = Σ_k mean (Q_k(s, a) − r − γ m V(s'))²      (freshly updated V)
Actor:   L_π = −mean min(exp(β (min_k Q̄_k(s, a) − V(s))), 100) log π(a|s)
Update order (official code): V → actor → Q → Polyak on Q̄ (τ = 0.005).
Offline-to-online continues the same update on a buffer pre-filled with the dataset,
acting stochastically online.
"""

from __future__ import annotations

from dataclasses import dataclass

import flax.struct as struct
import jax
import jax.numpy as jnp

from seamrl.algos.common import (
    AgentConfig,
    AgentSpec,
    Batch,
    apply_grad,
    cosine_then_constant,
    expectile_loss,
    make_state,
    polyak,
    split,
)
from seamrl.nets import GaussianPolicy, StateValue, critic_ensemble, gaussian_sample, normal_log_prob

SETTINGS = ("offline", "offline-to-online", "online")
POLICY = "gaussian"


@dataclass(frozen=True)
class Config(AgentConfig):
    """IQL-JAX / CORL MuJoCo defaults (§7.6); per-domain values in ``PRESETS``."""

    actor_lr: float = 3e-4
    critic_lr: float = 3e-4
    value_lr: float = 3e-4
    online_actor_lr: float = 3e-4  # constant actor lr after the cosine decay of the offline phase (§1.7.6)
    hidden_dims: tuple[int, ...] = (256, 256)
    tau: float = 0.005
    expectile: float = 0.7
    beta: float = 3.0  # inverse temperature of the advantage weights
    max_weight: float = 100.0
    actor_dropout: float = 0.0
    reward_transform: str = "range"
    dataset_action_clip: float = 1e-5


PRESETS: dict[str, dict] = {
    "antmaze": {"expectile": 0.9, "beta": 10.0, "reward_transform": "none", "reward_shift": -1.0},
    "kitchen": {"expectile": 0.7, "beta": 0.5, "actor_dropout": 0.1, "reward_transform": "none"},
    "adroit": {"expectile": 0.7, "beta": 0.5, "actor_dropout": 0.1, "reward_transform": "none"},
    "maze": {"reward_transform": "none"},
}


@struct.dataclass
class State:
    actor: object
    critic: object
    critic_target: object
    value: object
    rng: jax.Array
    step: jnp.ndarray
    config: Config = struct.field(pytree_node=False)


def init(key: jax.Array, spec: AgentSpec, config: Config) -> State:
    k_actor, k_critic, k_value, rng = jax.random.split(key, 4)
    obs, act = jnp.zeros((1, spec.obs_dim)), jnp.zeros((1, spec.action_dim))
    actor_net = GaussianPolicy(spec.action_dim, config.hidden_dims, dropout=config.actor_dropout)
    critic_net = critic_ensemble(2, config.hidden_dims)
    value_net = StateValue(config.hidden_dims)
    actor_lr = cosine_then_constant(config.actor_lr, spec.offline_steps, config.online_actor_lr)
    actor = make_state(actor_net, actor_net.init(k_actor, obs), actor_lr)
    critic = make_state(critic_net, critic_net.init(k_critic, obs, act), config.critic_lr)
    value = make_state(value_net, value_net.init(k_value, obs), config.value_lr)
    return State(actor, critic, critic.params, value, rng, jnp.zeros((), jnp.int32), config)


def value_loss(params, state: State, batch: Batch):
    q = state.critic.apply_fn(state.critic_target, batch["observations"], batch["actions"]).min(axis=0)
    v = state.value.apply_fn(params, batch["observations"])
    loss = expectile_loss(q - v, state.config.expectile).mean()
    return loss, {"value_loss": loss, "v_mean": v.mean()}


def advantage_weights(state: State, batch: Batch) -> jnp.ndarray:
    """min(exp(β (min Q̄(s, a) − V(s))), 100) with the freshly updated V."""
    q = state.critic.apply_fn(state.critic_target, batch["observations"], batch["actions"]).min(axis=0)
    v = state.value.apply_fn(state.value.params, batch["observations"])
    return jnp.minimum(jnp.exp(state.config.beta * (q - v)), state.config.max_weight)


def actor_loss(params, state: State, batch: Batch, weights: jnp.ndarray, key: jax.Array):
    mean, log_std = state.actor.apply_fn(params, batch["observations"], train=True, rngs={"dropout": key})
    log_prob = normal_log_prob(batch["actions"], mean, log_std)
    loss = -(weights * log_prob).mean()
    return loss, {"actor_loss": loss, "adv_weight_mean": weights.mean()}


def critic_loss(params, state: State, batch: Batch):
    next_v = state.value.apply_fn(state.value.params, batch["next_observations"])
    target = batch["rewards"] + state.config.discount * batch["masks"] * next_v
    q = state.critic.apply_fn(params, batch["observations"], batch["actions"])
    loss = ((q - target) ** 2).mean(axis=1).sum()
    return loss, {"critic_loss": loss, "q_mean": q.mean()}


def update(state: State, batch: Batch) -> tuple[State, dict]:
    rng, key = split(state.rng, 1)
    value, value_info = apply_grad(state.value, lambda p: value_loss(p, state, batch))
    state = state.replace(value=value)
    weights = advantage_weights(state, batch)
    actor, actor_info = apply_grad(state.actor, lambda p: actor_loss(p, state, batch, weights, key))
    critic, critic_info = apply_grad(state.critic, lambda p: critic_loss(p, state, batch))
    state = state.replace(
        actor=actor,
        critic=critic,
        critic_target=polyak(state.critic_target, critic.params, state.config.tau),
        rng=rng,
        step=state.step + 1,
    )
    return state, {**value_info, **actor_info, **critic_info}


def act(state: State, obs: jnp.ndarray, key: jax.Array, deterministic: bool) -> jnp.ndarray:
    mean, log_std = state.actor.apply_fn(state.actor.params, obs)
    if deterministic:
        return mean
    return jnp.clip(gaussian_sample(key, mean, log_std), -1.0, 1.0)
