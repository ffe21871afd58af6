"""TD3+BC (Fujimoto & Gu, 2021); algorithms.md §7.5.

Critic exactly as TD3 (:mod:`seamrl.algos.td3`). Actor every 2 critic steps:
    L_π = −λ mean Q_1(s, π(s)) + mean (π(s) − a)²,   λ = α / sg(mean |Q_1(s, π(s))|),  α = 2.5.
Observations are normalised with dataset statistics (§1.3). Offline-to-online continues the
same update with exploration noise 0.1 on a buffer pre-filled with the dataset.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp

from seamrl.algos import td3
from seamrl.algos.common import Batch

SETTINGS = ("offline", "offline-to-online")
POLICY = "deterministic"


@dataclass(frozen=True)
class Config(td3.Config):
    """CORL TD3+BC defaults (§7.5)."""

    alpha: float = 2.5
    normalize_observations: bool = True
    learning_starts: int = 0  # fine-tuning starts from the pretrained actor


PRESETS: dict[str, dict] = {"antmaze": {"reward_transform": "none", "reward_shift": -1.0}}

State = td3.State
init = td3.init
act = td3.act


def td3bc_actor_loss(params, state: td3.State, batch: Batch):
    action = state.actor.apply_fn(params, batch["observations"])
    q1 = state.critic.apply_fn(state.critic.params, batch["observations"], action)[0]
    lmbda = jax.lax.stop_gradient(state.config.alpha / jnp.abs(q1).mean())
    sq = ((action - batch["actions"]) ** 2).mean(axis=-1)
    # per-sample BC weights: 1, or SSAR's β̃(s) given in batch["reg_weight"] (§5.7)
    loss = -lmbda * q1.mean() + (batch.get("reg_weight", 1.0) * sq).mean()
    return loss, {"actor_loss": loss, "bc_mse": sq.mean(), "lambda": lmbda}


update = td3.make_update(td3bc_actor_loss)
