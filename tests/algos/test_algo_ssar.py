"""SSAR (§5): β network, thresholds C_n / slack e, linear β loss, n schedule, trust flags, annealing.

CQL(SA):    C_{n,d} = min log p_d(u±_d),  u± = clip(tanh(m ± nσ), ±0.99999) within tanh(m) ± 0.1 n
            e = mean_d (max(log p_d(a_d), C_{10,d}) − C_{n,d})
TD3+BC(SA): e = n² δ² − mean_d min((π(s) − a)_d², 1)
L_β = mean_i e_i β(s_i) τ_i;  β(s) = 1.5 β_init sigmoid(z(s))
"""

from __future__ import annotations

import dataclasses
import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from seamrl.algos import cql_sa, ssar, td3bc, td3bc_sa
from seamrl.algos.common import AgentSpec
from seamrl.data import Dataset
from seamrl.errors import ConfigError
from seamrl.train.trainer import Phase

from test_algo_cql import FAST, bandit_run, pendulum_npz  # noqa: F401

OBS, ACT, N = 3, 2, 64


def _init(module, config):
    """``module.init`` compiled as one program (much faster than op-by-op on a busy CPU)."""
    return jax.jit(module.init, static_argnums=(1, 2))(jax.random.PRNGKey(0), AgentSpec(OBS, ACT), config)


def _log_p_np(x, m, log_std):
    """Per-dimension tanh-Gaussian log-density at x ∈ (−1, 1)."""
    u, s = np.arctanh(x), np.exp(log_std)
    return -0.5 * ((u - m) / s) ** 2 - log_std - 0.5 * np.log(2 * np.pi) - np.log(1 - x**2)


def _threshold_np(m, log_std, n):
    centre, s = np.tanh(m), np.exp(log_std)
    pts = [np.clip(np.clip(np.tanh(m + k * n * s), -0.99999, 0.99999), centre - 0.1 * n, centre + 0.1 * n) for k in (1, -1)]
    return np.minimum(_log_p_np(pts[0], m, log_std), _log_p_np(pts[1], m, log_std))


def test_cql_threshold_hand_computation():
    m = np.array([[0.3, -1.2], [2.0, 0.0]])
    log_std = np.array([[-2.0, -0.5], [0.5, -3.0]])
    for n in (1.0, 3.0):
        got = cql_sa.threshold(jnp.asarray(m, jnp.float32), jnp.asarray(log_std, jnp.float32), n)
        np.testing.assert_allclose(got, _threshold_np(m, log_std, n), rtol=1e-4, atol=1e-4)
    # both regimes: large σ puts the n-σ point beyond tanh(m) ± 0.1 n (capped), small σ does not
    raw = np.tanh(m - 3.0 * np.exp(log_std))
    capped = np.abs(raw - np.tanh(m)) > 0.3
    assert capped.any() and not capped.all()


def test_cql_slack_hand_computation(h):
    state = _init(cql_sa, cql_sa.Config(hidden_dims=(8,), beta_hidden_dims=(8,)))
    state = state.replace(ssar=state.ssar.replace(n=jnp.asarray(2.0, jnp.float32)))
    batch = h.random_batch(jax.random.PRNGKey(1), N, OBS, ACT)
    batch["actions"] = batch["actions"].at[0].set(jnp.array([0.999, -0.999]))  # far out: floored at C_10
    m, log_std = (np.asarray(x, np.float64) for x in state.actor.apply_fn(state.actor.params, batch["observations"]))
    a = np.asarray(batch["actions"], np.float64)
    data = np.maximum(_log_p_np(a, m, log_std), _threshold_np(m, log_std, 10.0))
    expected = (data - _threshold_np(m, log_std, 2.0)).mean(-1)
    np.testing.assert_allclose(cql_sa.slack(state, batch), expected, rtol=1e-3, atol=1e-3)
    assert (_log_p_np(a, m, log_std) < _threshold_np(m, log_std, 10.0)).any()  # the floor is exercised


