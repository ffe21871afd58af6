"""TD3+BC(SA) — TD3+BC with SSAR's state-adaptive BC weight (Luo et al., 2025); algorithms.md §5.7.

TD3+BC's update (:mod:`seamrl.algos.td3bc`) with α = 1 and the BC term weighted per sample by
β̃(s) = sg(β_φ(s)) · τ · decay (SSAR's machinery, :mod:`seamrl.algos.ssar`):

    L_π = −λ mean Q_1(s, π(s)) + mean_{i,d} β̃_i (π(s_i) − a_i)_d²,   λ = 1 / sg(mean |Q_1(s, π(s))|)

With β ≡ 0.4 = 1/2.5 this is TD3+BC (α = 2.5) divided by α. The deterministic actor's slack treats the
exploration scale δ as a Gaussian std (§5.3):  e(s, a) = n² δ² − mean_d min((π(s) − a)_d², 1).
β is trained on the delayed actor steps (every ``policy_freq``), after the actor step. Online the BC
weight decays linearly, max(1 − N/N_end, 0), and the actor explores without noise (code, §5.9.6).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import flax.struct as struct
import jax
import jax.numpy as jnp

from seamrl.algos import ssar, td3, td3bc
from seamrl.algos.common import Batch

SETTINGS = ("offline", "offline-to-online")
POLICY = "deterministic"


@dataclass(frozen=True)
class Config(td3bc.Config, ssar.Options):
    """TD3+BC defaults (§7.5) + SSAR's (§5.7–5.9)."""

    alpha: float = 1.0  # λ = 1 / mean |Q_1|: the BC weight is β̃ (§5.7)
    beta_init: float = 0.4  # 1 / α_TD3BC
    beta_lr: float = 3e-8
    critic_layer_norm: bool = True
    trust_delta: float = 0.1  # δ
    exploration_noise: float = 0.0  # online_expl_noise: none in the SSAR code (§5.9.6)


PRESETS: dict[str, dict] = {
    "antmaze": {**td3bc.PRESETS["antmaze"], **ssar.ANTMAZE},
}


@struct.dataclass
class State(td3.State):
    ssar: ssar.Vars


init = ssar.make_init(State, td3.init, lambda cfg: cfg.beta_init)


def slack(state: State, batch: Batch) -> jnp.ndarray:
    """e(s, a) = n² δ² − mean_d min((π(s) − a)_d², 1), detached (§5.3)."""
    action = state.actor.apply_fn(state.actor.params, batch["observations"])
    dist = jnp.minimum((action - batch["actions"]) ** 2, 1.0).mean(axis=-1)
    return jax.lax.stop_gradient((state.ssar.n * state.config.trust_delta) ** 2 - dist)


update = ssar.make_update(td3bc.update, slack, "linear", beta_every=lambda cfg: cfg.policy_freq)
act = td3.act
begin_phase = ssar.begin_phase
prepare_dataset = partial(ssar.prepare_dataset, backbone=1)
batch_columns = ssar.batch_columns
