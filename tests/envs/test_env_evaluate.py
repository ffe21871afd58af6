import numpy as np
import pytest

from seamrl.envs import Evaluator, evaluate, make, register_task
from seamrl.errors import EnvError


def _single_env_returns(task, action, episodes, seed):
    env = make(task)
    out = []
    for k in range(episodes):
        env.reset(seed=seed + k)
        total, done = 0.0, False
        while not done:
            _, r, terminated, truncated, _ = env.step(np.asarray(action, np.float32))
            total += r
            done = terminated or truncated
        out.append(total)
    return out


@pytest.mark.parametrize("episodes", [5, 20])
def test_pendulum_exact_episode_count_and_matches_single_loop(episodes):
    shapes = []

    def policy(obs):
        shapes.append(obs.shape)
        return np.full((obs.shape[0], 1), 0.5)

    res = evaluate(policy, "Pendulum-v1", episodes=episodes, seed=3)
    n = min(episodes, 16)
    assert len(res["returns"]) == episodes and res["lengths"] == [200] * episodes
    assert res["length_mean"] == 200.0
    assert set(shapes) == {(n, 3)}
    # one batched call per step: 200 steps per round of n episodes
    assert len(shapes) == 200 * -(-episodes // n)
    expected = _single_env_returns("Pendulum-v1", [0.5], episodes, seed=3)
    np.testing.assert_allclose(res["returns"], expected, rtol=0, atol=1e-9)
    assert res["return_mean"] == pytest.approx(np.mean(expected))
    assert res["return_std"] == pytest.approx(np.std(expected))
    assert res["normalized_mean"] is None and res["normalized_std"] is None
    assert res["success_rate"] is None


def test_actions_are_clipped():
    res = evaluate(lambda o: np.full((o.shape[0], 1), 50.0), "Pendulum-v1", episodes=2, seed=0)
    np.testing.assert_allclose(res["returns"], _single_env_returns("Pendulum-v1", [2.0], 2, 0))


def test_slots_assigned_up_front_no_short_episode_bias(countdown_env):
    # Episode k has length 1 + (seed + k) % 7, so episodes finish at different times.
    ev = Evaluator(countdown_env, max_envs=3)
    res = ev(lambda o: np.ones((o.shape[0], 1)), episodes=10, seed=100)
    seeds = [100 + k for k in range(10)]
    assert res["lengths"] == [1 + s % 7 for s in seeds]
    assert res["returns"] == [float(1 + s % 7) for s in seeds]
    assert res["success_rate"] == pytest.approx(np.mean([s % 2 == 0 for s in seeds]))
    assert len(ev.envs) == 3


def test_evaluator_reuses_envs_and_is_deterministic():
    ev = Evaluator("Pendulum-v1")
    pol = lambda o: np.zeros((o.shape[0], 1))  # noqa: E731
    first = ev(pol, episodes=4, seed=1)
    envs = list(ev.envs)
    second = ev(pol, episodes=4, seed=1)
    assert first == second and all(a is b for a, b in zip(envs, ev.envs))
    ev.close()


def test_normalized_scores_with_registered_task():
    register_task("evaltest-pendulum-v0", "Pendulum-v1", ref_min=-2000.0, ref_max=0.0)
    res = evaluate(lambda o: np.zeros((o.shape[0], 1)), "evaltest-pendulum-v0", 3, seed=0)
    want = 100 * (np.array(res["returns"]) + 2000.0) / 2000.0
    assert res["normalized_mean"] == pytest.approx(want.mean())
    assert res["normalized_std"] == pytest.approx(want.std())


def test_list_of_envs_and_bad_policy_shape():
    envs = [make("Pendulum-v1") for _ in range(2)]
    res = evaluate(lambda o: np.zeros((o.shape[0], 1)), envs, episodes=3, seed=0)
    assert len(res["returns"]) == 3
    with pytest.raises(EnvError, match="expected"):
        evaluate(lambda o: np.zeros(1), envs, episodes=3, seed=0)


def test_invalid_episodes():
    with pytest.raises(EnvError, match="episodes=0"):
        evaluate(lambda o: o, "Pendulum-v1", episodes=0, seed=0)
