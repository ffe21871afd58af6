"""Uni-O4 (§4): the three ensemble-BC disagreement losses by hand, AM-Q over members, an offline
learning smoke test on the bandit, and a short offline-to-online trainer run (switch to rollouts)."""

from __future__ import annotations

import csv

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from seamrl.algos import unio4
from seamrl.algos.common import AgentSpec
from seamrl.algos.unio4_ensemble import disagreement_losses, gaussian_kl

# three members, two samples, one action dimension
MEAN = np.array([[[0.0], [0.5]], [[0.3], [-0.2]], [[0.9], [0.1]]])
LOG_STD = np.array([[[0.0], [-0.5]], [[-0.3], [0.2]], [[0.1], [-0.1]]])
ACTIONS = np.array([[0.2], [0.0]])


def _logp(mean, log_std, a):
    return -0.5 * ((a - mean) / np.exp(log_std)) ** 2 - log_std - 0.5 * np.log(2 * np.pi)


def _hand(mode, alpha=0.1):
    logp = _logp(MEAN[..., 0], LOG_STD[..., 0], ACTIONS[None, :, 0])  # (3, 2)
    out = []
    for i in range(3):
        others = [j for j in range(3) if j != i]
        m = np.max(logp[others], axis=0)
        if mode == "heuristic":
            per = -logp[i] - alpha * (logp[i] - m)
        elif mode == "sign":
            per = np.where(logp[i] > m, -logp[i] - alpha * logp[i], -logp[i] + alpha * logp[i])
        else:
            j = np.array(others)[np.argmax(logp[others], axis=0)]
            mu_i, s_i = MEAN[i, :, 0], np.exp(LOG_STD[i, :, 0])
            mu_j, s_j = MEAN[j, [0, 1], 0], np.exp(LOG_STD[j, [0, 1], 0])
            kl = np.log(s_j / s_i) + (s_i**2 + (mu_i - mu_j) ** 2) / (2 * s_j**2) - 0.5
            per = -logp[i] - alpha * kl
        out.append(per.mean())
    return np.array(out)


@pytest.mark.parametrize("mode", ["heuristic", "distribution", "sign"])
def test_disagreement_losses_hand_values(mode):
    losses, info = disagreement_losses(jnp.asarray(MEAN), jnp.asarray(LOG_STD), jnp.asarray(ACTIONS), 0.1, mode)
    np.testing.assert_allclose(losses, _hand(mode), rtol=1e-5)


def test_heuristic_gradient_is_a_rescaled_bc_gradient():
    """§4.3 [!]: with M_i detached, ∇L_i = −(1 + α)∇ℓ_i; member i's gradient only comes from its own loss."""
    mean, log_std, a = jnp.asarray(MEAN), jnp.asarray(LOG_STD), jnp.asarray(ACTIONS)
    g = jax.grad(lambda m: disagreement_losses(m, log_std, a, 0.1, "heuristic")[0].sum())(mean)
    g_bc = jax.grad(lambda m: disagreement_losses(m, log_std, a, 0.0, "heuristic")[0].sum())(mean)
    np.testing.assert_allclose(g, 1.1 * g_bc, rtol=1e-5)


def test_gaussian_kl_hand_value():
    kl = gaussian_kl(jnp.array([0.5]), jnp.array([0.0]), jnp.array([0.0]), jnp.log(jnp.array([2.0])))
    np.testing.assert_allclose(kl, np.log(2.0) + (1 + 0.25) / 8 - 0.5, rtol=1e-6)


def test_eq25_other_member_log_prob_and_penalty_hand_values():
    """Eq. 25: log π^j_k(a|s) of the best other member (max) or a random other one; penalty −α mean(log π_θ − sg(·))."""
    logp = _logp(MEAN[..., 0], LOG_STD[..., 0], ACTIONS[None, :, 0])  # (3 members, 2 samples)
    dist = (jnp.asarray(MEAN), jnp.asarray(LOG_STD))
    for i in range(3):
        best = unio4.other_log_prob(dist, jnp.asarray(ACTIONS), i, "max", jax.random.PRNGKey(0))
        np.testing.assert_allclose(best, np.max(np.delete(logp, i, axis=0), axis=0), rtol=1e-5)
        key = lambda x: tuple(round(float(v), 4) for v in x)  # noqa: E731
        drawn = {key(unio4.other_log_prob(dist, jnp.asarray(ACTIONS), i, "random", jax.random.PRNGKey(k))) for k in range(20)}
        assert drawn == {key(logp[j]) for j in range(3) if j != i}  # every other member, never i itself
    log_prob = jnp.array([-1.0, -2.0])
    penalty = unio4.disagreement_penalty(log_prob, jnp.array([-0.5, -3.0]), 0.1)
    np.testing.assert_allclose(penalty, -0.1 * np.mean([-0.5, 1.0]), rtol=1e-6)
    grad = jax.grad(lambda lp, o: unio4.disagreement_penalty(lp, o, 0.1), argnums=(0, 1))(log_prob, jnp.zeros(2))
    np.testing.assert_allclose(grad[0], [-0.05, -0.05]) and np.testing.assert_allclose(grad[1], [0.0, 0.0])