def test_td3bc_slack_hand_computation(h):
    state = _init(td3bc_sa, td3bc_sa.Config(hidden_dims=(8,), beta_hidden_dims=(8,)))
    state = state.replace(ssar=state.ssar.replace(n=jnp.asarray(2.5, jnp.float32)))
    batch = h.random_batch(jax.random.PRNGKey(2), N, OBS, ACT)
    batch["actions"] = batch["actions"].at[:4].multiply(-1.0)
    pi = np.asarray(state.actor.apply_fn(state.actor.params, batch["observations"]), np.float64)
    d2 = (pi - np.asarray(batch["actions"], np.float64)) ** 2
    expected = (2.5 * 0.1) ** 2 - np.minimum(d2, 1.0).mean(-1)
    np.testing.assert_allclose(td3bc_sa.slack(state, batch), expected, rtol=1e-5, atol=1e-6)


@functools.lru_cache
def _base(module):
    return _init(module, module.Config(hidden_dims=(8,), beta_hidden_dims=(16,)))


def _sa_state(module=cql_sa, beta_lr=1e-2, **cfg):
    """The cached initial state of ``module`` with other (non-network) options and β lr."""
    state = _base(module)
    config = dataclasses.replace(state.config, beta_lr=beta_lr, **cfg)
    tx = optax.chain(optax.clip_by_global_norm(config.beta_grad_clip), optax.adam(beta_lr))
    return state.replace(config=config, ssar=state.ssar.replace(beta=state.ssar.beta.replace(tx=tx)))


def test_beta_net_init_and_range():
    state = _init(cql_sa, cql_sa.Config(hidden_dims=(8,), beta_hidden_dims=(16,), cql_alpha=4.0))
    beta = ssar.beta_values(state, jnp.zeros((1, OBS)))
    np.testing.assert_allclose(beta, 4.0, rtol=1e-6)  # zero hidden biases, output bias ln 2: β(0) = β_init
    far = ssar.beta_values(state, 3.0 * jax.random.normal(jax.random.PRNGKey(1), (256, OBS)))
    assert float(far.min()) > 0.0 and float(far.max()) < 6.0 and float(far.std()) > 0.1  # (0, 1.5 β_init), state-dependent
    assert state.ssar.beta_init == 4.0 and _sa_state(td3bc_sa).ssar.beta_init == 0.4


def test_beta_loss_value_and_gradient_sign(h):
    state = _sa_state()
    obs = jax.random.normal(jax.random.PRNGKey(3), (N, OBS))
    e = jnp.linspace(-1.0, 1.0, N)
    tau = (jnp.arange(N) % 3 != 0).astype(jnp.float32)
    beta = ssar.beta_values(state, obs)
    loss, _ = ssar.beta_loss(state.ssar.beta.params, state, obs, e, tau)
    np.testing.assert_allclose(loss, float((e * beta * tau).mean()), rtol=1e-5)
    # dL/dβ_i = e_i τ_i / B: gradient descent lowers β where e > 0 and raises it where e < 0
    g = jax.grad(lambda b: (jax.lax.stop_gradient(e) * b * tau).mean())(beta)
    np.testing.assert_allclose(g, e * tau / N, rtol=1e-6)


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_beta_moves_monotonically_and_saturates(h, sign):
    """§9.2 item 6: e > 0 everywhere ⇒ β decreases monotonically; e < 0 ⇒ increases, saturating at 1.5 β_init."""
    state = _sa_state(beta_lr=3e-2, n_update_period=10**9)
    batch = h.random_batch(jax.random.PRNGKey(4), N, OBS, ACT)
    slack = jnp.full((N,), sign)

    @jax.jit
    def run(state):
        def body(s, _):
            s, _ = ssar.beta_step(s, batch, slack, s.step, jnp.asarray(True))
            return s, ssar.beta_values(s, batch["observations"]).mean()

        return jax.lax.scan(body, state, None, length=300)

    state, means = run(state)
    means = np.concatenate([[float(ssar.beta_values(_sa_state(), batch["observations"]).mean())], np.asarray(means)])
    steps = np.diff(means)
    if sign > 0:
        assert (steps <= 1e-7).all() and means[-1] < 0.1 * means[0], means[[0, -1]]
    else:
        assert (steps >= -1e-6).all() and means[-1] > 0.99 * 15.0, means[[0, -1]]  # 1.5 β_init, β_init = α_cql = 10
        assert float(ssar.beta_values(state, batch["observations"]).max()) <= 15.0


