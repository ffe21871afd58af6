import importlib.util

import numpy as np
import pytest

from seamrl.envs import (
    FlatObservation,
    as_flat_env,
    dict_key_order,
    flatten_observation,
    make,
    observation_layout,
    spec_of,
)

HAS_ROBOTICS = importlib.util.find_spec("gymnasium_robotics") is not None


def test_dict_obs_sorted_keys_nested_and_scalar(toy_dict_env):
    env = as_flat_env(toy_dict_env())
    assert isinstance(env, FlatObservation)
    obs, _ = env.reset(seed=0)
    assert obs.dtype == np.float32 and obs.shape == (2 + 3 + 1 + 4 + 1,)
    assert env.observation_space.shape == obs.shape
    layout = [p for p, _, _ in observation_layout(env.unwrapped.observation_space)]
    assert layout == ["a", "b", "nested/y", "nested/z", "scalar"]
    code = lambda k: sum(ord(c) for c in k)  # noqa: E731
    expected = np.concatenate(
        [np.full(3, code("a")), np.full(2, code("b")), np.full(4, code("nestedy")),
         np.full(1, code("nestedz")), np.full(1, code("scalar"))]
    ).astype(np.float32)
    np.testing.assert_array_equal(obs, expected)
    low = env.observation_space.low
    np.testing.assert_array_equal(low[:5], [0, 0, 0, -1, -1])
    obs2, *_ = env.step(np.zeros(2, np.float32))
    np.testing.assert_array_equal(obs2, expected + 1)


def test_goal_conditioned_order(toy_dict_env):
    raw = toy_dict_env(goal=True)
    assert dict_key_order(raw.observation_space) == ["observation", "achieved_goal", "desired_goal", "extra"]
    env = as_flat_env(raw)
    obs, _ = env.reset(seed=0)
    code = lambda k: sum(ord(c) for c in k)  # noqa: E731
    assert obs[0] == code("observation") and obs[3] == code("achieved_goal")
    assert obs[5] == code("desired_goal") and obs[7] == code("extra")


def test_batched_flatten_matches_single(toy_dict_env):
    env = toy_dict_env()
    single = [env.reset(seed=0)[0]] + [env.step(np.zeros(2))[0] for _ in range(3)]
    batch = {
        "a": np.stack([o["a"] for o in single]),
        "b": np.stack([o["b"] for o in single]),
        "scalar": np.stack([o["scalar"] for o in single]),
        "nested": {
            "y": np.stack([o["nested"]["y"] for o in single]),
            "z": np.stack([o["nested"]["z"] for o in single]),
        },
    }
    flat = flatten_observation(env.observation_space, batch, batch_shape=(4,))
    assert flat.shape == (4, 11)
    for i, o in enumerate(single):
        np.testing.assert_array_equal(flat[i], flatten_observation(env.observation_space, o))


@pytest.mark.skipif(not HAS_ROBOTICS, reason="gymnasium-robotics not installed")
def test_pointmaze_flattened():
    import gymnasium as gym

    env = make("PointMaze_UMaze-v3", seed=0)
    raw = gym.make("PointMaze_UMaze-v3")
    obs, _ = env.reset(seed=1)
    raw_obs, _ = raw.reset(seed=1)
    assert obs.dtype == np.float32 and obs.shape == (8,)
    want = np.concatenate([raw_obs["observation"], raw_obs["achieved_goal"], raw_obs["desired_goal"]])
    np.testing.assert_array_equal(obs, want.astype(np.float32))
    spec = spec_of(env)
    assert spec.obs_shape == (8,) and spec.action_dim == 2 and spec.max_episode_steps == 300
    action = np.array([0.3, -0.2], np.float32)
    obs, r, term, trunc, info = env.step(action)
    raw_obs, raw_r, *_ = raw.step(action)
    np.testing.assert_array_equal(obs[:4], raw_obs["observation"].astype(np.float32))
    assert r == raw_r and "success" in info
