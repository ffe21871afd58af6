"""The pure-JAX baseline of `seamrl bench` computes the same numbers as the library's updates,
so the seamrl / pure ratio compares the same math."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from seamrl.algos import iql, td3bc
from seamrl.algos.common import AgentSpec
from seamrl.bench import pure


def _batch(rng, n=64, obs_dim=5, action_dim=3):
    return {
        "observations": jnp.asarray(rng.normal(size=(n, obs_dim)), jnp.float32),
        "actions": jnp.asarray(rng.uniform(-0.99, 0.99, (n, action_dim)), jnp.float32),
        "rewards": jnp.asarray(rng.normal(size=n), jnp.float32),
        "next_observations": jnp.asarray(rng.normal(size=(n, obs_dim)), jnp.float32),
        "masks": jnp.asarray(rng.integers(0, 2, n), jnp.float32),
    }


def _assert_same(a, b):
    jax.tree_util.tree_map(lambda x, y: np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=2e-5, atol=2e-6), a, b)


def test_pure_iql_update_matches_seamrl_iql_update():
    # 3 steps with offline_steps=2: cosine-decayed actor lr (steps 0, 1), then the constant online lr (step 2)
    config = iql.Config(hidden_dims=(32, 32), online_actor_lr=1e-4)
    state = iql.init(jax.random.PRNGKey(0), AgentSpec(5, 3, offline_steps=2), config)
    params = pure.iql_params(state)
    update = jax.jit(pure.make_iql_update(config, offline_steps=2))
    rng = np.random.default_rng(0)
    for _ in range(3):
        batch = _batch(rng)
        state, _ = jax.jit(iql.update)(state, batch)
        params = update(params, batch)
    assert int(state.step) == 3
    _assert_same(pure.iql_params(state), params)


def test_pure_td3bc_update_matches_seamrl_td3bc_update_including_the_scanned_pairs():
    config = td3bc.Config(hidden_dims=(32, 32))
    state = td3bc.init(jax.random.PRNGKey(1), AgentSpec(5, 3), config)
    start = pure.td3bc_params(state)
    batch = _batch(np.random.default_rng(1))
    for _ in range(4):  # actor + targets on steps 0 and 2 (policy_freq 2), same noise keys
        state, _ = jax.jit(td3bc.update)(state, batch)
    scanned = pure.scanned(pure.make_td3bc_update(config), 4, pairs=True)(start, batch, jax.random.PRNGKey(0))
    _assert_same(pure.td3bc_params(state), scanned)


def test_scanned_sampling_gathers_rows_of_the_dataset():
    data = {"x": jnp.arange(10.0)[:, None]}
    seen = []

    def update(p, batch):
        seen.append(batch["x"].shape)
        return p + batch["x"].sum()

    total = pure.scanned(update, 3, sample=True, batch_size=4)(jnp.zeros(()), data, jax.random.PRNGKey(0))
    assert seen == [(4, 1)] and 0 <= float(total) <= 3 * 4 * 9


@pytest.mark.parametrize("name", ["iql", "td3bc"])
def test_pure_params_round_trip_the_network_structure(name):
    module = {"iql": iql, "td3bc": td3bc}[name]
    state = module.init(jax.random.PRNGKey(0), AgentSpec(17, 6), module.Config())
    params = getattr(pure, f"{name}_params")(state)
    layers = params["critic"]
    assert [w.shape for w, _ in layers] == [(2, 23, 256), (2, 256, 256), (2, 256, 1)]
    obs, act = jnp.ones((4, 17)), jnp.zeros((4, 6))
    np.testing.assert_allclose(pure.critics(layers, obs, act), state.critic.apply_fn(state.critic.params, obs, act), rtol=1e-5)


def test_update_flops_are_those_of_the_same_math(tmp_path):
    """XLA's FLOP count of seamrl's IQL update equals the pure update's (no hidden extra work) and
    the hand count of its dense layers within 8%."""
    from seamrl.bench import throughput

    trainer = throughput._trainer("iql", throughput.synthetic_dataset(tmp_path / "d.npz", n=2000), tmp_path / "run", 100)
    flops = throughput.update_flops(trainer)
    params = pure.iql_params(trainer.state)
    batch = {k: jnp.zeros((256, *s)) for k, s in trainer._shapes.items()}
    cost = jax.jit(pure.make_iql_update(trainer.config, 100)).lower(params, batch).compile().cost_analysis()
    cost = cost[0] if isinstance(cost, list) else cost
    assert flops == pytest.approx(cost["flops"], rel=1e-3)
    # dense MACs of one IQL step (2×256 nets, 17-d obs, 6-d actions; a backward pass ≈ 2 × forward):
    # V(s) fwd+bwd, twin target Q(s, a) fwd (shared by the V and actor losses), V(s') fwd,
    # twin Q(s, a) fwd+bwd, Gaussian actor (mean and log-std heads) fwd+bwd
    v, q, pi = 17 * 256 + 256 * 256 + 256, 23 * 256 + 256 * 256 + 256, 17 * 256 + 256 * 256 + 256 * 12
    macs = 256 * (3 * v + 2 * q + v + 2 * 3 * q + 3 * pi)
    assert 2 * macs == pytest.approx(flops, rel=0.08)  # the rest: elementwise ops and Adam
