"""BPPO (§7.12): the clipped objective w.r.t. the behaviour policy and the weighted advantage by
hand, the SARSA/MC columns, the replacement gate, and a learning smoke test on the bandit."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from seamrl.algos import bppo
from seamrl.algos.common import AgentSpec
from seamrl.data import Dataset


def test_weighted_advantage_hand_values():
    adv = jnp.array([1.0, 2.0, 3.0, 6.0])
    z = (np.array([1, 2, 3, 6.0]) - 3.0) / np.std([1, 2, 3, 6.0])  # standardised: [-1.069, -0.535, 0, 1.604]
    expected = np.where(z > 0, 0.9 * z, 0.1 * z)
    np.testing.assert_allclose(bppo.weighted_advantage(adv, 0.9), expected, rtol=1e-5)
    np.testing.assert_allclose(bppo.weighted_advantage(adv, None), z, rtol=1e-5)


def test_improve_step_objective_is_the_clipped_ratio_to_the_behaviour_policy(h):
    """The loss at π_θ ≠ π_k: a ~ π_k, ρ = π_θ(a|s)/π_k(a|s), −mean min(ρÂ, clip(ρ, 1±ε)Â) by numpy."""
    obs = jnp.array([[0.5, -1.0], [1.0, 0.2], [-0.3, 0.4], [0.0, 1.0]])
    theta = {"M": jnp.array([[0.4, -0.2], [0.1, 0.3]]), "log_std": jnp.array([-0.5, -0.2])}
    behaviour = {"M": jnp.array([[0.2, -0.1], [0.3, 0.1]]), "log_std": jnp.array([-0.4, -0.3])}
    actor = h.make_ts(h.gaussian_actor, theta)
    adv_fn = lambda o, a: a.sum(-1) - o[:, 0]  # noqa: E731
    key, clip = jax.random.PRNGKey(3), 0.1
    _, info = bppo.improve_step(actor, h.settle(behaviour), obs, adv_fn, key, clip, 0.9)

    def np_normal_logp(x, mean, log_std):
        return np.sum(-0.5 * ((x - mean) / np.exp(log_std)) ** 2 - log_std - 0.5 * np.log(2 * np.pi), -1)

    o = np.asarray(obs, np.float64)
    mean_k = np.tanh(o @ np.asarray(behaviour["M"]))
    ls_k = np.broadcast_to(np.asarray(behaviour["log_std"]), mean_k.shape)
    a = mean_k + np.exp(ls_k) * np.asarray(jax.random.normal(key, mean_k.shape))  # the same draw a ~ π_k
    mean_t = np.tanh(o @ np.asarray(theta["M"]))
    ratio = np.exp(np_normal_logp(a, mean_t, np.asarray(theta["log_std"])) - np_normal_logp(a, mean_k, ls_k))
    adv = a.sum(-1) - o[:, 0]
    z = (adv - adv.mean()) / (adv.std() + 1e-8)
    z = np.where(z > 0, 0.9 * z, 0.1 * z)
    expected = -np.mean(np.minimum(ratio * z, np.clip(ratio, 1 - clip, 1 + clip) * z))
    np.testing.assert_allclose(info["actor_loss"], expected, rtol=1e-4)
    assert 0.0 < float(info["clip_frac"]) <= 1.0  # the policies differ enough for some ratios to leave [0.9, 1.1]


def test_replacement_gate_is_elementwise():
    params = {"w": jnp.array([[1.0], [2.0], [3.0]])}
    behaviour = {"w": jnp.zeros((3, 1))}
    new, better = bppo.replace_if_better(jnp.array([1.0, 0.0, 2.0]), jnp.array([0.5, 0.5, 2.0]), params, behaviour)
    np.testing.assert_array_equal(better, [True, False, False])
    np.testing.assert_array_equal(new["w"][:, 0], [1.0, 0.0, 0.0])


def test_prepare_dataset_columns():
    # two episodes: rows 0-2 (time-out at 2), rows 3-4 (terminal at 4)
    obs = np.arange(5, dtype=np.float32)[:, None]
    nxt = np.array([1, 2, 2.5, 4, 5], np.float32)[:, None]
    ds = Dataset.create(obs, np.linspace(-0.5, 0.5, 5)[:, None], [1.0, 2.0, 3.0, 4.0, 5.0], [0, 0, 0, 0, 1], [0, 0, 1, 0, 0], nxt)
    out = bppo.prepare_dataset(ds, bppo.Config(discount=0.5, normalize_observations=False))
    np.testing.assert_allclose(out.infos["mc_returns"], [1 + 0.5 * 2 + 0.25 * 3, 2 + 0.5 * 3, 3, 4 + 0.5 * 5, 5])
    np.testing.assert_allclose(out.infos["next_actions"][:4, 0], np.linspace(-0.5, 0.5, 5)[1:])
    np.testing.assert_array_equal(out.infos["next_valid"], [1, 1, 0, 1, 0])


def _bandit_columns(data: dict) -> dict:
    n = data["rewards"].shape[0]
    return {**data, "mc_returns": data["rewards"], "next_actions": data["actions"], "next_valid": jnp.zeros(n)}


def test_bppo_improves_over_its_behaviour_cloning_on_the_bandit(h):
    """'mixed' data: BC imitates the mixture (mean ≈ a*/2); the improvement stage moves towards a*."""
    data = _bandit_columns(h.bandit_data(jax.random.PRNGKey(0), 20_000, "mixed"))
    cfg = bppo.Config(policy_hidden=(64, 64), q_hidden=(64, 64), v_hidden=(64, 64), batch_size=256, bc_lr=1e-3, q_lr=1e-3,
                      v_lr=1e-3, improve_steps=300, improve_lr=3e-4, decay_until=0, omega=0.7)
    state = bppo.init(jax.random.PRNGKey(1), AgentSpec(h.BANDIT_OBS, h.BANDIT_ACT, offline_steps=1800), cfg)
    assert state.pretrain_steps == 1500
    state, _ = h.train_loop(bppo.update, state, data, jax.random.PRNGKey(2), 1500)
    bc = h.expected_reward(bppo.act, state, jax.random.PRNGKey(9))
    state, metrics = h.train_loop(bppo.update, state, data, jax.random.PRNGKey(3), 300)
    final = h.expected_reward(bppo.act, state, jax.random.PRNGKey(9))
    behaviour = float(data["rewards"].mean())
    assert np.isnan(metrics["bc_loss"]).all() and np.isfinite(metrics["actor_loss"]).all()
    assert float(metrics["replaced"].mean()) > 0.2  # the gate keeps moving π_k forward
    assert final > bc + 0.03 and final > behaviour, (behaviour, bc, final)  # measured: BC −0.051 → −0.003


@pytest.mark.parametrize("algo", ["bppo", "unio4"])
def test_supervised_stages_stop_at_their_own_budgets(h, algo):
    """BC and the critics each train while their own step budget lasts (official: BC 0.4M, critics 2M);
    a spent stage's networks stay as they were and its metrics are NaN (it is skipped, not masked)."""
    from seamrl.algos import unio4

    module = {"bppo": bppo, "unio4": unio4}[algo]
    nets = ("bc", "critic") if algo == "bppo" else ("members", "critic")
    data = _bandit_columns(h.bandit_data(jax.random.PRNGKey(0), 512, "mixed"))
    small = {"hidden_dims" if algo == "unio4" else "policy_hidden": (8,), "q_hidden": (8,), "v_hidden": (8,), "batch_size": 32}
    for bc_steps, critic_steps, moving, frozen in ((2, 6, "critic", nets[0]), (6, 2, nets[0], "critic")):
        cfg = module.Config(**small, bc_steps=bc_steps, critic_steps=critic_steps, improve_steps=1)
        state = module.init(jax.random.PRNGKey(1), AgentSpec(h.BANDIT_OBS, h.BANDIT_ACT, offline_steps=7), cfg)
        three_steps = jax.jit(lambda s, k: h.train_loop(module.update, s, data, k, 3))  # one compilation per config
        state, _ = three_steps(state, jax.random.PRNGKey(2))  # steps 0-2: both stages; the one with budget 2 ends after step 1
        before = {name: getattr(state, name).params for name in nets}
        state, metrics = three_steps(state, jax.random.PRNGKey(3))  # steps 3-5: one stage spent, one still on
        moved = {name: max(float(jnp.abs(a - b).max()) for a, b in zip(jax.tree_util.tree_leaves(getattr(state, name).params),
                                                                      jax.tree_util.tree_leaves(before[name])))
                 for name in nets}
        assert moved[moving] > 0 and moved[frozen] == 0
        spent = "bc_loss" if frozen != "critic" else "critic_loss"
        assert np.isnan(metrics[spent]).all() and np.isfinite(metrics["critic_loss" if spent == "bc_loss" else "bc_loss"]).all()
