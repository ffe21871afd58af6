"""Vector environments for online collection with several envs.

Autoreset mode: :func:`make_vector` uses Gymnasium's ``AutoresetMode.SAME_STEP``. When a
sub-env's episode ends (terminated or truncated) inside ``step``, the vector env resets it at
once: the returned ``obs[i]`` is already the *first observation of the next episode*, while the
last observation of the finished episode is in ``info["final_obs"][i]`` (with the boolean mask
``info["_final_obs"]``) and its info in ``info["final_info"]``. Every ``step`` therefore yields a
valid transition for every sub-env (no dummy steps as in the default ``NEXT_STEP`` mode), and
the true next observation for a replay buffer is given by :func:`real_next_obs`.

Typical loop::

    envs = make_vector("Hopper-v5", num_envs=4, seed=0)
    obs, _ = envs.reset()
    next_obs, rew, term, trunc, info = envs.step(actions)
    buffer.add(obs, actions, rew, real_next_obs(next_obs, info), term)  # mask = 1 - term
    obs = next_obs
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium.vector import AutoresetMode, SyncVectorEnv

from seamrl.envs.make import make
from seamrl.errors import EnvError


def make_vector(task: str, num_envs: int, seed: int | None = None, **kwargs: Any) -> SyncVectorEnv:
    """A SyncVectorEnv of ``num_envs`` flattened copies of ``task`` in SAME_STEP autoreset mode.

    Sub-env ``i`` is created with ``make(task, seed=seed + i, **kwargs)``; the vector action
    space is seeded with ``seed``.
    """
    if isinstance(num_envs, bool) or not isinstance(num_envs, (int, np.integer)) or num_envs < 1:
        raise EnvError(f"num_envs={num_envs!r} is invalid; expected an integer >= 1.")
    first = make(task, None if seed is None else seed, **kwargs)  # validates the task once

    def factory(i: int):
        if i == 0:
            return lambda: first
        return lambda: make(task, None if seed is None else seed + i, **kwargs)

    envs = SyncVectorEnv(
        [factory(i) for i in range(int(num_envs))], autoreset_mode=AutoresetMode.SAME_STEP
    )
    if seed is not None:
        envs.action_space.seed(int(seed))
    return envs


def real_next_obs(next_obs: np.ndarray, info: dict[str, Any]) -> np.ndarray:
    """The true next observation of each sub-env after a SAME_STEP ``step``.

    Rows whose episode just ended are replaced by ``info["final_obs"]``; the others are the
    returned observations. Returns a new float32 array; ``next_obs`` is not modified.
    """
    out = np.array(next_obs, dtype=np.float32, copy=True)
    mask = info.get("_final_obs")
    if mask is None:
        return out
    final = info["final_obs"]
    for i in np.flatnonzero(mask):
        out[i] = final[i]
    return out
