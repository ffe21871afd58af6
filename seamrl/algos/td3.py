"""TD3 — twin delayed DDPG (Fujimoto et al., 2018); algorithms.md §7.2.

Critic:  y = r + γ m min_k Q̄_k(s', clip(π̄(s') + clip(ε, −c, c), −1, 1)),  ε ~ N(0, σ²)
         L_Q = Σ_k mean (Q_k(s, a) − y)²
Actor (every ``policy_freq`` critic steps): L_π = −mean Q_1(s, π(s)); then Polyak on both targets.

TD3+BC (:mod:`seamrl.algos.td3bc`) reuses everything here and swaps the actor loss.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import flax.struct as struct
import jax
import jax.numpy as jnp

from seamrl.algos.common import AgentConfig, AgentSpec, Batch, apply_grad, make_state, polyak, split
from seamrl.nets import DeterministicPolicy, critic_ensemble

SETTINGS = ("online", "offline-to-online")
POLICY = "deterministic"


@dataclass(frozen=True)
class Config(AgentConfig):
    """CleanRL TD3 defaults (§7.2)."""

    actor_lr: float = 3e-4
    critic_lr: float = 3e-4
    hidden_dims: tuple[int, ...] = (256, 256)
    critic_layer_norm: bool = False  # SSAR's TD3+BC(SA) turns it on (§5.7)
    tau: float = 0.005
    policy_noise: float = 0.2  # target smoothing noise σ
    noise_clip: float = 0.5
    policy_freq: int = 2  # actor + target update every 2 critic steps
    exploration_noise: float = 0.1
    learning_starts: int = 25_000


PRESETS: dict[str, dict] = {}


@struct.dataclass
class State:
    actor: object
    critic: object
    actor_target: object
    critic_target: object
    rng: jax.Array
    step: jnp.ndarray
    config: Config = struct.field(pytree_node=False)


def init(key: jax.Array, spec: AgentSpec, config: Config) -> State:
    k_actor, k_critic, rng = jax.random.split(key, 3)
    obs, act = jnp.zeros((1, spec.obs_dim)), jnp.zeros((1, spec.action_dim))
    actor_net = DeterministicPolicy(spec.action_dim, config.hidden_dims)
    critic_net = critic_ensemble(2, config.hidden_dims, config.critic_layer_norm)
    actor = make_state(actor_net, actor_net.init(k_actor, obs), config.actor_lr)
    critic = make_state(critic_net, critic_net.init(k_critic, obs, act), config.critic_lr)
    return State(actor, critic, actor.params, critic.params, rng, jnp.zeros((), jnp.int32), config)


def td3_target(state: State, batch: Batch, key: jax.Array) -> jnp.ndarray:
    """Clipped double-Q target with target-policy smoothing."""
    cfg = state.config
    next_action = state.actor.apply_fn(state.actor_target, batch["next_observations"])
    noise = jnp.clip(cfg.policy_noise * jax.random.normal(key, next_action.shape), -cfg.noise_clip, cfg.noise_clip)
    next_action = jnp.clip(next_action + noise, -1.0, 1.0)
    next_q = state.critic.apply_fn(state.critic_target, batch["next_observations"], next_action).min(axis=0)
    return batch["rewards"] + cfg.discount * batch["masks"] * next_q


def critic_loss(params, state: State, batch: Batch, target: jnp.ndarray):
    q = state.critic.apply_fn(params, batch["observations"], batch["actions"])
    loss = ((q - target) ** 2).mean(axis=1).sum()
    return loss, {"critic_loss": loss, "q_mean": q.mean()}


def td3_actor_loss(params, state: State, batch: Batch):
    action = state.actor.apply_fn(params, batch["observations"])
    q1 = state.critic.apply_fn(state.critic.params, batch["observations"], action)[0]
    loss = -q1.mean()
    return loss, {"actor_loss": loss}


ActorLoss = Callable[..., tuple[jnp.ndarray, dict]]


def make_update(actor_loss: ActorLoss) -> Callable[[State, Batch], tuple[State, dict]]:
    """The TD3 update with a pluggable actor loss (TD3, TD3+BC, SSAR's TD3+BC(SA))."""

    def update(state: State, batch: Batch) -> tuple[State, dict]:
        rng, key = split(state.rng, 1)
        target = td3_target(state, batch, key)
        critic, metrics = apply_grad(state.critic, lambda p: critic_loss(p, state, batch, target))
        state = state.replace(critic=critic, rng=rng)

        def actor_step(s: State):
            actor, info = apply_grad(s.actor, lambda p: actor_loss(p, s, batch))
            s = s.replace(
                actor=actor,
                actor_target=polyak(s.actor_target, actor.params, s.config.tau),
                critic_target=polyak(s.critic_target, s.critic.params, s.config.tau),
            )
            return s, info

        def skip(s: State):
            # NaN marks 'no actor step here'; the trainer averages metrics with nanmean.
            shapes = jax.eval_shape(lambda: actor_loss(s.actor.params, s, batch)[1])
            return s, jax.tree_util.tree_map(lambda x: jnp.full(x.shape, jnp.nan, x.dtype), shapes)

        state, actor_info = jax.lax.cond(state.step % state.config.policy_freq == 0, actor_step, skip, state)
        return state.replace(step=state.step + 1), {**metrics, **actor_info}

    return update


update = make_update(td3_actor_loss)


def act(state: State, obs: jnp.ndarray, key: jax.Array, deterministic: bool) -> jnp.ndarray:
    action = state.actor.apply_fn(state.actor.params, obs)
    if deterministic:
        return action
    noise = state.config.exploration_noise * jax.random.normal(key, action.shape)
    return jnp.clip(action + noise, -1.0, 1.0)
