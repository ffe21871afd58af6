"""Shared helpers for the seamrl.algos tests (exposed as the ``h`` fixture).

Hand-made ``TrainState``s with tiny deterministic ``apply_fn``s let the loss tests compare
the library's numbers with independent numpy formulas written from algorithms.md.
"""

from __future__ import annotations

from types import SimpleNamespace

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax.training.train_state import TrainState


def make_ts(apply_fn, params, lr: float = 1e-3) -> TrainState:
    """A TrainState with a hand-written ``apply_fn`` and Adam (fresh optimiser state)."""
    params = jax.tree_util.tree_map(lambda x: jnp.asarray(x, jnp.float32), params)
    return settle(TrainState.create(apply_fn=apply_fn, params=params, tx=optax.adam(lr)))


def settle(tree):
    """Every leaf as a strongly typed array (Python ints / weak types would make ``jax.jit``
    retrace after the first update; see test_algo_registry.py::test_update_keeps_state_leaf_types)."""
    return jax.tree_util.tree_map(lambda x: jnp.asarray(x, jnp.asarray(x).dtype), tree)


def rng0():
    return jax.random.PRNGKey(0)


def step0():
    return jnp.zeros((), jnp.int32)


def random_batch(key, n: int, obs_dim: int, act_dim: int) -> dict:
    ko, ka, kr, kn, km = jax.random.split(key, 5)
    return {
        "observations": jax.random.normal(ko, (n, obs_dim)),
        "actions": jax.random.uniform(ka, (n, act_dim), minval=-0.99, maxval=0.99),
        "rewards": jax.random.normal(kr, (n,)),
        "next_observations": jax.random.normal(kn, (n, obs_dim)),
        "masks": (jax.random.uniform(km, (n,)) > 0.3).astype(jnp.float32),
    }


def np_batch(batch: dict) -> dict:
    return {k: np.asarray(v, np.float64) for k, v in batch.items()}


# ---------------------------------------------------------------------------------------
# Tiny analytic networks (numpy twins are written out separately in each test).


def critic_fn(params, obs, act, **_):
    """Q_k(s, a) = w_k·a + b_k·s + c_k  →  (K, N), like ``critic_ensemble``."""
    return (act @ params["w"].T + obs @ params["b"].T + params["c"][None, :]).T


def critic_np(params, obs, act):
    w, b, c = (np.asarray(params[k], np.float64) for k in ("w", "b", "c"))
    return (act @ w.T + obs @ b.T + c[None, :]).T


def critic_params(k: int, obs_dim: int, act_dim: int, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    return {
        "w": rng.normal(size=(k, act_dim)).astype(np.float32),
        "b": rng.normal(size=(k, obs_dim)).astype(np.float32),
        "c": rng.normal(size=(k,)).astype(np.float32),
    }


def linear_actor(params, obs, **_):
    """π(s) = s W (no squashing: lets tests push actions outside [−1, 1])."""
    return obs @ params["W"]


def value_fn(params, obs, **_):
    """V(s) = s·u + v0."""
    return obs @ params["u"] + params["v0"]


def gaussian_actor(params, obs, **_):
    """(mean, log_std) = (tanh(s M), broadcast(log_std))."""
    mean = jnp.tanh(obs @ params["M"])
    return mean, jnp.broadcast_to(params["log_std"], mean.shape)


# ---------------------------------------------------------------------------------------
# Contextual bandit used by the learning smoke tests.

BANDIT_OBS, BANDIT_ACT = 3, 2
BANDIT_A = np.array([[0.6, -0.3], [0.2, 0.5], [-0.4, 0.1]], np.float32)


def bandit_opt(obs):
    """a*(s) = 0.9 tanh(s A) ∈ (−0.9, 0.9)."""
    return 0.9 * jnp.tanh(obs @ BANDIT_A)


def bandit_reward(obs, act):
    return -jnp.sum((act - bandit_opt(obs)) ** 2, axis=-1)


def bandit_data(key, n: int, behaviour: str, noise: float = 0.3) -> dict:
    """One-step bandit transitions: masks 0, next_obs random (irrelevant).

    behaviour: "uniform" (actions U[−1,1]), "noisy" (a*(s) + N(0, noise²), clipped ±0.99) or
    "mixed" (half a*(s) + N(0, 0.1²), half uniform: its conditional mean action is ≈ a*(s)/2).
    """
    ko, ka, kn = jax.random.split(key, 3)
    obs = jax.random.uniform(ko, (n, BANDIT_OBS), minval=-1.0, maxval=1.0)
    if behaviour == "uniform":
        act = jax.random.uniform(ka, (n, BANDIT_ACT), minval=-1.0, maxval=1.0)
    elif behaviour == "mixed":  # first half near-optimal (noise 0.1), second half uniform
        good = jnp.clip(bandit_opt(obs) + 0.1 * jax.random.normal(ka, (n, BANDIT_ACT)), -0.99, 0.99)
        bad = jax.random.uniform(jax.random.fold_in(ka, 1), (n, BANDIT_ACT), minval=-1.0, maxval=1.0)
        act = jnp.where((jnp.arange(n) < n // 2)[:, None], good, bad)
    else:
        act = jnp.clip(bandit_opt(obs) + noise * jax.random.normal(ka, (n, BANDIT_ACT)), -0.99, 0.99)
    return {
        "observations": obs,
        "actions": act,
        "rewards": bandit_reward(obs, act),
        "next_observations": jax.random.uniform(kn, (n, BANDIT_OBS), minval=-1.0, maxval=1.0),
        "masks": jnp.zeros((n,)),
    }


def train_loop(update, state, data: dict, key, steps: int, batch_size: int = 256):
    """``steps`` updates on uniformly sampled mini-batches, one jitted ``lax.scan``."""
    n = data["observations"].shape[0]

    @jax.jit
    def run(state, key):
        def body(s, k):
            idx = jax.random.randint(k, (batch_size,), 0, n)
            s, metrics = update(s, jax.tree_util.tree_map(lambda x: x[idx], data))
            return s, metrics

        return jax.lax.scan(body, state, jax.random.split(key, steps))

    return run(state, key)


def expected_reward(act_fn, state, key) -> float:
    """Mean bandit reward of the deterministic action on 4096 fresh contexts."""
    obs = jax.random.uniform(key, (4096, BANDIT_OBS), minval=-1.0, maxval=1.0)
    return float(bandit_reward(obs, act_fn(state, obs, key, True)).mean())


_HELPERS = SimpleNamespace(
    make_ts=make_ts,
    settle=settle,
    rng0=rng0,
    step0=step0,
    random_batch=random_batch,
    np_batch=np_batch,
    critic_fn=critic_fn,
    critic_np=critic_np,
    critic_params=critic_params,
    linear_actor=linear_actor,
    value_fn=value_fn,
    gaussian_actor=gaussian_actor,
    bandit_opt=bandit_opt,
    bandit_reward=bandit_reward,
    bandit_data=bandit_data,
    train_loop=train_loop,
    expected_reward=expected_reward,
    BANDIT_OBS=BANDIT_OBS,
    BANDIT_ACT=BANDIT_ACT,
)


@pytest.fixture(scope="session")
def h() -> SimpleNamespace:
    return _HELPERS
