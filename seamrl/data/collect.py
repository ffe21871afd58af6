"""Roll a policy out in an environment and record a :class:`Dataset` (D4RL conventions).

Terminals are true terminations; an episode cut by the time limit, or by reaching the
requested number of transitions, ends with ``timeout=True`` (never both, §1.1).
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from seamrl.data.dataset import Dataset

Policy = Callable[[np.ndarray], np.ndarray]  # (n, obs_dim) → (n, act_dim) in the env's action box


def collect(
    policy: Policy, task: str, transitions: int, seed: int = 0, num_envs: int = 1, name: str = "", progress: bool = False,
    env_kwargs: dict | None = None,
) -> Dataset:
    """``transitions`` rows from ``num_envs`` envs stepped in lockstep (one batched policy call per step);
    ``env_kwargs`` go to :func:`seamrl.envs.make` (e.g. ``friction``, ``mass_scale``)."""
    from tqdm import tqdm

    from seamrl import envs

    vec = envs.make_vector(task, num_envs, seed=seed, **(env_kwargs or {}))
    obs, _ = vec.reset(seed=seed)
    rows: dict[str, list] = {k: [] for k in ("observations", "actions", "rewards", "next_observations", "terminals", "timeouts")}
    per_env: list[dict[str, list]] = [{k: [] for k in rows} for _ in range(num_envs)]
    count = 0
    bar = tqdm(total=transitions, desc=f"collecting {name or task}", unit="step", disable=not progress, mininterval=1.0)
    while count < transitions:
        action = np.asarray(policy(obs), np.float32)
        action = np.clip(action, vec.single_action_space.low, vec.single_action_space.high)
        next_obs, reward, terminated, truncated, info = vec.step(action)
        real_next = envs.real_next_obs(next_obs, info)
        for i in range(num_envs):
            buf = per_env[i]
            for key, value in (
                ("observations", obs[i]),
                ("actions", action[i]),
                ("rewards", reward[i]),
                ("next_observations", real_next[i]),
                ("terminals", bool(terminated[i])),
                ("timeouts", bool(truncated[i]) and not bool(terminated[i])),
            ):
                buf[key].append(value)
            if terminated[i] or truncated[i]:  # a finished episode is flushed whole, so episodes stay contiguous
                for key in rows:
                    rows[key].extend(buf[key])
                    buf[key].clear()
        count += num_envs
        bar.update(num_envs)
        obs = next_obs
    bar.close()
    for buf in per_env:  # unfinished episodes end with a time-out at the dataset's end
        if buf["observations"]:
            buf["timeouts"][-1] = not buf["terminals"][-1]
            for key in rows:
                rows[key].extend(buf[key])
    vec.close()
    arrays = {k: np.asarray(v[:transitions]) for k, v in rows.items()}
    if not arrays["terminals"][-1]:
        arrays["timeouts"][-1] = True
    return Dataset.create(**arrays, name=name, source=f"collect({task})")
