"""Policy networks and the small amount of distribution math they need (algorithms.md §1.4).

Three heads cover the algorithms of this package:

* :class:`DeterministicPolicy` – ``tanh(MLP(s))`` (TD3, TD3+BC, BC, ReBRAC).
* :class:`TanhGaussianPolicy` – Normal in pre-tanh space, squashed by ``tanh`` with the
  Jacobian correction (SAC, CQL, Cal-QL, RLPD).
* :class:`GaussianPolicy` – plain Normal with ``tanh`` on the mean and a bounded log-std,
  state-independent by default (IQL, IVR, UNIVR, AWAC). Log-likelihoods of dataset actions
  are those of the untransformed Normal, so dataset actions must be clipped to ±(1−ε).
"""

from __future__ import annotations

import math
from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from seamrl.nets.mlp import MLP, Activation, default_init

LOG_2PI = math.log(2.0 * math.pi)


def normal_log_prob(x: jnp.ndarray, mean: jnp.ndarray, log_std: jnp.ndarray) -> jnp.ndarray:
    """Sum over the last axis of log N(x; mean, exp(log_std)^2)."""
    z = (x - mean) * jnp.exp(-log_std)
    return jnp.sum(-0.5 * z**2 - log_std - 0.5 * LOG_2PI, axis=-1)


def tanh_log_det_jacobian(pre_tanh: jnp.ndarray) -> jnp.ndarray:
    """Sum over the last axis of log(1 − tanh(u)^2), computed stably as 2(log 2 − u − softplus(−2u))."""
    return jnp.sum(2.0 * (math.log(2.0) - pre_tanh - jax.nn.softplus(-2.0 * pre_tanh)), axis=-1)


def tanh_normal_sample(key: jax.Array, mean: jnp.ndarray, log_std: jnp.ndarray) -> tuple[jnp.ndarray, jnp.ndarray]:
    """Reparameterised sample ``a = tanh(mean + σ ξ)`` and its log-density (with Jacobian)."""
    pre = mean + jnp.exp(log_std) * jax.random.normal(key, mean.shape)
    return jnp.tanh(pre), normal_log_prob(pre, mean, log_std) - tanh_log_det_jacobian(pre)


def gaussian_sample(key: jax.Array, mean: jnp.ndarray, log_std: jnp.ndarray) -> jnp.ndarray:
    """Reparameterised sample of the untransformed Normal."""
    return mean + jnp.exp(log_std) * jax.random.normal(key, mean.shape)


class DeterministicPolicy(nn.Module):
    """``a = tanh(MLP(s))``."""

    action_dim: int
    hidden_dims: Sequence[int] = (256, 256)
    layer_norm: bool = False

    @nn.compact
    def __call__(self, obs: jnp.ndarray) -> jnp.ndarray:
        return jnp.tanh(MLP(self.hidden_dims, self.action_dim, layer_norm=self.layer_norm)(obs))


class TanhGaussianPolicy(nn.Module):
    """Returns ``(mean, log_std)`` of the pre-tanh Normal; state-dependent log-std.

    ``log_std_mode='tanh'`` rescales ``tanh(raw)`` into [min, max] (CleanRL SAC);
    ``'clip'`` clips the raw output (RLPD, CQL).
    """

    action_dim: int
    hidden_dims: Sequence[int] = (256, 256)
    log_std_min: float = -5.0
    log_std_max: float = 2.0
    log_std_mode: str = "tanh"

    @nn.compact
    def __call__(self, obs: jnp.ndarray) -> tuple[jnp.ndarray, jnp.ndarray]:
        h = MLP(self.hidden_dims, activation=nn.relu)(obs)
        mean = nn.Dense(self.action_dim, kernel_init=default_init(1.0))(h)
        raw = nn.Dense(self.action_dim, kernel_init=default_init(1.0))(h)
        if self.log_std_mode == "tanh":
            log_std = self.log_std_min + 0.5 * (self.log_std_max - self.log_std_min) * (jnp.tanh(raw) + 1.0)
        else:
            log_std = jnp.clip(raw, self.log_std_min, self.log_std_max)
        return mean, log_std


class GaussianPolicy(nn.Module):
    """Returns ``(tanh(mean), log_std)`` of a plain Normal (IQL/IVR actor, §2.3).

    The log-std is a state-independent parameter (init 0) unless ``state_dependent_std``;
    ``log_std_mode='tanh'`` maps the raw output into [min, max] by ``min + ½(max − min)(tanh(raw) + 1)``
    (Uni-O4 / BPPO: log σ ∈ (−5, 0), §1.4) instead of clipping it.
    """

    action_dim: int
    hidden_dims: Sequence[int] = (256, 256)
    log_std_min: float = -5.0
    log_std_max: float = 2.0
    state_dependent_std: bool = False
    dropout: float = 0.0
    activation: Activation = nn.relu
    mean_init_scale: float = 1.0  # orthogonal gain of the mean head (CleanRL PPO: 0.01, §7.4)
    log_std_mode: str = "clip"  # "clip" | "tanh"

    @nn.compact
    def __call__(self, obs: jnp.ndarray, train: bool = False) -> tuple[jnp.ndarray, jnp.ndarray]:
        h = MLP(self.hidden_dims, activation=self.activation, dropout=self.dropout)(obs, train)
        mean = jnp.tanh(nn.Dense(self.action_dim, kernel_init=default_init(self.mean_init_scale))(h))
        if self.state_dependent_std:
            log_std = nn.Dense(self.action_dim, kernel_init=default_init(1.0))(h)
        else:
            log_std = self.param("log_std", nn.initializers.zeros, (self.action_dim,))
            log_std = jnp.broadcast_to(log_std, mean.shape)
        if self.log_std_mode == "tanh":
            return mean, self.log_std_min + 0.5 * (self.log_std_max - self.log_std_min) * (jnp.tanh(log_std) + 1.0)
        return mean, jnp.clip(log_std, self.log_std_min, self.log_std_max)