def test_n_schedule_grows_then_freezes(h):
    state = _sa_state(n_start=1.0, n_end=3.0, n_update_period=5)
    batch = h.random_batch(jax.random.PRNGKey(5), 8, OBS, ACT)
    step = jax.jit(ssar.beta_step)
    ns = []
    for it in range(1, 31):
        slack = jnp.full((8,), -1.0 if it < 20 else 1.0)
        state, info = step(state, batch, slack, jnp.asarray(it), jnp.asarray(True))
        ns.append(float(state.ssar.n))
    # checks at it = 5, 10, 15 grow n by (3 − 1)/10; at it = 20 mean e > 0 freezes it for good
    np.testing.assert_allclose(ns[3:5], [1.0, 1.2], rtol=1e-6)
    np.testing.assert_allclose([ns[9], ns[14], ns[19], ns[29]], [1.4, 1.6, 1.6, 1.6], rtol=1e-6)
    assert bool(state.ssar.n_frozen)
    # capped at n_end; untrusted rows do not count in the mean (here they alone have e > 0)
    state = _sa_state(n_start=1.0, n_end=1.1, n_update_period=1, n_increments=2)
    batch["trust"] = jnp.array([1.0, 1, 1, 1, 0, 0, 0, 0])
    slack = jnp.array([-1.0, -1, -1, -1, 50, 50, 50, 50])
    for it in range(1, 4):
        state, info = step(state, batch, slack, jnp.asarray(it), jnp.asarray(True))
    np.testing.assert_allclose(float(state.ssar.n), 1.1, rtol=1e-6)
    np.testing.assert_allclose(info["ssar_slack"], -1.0) and np.testing.assert_allclose(info["trust_frac"], 0.5)


def test_coefficient_selective_and_annealed(h):
    batch = h.random_batch(jax.random.PRNGKey(6), N, OBS, ACT)
    batch["trust"] = (jnp.arange(N) % 2).astype(jnp.float32)
    for module, schedule, expected in ((cql_sa, "cosine", math.cos(math.pi / 2 * 0.25)), (td3bc_sa, "linear", 0.75)):
        state = _sa_state(module, beta_decay_steps=400)
        beta = np.asarray(ssar.beta_values(state, batch["observations"]))
        w, info = ssar.coefficient(state, batch, schedule)
        np.testing.assert_allclose(w, beta * np.asarray(batch["trust"]), rtol=1e-6)  # offline: β · τ
        np.testing.assert_allclose(info["beta_mean"], beta.mean(), rtol=1e-6)
        np.testing.assert_allclose([info["beta_p10"], info["beta_p50"], info["beta_p90"]], np.quantile(beta, [0.1, 0.5, 0.9]), rtol=1e-5)
        loose = state.replace(config=dataclasses.replace(state.config, loosen_bound=False))
        np.testing.assert_allclose(ssar.coefficient(loose, batch, schedule)[0], beta, rtol=1e-6)
        # online, N = 100 of N_end = 400 steps after the switch: linear 0.75 (TD3+BC), cos(π/8) (CQL)
        online = ssar.begin_phase(state.replace(step=jnp.asarray(1000, jnp.int32)), Phase("online", 10, 1))
        assert int(online.ssar.online_start) == 1000
        w, _ = ssar.coefficient(online.replace(step=jnp.asarray(1100, jnp.int32)), batch, schedule)
        np.testing.assert_allclose(w, beta * np.asarray(batch["trust"]) * expected, rtol=1e-5)
        w_end, _ = ssar.coefficient(online.replace(step=jnp.asarray(2000, jnp.int32)), batch, schedule)
        assert float(jnp.abs(w_end).max()) == 0.0  # floor 0 after N_end
        # β and n are frozen online
        frozen, _ = ssar.beta_step(online, batch, jnp.full((N,), -1.0), online.step, jnp.asarray(True))
        for a, b in zip(jax.tree_util.tree_leaves(frozen.ssar.beta), jax.tree_util.tree_leaves(online.ssar.beta)):
            np.testing.assert_array_equal(a, b)


