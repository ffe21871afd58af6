"""AM-Q (§4.5) on problems whose value is known, and the ``seamrl ope`` command."""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from seamrl.cli import main
from seamrl.nets import dynamics as dyn
from seamrl.ope import am_q


def test_am_q_exact_model_mean_of_recorded_q_with_terminations():
    # s' = s/2 (a = 0), terminal once s' < 0.1; Q(s, a) = s + a. Starts 1.0 and 0.4:
    # recorded 1, .5, .25, .125 (s' = .0625 terminal) and .4, .2, .1 (s' = .05 terminal)
    def step(s, a, key):
        nxt = 0.5 * s
        return nxt, jnp.zeros(s.shape[0]), nxt[:, 0] < 0.1

    start = jnp.array([[1.0], [0.4]])
    q = lambda s, a: s[:, 0] + a[:, 0]  # noqa: E731
    value, length = am_q(lambda s: jnp.zeros_like(s), q, step, start, 10, jax.random.PRNGKey(0))
    np.testing.assert_allclose(value, (1 + .5 + .25 + .125 + .4 + .2 + .1) / 7, rtol=1e-6)
    np.testing.assert_allclose(length, 3.5)
    value, _ = am_q(lambda s: jnp.zeros_like(s), q, step, start, 2, jax.random.PRNGKey(0))  # horizon cuts first
    np.testing.assert_allclose(value, (1 + .5 + .4 + .2) / 4, rtol=1e-6)
    # observe() is applied before the policy and the critic, not to the model's state
    value, _ = am_q(lambda s: jnp.zeros_like(s), q, step, start, 2, jax.random.PRNGKey(0), observe=lambda s: 10 * s)
    np.testing.assert_allclose(value, 10 * (1 + .5 + .4 + .2) / 4, rtol=1e-6)


A = np.array([[0.9, 0.1], [-0.2, 0.8]], np.float32)
B = np.array([[0.5], [0.3]], np.float32)


def test_am_q_with_a_fitted_model_matches_the_true_value_and_ranks_policies():
    """Linear system s' = A s + B a, Q(s, a) = −‖s'‖²; policies a = clip(k·s₀) for three gains."""
    rng = np.random.default_rng(0)
    obs = rng.normal(size=(3000, 2)).astype(np.float32)
    act = rng.uniform(-1, 1, (3000, 1)).astype(np.float32)
    nxt = obs @ A.T + act @ B.T
    cfg = dyn.DynamicsConfig(num_members=3, num_elites=2, hidden_dims=(32, 32), max_epochs=30, lr=3e-3)
    model, _ = dyn.fit_dynamics(jax.random.PRNGKey(0), obs, act, np.zeros(3000, np.float32), nxt, cfg)

    def true_step(s, a, key):
        return s @ jnp.asarray(A).T + a @ jnp.asarray(B).T, jnp.zeros(s.shape[0]), jnp.zeros(s.shape[0], bool)

    def q(s, a):
        return -jnp.sum((s @ jnp.asarray(A).T + a @ jnp.asarray(B).T) ** 2, -1)

    start = jnp.asarray(rng.normal(size=(256, 2)).astype(np.float32))
    values = {}
    for gain in (-1.0, 0.0, 1.0):
        policy = lambda s, g=gain: jnp.clip(g * s[:, :1], -1.0, 1.0)  # noqa: E731
        exact, _ = am_q(policy, q, true_step, start, 15, jax.random.PRNGKey(1))
        fitted, _ = am_q(policy, q, lambda s, a, k: dyn.step(model, s, a, k), start, 15, jax.random.PRNGKey(1))
        values[gain] = (float(exact), float(fitted))
        assert abs(fitted - exact) < 0.1 * abs(exact) + 0.02, (gain, exact, fitted)
    exact_order = sorted(values, key=lambda g: values[g][0])
    assert sorted(values, key=lambda g: values[g][1]) == exact_order
    assert values[-1.0][0] > values[1.0][0]  # steering against the state is the better policy


def test_ope_command_on_a_run(tmp_path, pendulum_npz, capsys):
    run_dir = tmp_path / "run"
    assert main(["train", "iql", "--task", "Pendulum-v1", "--dataset", str(pendulum_npz), "--offline-steps", "100",
                 "--eval-every", "100", "--eval-episodes", "1", "--set", "hidden_dims=16,16", "--set", "updates_per_call=100",
                 "--out", str(run_dir), "--quiet"]) == 0
    capsys.readouterr()
    out, own = tmp_path / "ope.json", tmp_path / "own.npz"
    assert main(["export", str(run_dir), "--out", str(own)]) == 0
    assert main(["ope", str(run_dir), "--dataset", str(pendulum_npz), "--horizon", "20", "--starts", "64",
                 "--max-epochs", "2", "--out", str(out), "--policies", str(own)]) == 0
    assert "AM-Q" in capsys.readouterr().out
    result = json.loads(out.read_text())
    assert np.isfinite(result["am_q"]) and result["horizon"] == 20 and result["mean_rollout_length"] == pytest.approx(20.0)
    assert len(result["dynamics"]["elites"]) == 5
    (scored,) = result["policies"]  # the run's own policy, exported, scores the same under the same model and critic
    assert scored["am_q"] == pytest.approx(result["am_q"], rel=1e-5)


def test_ope_command_needs_a_q_critic_and_an_existing_dataset(tmp_path, pendulum_npz, capsys):
    run_dir = tmp_path / "ppo"
    assert main(["train", "ppo", "--task", "Pendulum-v1", "--setting", "online", "--online-steps", "64", "--eval-episodes", "1",
                 "--set", "num_steps=64", "--set", "num_minibatches=2", "--out", str(run_dir), "--quiet"]) == 0
    capsys.readouterr()
    assert main(["ope", str(run_dir), "--dataset", str(pendulum_npz)]) == 2
    err = capsys.readouterr().err
    assert "needs a Q critic" in err and "'ppo'" in err and len(err.strip().splitlines()) == 1
    assert main(["ope", str(run_dir), "--dataset", "/nonexistent.npz"]) == 2
    assert "/nonexistent.npz" in capsys.readouterr().err


def test_a_dataset_task_name_resolves_to_its_dataset_file():
    """`--dataset hopper-medium-demo-v0` (a task name, not a path) means that task's dataset, for `ope` as for `train`."""
    from seamrl.train.tasks import package_asset, resolve_dataset_path

    assert resolve_dataset_path("hopper-medium-demo-v0") == package_asset("hopper-medium-demo-v0.npz")
    with pytest.raises(Exception, match="hopper-medium-v2.hdf5"):
        resolve_dataset_path("hopper-medium-v2")  # a D4RL name without its file: the one-sentence error
