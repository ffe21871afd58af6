"""Cal-QL (§7.9): CQL whose policy-sample values are lifted to max(Q, G^MC) before the logsumexp.

G^MC(s_t) = Σ_{k≥t} γ^{k−t} r_k over the rest of s_t's episode (transformed rewards); an episode made
only of the failure reward r_f gets r_f / (1 − γ). Online episodes get theirs when they end.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from seamrl.algos import calql, cql
from seamrl.data import Dataset

from test_algo_cql import ACT, FAST, NA, N, OBS, _candidates, _critic_np, _lse_np, _np, bandit_run, pendulum_npz  # noqa: F401
from test_algo_cql import _state as _cql_state


def test_calibrated_logsumexp_scalar_hand_value():
    # Q(s, ã) = 2 for the π(·|s) sample, 0 for the π(·|s') sample, 1 for the uniform one; G = 1.5:
    # x = [1 + 2 ln 2 (uniform, untouched), max(0, 1.5) − 0.3, max(2, 1.5) + 0.5]
    q = lambda v: jnp.full((1, 1, 1), v)  # noqa: E731
    lp = lambda v: jnp.full((1, 1), v)  # noqa: E731
    got = cql.conservative_logsumexp(q(1.0), q(2.0), lp(-0.5), q(0.0), lp(0.3), 2, lower_bound=jnp.array([1.5]))
    expected = math.log(math.exp(1.0 + 2 * math.log(2)) + math.exp(1.5 - 0.3) + math.exp(2.5))
    np.testing.assert_allclose(got, [[expected]], rtol=1e-6)


def test_calibration_lifts_policy_samples_only():
    """§9.2 item 7: no policy-sample value stays below G; uniform samples are untouched."""
    rng = np.random.default_rng(1)
    q_u, q_c, q_n = (rng.normal(size=(2, NA, N)) for _ in range(3))
    lp_c, lp_n = rng.normal(size=(NA, N)), rng.normal(size=(NA, N))
    bound = rng.normal(size=N)
    args = [jnp.asarray(x, jnp.float32) for x in (q_u, q_c, lp_c, q_n, lp_n)]
    got = cql.conservative_logsumexp(*args, ACT, lower_bound=jnp.asarray(bound, jnp.float32))
    np.testing.assert_allclose(got, _lse_np(q_u, q_c, lp_c, q_n, lp_n, ACT, bound=bound), rtol=1e-5)
    assert ((q_c < bound).any() and (q_c > bound).any())  # both regimes exercised
    # G = −∞ is exactly CQL; a huge G dominates every policy term but leaves the uniform ones in
    no_bound = cql.conservative_logsumexp(*args, ACT, lower_bound=jnp.full(N, -jnp.inf))
    np.testing.assert_allclose(no_bound, cql.conservative_logsumexp(*args, ACT), rtol=1e-6)
    assert bool((got >= no_bound - 1e-6).all())
    huge = 50.0
    got_huge = cql.conservative_logsumexp(*args, ACT, lower_bound=jnp.full(N, huge))
    np.testing.assert_allclose(got_huge, _lse_np(q_u, np.full_like(q_c, huge), lp_c, np.full_like(q_n, huge), lp_n, ACT), rtol=1e-6)
    # the uniform candidates still count: raising them raises the result
    lifted = cql.conservative_logsumexp(args[0] + 100.0, *args[1:], ACT, lower_bound=jnp.full(N, huge))
    assert bool((lifted > got_huge + 1.0).all())


def test_calql_critic_loss_uses_batch_mc_returns(h):
    state = _cql_state(h)
    batch = h.random_batch(jax.random.PRNGKey(1), N, OBS, ACT)
    cand, target = _candidates(2), jnp.zeros(N)
    mc = jnp.linspace(-2.0, 6.0, N)
    bound = calql.mc_lower_bound({**batch, "mc_returns": mc})
    np.testing.assert_array_equal(bound, mc)
    loss, info = cql.critic_loss(state.critic.params, state, batch, target, cand, jnp.ones(()), bound)
    loss_cql, _ = cql.critic_loss(state.critic.params, state, batch, target, cand, jnp.ones(()))
    assert float(loss) > float(loss_cql)  # lifting the push-down terms only raises CQL_k(s)
    p, c = _np(state.critic.params), _np(cand)
    q_cur = _critic_np(p, np.broadcast_to(np.asarray(batch["observations"]), (NA, N, OBS)), c.current)
    np.testing.assert_allclose(info["calql_bound_rate"], (q_cur < np.asarray(mc)).mean(), rtol=1e-6)
    assert 0.0 < float(info["calql_bound_rate"]) < 1.0
    # without the column (synthetic batches) there is no calibration
    assert bool(jnp.isneginf(calql.mc_lower_bound(batch)).all())


def _dataset(rewards, terminals, timeouts):
    n = len(rewards)
    obs = np.arange(n, dtype=np.float32)[:, None]
    return Dataset(observations=obs, actions=np.zeros((n, 1)), rewards=np.asarray(rewards, np.float32),
                   next_observations=obs + 1.0, terminals=np.asarray(terminals, bool), timeouts=np.asarray(timeouts, bool))


def test_prepare_dataset_mc_returns_on_transformed_rewards():
    # two episodes: rows 0-2 end in a terminal, rows 3-4 in a time-out (truncated, not bootstrapped)
    ds = _dataset([1.0, 2.0, 3.0, -1.0, 4.0], [0, 0, 1, 0, 0], [0, 0, 0, 0, 1])
    cfg = calql.Config(discount=0.5, reward_scale=10.0, reward_shift=-5.0)
    out = calql.prepare_dataset(ds, cfg)
    r = 10.0 * np.array([1.0, 2.0, 3.0, -1.0, 4.0]) - 5.0  # [5, 15, 25, −15, 35]
    expected = [r[0] + 0.5 * r[1] + 0.25 * r[2], r[1] + 0.5 * r[2], r[2], r[3] + 0.5 * r[4], r[4]]
    np.testing.assert_allclose(out.infos["mc_returns"], expected, rtol=1e-6)
    np.testing.assert_array_equal(out.rewards, ds.rewards)  # the dataset itself stays raw
    # the online twin gives the same numbers for the same transformed rewards
    np.testing.assert_allclose(calql.episode_columns(cfg, r[:3])["mc_returns"], expected[:3], rtol=1e-6)
    np.testing.assert_allclose(calql.episode_columns(cfg, r[3:])["mc_returns"], expected[3:], rtol=1e-6)


def test_sparse_failure_episodes_get_the_failure_value():
    # AntMaze-style: raw 0 = failure → 10·0 − 5 = −5; episode 2 reaches the goal (raw 1 → +5)
    ds = _dataset([0.0, 0.0, 0.0, 0.0, 1.0], [0, 0, 0, 0, 1], [0, 0, 1, 0, 0])
    cfg = calql.Config(discount=0.9, reward_scale=10.0, reward_shift=-5.0, sparse_failure_reward=-5.0)
    mc = calql.prepare_dataset(ds, cfg).infos["mc_returns"]
    np.testing.assert_allclose(mc[:3], -5.0 / (1 - 0.9), rtol=1e-6)  # −50, not the truncated −13.55
    np.testing.assert_allclose(mc[3:], [-5.0 + 0.9 * 5.0, 5.0], rtol=1e-6)
    np.testing.assert_allclose(calql.episode_columns(cfg, np.full(4, -5.0))["mc_returns"], -50.0, rtol=1e-6)
    # without the option the failure episode is just truncated
    mc_plain = calql.prepare_dataset(ds, calql.Config(discount=0.9, reward_scale=10.0, reward_shift=-5.0)).infos["mc_returns"]
    np.testing.assert_allclose(mc_plain[0], -5.0 * (1 + 0.9 + 0.81), rtol=1e-6)


def test_calql_presets_match_spec():
    c = calql.Config()
    assert isinstance(c, cql.Config) and c.normalize_observations is False and c.dataset_action_clip == 1e-5
    a = calql.Config(**calql.PRESETS["antmaze"])
    assert (a.cql_alpha, a.cql_lagrange, a.cql_target_gap, a.hidden_dims, a.critic_hidden_dims) == (5.0, True, 0.8, (256, 256), (256,) * 4)
    assert (a.reward_scale, a.reward_shift, a.sparse_failure_reward) == (10.0, -5.0, -5.0)
    d = calql.Config(**calql.PRESETS["adroit"])
    assert (d.cql_alpha, d.hidden_dims, d.critic_hidden_dims, d.reward_scale, d.reward_shift) == (1.0, (512, 512), (512,) * 3, 10.0, 5.0)


def test_calql_learns_bandit(h):
    before, after = bandit_run(h, "calql", mc=True, **FAST)
    assert after > before + 0.1 and after > -0.025, (before, after)


# ------------------------------------------------------------------------- offline-to-online


@pytest.mark.parametrize("replay_init", ["half"])
def test_calql_offline_to_online_writes_online_mc_returns(tmp_path, replay_init, pendulum_npz):  # noqa: F811
    from seamrl.config import RunConfig
    from seamrl.train import Trainer

    run = RunConfig(algo="calql", task="Pendulum-v1", setting="offline-to-online", dataset=str(pendulum_npz), offline_steps=100,
                    online_steps=450, eval_every=450, eval_episodes=1, updates_per_call=100, replay_init=replay_init, update_every=50,
                    checkpoint_every=300, out=str(tmp_path / "run"), agent={"hidden_dims": (16, 16), "cql_n_actions": 2})
    trainer = Trainer(run, run.out, quiet=True)
    summary = trainer.fit()
    assert summary["grad_steps"] == 100 + 450
    rows = {k: np.asarray(v[: int(trainer.online.size)], np.float64) for k, v in trainer.online.arrays.items()}
    assert len(rows["rewards"]) == 450
    # Pendulum episodes are 200 steps; the checkpoint at env step 300 cuts the second one (a time-out)
    for lo, hi in ((0, 200), (200, 300), (300, 450)):
        r, mc = rows["rewards"][lo:hi], rows["mc_returns"][lo:hi]
        if hi == 450:  # still running at the end of the phase: no bound yet
            assert np.isneginf(mc).all()
            continue
        expected = [sum(0.99**k * x for k, x in enumerate(r[t:])) for t in range(len(r))]
        np.testing.assert_allclose(mc, expected, rtol=1e-4, atol=1e-3)
    assert rows["mc_returns"][:300].min() < -10.0  # real (negative) Pendulum returns-to-go
    offline = np.asarray(trainer.offline.arrays["mc_returns"][: int(trainer.offline.size)])
    np.testing.assert_allclose(offline, trainer.dataset.infos["mc_returns"], rtol=1e-6)
