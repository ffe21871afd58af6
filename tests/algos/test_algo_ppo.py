"""PPO (§7.4, §4.8) against hand computations, and a learning smoke test through the trainer.

GAE:      δ_t = r_t + γ (1 − d_t) V(s'_t) − V(s_t),   Â_t = δ_t + γλ (1 − done_t) Â_{t+1}
Actor:    −mean min(ρ Â, clip(ρ, 1 ± ε) Â)
Critic:   ½ mean max((V − R)², (V_old + clip(V − V_old, ±ε) − R)²)
"""

from __future__ import annotations

import gymnasium as gym
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from seamrl.algos import ppo
from seamrl.algos.common import AgentSpec
from seamrl.config import RunConfig
from seamrl.data.rollout import ROLLOUT_KEYS, gae
from seamrl.train import train


def test_gae_hand_computed_with_terminal_and_timeout_in_the_middle():
    g, lam = 0.9, 0.5
    r = np.array([1.0, 2.0, 0.5, -1.0, 3.0])
    v = np.array([0.5, 1.0, 2.0, -0.5, 1.5])
    v_next = np.array([1.0, 7.0, 4.0, 0.25, 2.0])  # V(s'_t); index 1 is a terminal state, 3 a time-out state
    term = np.array([0, 1, 0, 0, 0], float)
    timeout = np.array([0, 0, 0, 1, 0], float)
    # episode A: t = 0, 1 (terminal at 1: no bootstrap); episode B: t = 2, 3 (time-out at 3: bootstrap
    # from V(s'_3) = 0.25, no carry-over); episode C: t = 4, cut by the rollout end (bootstrap 2.0)
    d = [1 + 0.9 * 1.0 - 0.5, 2.0 - 1.0, 0.5 + 0.9 * 4.0 - 2.0, -1.0 + 0.9 * 0.25 + 0.5, 3.0 + 0.9 * 2.0 - 1.5]
    expected = [d[0] + 0.45 * d[1], d[1], d[2] + 0.45 * d[3], d[3], d[4]]
    np.testing.assert_allclose(d, [1.4, 1.0, 2.1, -0.275, 3.3], rtol=1e-12)
    adv = gae(*(jnp.asarray(x, jnp.float32)[:, None] for x in (r, v, v_next, term, np.maximum(term, timeout))), g, lam)
    np.testing.assert_allclose(np.asarray(adv)[:, 0], expected, rtol=1e-6)
    # time-major with several envs: env columns are independent
    two = gae(*(jnp.asarray(np.stack([x, x[::-1]], 1), jnp.float32) for x in (r, v, v_next, term, np.maximum(term, timeout))), g, lam)
    np.testing.assert_allclose(np.asarray(two)[:, 0], expected, rtol=1e-6)


def test_clipped_surrogate_hand_values():
    # ρ = exp(log π − log π_old): 1.5 (A>0: clipped at 1.2), 0.5 (A>0: unclipped 0.5),
    # 1.5 (A<0: unclipped, pessimistic 1.5), 0.5 (A<0: clipped at 0.8), 1.1 (inside the range)
    ratio = np.array([1.5, 0.5, 1.5, 0.5, 1.1])
    adv = np.array([2.0, 2.0, -1.0, -1.0, 3.0])
    per_sample = [1.2 * 2.0, 0.5 * 2.0, 1.5 * -1.0, 0.8 * -1.0, 1.1 * 3.0]
    loss, clip_frac, approx_kl = ppo.clipped_surrogate(jnp.log(jnp.asarray(ratio)), jnp.zeros(5), jnp.asarray(adv), 0.2)
    np.testing.assert_allclose(loss, -np.mean(per_sample), rtol=1e-6)
    np.testing.assert_allclose(clip_frac, 0.8, rtol=1e-6)  # all but ρ = 1.1 lie outside [0.8, 1.2]
    np.testing.assert_allclose(approx_kl, np.mean(ratio - 1 - np.log(ratio)), rtol=1e-5)


def test_clipped_value_loss_hand_values():
    v = jnp.array([1.0, 3.0, 0.0])
    v_old = jnp.array([0.0, 2.9, 1.0])
    ret = jnp.array([2.0, 0.0, -2.0])
    # sample 0: V − V_old = 1 clipped to 0.2 → (0.2 − 2)² = 3.24 > (1 − 2)² = 1
    # sample 1: inside the clip range → both terms (3 − 0)² = 9
    # sample 2: V − V_old = −1 clipped to −0.2 → (0.8 + 2)² = 7.84 > (0 + 2)² = 4
    np.testing.assert_allclose(ppo.clipped_value_loss(v, v_old, ret, 0.2), 0.5 * np.mean([3.24, 9.0, 7.84]), rtol=1e-6)
    np.testing.assert_allclose(ppo.clipped_value_loss(v, v_old, ret, 0.2, clip_value=False), 0.5 * np.mean([1.0, 9.0, 4.0]), rtol=1e-6)


