"""Tiny hand-written environments for the seamrl.envs tests."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces


class ToyDictEnv(gym.Env):
    """Dict observation with unsorted keys, a scalar leaf and a nested dict."""

    def __init__(self, goal: bool = False):
        inner = {
            "b": spaces.Box(-1.0, 1.0, (2,), np.float64),
            "a": spaces.Box(0.0, 5.0, (3,), np.float64),
            "scalar": spaces.Box(-np.inf, np.inf, (), np.float64),
            "nested": spaces.Dict(
                {"z": spaces.Box(-2.0, 2.0, (1,)), "y": spaces.Box(-3.0, 3.0, (2, 2))}
            ),
        }
        if goal:
            inner = {
                "desired_goal": spaces.Box(-9.0, 9.0, (2,)),
                "extra": spaces.Box(-9.0, 9.0, (1,)),
                "achieved_goal": spaces.Box(-9.0, 9.0, (2,)),
                "observation": spaces.Box(-9.0, 9.0, (3,)),
            }
        self.observation_space = spaces.Dict(inner)
        self.action_space = spaces.Box(-1.0, 1.0, (2,), np.float32)
        self.t = 0

    def _obs(self) -> dict:
        return {k: self._fill(k, s) for k, s in self.observation_space.spaces.items()}

    def _fill(self, key: str, space: spaces.Space):
        if isinstance(space, spaces.Dict):
            return {k: self._fill(key + k, s) for k, s in space.spaces.items()}
        code = sum(ord(c) for c in key)  # distinct constant per leaf, shifted by t
        return np.full(space.shape, code + self.t, dtype=space.dtype)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return self._obs(), {}

    def step(self, action):
        self.t += 1
        return self._obs(), 0.0, False, self.t >= 5, {}


class CountdownEnv(gym.Env):
    """Episode length 1 + (reset seed % 7); reward = action[0]; success iff seed is even."""

    def __init__(self):
        self.observation_space = spaces.Box(-np.inf, np.inf, (1,), np.float32)
        self.action_space = spaces.Box(-1.0, 1.0, (1,), np.float32)
        self.remaining = 0
        self.even = False

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        s = seed if seed is not None else int(self.np_random.integers(1000))
        self.remaining = 1 + s % 7
        self.even = s % 2 == 0
        return np.array([self.remaining], np.float32), {}

    def step(self, action):
        self.remaining -= 1
        done = self.remaining == 0
        info = {"success": bool(done and self.even)}
        return np.array([self.remaining], np.float32), float(action[0]), done, False, info


@pytest.fixture
def toy_dict_env():
    return ToyDictEnv


@pytest.fixture
def countdown_env():
    return CountdownEnv
