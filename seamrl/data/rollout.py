"""Rollout buffer of on-policy phases and generalised advantage estimation (§4.8, §7.4).

A rollout is ``T = num_steps`` steps of ``N`` vector envs, stored time-major as arrays of shape
``(T, N, ...)``:

==================  ==================================================================
observations        s_t as the agent saw it (after the run's observation transform)
actions             a_t in [−1, 1], as executed (Uni-O4 stores the clamped action, §4.8)
rewards             r_t after the run's reward transform (and running scaling)
terminals           d_t: true termination, the only thing that stops bootstrapping
timeouts            time-limit truncation (or a checkpoint cut): ends the episode, not terminal
next_observations   the *real* s'_{t}: the final observation of an episode that just ended
                    (SAME_STEP autoreset puts the next episode's first observation in ``obs``)
==================  ==================================================================

Log-probabilities and values of the collecting policy are not stored: the trainer runs no
update while it collects, so the agent's ``update_rollout`` computes them from its own
parameters in one batched call (they equal the per-step values bit for bit in exact
arithmetic, and cost one forward pass instead of ``T``).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

ROLLOUT_KEYS = ("observations", "actions", "rewards", "terminals", "timeouts", "next_observations")


class RolloutBuffer:
    """Host-side ``(T, N, ...)`` arrays filled one vector step at a time."""

    def __init__(self, num_steps: int, num_envs: int, obs_dim: int, action_dim: int):
        shapes = {"observations": (obs_dim,), "actions": (action_dim,), "rewards": (), "terminals": (), "timeouts": (),
                  "next_observations": (obs_dim,)}
        self.arrays = {k: np.zeros((num_steps, num_envs, *shapes[k]), np.float32) for k in ROLLOUT_KEYS}
        self.num_steps = num_steps

    def add(self, t: int, **rows: np.ndarray) -> None:
        for key, value in rows.items():
            self.arrays[key][t] = value

    def as_jax(self) -> dict[str, jnp.ndarray]:
        return {k: jnp.asarray(v) for k, v in self.arrays.items()}


def gae(rewards: jnp.ndarray, values: jnp.ndarray, next_values: jnp.ndarray, terminals: jnp.ndarray,
        dones: jnp.ndarray, discount: float, lam: float) -> jnp.ndarray:
    """Generalised advantage estimates Â of a ``(T, N)`` rollout (jittable).

        δ_t = r_t + γ (1 − d_t) V(s'_t) − V(s_t)          d_t: terminal (time-outs bootstrap)
        Â_t = δ_t + γ λ (1 − done_t) Â_{t+1},  Â_T = 0     done_t: terminal or time-out

    ``next_values`` are V at the real next observations, so the last step of the rollout and
    every time-out bootstrap from the right state.
    """
    deltas = rewards + discount * (1.0 - terminals) * next_values - values

    def back(carry, inputs):
        delta, done = inputs
        adv = delta + discount * lam * (1.0 - done) * carry
        return adv, adv

    _, adv = jax.lax.scan(back, jnp.zeros_like(rewards[0]), (deltas, dones), reverse=True)
    return adv