def test_td3bc_sa_with_constant_beta_is_td3bc_over_alpha(h):
    """§5.7: β ≡ 0.4 = 1/2.5 turns TD3+BC(SA)'s actor loss into TD3+BC's (α = 2.5) divided by 2.5."""
    sa = _sa_state(td3bc_sa)
    plain = _init(td3bc, td3bc.Config(hidden_dims=(8,)))
    plain = plain.replace(actor=sa.actor, critic=sa.critic)
    batch = h.random_batch(jax.random.PRNGKey(7), N, OBS, ACT)
    loss_sa, _ = td3bc.td3bc_actor_loss(sa.actor.params, sa, {**batch, "reg_weight": jnp.full((N,), 0.4)})
    loss, _ = td3bc.td3bc_actor_loss(plain.actor.params, plain, batch)
    np.testing.assert_allclose(loss_sa, loss / 2.5, rtol=1e-5)


def test_cql_sa_penalty_uses_beta_not_alpha(h):
    state = _sa_state(cql_alpha=10.0, beta_lr=0.0)
    batch = h.random_batch(jax.random.PRNGKey(8), 32, OBS, ACT)
    batch["trust"] = (jnp.arange(32) < 8).astype(jnp.float32)
    w, _ = ssar.coefficient(state, batch, "cosine")
    new, metrics = jax.jit(cql_sa.update)(state, batch)
    np.testing.assert_allclose(metrics["reg_weight_mean"], float(w.mean()), rtol=1e-6)
    assert float(w[8:].max()) == 0.0 and float(w[:8].min()) > 0.0  # regulariser only on D̂ (loosen_bound)
    assert {"beta_mean", "beta_p10", "beta_p50", "beta_p90", "beta_loss", "ssar_n", "cql_gap"} <= set(metrics)


# ---------------------------------------------------------------------------- trust flags (§5.5)


def _episodes(returns, length=4, name="toy-v0"):
    rows = len(returns) * length
    rewards = np.repeat(np.asarray(returns, np.float32) / length, length)
    timeouts = np.zeros(rows, bool)
    timeouts[length - 1 :: length] = True
    obs = np.arange(rows, dtype=np.float32)[:, None]
    return Dataset(observations=obs, actions=np.zeros((rows, 1)), rewards=rewards, next_observations=obs + 1.0,
                   terminals=np.zeros(rows, bool), timeouts=timeouts, name=name)


def test_trust_flags_by_return_threshold_success_and_table():
    ds = _episodes([100.0, 300.0, 200.0])
    cfg = cql_sa.Config(trust_selection="traj", return_threshold=150.0)
    np.testing.assert_array_equal(ssar.trust_flags(ds, cfg, 0), np.repeat([0.0, 1.0, 1.0], 4))
    out = cql_sa.prepare_dataset(ds, cfg)
    np.testing.assert_array_equal(out.infos["trust"], np.repeat([0.0, 1.0, 1.0], 4))
    # flags travel with rows through replay_init=part (top episodes)
    top = out.top_episodes(k=1)
    assert (top.infos["trust"] == 1.0).all() and len(top) == 4
    # success: the episode's last reward is above the failure reward
    maze = _episodes([0, 0, 0], name="antmaze-umaze-v2")
    maze = dataclasses.replace(maze, rewards=np.where(np.arange(12) == 7, 1.0, 0.0).astype(np.float32))
    np.testing.assert_array_equal(ssar.trust_flags(maze, cql_sa.Config(), 0), np.repeat([0.0, 1.0, 0.0], 4))
    # auto: §5.8 table by dataset name, per backbone
    assert ssar.resolve_selection("hopper-medium-v2", cql_sa.Config(), 0) == ("traj", 2500, 0.7)
    assert ssar.resolve_selection("hopper-medium-v2", td3bc_sa.Config(), 1) == ("traj", 1800, 0.7)
    with pytest.warns(UserWarning, match="n_end=1.5"):
        assert ssar.resolve_selection("hopper-medium-expert-v2", cql_sa.Config(), 0) == ("iql", None, 0.5)
    with pytest.warns(UserWarning, match="every transition is trusted"):
        assert ssar.resolve_selection("toy-v0", cql_sa.Config(), 0)[0] == "all"
    assert ssar.batch_columns(cql_sa.Config()) == {"trust": 1.0}


