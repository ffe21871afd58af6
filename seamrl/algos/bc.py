"""BC and x%BC (CORL ``any_percent_bc``); algorithms.md §7.1.

    L_π = mean ‖π(s) − a‖²,   π = tanh(MLP(s)),  2×256 ReLU, Adam 3e-4, observation normalisation on.

x%BC keeps the top ⌈x·#episodes⌉ episodes by undiscounted return (at least one) before
training: ``--set dataset_fraction=0.1`` gives 10%BC.
"""

from __future__ import annotations

from dataclasses import dataclass

import flax.struct as struct
import jax
import jax.numpy as jnp

from seamrl.algos.common import AgentConfig, AgentSpec, Batch, apply_grad, make_state
from seamrl.nets import DeterministicPolicy

SETTINGS = ("offline",)
POLICY = "deterministic"


@dataclass(frozen=True)
class Config(AgentConfig):
    actor_lr: float = 3e-4
    hidden_dims: tuple[int, ...] = (256, 256)
    dataset_fraction: float = 1.0  # 0.1 → 10%BC
    normalize_observations: bool = True


PRESETS: dict[str, dict] = {}


@struct.dataclass
class State:
    actor: object
    step: jnp.ndarray
    config: Config = struct.field(pytree_node=False)


def init(key: jax.Array, spec: AgentSpec, config: Config) -> State:
    net = DeterministicPolicy(spec.action_dim, config.hidden_dims)
    actor = make_state(net, net.init(key, jnp.zeros((1, spec.obs_dim))), config.actor_lr)
    return State(actor, jnp.zeros((), jnp.int32), config)


def prepare_dataset(dataset, config: Config):
    """x%BC: keep the best episodes by return (CORL: undiscounted, at least one)."""
    return dataset if config.dataset_fraction >= 1.0 else dataset.top_episodes(fraction=config.dataset_fraction)


def actor_loss(params, state: State, batch: Batch):
    loss = ((state.actor.apply_fn(params, batch["observations"]) - batch["actions"]) ** 2).mean()
    return loss, {"actor_loss": loss}


def update(state: State, batch: Batch) -> tuple[State, dict]:
    actor, info = apply_grad(state.actor, lambda p: actor_loss(p, state, batch))
    return state.replace(actor=actor, step=state.step + 1), info


def act(state: State, obs: jnp.ndarray, key: jax.Array, deterministic: bool) -> jnp.ndarray:
    return state.actor.apply_fn(state.actor.params, obs)
