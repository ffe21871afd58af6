"""SAC — soft actor-critic with automatic temperature (Haarnoja et al., 2018); algorithms.md §7.3.

Critic:  y = r + γ m (min_k Q̄_k(s', ã') − α log π(ã'|s')),  ã' ~ π(·|s')   (backup entropy)
         L_Q = Σ_k mean (Q_k(s, a) − y)²
Actor:   L_π = mean (α log π(ã|s) − min_k Q_k(s, ã))
Temp.:   L_α = mean (−log α · (log π(ã|s) + H̄)),  H̄ = −|A|
Tanh-Gaussian actor with log-std rescaled into [−5, 2]; CleanRL learning rates.
"""

from __future__ import annotations

from dataclasses import dataclass

import flax.linen as nn
import flax.struct as struct
import jax
import jax.numpy as jnp

from seamrl.algos.common import AgentConfig, AgentSpec, Batch, apply_grad, make_state, polyak, split
from seamrl.nets import TanhGaussianPolicy, critic_ensemble, tanh_normal_sample

SETTINGS = ("online", "offline-to-online")
POLICY = "tanh-gaussian"


@dataclass(frozen=True)
class Config(AgentConfig):
    """CleanRL SAC defaults (§7.3); ``actor_every=1`` as RLPD (CleanRL: 2 with 2 actor steps)."""

    actor_lr: float = 3e-4
    critic_lr: float = 1e-3
    temperature_lr: float = 1e-3
    hidden_dims: tuple[int, ...] = (256, 256)
    num_critics: int = 2
    critic_layer_norm: bool = False
    tau: float = 0.005
    init_temperature: float = 1.0
    target_entropy: float | None = None  # None → −|A|
    backup_entropy: bool = True
    learning_starts: int = 5000


PRESETS: dict[str, dict] = {}


class Temperature(nn.Module):
    init_value: float = 1.0

    @nn.compact
    def __call__(self) -> jnp.ndarray:
        return jnp.exp(self.param("log_alpha", lambda _: jnp.log(jnp.asarray(self.init_value, jnp.float32))))


@struct.dataclass
class State:
    actor: object
    critic: object
    critic_target: object
    temperature: object
    rng: jax.Array
    step: jnp.ndarray
    target_entropy: float = struct.field(pytree_node=False)
    config: Config = struct.field(pytree_node=False)


def init(key: jax.Array, spec: AgentSpec, config: Config) -> State:
    k_actor, k_critic, k_temp, rng = jax.random.split(key, 4)
    obs, act = jnp.zeros((1, spec.obs_dim)), jnp.zeros((1, spec.action_dim))
    actor_net = TanhGaussianPolicy(spec.action_dim, config.hidden_dims)
    critic_net = critic_ensemble(config.num_critics, config.hidden_dims, config.critic_layer_norm)
    temp_net = Temperature(config.init_temperature)
    actor = make_state(actor_net, actor_net.init(k_actor, obs), config.actor_lr)
    critic = make_state(critic_net, critic_net.init(k_critic, obs, act), config.critic_lr)
    temperature = make_state(temp_net, temp_net.init(k_temp), config.temperature_lr)
    target_entropy = -float(spec.action_dim) if config.target_entropy is None else float(config.target_entropy)
    return State(actor, critic, critic.params, temperature, rng, jnp.zeros((), jnp.int32), target_entropy, config)


def sample_actions(state: State, actor_params, obs: jnp.ndarray, key: jax.Array):
    mean, log_std = state.actor.apply_fn(actor_params, obs)
    return tanh_normal_sample(key, mean, log_std)


def critic_loss(params, state: State, batch: Batch, key: jax.Array):
    alpha = state.temperature.apply_fn(state.temperature.params)
    next_action, next_log_prob = sample_actions(state, state.actor.params, batch["next_observations"], key)
    next_q = state.critic.apply_fn(state.critic_target, batch["next_observations"], next_action).min(axis=0)
    if state.config.backup_entropy:
        next_q = next_q - alpha * next_log_prob
    target = jax.lax.stop_gradient(batch["rewards"] + state.config.discount * batch["masks"] * next_q)
    q = state.critic.apply_fn(params, batch["observations"], batch["actions"])
    loss = ((q - target) ** 2).mean(axis=1).sum()
    return loss, {"critic_loss": loss, "q_mean": q.mean()}


def actor_loss(params, state: State, batch: Batch, key: jax.Array):
    alpha = state.temperature.apply_fn(state.temperature.params)
    action, log_prob = sample_actions(state, params, batch["observations"], key)
    q = state.critic.apply_fn(state.critic.params, batch["observations"], action).min(axis=0)
    loss = (alpha * log_prob - q).mean()
    return loss, {"actor_loss": loss, "entropy": -log_prob.mean()}


def temperature_loss(params, state: State, entropy: jnp.ndarray):
    alpha = state.temperature.apply_fn(params)
    loss = alpha * (entropy - state.target_entropy)
    return loss, {"temperature": alpha, "temperature_loss": loss}


def update(state: State, batch: Batch) -> tuple[State, dict]:
    rng, k_critic, k_actor = split(state.rng, 2)
    critic, critic_info = apply_grad(state.critic, lambda p: critic_loss(p, state, batch, k_critic))
    state = state.replace(critic=critic, critic_target=polyak(state.critic_target, critic.params, state.config.tau))
    actor, actor_info = apply_grad(state.actor, lambda p: actor_loss(p, state, batch, k_actor))
    state = state.replace(actor=actor)
    temperature, temp_info = apply_grad(state.temperature, lambda p: temperature_loss(p, state, actor_info["entropy"]))
    state = state.replace(temperature=temperature, rng=rng, step=state.step + 1)
    return state, {**critic_info, **actor_info, **temp_info}


def act(state: State, obs: jnp.ndarray, key: jax.Array, deterministic: bool) -> jnp.ndarray:
    mean, log_std = state.actor.apply_fn(state.actor.params, obs)
    if deterministic:
        return jnp.tanh(mean)
    return tanh_normal_sample(key, mean, log_std)[0]
