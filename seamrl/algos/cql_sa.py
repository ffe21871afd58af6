"""CQL(SA) — CQL with SSAR's state-adaptive coefficient (Luo et al., 2025); algorithms.md §5.6.

CQL's losses (:mod:`seamrl.algos.cql`) with α_cql replaced by β̃(s) = sg(β_φ(s)) · τ · decay (SSAR's
machinery, :mod:`seamrl.algos.ssar`); LayerNorm critics; the β-net starts at β_init = α_cql.
Slack of a data action (per action dimension d, tanh-Gaussian log-density p_d, §5.3):

    u±_d = clip(tanh(m_d ± n σ_d), ±0.99999) clipped to [tanh(m_d) − 0.1 n, tanh(m_d) + 0.1 n]
    C_{n,d} = min(log p_d(u+_d), log p_d(u−_d))
    e(s, a) = mean_d (max(log p_d(a_d), C_{10,d}) − C_{n,d})

Online the coefficient is annealed by cos(π/2 · min(N / N_end, 1)) (§5.9).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import flax.struct as struct
import jax
import jax.numpy as jnp

from seamrl.algos import cql, ssar
from seamrl.algos.common import Batch
from seamrl.nets.policies import normal_log_prob, tanh_log_det_jacobian

SETTINGS = ("offline", "offline-to-online")
POLICY = "tanh-gaussian"


@dataclass(frozen=True)
class Config(cql.Config, ssar.Options):
    """CORL CQL defaults (§7.8) + SSAR's (§5.8): LayerNorm critics, β lr 1e-8, actions clipped ±(1 − 1e-4)."""

    critic_layer_norm: bool = True
    dataset_action_clip: float = 1e-4
    beta_lr: float = 1e-8


PRESETS: dict[str, dict] = {
    **cql.PRESETS,
    "antmaze": {**cql.PRESETS["antmaze"], **ssar.ANTMAZE},
}


@struct.dataclass
class State(cql.State):
    ssar: ssar.Vars


init = ssar.make_init(State, cql.init, lambda cfg: cfg.cql_alpha)


def dim_log_prob(action: jnp.ndarray, mean: jnp.ndarray, log_std: jnp.ndarray) -> jnp.ndarray:
    """Per-dimension log-density of the tanh-Gaussian at ``action`` ∈ (−1, 1)^|A| (Jacobian included)."""
    pre = jnp.arctanh(action)[..., None]
    return normal_log_prob(pre, mean[..., None], log_std[..., None]) - tanh_log_det_jacobian(pre)


def threshold(mean: jnp.ndarray, log_std: jnp.ndarray, n: jnp.ndarray | float) -> jnp.ndarray:
    """C_{n,d}: the smaller log-density of the two n-σ points, at most 0.1 n from tanh(m) (§5.3)."""
    centre, sigma = jnp.tanh(mean), jnp.exp(log_std)

    def point(sign: float) -> jnp.ndarray:
        u = jnp.clip(jnp.tanh(mean + sign * n * sigma), -0.99999, 0.99999)
        return dim_log_prob(jnp.clip(u, centre - 0.1 * n, centre + 0.1 * n), mean, log_std)

    return jnp.minimum(point(1.0), point(-1.0))


def slack(state: State, batch: Batch) -> jnp.ndarray:
    """e(s, a) = mean_d (max(log p_d(a_d), C_{10,d}) − C_{n,d}), detached (§5.3)."""
    mean, log_std = state.actor.apply_fn(state.actor.params, batch["observations"])
    action = jnp.clip(batch["actions"], -0.99999, 0.99999)
    data = jnp.maximum(dim_log_prob(action, mean, log_std), threshold(mean, log_std, 10.0))
    return jax.lax.stop_gradient((data - threshold(mean, log_std, state.ssar.n)).mean(axis=-1))


update = ssar.make_update(cql.update, slack, "cosine")
act = cql.act
begin_phase = ssar.begin_phase
prepare_dataset = partial(ssar.prepare_dataset, backbone=0)
batch_columns = ssar.batch_columns
