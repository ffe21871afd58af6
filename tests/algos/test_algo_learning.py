"""Learning smoke tests on a one-step contextual bandit (masks 0, reward = −‖a − a*(s)‖²).

Offline algorithms train on a *mixed* dataset: half near-optimal actions, half uniform noise.
Its conditional-mean action is ≈ a*(s)/2, so plain BC (MSE regression) must land near the
reward of that mean, while IQL and TD3+BC must do clearly better than any MSE regression.
Online off-policy algorithms (SAC, TD3) use uniformly random actions as their replay buffer.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import pytest

from seamrl.algos import get
from seamrl.algos.common import AgentSpec

STEPS = 1500


def _bc_bound(h) -> float:
    """Expected reward of the regression target a*(s)/2: −E‖a*(s)/2‖²."""
    obs = jax.random.uniform(jax.random.PRNGKey(2), (4096, h.BANDIT_OBS), minval=-1.0, maxval=1.0)
    return float(-(0.25 * h.bandit_opt(obs) ** 2).sum(-1).mean())


def _train(h, name, behaviour, **cfg):
    mod = get(name)
    data = h.bandit_data(jax.random.PRNGKey(0), 8192, behaviour)
    spec = AgentSpec(h.BANDIT_OBS, h.BANDIT_ACT, offline_steps=STEPS)
    state = mod.init(jax.random.PRNGKey(1), spec, mod.Config(hidden_dims=(32, 32), **cfg))
    before = h.expected_reward(mod.act, state, jax.random.PRNGKey(2))
    state, metrics = h.train_loop(mod.update, state, data, jax.random.PRNGKey(3), STEPS)
    after = h.expected_reward(mod.act, state, jax.random.PRNGKey(2))
    for k, v in metrics.items():
        assert bool(jnp.isfinite(jnp.nanmean(v))), k
    return before, after


def test_bc_learns_the_conditional_mean_action(h):
    before, after = _train(h, "bc", "mixed", actor_lr=1e-3)
    bound = _bc_bound(h)  # ≈ −0.05
    assert after > before + 0.1, (before, after)
    assert abs(after - bound) < 0.02, (after, bound)  # MSE regression: no better, no worse


@pytest.mark.parametrize(
    "name, cfg",
    [
        ("iql", dict(actor_lr=1e-3, critic_lr=1e-3, value_lr=1e-3)),
        ("td3bc", dict(actor_lr=1e-3, critic_lr=1e-3)),
    ],
)
def test_offline_rl_beats_behaviour_cloning(h, name, cfg):
    before, after = _train(h, name, "mixed", **cfg)
    bound = _bc_bound(h)
    assert after > before + 0.1, (before, after)
    assert after > 0.5 * bound, (after, bound)  # at least twice closer to a* than BC's optimum


@pytest.mark.parametrize("name", ["sac", "td3"])
def test_online_off_policy_moves_toward_optimum(h, name):
    before, after = _train(h, name, "uniform", actor_lr=1e-3, critic_lr=1e-3)
    assert after > before + 0.1, (before, after)
    assert after > -0.03, after
