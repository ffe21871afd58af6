"""Vectorised policy evaluation (algorithms.md §1.6).

Protocol:

- ``n = min(episodes, max_envs)`` evaluation envs (16 by default) are created once by an
  :class:`Evaluator` and kept for later calls; they are never the training envs.
- Episode slots are assigned up front: env ``i`` runs episodes ``i, i + n, i + 2n, ...``, so
  exactly ``episodes`` episodes are run to completion and short episodes are not favoured.
- Episode ``k`` starts with ``env.reset(seed=seed + k)``, so the returns do not depend on
  ``n`` and equal those of a plain single-env loop over the same seeds.
- Each step makes ONE policy call on a ``(n, obs_dim)`` float32 batch. The batch always has
  ``n`` rows (a fixed shape, so a jitted policy compiles once); rows of envs that have finished
  all their episodes repeat their last observation and their actions are ignored.
- Actions are clipped to the action space before stepping.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import gymnasium as gym
import numpy as np

from seamrl.envs.make import as_flat_env, make
from seamrl.envs.registry import normalized_score
from seamrl.errors import EnvError

Policy = Callable[[np.ndarray], Any]
EnvSource = str | Callable[[], gym.Env] | Sequence[gym.Env]

DEFAULT_MAX_ENVS = 16


class Evaluator:
    """Holds evaluation envs and runs ``evaluator(policy, episodes, seed) -> metrics``.

    ``source`` is a task name / Gymnasium id (envs built with :func:`make` and ``env_kwargs``),
    a zero-argument env factory, or a list of envs (used as given, at most ``len`` at a time).
    ``task`` names the task for normalised scores; it defaults to ``source`` when that is a
    string.
    """

    def __init__(
        self,
        source: EnvSource,
        task: str | None = None,
        max_envs: int = DEFAULT_MAX_ENVS,
        **env_kwargs: Any,
    ):
        if isinstance(max_envs, bool) or not isinstance(max_envs, (int, np.integer)) or max_envs < 1:
            raise EnvError(f"max_envs={max_envs!r} is invalid; expected an integer >= 1.")
        self.task = task if task is not None else (source if isinstance(source, str) else None)
        self.max_envs = int(max_envs)
        self.envs: list[gym.Env] = []
        self._factory: Callable[[], gym.Env] | None
        self._owns_envs = True
        if isinstance(source, str):
            self._factory = lambda: make(source, **env_kwargs)
        elif callable(source):
            self._factory = source
        elif isinstance(source, Sequence) and len(source) > 0:
            self.envs = [as_flat_env(e, self.task or "env") for e in source]
            self.max_envs = min(self.max_envs, len(self.envs))
            self._factory = None
            self._owns_envs = False
        else:
            raise EnvError(
                f"Evaluation source {source!r} is invalid; expected a task name, an env factory or a non-empty list of envs."
            )

    def _ensure(self, n: int) -> list[gym.Env]:
        while len(self.envs) < n:
            assert self._factory is not None
            self.envs.append(as_flat_env(self._factory(), self.task or "env"))
        envs = self.envs[:n]
        if len({id(e) for e in envs}) < len(envs):
            raise EnvError("The evaluation env factory returned the same env object twice; expected a new env per call.")
        return envs

    def __call__(self, policy: Policy, episodes: int, seed: int) -> dict[str, Any]:
        """Run exactly ``episodes`` episodes with ``policy`` and return the metrics dict."""
        if isinstance(episodes, bool) or not isinstance(episodes, (int, np.integer)) or episodes < 1:
            raise EnvError(f"episodes={episodes!r} is invalid; expected an integer >= 1.")
        episodes, seed = int(episodes), int(seed)
        n = min(episodes, self.max_envs)
        envs = self._ensure(n)
        space = envs[0].action_space
        low = np.broadcast_to(space.low, space.shape).astype(np.float64)
        high = np.broadcast_to(space.high, space.shape).astype(np.float64)
        obs_dim = int(np.prod(envs[0].observation_space.shape))

        returns = np.zeros(episodes, dtype=np.float64)
        lengths = np.zeros(episodes, dtype=np.int64)
        success = np.zeros(episodes, dtype=bool)
        reports_success = False
        queues = [list(range(i, episodes, n)) for i in range(n)]  # slots assigned up front
        current = np.full(n, -1, dtype=np.int64)
        active = np.zeros(n, dtype=bool)
        obs = np.zeros((n, obs_dim), dtype=np.float32)

        def start(i: int) -> None:
            k = queues[i].pop(0)
            o, _ = envs[i].reset(seed=seed + k)
            obs[i] = o
            current[i] = k
            active[i] = True

        for i in range(n):
            start(i)
        while active.any():
            actions = np.asarray(policy(obs.copy()), dtype=np.float64)
            if actions.shape != (n, *space.shape):
                raise EnvError(
                    f"Policy returned actions of shape {actions.shape}; expected {(n, *space.shape)} for a batch of {n} observations."
                )
            actions = np.clip(actions, low, high).astype(space.dtype)
            for i in np.flatnonzero(active):
                o, r, terminated, truncated, info = envs[i].step(actions[i])
                k = current[i]
                returns[k] += float(r)
                lengths[k] += 1
                flag = info.get("success", info.get("is_success"))
                if flag is not None:
                    reports_success = True
                    success[k] |= bool(np.any(flag))
                if terminated or truncated:
                    if queues[i]:
                        start(i)
                    else:
                        active[i] = False
                else:
                    obs[i] = o

        normalized = normalized_score(self.task, returns) if self.task else None
        return {
            "return_mean": float(returns.mean()),
            "return_std": float(returns.std()),
            "returns": returns.tolist(),
            "lengths": lengths.tolist(),
            "length_mean": float(lengths.mean()),
            "normalized_mean": None if normalized is None else float(normalized.mean()),
            "normalized_std": None if normalized is None else float(normalized.std()),
            "success_rate": float(success.mean()) if reports_success else None,
        }

    def close(self) -> None:
        """Close the envs this evaluator created (never envs passed in by the caller)."""
        if self._owns_envs:
            for env in self.envs:
                env.close()
            self.envs = []

    def __enter__(self) -> Evaluator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def evaluate(
    policy: Policy,
    task_or_env_factory: EnvSource,
    episodes: int,
    seed: int,
    task: str | None = None,
    max_envs: int = DEFAULT_MAX_ENVS,
) -> dict[str, Any]:
    """One-shot evaluation; prefer a long-lived :class:`Evaluator` inside training loops.

    Returns ``return_mean, return_std, returns, lengths, length_mean, normalized_mean,
    normalized_std`` (None without reference scores) and ``success_rate`` (None unless the env
    reports ``info['success']`` or ``info['is_success']``; an episode succeeds if any step does).
    """
    with Evaluator(task_or_env_factory, task=task, max_envs=max_envs) as evaluator:
        return evaluator(policy, episodes, seed)
