"""Multi-layer perceptrons and the critic / value networks built from them."""

from __future__ import annotations

from typing import Callable, Sequence

import flax.linen as nn
import jax.numpy as jnp

Activation = Callable[[jnp.ndarray], jnp.ndarray]


def default_init(scale: float = jnp.sqrt(2.0)):
    """Orthogonal initialisation (IQL/IVR code, algorithms.md §2.3)."""
    return nn.initializers.orthogonal(scale)


class MLP(nn.Module):
    """Dense layers with optional LayerNorm (before the activation) and dropout.

    ``layer_norm`` follows IVR / ReBRAC / SSAR: Dense → LayerNorm → activation.
    """

    hidden_dims: Sequence[int]
    out_dim: int | None = None
    activation: Activation = nn.relu
    layer_norm: bool = False
    dropout: float = 0.0
    kernel_init: Callable = default_init()
    out_init_scale: float = 1.0

    @nn.compact
    def __call__(self, x: jnp.ndarray, train: bool = False) -> jnp.ndarray:
        for width in self.hidden_dims:
            x = nn.Dense(width, kernel_init=self.kernel_init)(x)
            if self.layer_norm:
                x = nn.LayerNorm()(x)
            x = self.activation(x)
            if self.dropout > 0.0:
                x = nn.Dropout(self.dropout, deterministic=not train)(x)
        if self.out_dim is not None:
            x = nn.Dense(self.out_dim, kernel_init=default_init(self.out_init_scale))(x)
        return x


class StateActionValue(nn.Module):
    """Q(s, a) → scalar."""

    hidden_dims: Sequence[int] = (256, 256)
    layer_norm: bool = False

    @nn.compact
    def __call__(self, obs: jnp.ndarray, action: jnp.ndarray) -> jnp.ndarray:
        x = jnp.concatenate([obs, action], axis=-1)
        return MLP(self.hidden_dims, 1, layer_norm=self.layer_norm)(x).squeeze(-1)


class Ensemble(nn.Module):
    """``num`` independent copies of ``net`` evaluated with ``vmap`` (stacked params).

    Output has a leading axis of size ``num``: ``Q(s, a)`` → ``(num, batch)``.
    """

    net: type[nn.Module]
    num: int = 2
    kwargs: dict | None = None

    @nn.compact
    def __call__(self, *args):
        vmapped = nn.vmap(
            self.net,
            variable_axes={"params": 0},
            split_rngs={"params": True, "dropout": True},
            in_axes=None,
            out_axes=0,
            axis_size=self.num,
        )
        return vmapped(**(self.kwargs or {}))(*args)


def critic_ensemble(num: int = 2, hidden_dims: Sequence[int] = (256, 256), layer_norm: bool = False) -> Ensemble:
    """Twin (or larger) Q ensemble; ``apply`` returns ``(num, batch)``."""
    return Ensemble(StateActionValue, num, {"hidden_dims": tuple(hidden_dims), "layer_norm": layer_norm})


class StateValue(nn.Module):
    """V(s) → scalar; LayerNorm/dropout as IVR's value net (§2.3)."""

    hidden_dims: Sequence[int] = (256, 256)
    layer_norm: bool = False
    dropout: float = 0.0
    activation: Activation = nn.relu

    @nn.compact
    def __call__(self, obs: jnp.ndarray, train: bool = False) -> jnp.ndarray:
        net = MLP(self.hidden_dims, 1, activation=self.activation, layer_norm=self.layer_norm, dropout=self.dropout)
        return net(obs, train).squeeze(-1)