SMALL = dict(hidden_dims=(64, 64), q_hidden=(64, 64), v_hidden=(64, 64), batch_size=256, num_members=3, bc_lr=1e-3, q_lr=1e-3,
             v_lr=1e-3, improve_lr=3e-4, dynamics_hidden=(32, 32), dynamics_members=3, dynamics_elites=2)


def test_unio4_offline_improves_over_the_behaviour_data_and_bc(h):
    """'mixed' bandit data (no dynamics fitted: the gate is the one-step Q score); the members' BC
    imitates the mixture, the multi-step improvement moves them towards a*."""
    data = h.bandit_data(jax.random.PRNGKey(0), 20_000, "mixed")
    cfg = unio4.Config(**SMALL, improve_steps=300, ope_every=20)
    state = unio4.init(jax.random.PRNGKey(1), AgentSpec(h.BANDIT_OBS, h.BANDIT_ACT, offline_steps=1800), cfg)
    state, metrics = h.train_loop(unio4.update, state, data, jax.random.PRNGKey(2), 1500)
    assert float(metrics["disagreement"][-1]) < 0.0  # members differ: ℓ_i below the best other member on average
    bc = h.expected_reward(unio4.act, state, jax.random.PRNGKey(9))
    state, metrics = h.train_loop(unio4.update, state, data, jax.random.PRNGKey(3), 300)
    final = h.expected_reward(unio4.act, state, jax.random.PRNGKey(9))
    behaviour = float(data["rewards"].mean())
    assert float(np.nansum(metrics["replaced"])) >= 3  # behaviour policies were replaced
    assert final > bc + 0.03 and final > behaviour, (behaviour, bc, final)


def test_amq_gate_with_a_fitted_model_and_phase_hooks(h):
    """begin_offline fits the dynamics ensemble; the gate then scores members by AM-Q."""
    from seamrl.data import Dataset
    from seamrl.train.transforms import Transforms

    data = h.bandit_data(jax.random.PRNGKey(0), 2000, "noisy")
    ds = Dataset.create(np.asarray(data["observations"]), np.asarray(data["actions"]), np.asarray(data["rewards"]),
                        np.ones(2000, bool), None, np.asarray(data["next_observations"]))
    tf = Transforms(np.zeros(3, np.float32), np.ones(3, np.float32), 1.0, 1.0, 0.0, -np.ones(2, np.float32), np.ones(2, np.float32))
    cfg = unio4.Config(**{**SMALL, "dynamics_max_epochs": 2, "ope_horizon": 3}, improve_steps=10, ope_every=5)
    state = unio4.init(jax.random.PRNGKey(1), AgentSpec(h.BANDIT_OBS, h.BANDIT_ACT, offline_steps=20), cfg)
    state = unio4.begin_offline(state, ds, tf, "Hopper-v5")
    assert bool(state.model_ready) and int(state.termination) == list(unio4.dynamics.TERMINATIONS).index("hopper")
    state, metrics = h.train_loop(unio4.update, state, data, jax.random.PRNGKey(2), 20)
    assert (np.asarray(state.best) > unio4.NO_SCORE).all() and np.isfinite(metrics["actor_loss"][-10:]).all()
    # the online switch takes the offline V
    from seamrl.train.trainer import Phase

    online = unio4.begin_phase(state, Phase("online", 10, 1))
    for a, b in zip(jax.tree_util.tree_leaves(online.online_critic.params), jax.tree_util.tree_leaves(state.value.params)):
        np.testing.assert_array_equal(a, b)


def test_supervised_skips_bc_when_members_start_from_the_online_actor(h):
    """o-o-o stage 2: the members are the online actor, so the BC step is not computed (NaN metrics,
    members and actor unchanged); the IQL critics still learn. Offline first: BC runs and moves the members."""
    data = h.bandit_data(jax.random.PRNGKey(0), 512, "noisy")
    batch = {k: v[:256] for k, v in data.items()}
    state = unio4.init(jax.random.PRNGKey(1), AgentSpec(h.BANDIT_OBS, h.BANDIT_ACT, offline_steps=20),
                       unio4.Config(**SMALL, improve_steps=10))
    leaves = jax.tree_util.tree_leaves
    fresh, info = jax.jit(unio4.supervised)(state, batch)
    assert np.isfinite(info["bc_loss"]) and any((a != b).any() for a, b in zip(leaves(fresh.members.params), leaves(state.members.params)))
    from seamrl.train.trainer import Phase

    ooo = unio4.begin_phase(state, Phase("offline", 10, 1))
    after, info = jax.jit(unio4.supervised)(ooo, batch)
    assert np.isnan(info["bc_loss"]) and np.isfinite(info["critic_loss"])
    for a, b in zip(leaves((after.members.params, after.actor.params)), leaves((ooo.members.params, ooo.actor.params))):
        np.testing.assert_array_equal(a, b)
    assert any((a != b).any() for a, b in zip(leaves(after.critic.params), leaves(ooo.critic.params)))


