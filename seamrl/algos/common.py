"""What every agent shares: the run-level config fields, the spec an agent is built for,
network state, target updates and optimisers.

The agent protocol (architecture.md) is a module with

* ``Config``: frozen dataclass, subclass of :class:`AgentConfig`, defaults from the paper;
* ``init(key, spec, config) -> state``; ``update(state, batch) -> (state, metrics)`` (pure, jittable);
* ``act(state, obs, key, deterministic) -> actions`` (batched, jittable);
* optional ``begin_phase(state, phase) -> state`` and ``prepare_dataset(dataset, config) -> dataset``;
* ``PRESETS``: ``{task family: {field: value}}`` for per-domain defaults; ``SETTINGS``; ``POLICY``.

A batch is a dict of arrays with keys ``observations, actions, rewards, next_observations,
masks`` (mask = 1 − terminal; time-outs are not terminal, algorithms.md §1.1).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import flax
import jax
import jax.numpy as jnp
import optax
from flax.training.train_state import TrainState

Batch = dict[str, jnp.ndarray]
Metrics = dict[str, jnp.ndarray]


@dataclass(frozen=True)
class AgentConfig:
    """Fields the trainer reads from every agent config (defaults: algorithms.md §1, §7)."""

    batch_size: int = 256
    discount: float = 0.99
    normalize_observations: bool = False  # §1.3: (s − mean)/(std + 1e-3) from the dataset, frozen
    reward_transform: str = "none"  # §1.2: "none" | "range" (r · 1000 / (R_max − R_min) over dataset episodes)
    reward_scale: float = 1.0  # applied after reward_transform: r ← scale · r + shift (AntMaze: shift −1)
    reward_shift: float = 0.0
    dataset_action_clip: float = 0.0  # §1.1.4: clip dataset actions to ±(1 − eps); 0 disables
    learning_starts: int = 5000  # online from scratch: uniform-random actions before the first update
    utd: int = 1  # gradient updates per environment step in online phases
    # rollout (on-policy) phases only, applied by the trainer like gymnasium's wrappers (§7.4):
    running_obs_norm: bool = False  # (s − mean)/sqrt(var + 1e-8) with running stats of every observation seen
    running_reward_scale: bool = False  # r / std(running discounted return) (§1.2 Uni-O4 "dynamic")
    running_clip: float = 10.0  # clip of normalised observations and scaled rewards (CleanRL ±10); 0 disables


@dataclass(frozen=True)
class AgentSpec:
    """What an agent is built for: shapes and the phase budgets (for lr schedules)."""

    obs_dim: int
    action_dim: int
    offline_steps: int = 0
    online_steps: int = 0
    num_envs: int = 1  # online collection envs (rollout agents size their lr schedules with it)


def make_state(
    module: flax.linen.Module, params: Any, lr: float | Callable, grad_clip: float | None = None, eps: float = 1e-8
) -> TrainState:
    """A network's params + Adam optimiser state (optionally with global-norm clipping)."""
    state = TrainState.create(apply_fn=module.apply, params=params, tx=adam(lr, grad_clip, eps))
    return state.replace(step=jnp.zeros((), jnp.int32))  # an array from the start: no recompile after step 1


def adam(lr: float | Callable, grad_clip: float | None = None, eps: float = 1e-8) -> optax.GradientTransformation:
    """Adam, after global-norm clipping when ``grad_clip`` is set."""
    tx = optax.adam(lr, eps=eps)
    return optax.chain(optax.clip_by_global_norm(grad_clip), tx) if grad_clip else tx


def fresh_optimiser(model: TrainState, lr: float | Callable, grad_clip: float | None = None, eps: float = 1e-8) -> TrainState:
    """``model``'s params with a new Adam (moments and schedule count reset): a phase with its own lr schedule."""
    tx = adam(lr, grad_clip, eps)
    return model.replace(tx=tx, opt_state=tx.init(model.params), step=jnp.zeros((), jnp.int32))


def polyak(target: Any, online: Any, tau: float) -> Any:
    """θ̄ ← τ θ + (1 − τ) θ̄ (§1.5)."""
    return jax.tree_util.tree_map(lambda t, o: tau * o + (1.0 - tau) * t, target, online)


def apply_grad(model: TrainState, loss_fn: Callable, has_aux: bool = True):
    """One optimiser step on ``loss_fn(params)``; returns ``(new_model, aux)``."""
    grads, aux = jax.grad(loss_fn, has_aux=has_aux)(model.params)
    return model.apply_gradients(grads=grads), aux


def while_on(on: jnp.ndarray, step: Callable[[], tuple[Any, dict]], old: Any) -> tuple[Any, dict]:
    """``step()`` → ``(new, metrics)`` while ``on``, else ``(old, NaN metrics)`` without computing the step.

    For a stage with its own budget inside a lock-step update (BC for 0.4M steps beside critics for 2M
    in BPPO / Uni-O4): once it is spent, it costs nothing. ``on`` should depend only on step counters,
    which stay unbatched when seeds are trained together, so this is a real branch, not a ``select``."""
    _, metrics = jax.eval_shape(step)
    skip = lambda: (old, jax.tree_util.tree_map(lambda m: jnp.full(m.shape, jnp.nan, m.dtype), metrics))  # noqa: E731
    return jax.lax.cond(on, step, skip)


def expectile_loss(diff: jnp.ndarray, expectile: float) -> jnp.ndarray:
    """|τ − 1(u < 0)| u² elementwise (IQL value loss, §7.6)."""
    weight = jnp.where(diff > 0, expectile, 1.0 - expectile)
    return weight * diff**2


def cosine_then_constant(lr: float, decay_steps: int, after: float | None = None) -> optax.Schedule:
    """Cosine decay of ``lr`` to 0 over ``decay_steps``, then constant ``after`` (default ``lr``).

    Used for IQL/IVR actors: decay over the offline phase, a constant rate when fine-tuning
    online (§1.7 item 6: decided explicitly rather than inherited by accident).
    """
    if decay_steps <= 0:
        return optax.constant_schedule(lr)
    after = lr if after is None else after
    return optax.join_schedules([optax.cosine_decay_schedule(lr, decay_steps), optax.constant_schedule(after)], [decay_steps])


def split(state_rng: jax.Array, n: int = 2):
    """``jax.random.split`` returning (new carried key, *subkeys)."""
    keys = jax.random.split(state_rng, n + 1)
    return keys[0], *keys[1:]
