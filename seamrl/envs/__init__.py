"""Environments: task names, env creation, vectorised evaluation and normalised scores.

- :func:`make` — task name or Gymnasium id → env with 1-D float32 observations, Box actions.
- :func:`make_vector` / :func:`real_next_obs` — SyncVectorEnv (SAME_STEP autoreset) for online
  collection and the true next observation for the replay buffer.
- :class:`Evaluator` / :func:`evaluate` — deterministic-count vectorised evaluation.
- :func:`register_task`, :func:`task_info`, :func:`reference_scores`, :func:`normalized_score`
  — the task registry, pre-filled with D4RL dataset names and their reference returns.
- :func:`flatten_observation`, :func:`flatten_space` — the dict-observation layout, shared with
  dataset loaders so offline data and live envs agree.
"""

from seamrl.envs.evaluate import Evaluator, evaluate
from seamrl.envs.flatten import (
    FlatObservation,
    dict_key_order,
    flatten_observation,
    flatten_space,
    observation_layout,
)
from seamrl.envs.make import EnvSpec, as_flat_env, make, max_episode_steps_of, spec_of
from seamrl.envs.registry import (
    TaskInfo,
    is_registered,
    list_tasks,
    normalized_score,
    reference_scores,
    register_task,
    task_info,
)
from seamrl.envs.vector import make_vector, real_next_obs

__all__ = [
    "EnvSpec",
    "Evaluator",
    "FlatObservation",
    "TaskInfo",
    "as_flat_env",
    "dict_key_order",
    "evaluate",
    "flatten_observation",
    "flatten_space",
    "is_registered",
    "list_tasks",
    "make",
    "make_vector",
    "max_episode_steps_of",
    "normalized_score",
    "observation_layout",
    "real_next_obs",
    "reference_scores",
    "register_task",
    "spec_of",
    "task_info",
]
