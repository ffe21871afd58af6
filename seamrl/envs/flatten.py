"""Flatten structured observations into one float32 vector.

Ordering rule (shared by environments and dataset loaders, so that a dataset's
dict observations and the live environment's agree column for column):

- ``Box``: raveled in C order.
- ``Dict``: keys in sorted order, except that goal-conditioned spaces (those with a
  ``desired_goal`` key) put ``observation``, ``achieved_goal``, ``desired_goal`` first, in
  that order, followed by any other keys sorted. Nested dicts (FrankaKitchen's goals) recurse
  with the same rule.
- ``Tuple``: in order.

Everything is cast to float32.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from seamrl.errors import EnvError

GOAL_KEYS = ("observation", "achieved_goal", "desired_goal")


def dict_key_order(space: spaces.Dict) -> list[str]:
    """Return the order in which a Dict space's keys are concatenated."""
    keys = list(space.spaces)
    if "desired_goal" in keys:
        first = [k for k in GOAL_KEYS if k in keys]
        return first + sorted(k for k in keys if k not in first)
    return sorted(keys)


def _leaves(space: spaces.Space, path: str = "") -> list[tuple[str, spaces.Box]]:
    """List ``(path, Box)`` leaves of a (nested) space in concatenation order."""
    if isinstance(space, spaces.Box):
        return [(path, space)]
    if isinstance(space, spaces.Dict):
        out: list[tuple[str, spaces.Box]] = []
        for key in dict_key_order(space):
            out += _leaves(space.spaces[key], f"{path}/{key}" if path else key)
        return out
    if isinstance(space, spaces.Tuple):
        out = []
        for i, sub in enumerate(space.spaces):
            out += _leaves(sub, f"{path}/{i}" if path else str(i))
        return out
    raise EnvError(
        f"Observation space {space} is not supported; expected a Box or a Dict/Tuple of Boxes."
    )


def observation_layout(space: spaces.Space) -> list[tuple[str, int, int]]:
    """Return ``(path, start, stop)`` column ranges of each leaf in the flat vector."""
    layout, start = [], 0
    for path, box in _leaves(space):
        size = int(np.prod(box.shape, dtype=np.int64))
        layout.append((path, start, start + size))
        start += size
    return layout


def flatten_space(space: spaces.Space) -> spaces.Box:
    """Return the 1-D float32 Box that :func:`flatten_observation` maps ``space`` into."""
    leaves = _leaves(space)
    low = [np.broadcast_to(b.low, b.shape).astype(np.float32).ravel() for _, b in leaves]
    high = [np.broadcast_to(b.high, b.shape).astype(np.float32).ravel() for _, b in leaves]
    return spaces.Box(np.concatenate(low), np.concatenate(high), dtype=np.float32)


def _get(obs: Any, path: str) -> Any:
    for part in path.split("/") if path else []:
        obs = obs[int(part)] if isinstance(obs, (tuple, list)) else obs[part]
    return obs


def flatten_observation(
    space: spaces.Space, obs: Any, batch_shape: tuple[int, ...] = ()
) -> np.ndarray:
    """Flatten one observation (or a batch with leading ``batch_shape``) to float32.

    For a batch, every leaf array must have shape ``batch_shape + leaf_shape`` (as in a
    dataset of dict observations); the result has shape ``batch_shape + (obs_dim,)``.
    """
    parts = [
        np.asarray(_get(obs, path), dtype=np.float32).reshape(*batch_shape, -1)
        for path, _ in _leaves(space)
    ]
    if len(parts) == 1:
        return np.ascontiguousarray(parts[0])
    return np.concatenate(parts, axis=-1)


class FlatObservation(gym.ObservationWrapper):
    """Expose any Box/Dict/Tuple observation as a 1-D float32 vector (see module docs)."""

    def __init__(self, env: gym.Env):
        super().__init__(env)
        self.source_space = env.observation_space
        self.observation_space = flatten_space(env.observation_space)

    def observation(self, observation: Any) -> np.ndarray:
        return flatten_observation(self.source_space, observation)
