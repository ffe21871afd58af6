"""AM-Q offline policy evaluation (Uni-O4 Definition 1; algorithms.md §4.5).

    AM-Q(π) = mean over recorded (t, rollout) of Q̂(s_t, a_t),   a_t = π(s_t) clamped to [−1, 1],
              s_{t+1} ~ T̂(· | s_t, a_t),   t = 0 … H − 1,  s_0 ~ dataset (512 states)

As in the official code: the **mean** of the recorded Q values, not the sum of Definition 1
(§4.5 [!]); rollouts whose model transition is terminal stop after recording that step; the
model's rewards are not used. The dynamics model works on raw states and agent-space actions
([−1, 1]); the policy and the critic see the run's observation transform (§4.10 pitfall 3).

:func:`am_q` is pure and jittable (Uni-O4's offline loop calls it every 100 steps per member);
:func:`evaluate_run` is what ``seamrl ope RUN_DIR`` runs: fit the dynamics ensemble on a
dataset, then score the run's policy with its own Q critic.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from seamrl import algos
from seamrl.config import task_family
from seamrl.errors import ConfigError
from seamrl.nets import dynamics
from seamrl.nets.mlp import Ensemble, StateActionValue

HORIZONS = {"antmaze": 150, "kitchen": 4, "adroit": 100}  # §4.5 item 4, §4.9; MuJoCo and others: 1000


def am_q(
    policy: Callable[[jnp.ndarray], jnp.ndarray],
    q_fn: Callable[[jnp.ndarray, jnp.ndarray], jnp.ndarray],
    model_step: Callable,
    start_obs: jnp.ndarray,
    horizon: int,
    key: jax.Array,
    observe: Callable[[jnp.ndarray], jnp.ndarray] = lambda s: s,
) -> tuple[jnp.ndarray, jnp.ndarray]:
    """``(AM-Q, mean rollout length)``; ``model_step(s, a, key) -> (s', r, terminal)`` on raw states.

    A ``lax.while_loop`` that stops once every rollout has terminated (§4.5 step 2, as the official
    loop), so poor policies cost a few model steps instead of ``horizon``; step t uses ``fold_in(key, t)``."""

    def body(carry):
        t, obs, alive, q_sum, count = carry
        seen = observe(obs)
        action = jnp.clip(policy(seen), -1.0, 1.0)
        q = q_fn(seen, action)
        nxt, _, terminal = model_step(obs, action, jax.random.fold_in(key, t))
        still = alive & ~terminal
        nxt = jnp.where(still[:, None], nxt, obs)  # finished rollouts stay put (no NaN from diverged states)
        return t + 1, nxt, still, q_sum + jnp.where(alive, q, 0.0).sum(), count + alive.sum()

    alive0 = jnp.ones(start_obs.shape[0], bool)
    zero = jnp.zeros((), jnp.float32)
    init = (jnp.zeros((), jnp.int32), start_obs, alive0, zero, zero)
    _, _, _, q_sum, count = jax.lax.while_loop(lambda c: (c[0] < horizon) & c[2].any(), body, init)
    return q_sum / jnp.maximum(count, 1.0), count / start_obs.shape[0]


def critic_q(state) -> Callable[[jnp.ndarray, jnp.ndarray], jnp.ndarray]:
    """``Q̂(s, a) = min_k Q_k(s, a)`` from an agent state's ``critic`` ensemble (IQL path, §4.5)."""
    critic = getattr(state, "critic", None)
    module = getattr(getattr(critic, "apply_fn", None), "__self__", None)
    if not (isinstance(module, StateActionValue) or (isinstance(module, Ensemble) and module.net is StateActionValue)):
        raise ConfigError("AM-Q needs an agent whose state.critic is a Q(s, a) network or ensemble.")

    def q(obs, act):
        out = critic.apply_fn(critic.params, obs, act)
        return out.min(axis=0) if out.ndim == 2 else out

    return q


def evaluate_run(run_dir: str | Path, dataset: str | None = None, horizon: int | None = None, starts: int = 512,
                 seed: int = 0, max_epochs: int | None = None, out: str | Path | None = None,
                 policies: list[str | Path] | None = None) -> dict:
    """Fit the §4.4 dynamics ensemble on ``dataset`` (default: the run's) and AM-Q the run's policy.

    With ``policies`` (files of ``seamrl export``), the same model and the run's critic also score
    each of those policies (``result["policies"]``): one fit, many policies, as when Uni-O4 ranks
    candidate policies, and as the OPE-accuracy benchmark does (scripts/ope_accuracy.py)."""
    from seamrl.data import load_dataset
    from seamrl.policy import load_policy
    from seamrl.train import load_trainer
    from seamrl.train.tasks import load_task_dataset, resolve_dataset_path

    trainer = load_trainer(run_dir)
    run = trainer.run
    data = load_dataset(resolve_dataset_path(dataset)) if dataset else load_task_dataset(run)
    data.validate_for(trainer.env_spec.obs_shape, trainer.env_spec.action_low, trainer.env_spec.action_high)
    state, tf = trainer.state, trainer.transforms
    try:
        q_fn = critic_q(state)
    except ConfigError:
        raise ConfigError(f"AM-Q needs a Q critic Q(s, a); algorithm '{run.algo}' has none.") from None
    family = task_family(run.task)
    horizon = horizon or HORIZONS.get(family, 1000)
    config = dynamics.DynamicsConfig(**dynamics.DYNAMICS_PRESETS.get(family, {}))
    if max_epochs is not None:
        config = replace(config, max_epochs=max_epochs)
    key = jax.random.PRNGKey(seed)
    t0 = time.perf_counter()
    actions = tf.action_from_env(data.actions)
    model, info = dynamics.fit_dynamics(jax.random.fold_in(key, 0), data.observations, actions, data.rewards,
                                        data.next_observations, config, dynamics.termination_for(run.task))
    fit_time = time.perf_counter() - t0
    idx = np.random.default_rng(seed).integers(0, len(data.observations), starts)
    start_obs = jnp.asarray(data.observations[idx])
    observe = _observation_fn(tf)

    def score(module, act_state, act_observe) -> tuple[float, float]:
        """AM-Q of ``module.act``'s deterministic policy (with its own observation transform) under the run's critic."""
        fn = jax.jit(lambda st, k: am_q(lambda s: module.act(st, act_observe(s), k, True), lambda s, a: q_fn(observe(s), a),
                                        lambda s, a, kk: dynamics.step(model, s, a, kk), start_obs, horizon, k))
        value, length = fn(act_state, jax.random.fold_in(key, 1))
        return float(value), float(length)

    value, length = score(trainer.algo, state, observe)
    result = {
        "run_dir": str(run_dir),
        "am_q": value,
        "mean_rollout_length": length,
        "horizon": horizon,
        "starts": starts,
        "dataset": dataset or run.dataset or run.task,
        "termination": model.termination,
        "dynamics": {"epochs": info["epochs"], "holdout_mse": info["holdout_mse"], "elites": info["elites"],
                     "fit_seconds": round(fit_time, 2), "config": asdict(config)},
    }
    scored = []
    for path in policies or []:
        policy = load_policy(path)
        value, length = score(algos.get(policy.meta["algo"]), policy._state, _observation_fn(policy.transforms))
        scored.append({"policy": str(path), "am_q": value, "mean_rollout_length": length})
    if policies:
        result["policies"] = scored
    if out:
        Path(out).write_text(json.dumps(result, indent=2))
    return result


def _observation_fn(tf) -> Callable[[jnp.ndarray], jnp.ndarray]:
    """A run's frozen observation transform, in ``jnp`` (raw model states → what its networks see)."""
    mean, std, clip = jnp.asarray(tf.obs_mean), jnp.asarray(tf.obs_std), tf.obs_clip

    def observe(s):
        z = (s - mean) / std
        return jnp.clip(z, -clip, clip) if clip > 0 else z

    return observe