TINY = dict(hidden_dims=(16, 16), q_hidden=(16, 16), v_hidden=(16, 16), num_members=2, batch_size=64, improve_steps=20,
            ope_every=10, ope_horizon=3, dynamics_hidden=(8, 8), dynamics_members=2, dynamics_elites=1, dynamics_max_epochs=1,
            num_steps=64, num_minibatches=4, update_epochs=2)


def test_offline_to_online_run_switches_to_rollouts(tmp_path):
    """Offline (supervised → AM-Q-gated improvement) then online PPO rollouts, through the trainer."""
    from seamrl.config import RunConfig
    from seamrl.data import collect, save_npz
    from seamrl.train import Trainer

    rng = np.random.default_rng(0)
    path = save_npz(collect(lambda obs: rng.uniform(-2, 2, (len(obs), 1)), "Pendulum-v1", 1000, seed=0), tmp_path / "p.npz")
    run = RunConfig(algo="unio4", task="Pendulum-v1", setting="offline-to-online", dataset=str(path), offline_steps=60,
                    online_steps=128, eval_every=64, eval_episodes=1, updates_per_call=30, seed=0, out=str(tmp_path / "run"), agent=TINY)
    trainer = Trainer(run, tmp_path / "run", quiet=True)
    summary = trainer.fit()
    assert [p["kind"] for p in summary["phases"]] == ["offline", "online"]
    assert summary["grad_steps"] == 60 + 2 * TINY["update_epochs"] * TINY["num_minibatches"] and summary["env_steps"] == 128
    state = trainer.state
    assert bool(state.model_ready) and int(state.step) == 60 and int(state.rollouts) == 2
    assert (np.asarray(state.best) > unio4.NO_SCORE).all()  # the AM-Q gate ran with the fitted model
    rows = list(__import__("csv").DictReader(open(tmp_path / "run" / "metrics.csv")))
    assert [r["phase_kind"] for r in rows] == ["offline", "offline", "online", "online"]
    assert rows[1]["ope_best"] and rows[-1]["explained_variance"]  # offline gate metrics, then PPO's


def test_online_offline_online_logs_the_changed_env(tmp_path):
    """Stage 1 online in Hopper; stages 2–3 in Hopper with friction × 0.8 and masses × 1.2: stage 2
    learns from 256 steps logged there with the stage-1 policy."""
    from seamrl.config import RunConfig
    from seamrl.data import load_dataset
    from seamrl.train import Trainer

    run = RunConfig(algo="unio4", task="Hopper-v5", setting="online-offline-online", offline_steps=40, online_steps=64,
                    eval_every=64, eval_episodes=1, updates_per_call=20, log_steps=256, env_friction=0.8, env_mass_scale=1.2,
                    seed=0, out=str(tmp_path / "ooo"), agent={**TINY, "normalize_observations": False, "kl_update": True})
    trainer = Trainer(run, tmp_path / "ooo", quiet=True)
    assert trainer.dataset is None  # no dataset needed: stage 2 learns from the logs
    summary = trainer.fit()
    assert [p["kind"] for p in summary["phases"]] == ["online", "offline", "online"]
    assert summary["env_steps"] == 64 + 256 + 64
    logs = load_dataset(tmp_path / "ooo" / "logs" / "phase1.npz")
    assert len(logs) == 256 and len(trainer.dataset) == 256
    assert trainer._evaluator_kwargs == {"friction": 0.8, "mass_scale": 1.2}
    assert bool(trainer.state.from_actor) and bool(trainer.state.model_ready)
    # stage 1 (PPO from scratch) normalises observations with running statistics of its 1 + 64 observations;
    # they freeze there, so stages 2 and 3 see what the actor was trained on
    assert abs(trainer.running.obs.count - 65) < 1e-3 and np.any(trainer.transforms.obs_mean != 0)
    assert not trainer.running.obs_on and not trainer.running.reward_on
    rows = list(csv.DictReader(open(tmp_path / "ooo" / "metrics.csv")))
    first = next(r for r in rows if r["phase"] == "1")  # stage 1's policy evaluated in the changed env, before stage 2
    last = [r for r in rows if r["phase"] == "0"][-1]
    assert first["grad_step"] == last["grad_step"] and int(first["env_step"]) == 64 + 256 and first["eval_return_mean"]
    penalties = [float(r["penalty"]) for r in rows if r["phase"] == "1" and r["penalty"] not in ("", "nan")]
    assert penalties and all(np.isfinite(penalties)) and any(p != 0.0 for p in penalties)  # Eq. 25's term is on