def test_suite_data_under_a_d4rl_name_does_not_get_d4rl_return_thresholds(monkeypatch):
    """seamrl's hopper-medium-v0 has its own return scale: the table's traj rule (G_T 1800) becomes the
    data-relative IQL-advantage rule; the same name from a D4RL file keeps G_T."""
    from seamrl.data import suite

    assert ssar.resolve_selection("hopper-medium-v0", td3bc_sa.Config(), 1, own_scale=True) == ("iql", None, 0.7)
    assert ssar.resolve_selection("hopper-medium-v0", td3bc_sa.Config(), 1) == ("traj", 1800, 0.7)
    built = _episodes([100.0, 300.0], name="hopper-medium-v0")
    assert suite.is_suite_dataset(dataclasses.replace(built, source=str(suite.path_of("hopper-medium-v0"))))
    assert not suite.is_suite_dataset(dataclasses.replace(built, source="/data/d4rl/hopper-medium-v0.hdf5"))
    seen = {}
    monkeypatch.setattr(ssar, "iql_advantage_flags", lambda ds, expectile, steps, seed=0: seen.setdefault("iql", np.ones(len(ds), bool)))
    suite_built = dataclasses.replace(built, source="seamrl suite: hopper-medium-v0")
    assert ssar.trust_flags(suite_built, td3bc_sa.Config(), 1).all() and "iql" in seen


def test_a_selection_that_trusts_almost_nothing_is_refused():
    ds = _episodes([100.0] * 150 + [300.0])  # one episode of 151 above G_T: 0.7% of the rows
    with pytest.raises(ConfigError, match=r"trusts 4 of 604 rows \(0.7%\) .* G_T = 150.*median 100"):
        ssar.trust_flags(ds, cql_sa.Config(trust_selection="traj", return_threshold=150.0), 0)


def test_iql_trust_flags_pick_better_actions(h, tmp_path, monkeypatch):
    monkeypatch.setenv("SEAMRL_DATA", str(tmp_path))
    data = jax.tree_util.tree_map(np.asarray, h.bandit_data(jax.random.PRNGKey(0), 2048, "mixed"))
    ds = Dataset(observations=data["observations"], actions=data["actions"], rewards=data["rewards"],
                 next_observations=data["next_observations"], terminals=np.ones(2048, bool), timeouts=np.zeros(2048, bool), name="bandit")
    flags = ssar.iql_advantage_flags(ds, expectile=0.7, steps=400)
    assert 0.2 < flags.mean() < 0.8  # about the near-optimal half of the rows (plus lucky uniform ones)
    assert data["rewards"][flags].mean() > data["rewards"][~flags].mean() + 0.2
    assert len(list((tmp_path / "ssar").glob("iql-*.npy"))) == 1
    np.testing.assert_array_equal(ssar.iql_advantage_flags(ds, expectile=0.7, steps=400), flags)  # from the cache


# ---------------------------------------------------------------------------- learning and trainer


@pytest.mark.parametrize("name", ["cql_sa", "td3bc_sa"])
def test_ssar_learns_bandit(h, name):
    cfg = dict(FAST, beta_hidden_dims=(32,)) if name == "cql_sa" else dict(actor_lr=1e-3, critic_lr=1e-3, beta_hidden_dims=(32,))
    before, after = bandit_run(h, name, steps=600 if name == "cql_sa" else 1500, **cfg)
    # MSE regression on this data reaches ≈ −0.05; TD3+BC(SA) keeps a BC pull of weight β ≈ 0.4 (measured −0.031)
    assert after > before + 0.1 and after > (-0.025 if name == "cql_sa" else -0.035), (before, after)


