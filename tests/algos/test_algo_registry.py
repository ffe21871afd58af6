"""Every registered algorithm implements the agent protocol of ``seamrl.algos.common``."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from seamrl.algos import ALGORITHMS, get
from seamrl.algos.common import AgentConfig, AgentSpec
from seamrl.errors import ConfigError

NAMES = sorted(ALGORITHMS)
OBS, ACT, B = 4, 3, 32
KNOWN_SETTINGS = {"offline", "online", "offline-to-online", "online-offline-online"}


def _small_config(mod):
    cfg = mod.Config()
    fields = {f.name for f in dataclasses.fields(cfg)}
    shrink = (("hidden_dims", (32, 32)), ("num_minibatches", 4), ("improve_steps", 2), ("policy_hidden", (32, 32)),
              ("q_hidden", (32, 32)), ("v_hidden", (32, 32)), ("dynamics_hidden", (16, 16)))
    small = {k: v for k, v in shrink if k in fields}
    return dataclasses.replace(cfg, **small)


def _update_fn(mod):
    """``update(state, batch)``; on-policy agents without one get ``update_rollout`` on the batch
    laid out as a (B/2, 2) time-major rollout (terminal = 1 − mask)."""
    if hasattr(mod, "update"):
        return mod.update

    def update(state, batch):
        rollout = {
            "observations": batch["observations"],
            "actions": batch["actions"],
            "rewards": batch["rewards"],
            "terminals": 1.0 - batch["masks"],
            "timeouts": jnp.zeros_like(batch["masks"]),
            "next_observations": batch["next_observations"],
        }
        return mod.update_rollout(state, jax.tree_util.tree_map(lambda x: x.reshape((-1, 2, *x.shape[1:])), rollout))

    return update


def _batch(seed: int) -> dict:
    keys = jax.random.split(jax.random.PRNGKey(seed), 5)
    return {
        "observations": jax.random.normal(keys[0], (B, OBS)),
        "actions": jax.random.uniform(keys[1], (B, ACT), minval=-0.999, maxval=0.999),
        "rewards": jax.random.normal(keys[2], (B,)),
        "next_observations": jax.random.normal(keys[3], (B, OBS)),
        "masks": (jax.random.uniform(keys[4], (B,)) > 0.2).astype(jnp.float32),
    }


@pytest.fixture(scope="module", params=NAMES)
def algo(request):
    """(name, module, initial state, jitted update), built once per algorithm."""
    mod = get(request.param)
    state = mod.init(jax.random.PRNGKey(0), AgentSpec(OBS, ACT, offline_steps=100, online_steps=100), _small_config(mod))
    return request.param, mod, state, jax.jit(_update_fn(mod))


def _settled(state):
    """Leaves as strongly typed arrays, so the module's jitted update compiles once here
    (the raw ``init`` state retraces; that is checked by test_update_keeps_state_leaf_types)."""
    return jax.tree_util.tree_map(lambda x: jnp.asarray(x, jnp.asarray(x).dtype), state)


def test_registry_covers_spec_algorithms():
    assert {"bc", "td3", "sac", "td3bc", "iql"} <= set(ALGORITHMS)
    assert all(isinstance(v, str) and v for v in ALGORITHMS.values())


@pytest.mark.parametrize("name", NAMES)
def test_module_protocol(name):
    mod = get(name)
    for attr in ("Config", "init", "act", "SETTINGS", "POLICY", "PRESETS"):
        assert hasattr(mod, attr), f"{name} lacks {attr}"
    assert hasattr(mod, "update") or hasattr(mod, "update_rollout"), f"{name} lacks update / update_rollout"
    assert callable(mod.init) and callable(_update_fn(mod)) and callable(mod.act)
    cfg_cls = mod.Config
    assert dataclasses.is_dataclass(cfg_cls) and issubclass(cfg_cls, AgentConfig)
    assert cfg_cls.__dataclass_params__.frozen
    cfg = cfg_cls()
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.batch_size = 1
    assert isinstance(mod.SETTINGS, tuple) and mod.SETTINGS and set(mod.SETTINGS) <= KNOWN_SETTINGS
    assert isinstance(mod.POLICY, str) and mod.POLICY
    assert isinstance(mod.PRESETS, dict)
    fields = {f.name for f in dataclasses.fields(cfg)}
    for family, overrides in mod.PRESETS.items():
        unknown = set(overrides) - fields
        assert not unknown, f"{name} preset {family} sets unknown fields {unknown}"
        dataclasses.replace(cfg, **overrides)  # the preset builds a valid config


@pytest.mark.parametrize("alias, key", [("TD3+BC", "td3bc"), ("td3-bc", "td3bc"), ("IQL", "iql")])
def test_get_normalises_names(alias, key):
    assert get(alias) is get(key)


def test_get_unknown_name_suggests():
    with pytest.raises(ConfigError, match="did you mean 'iql'"):
        get("iqll")


def test_jitted_update_returns_finite_scalar_metrics(algo):
    name, mod, state, update = algo
    state = _settled(state)
    delayed = getattr(state.config, "policy_freq", 1)
    first_keys = None
    for i in range(3):
        new, metrics = update(state, _batch(i))
        assert isinstance(metrics, dict) and metrics
        first_keys = first_keys or set(metrics)
        assert set(metrics) == first_keys  # same keys every step (the trainer stacks them)
        assert jax.tree_util.tree_structure(new) == jax.tree_util.tree_structure(state)
        nan_keys = set()
        for k, v in metrics.items():
            assert jnp.shape(v) == (), (name, k)
            if not np.isfinite(float(v)):
                assert np.isnan(float(v)), (name, k, float(v))  # never ±inf
                nan_keys.add(k)
        if hasattr(state, "pretrain_steps"):
            # staged agents (BPPO, Uni-O4): the metrics of the stage not running are NaN
            assert len(nan_keys) < len(metrics), (name, i, nan_keys)
        elif delayed > 1 and i % delayed != 0:
            # TD3-style skipped actor step: exactly the actor metrics are NaN
            assert nan_keys and not nan_keys & {"critic_loss", "q_mean"}, (name, i, nan_keys)
        else:
            assert not nan_keys, (name, i, nan_keys)
        for leaf in jax.tree_util.tree_leaves(new):
            if jnp.issubdtype(jnp.asarray(leaf).dtype, jnp.floating):
                assert bool(jnp.isfinite(leaf).all()), name
        state = new
    assert int(state.step) == 3


def test_update_is_pure(algo):
    name, mod, state, update = algo
    state = _settled(state)
    batch = _batch(7)
    s1, m1 = update(state, batch)
    s2, m2 = update(state, batch)
    for a, b in zip(jax.tree_util.tree_leaves((s1, m1)), jax.tree_util.tree_leaves((s2, m2))):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("deterministic", [True, False])
def test_act_shape_and_bounds(algo, deterministic):
    name, mod, state, _ = algo
    act = jax.jit(mod.act, static_argnums=3)
    for scale in (1.0, 100.0):  # large inputs saturate the networks
        obs = scale * jax.random.normal(jax.random.PRNGKey(1), (17, OBS))
        a = act(state, obs, jax.random.PRNGKey(2), deterministic)
        assert a.shape == (17, ACT), name
        assert bool(jnp.isfinite(a).all()) and float(jnp.abs(a).max()) <= 1.0, name
    # single observation batch too
    assert act(state, jnp.zeros((1, OBS)), jax.random.PRNGKey(3), deterministic).shape == (1, ACT)


def test_stochastic_act_depends_on_key_only_for_stochastic_policies(algo):
    name, mod, state, _ = algo
    obs = jax.random.normal(jax.random.PRNGKey(1), (8, OBS))
    d1, d2 = mod.act(state, obs, jax.random.PRNGKey(2), True), mod.act(state, obs, jax.random.PRNGKey(3), True)
    np.testing.assert_array_equal(d1, d2)  # deterministic actions ignore the key
    s1, s2 = mod.act(state, obs, jax.random.PRNGKey(2), False), mod.act(state, obs, jax.random.PRNGKey(3), False)
    if name == "bc" or getattr(state.config, "exploration_noise", None) == 0.0:  # TD3+BC(SA) explores without noise (§5.9.6)
        np.testing.assert_array_equal(s1, s2)
    else:  # exploration noise / sampling
        assert float(jnp.abs(s1 - s2).max()) > 1e-3, name


def test_update_keeps_state_leaf_types(algo):
    """update(state) must return leaves of the same kind as it was given (array vs Python
    scalar, dtype, weak type); otherwise every new kind costs another jit compilation."""
    name, mod, state, update = algo

    def sig(tree):
        return [(hasattr(x, "dtype"), str(jnp.asarray(x).dtype) if not hasattr(x, "dtype") else str(x.dtype),
                 getattr(x, "weak_type", True)) for x in jax.tree_util.tree_leaves(tree)]

    batch = _batch(0)
    new, _ = jax.eval_shape(_update_fn(mod), state, batch)  # traced, not compiled
    newer, _ = jax.eval_shape(_update_fn(mod), new, batch)
    assert sig(new) == sig(state), name
    assert sig(newer) == sig(new), name