def test_online_stages_use_their_own_ppo_values_and_survive_a_resume(tmp_path):
    """o-o-o stage 1 is PPO from scratch (``pretrain_*``: clip 0.2, actor lr 3e-4), stage 3 Uni-O4's
    fine-tuning (clip 0.05, actor lr 2e-5), each with a fresh Adam; a checkpoint taken in stage 1
    restores stage 1's values (they are static, so the trainer replays the begun phases' hooks)."""
    from seamrl.config import RunConfig
    from seamrl.train import Trainer
    from seamrl.train.trainer import load_trainer

    run = RunConfig(algo="unio4", task="Hopper-v5", setting="online-offline-online", offline_steps=40, online_steps=64,
                    eval_every=64, eval_episodes=1, log_steps=64, seed=0, out=str(tmp_path / "r"),
                    agent={**TINY, "normalize_observations": False})
    trainer = Trainer(run, tmp_path / "r", quiet=True)
    assert trainer.state.ppo_config.clip_coef == 0.05  # before any phase: Uni-O4's online values
    trainer.write_config()
    trainer.start()
    trainer.begin_phase()  # stage 1
    stage1 = trainer.state.ppo_config
    assert (stage1.clip_coef, stage1.actor_lr, stage1.critic_lr, stage1.ent_coef) == (0.2, 3e-4, 3e-4, 0.0)
    assert stage1.running_obs_norm and stage1.running_reward_scale
    assert int(trainer.state.actor.step) == 0
    trainer.save()
    resumed = load_trainer(tmp_path / "r")
    assert resumed.state.ppo_config.clip_coef == 0.2  # not the fresh state's 0.05

    stage3 = unio4.begin_phase(trainer.state, trainer.phases[2])
    assert (stage3.ppo_config.clip_coef, stage3.ppo_config.actor_lr, stage3.ppo_config.ent_coef) == (0.05, 2e-5, 0.01)
    assert not stage3.ppo_config.running_obs_norm and not stage3.ppo_config.running_reward_scale
    learned_v = jax.tree_util.tree_leaves(trainer.state.value.params)
    assert all(np.array_equal(a, b) for a, b in zip(jax.tree_util.tree_leaves(stage3.online_critic.params), learned_v))


def test_restart_improvement_replays_the_improvement_stage(h):
    """restart_improvement resets π_θ to the BC members with a fresh Adam: rerunning the stage from it
    with the same batches and rng ends where the first run ended; ``changes`` set config values."""
    data = h.bandit_data(jax.random.PRNGKey(0), 2000, "mixed")
    cfg = unio4.Config(**{**SMALL, "hidden_dims": (16, 16), "q_hidden": (16, 16), "v_hidden": (16, 16), "batch_size": 64},
                       improve_steps=20, ope_every=5)
    state = unio4.init(jax.random.PRNGKey(1), AgentSpec(h.BANDIT_OBS, h.BANDIT_ACT, offline_steps=40), cfg)

    @jax.jit
    def twenty(state, key):  # one compilation: the restarted state keeps its structure
        def body(s, k):
            return unio4.update(s, jax.tree_util.tree_map(lambda x: x[jax.random.randint(k, (64,), 0, 2000)], data))
        return jax.lax.scan(body, state, jax.random.split(key, 20))[0]

    pretrained = twenty(state, jax.random.PRNGKey(2))
    first = twenty(pretrained, jax.random.PRNGKey(3))
    restarted = unio4.restart_improvement(first).replace(rng=pretrained.rng)
    assert int(restarted.step) == 20 and int(restarted.improving.step[0]) == 0
    for a, b in zip(jax.tree_util.tree_leaves(restarted.improving.params), jax.tree_util.tree_leaves(first.members.params)):
        np.testing.assert_array_equal(a, b)
    moved = [float(jnp.abs(a - b).max()) for a, b in zip(jax.tree_util.tree_leaves(first.improving.params),
                                                         jax.tree_util.tree_leaves(first.members.params))]
    assert max(moved) > 1e-4  # the first run did improve on the members
    again = twenty(restarted, jax.random.PRNGKey(3))
    for a, b in zip(jax.tree_util.tree_leaves(again.improving.params), jax.tree_util.tree_leaves(first.improving.params)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    slower = unio4.restart_improvement(first, improve_lr=1e-5)
    assert slower.config.improve_lr == 1e-5 and int(slower.improving.step[0]) == 0