def _run_config(tmp_path, npz, name, algo="td3bc_sa", replay_init="part", **kw):
    from seamrl.config import RunConfig

    agent = {"hidden_dims": (16, 16), "beta_hidden_dims": (16,), "beta_lr": 1e-3, "trust_selection": "traj",
             "return_threshold": -1400.0, "beta_decay_steps": 200, "n_update_period": 20}
    return RunConfig(algo=algo, task="Pendulum-v1", setting="offline-to-online", dataset=str(npz), offline_steps=100,
                     online_steps=250, eval_every=250, eval_episodes=1, updates_per_call=50, replay_init=replay_init,
                     replay_top_episodes=2, warmup_steps=50, update_every=10, out=str(tmp_path / name), agent={**agent, **kw})


@pytest.mark.parametrize("replay_init", ["all", "part", "half", "none"])
def test_replay_init_keeps_trust_flags(tmp_path, pendulum_npz, replay_init):  # noqa: F811
    from seamrl.train import Trainer

    trainer = Trainer(_run_config(tmp_path, pendulum_npz, replay_init, replay_init=replay_init), tmp_path / replay_init, quiet=True)
    flags = trainer.dataset.infos["trust"]
    assert 0 < flags.mean() < 1  # the threshold splits the 5 random-policy episodes
    np.testing.assert_array_equal(np.asarray(trainer.offline.arrays["trust"][: int(trainer.offline.size)]), flags)
    trainer.counters.phase = 1
    trainer.begin_phase()
    kept = np.asarray(trainer.offline.arrays["trust"][: int(trainer.offline.size)])
    if replay_init == "none":
        assert kept.size == 0
    elif replay_init == "part":  # the 2 best episodes (by return) are the trusted ones
        assert kept.size == 400 and (kept == 1.0).all()
    else:
        np.testing.assert_array_equal(kept, flags)
    assert "trust" in trainer.online.arrays and int(trainer.state.ssar.online_start) == 0


def test_offline_to_online_freezes_and_anneals_beta(tmp_path, pendulum_npz, monkeypatch):  # noqa: F811
    import csv

    from seamrl.train import train
    from seamrl.train.checkpoint import load

    seen = {}

    def begin_phase(state, phase):  # record β when the online phase begins
        seen[phase.kind] = jax.tree_util.tree_leaves(jax.device_get(state.ssar.beta.params))
        return ssar.begin_phase(state, phase)

    monkeypatch.setattr(td3bc_sa, "begin_phase", begin_phase)
    summary, run_dir = train(_run_config(tmp_path, pendulum_npz, "o2o"), quiet=True)
    rows = list(csv.DictReader(open(run_dir / "metrics.csv")))
    assert [r["phase_kind"] for r in rows] == ["offline", "offline", "online"]
    offline, online = rows[1], rows[2]
    for key in ("beta_mean", "beta_p10", "beta_p50", "beta_p90", "reg_weight_mean", "ssar_n"):
        assert offline[key] and online[key], key
    # the linear decay over N_end = 200 of the 200 post-warm-up updates averages ≈ 0.5
    assert float(online["reg_weight_mean"]) < 0.7 * float(online["beta_mean"])
    assert summary["grad_steps"] == 100 + 200
    # β learned offline (lr 1e-3 here), frozen online: the final β-net is the one of the switch
    trainer_state = load(run_dir / "checkpoints" / "latest.ckpt")["agent"]
    final = [x for x in trainer_state if any(x.shape == b.shape for b in seen["online"])]
    assert any(not np.array_equal(a, b) for a, b in zip(seen["offline"], seen["online"]))
    for b in seen["online"]:
        assert any(np.array_equal(b, x) for x in final)
    # the β figure and its summary
    from seamrl.report.beta import beta_of_dataset, plot_beta

    text = plot_beta(run_dir)
    assert (run_dir / "beta.png").stat().st_size > 1000 and "β over 1000 dataset states" in text
    data = beta_of_dataset(run_dir)
    assert data["beta"].shape == (1000,) and data["trust"].any() and not data["trust"].all()
