"""D4RL maze2d-style collection on PointMaze: determinism, controller, rewards, layout, episode cuts."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from seamrl import envs
from seamrl.data.pointmaze import collect_pointmaze, maze2d_task, waypoint_policy
from seamrl.errors import ConfigError

N = 3000  # ten umaze episodes (period 300)


@pytest.fixture(scope="module")
def umaze():
    return collect_pointmaze("umaze", N, seed=0)


def _digest(ds) -> str:
    h = hashlib.sha256()
    for arr in (ds.observations, ds.actions, ds.rewards, ds.next_observations, ds.terminals, ds.timeouts, ds.infos["goal"]):
        h.update(np.ascontiguousarray(arr).tobytes())
    return h.hexdigest()


def test_same_arguments_give_byte_identical_arrays(umaze):
    assert _digest(collect_pointmaze("umaze", N, seed=0)) == _digest(umaze)
    assert _digest(collect_pointmaze("umaze", N, seed=1)) != _digest(umaze)


@pytest.mark.parametrize("maze", ["umaze", "medium", "large"])
def test_controller_without_noise_reaches_the_evaluation_goal(maze):
    env = envs.make(maze2d_task(maze))
    policy, limit = waypoint_policy(maze), envs.spec_of(env).max_episode_steps
    for seed in range(5):
        obs, _ = env.reset(seed=seed)
        for _ in range(limit):
            obs, reward, terminated, truncated, _ = env.step(policy(obs[None])[0])
            if reward == 1.0:
                break
        else:
            pytest.fail(f"{maze}: the controller did not reach the goal within {limit} steps (reset seed {seed}).")


def test_sparse_rewards_are_binary_and_some_are_one(umaze):
    assert set(np.unique(umaze.rewards)) == {0.0, 1.0}
    dist = np.linalg.norm(umaze.next_observations[:, 4:6] - umaze.next_observations[:, 6:8], axis=1)
    np.testing.assert_array_equal(umaze.rewards == 1.0, dist <= 0.45 + 1e-6)


def test_dense_rewards_are_exp_minus_distance():
    ds = collect_pointmaze("umaze", 600, seed=0, dense=True)
    dist = np.linalg.norm(ds.next_observations[:, 4:6].astype(np.float64) - ds.next_observations[:, 6:8], axis=1)
    np.testing.assert_allclose(ds.rewards, np.exp(-dist), rtol=1e-5)
    assert ds.name == "maze2d-umaze-dense-v1"


def test_fits_the_evaluation_env(umaze):
    env = envs.make("maze2d-umaze-v1")
    spec = envs.spec_of(env)
    assert umaze.obs_shape == env.observation_space.shape == (8,)
    umaze.validate_for(spec.obs_shape, spec.action_low, spec.action_high)
    np.testing.assert_array_equal(umaze.observations[:, :2], umaze.observations[:, 4:6])  # achieved goal = position


def test_no_terminals_timeouts_every_period_and_continuous_episodes():
    ds = collect_pointmaze("umaze", 700, seed=3)
    assert not ds.terminals.any()
    np.testing.assert_array_equal(np.flatnonzero(ds.timeouts), [299, 599, 699])
    inside = ~ds.timeouts[:-1]
    np.testing.assert_array_equal(ds.next_observations[:-1][inside], ds.observations[1:][inside])
    np.testing.assert_array_equal(ds.episode_lengths(), [300, 300, 100])
    # one desired goal per episode, the evaluation goal cell (1, 1) = (-1, 1) ± 0.25
    for rows in np.split(ds.observations[:, 6:8], [300, 600]):
        assert (rows == rows[0]).all() and np.abs(rows[0] - [-1.0, 1.0]).max() <= 0.25


def test_rows_replay_exactly_in_the_evaluation_env(umaze):
    """Same start and goal, same actions: the evaluation env returns the dataset's rows and rewards."""
    env = envs.make("maze2d-umaze-v1")
    obs, _ = env.reset(seed=0)
    np.testing.assert_array_equal(obs[:6], umaze.observations[0, :6])
    env.unwrapped.goal = umaze.observations[0, 6:8].astype(np.float64)
    for t in range(300):
        obs, reward, terminated, truncated, _ = env.step(umaze.actions[t])
        np.testing.assert_allclose(obs, umaze.next_observations[t], atol=1e-6)
        assert reward == umaze.rewards[t] and not terminated
    assert truncated


def test_controller_goal_labelling_keeps_the_old_goal_in_next_observations():
    ds = collect_pointmaze("umaze", 1500, seed=0, goal="controller")
    np.testing.assert_array_equal(ds.observations[:, 6:8], ds.infos["goal"])
    np.testing.assert_array_equal(ds.next_observations[:, 6:8], ds.observations[:, 6:8])
    switch = np.flatnonzero((ds.observations[1:, 6:8] != ds.observations[:-1, 6:8]).any(axis=1) & ~ds.timeouts[:-1])
    assert len(switch) >= 5
    assert (ds.rewards[switch] == 1.0).all()  # a switch follows a row that reached its goal
    assert ds.episode_ends[switch].all()  # the goal jump ends an episode under the continuity rule


def test_noise_free_collection_and_bad_arguments():
    ds = collect_pointmaze("medium", 600, seed=0, noise_std=0.0)
    targets = ds.infos["goal"]
    reached = np.flatnonzero((targets[1:] != targets[:-1]).any(axis=1))  # no cut before row 600
    assert len(reached) >= 2 and ds.name == "maze2d-medium-v1"
    np.testing.assert_array_less(np.linalg.norm(ds.next_observations[reached, :2] - targets[reached], axis=1), 0.1 + 1e-6)
    for kwargs in ({"maze": "open"}, {"transitions": 0}, {"noise_std": -1.0}, {"goal": "both"}):
        args = {"maze": "umaze", "transitions": 10, "seed": 0, **kwargs}
        with pytest.raises(ConfigError):
            collect_pointmaze(**args)