def _rollout(key, t, n, obs_dim=3, act_dim=2):
    ks = jax.random.split(key, 5)
    return {
        "observations": jax.random.normal(ks[0], (t, n, obs_dim)),
        "actions": jax.random.uniform(ks[1], (t, n, act_dim), minval=-1.0, maxval=1.0),
        "rewards": jax.random.normal(ks[2], (t, n)),
        "terminals": (jax.random.uniform(ks[3], (t, n)) < 0.1).astype(jnp.float32),
        "timeouts": (jax.random.uniform(ks[4], (t, n)) < 0.1).astype(jnp.float32),
        "next_observations": jax.random.normal(ks[0], (t, n, obs_dim)) + 0.1,
    }


def test_update_rollout_protocol_lr_decay_and_first_minibatch_is_on_policy():
    cfg = ppo.Config(num_steps=16, num_minibatches=4, update_epochs=2, hidden_dims=(8,))
    spec = AgentSpec(3, 2, online_steps=16 * 2 * 4, num_envs=2)  # four rollouts
    state = ppo.init(jax.random.PRNGKey(0), spec, cfg)
    rollout = _rollout(jax.random.PRNGKey(1), 16, 2)
    assert set(rollout) == set(ROLLOUT_KEYS)
    update = jax.jit(ppo.update_rollout)
    new, metrics = update(state, rollout)
    assert int(new.step) == 1 and int(new.actor.step) == cfg.grad_steps_per_rollout == 8
    assert all(jnp.shape(v) == () and np.isfinite(float(v)) for v in metrics.values())
    assert {"actor_loss", "value_loss", "entropy", "clip_frac", "approx_kl", "explained_variance"} <= set(metrics)
    again, _ = update(state, rollout)  # pure
    for a, b in zip(jax.tree_util.tree_leaves(new), jax.tree_util.tree_leaves(again)):
        np.testing.assert_array_equal(a, b)
    # samples are built from the collecting parameters: ratio 1 and V = V_old at the start
    samples = ppo.prepare(state, rollout)
    mean, log_std = state.actor.apply_fn(state.actor.params, samples["observations"])
    np.testing.assert_allclose(samples["log_probs"], ppo.normal_log_prob(samples["actions"], mean, log_std), rtol=1e-6)
    # lr decays linearly per rollout: 1, 3/4, 1/2, 1/4 of the initial value, then 0
    sched = ppo.rollout_lr(1.0, 8, 4, True)
    np.testing.assert_allclose([sched(c) for c in (0, 7, 8, 16, 31, 32, 40)], [1, 1, 0.75, 0.5, 0.25, 0, 0])


# ------------------------------------------------------------------------------------------
# A tiny multi-step task: a point in the plane moved by 0.2·a towards the origin.


class PointGoal(gym.Env):
    """x' = clip(x + 0.2 a, ±2), reward −‖x'‖, terminal when ‖x'‖ < 0.1; 30-step time limit.

    Random actions score about −30; steering straight to the origin about −3.
    """

    observation_space = gym.spaces.Box(-2.0, 2.0, (2,), np.float32)
    action_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        self.x = self.np_random.uniform(-1.5, 1.5, 2).astype(np.float32)
        return self.x.copy(), {}

    def step(self, action):
        self.x = np.clip(self.x + 0.2 * np.asarray(action, np.float32), -2.0, 2.0).astype(np.float32)
        dist = float(np.linalg.norm(self.x))
        return self.x.copy(), -dist, dist < 0.1, False, {}


TASK = "SeamrlTest/PointGoal-v0"
if TASK not in gym.registry:
    gym.register(TASK, entry_point=PointGoal, max_episode_steps=30)


@pytest.mark.parametrize("num_envs", [2])
def test_ppo_learns_point_goal_through_the_trainer(tmp_path, num_envs):
    run = RunConfig(algo="ppo", task=TASK, setting="online", online_steps=12_288, eval_every=12_288, eval_episodes=20,
                    num_envs=num_envs, seed=0, out=str(tmp_path / "ppo"),
                    agent={"num_steps": 256, "num_minibatches": 4, "update_epochs": 10, "actor_lr": 1e-3, "critic_lr": 1e-3})
    summary, _ = train(run, quiet=True)
    assert summary["env_steps"] == 12_288 and summary["grad_steps"] == 24 * 40
    assert summary["initial"] < -15, summary
    assert summary["final"] > -6, summary
