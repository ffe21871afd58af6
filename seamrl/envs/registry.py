"""Task registry: task names → Gymnasium env ids, reference scores and dataset names.

A *task* is a name the user types (``hopper-medium-v2``) that resolves to a Gymnasium env id
(``Hopper-v5``) plus keyword arguments, a time limit, the D4RL reference returns used for
normalised scores, and the name of the dataset that goes with it. Plain Gymnasium ids need no
registration; they simply have no reference scores.

The D4RL dataset names are registered here, mapped to the closest current Gymnasium /
Gymnasium-Robotics environment, with the reference returns of algorithms.md §8 (copied from
D4RL ``infos.py`` through that table). The dataset suite re-registers names with its own
``dataset`` field via :func:`register_task`; a later registration replaces an earlier one.

Closest-environment caveats (the numbers are only comparable approximately):

- Gym-MuJoCo ``*-v0/v1/v2`` datasets were recorded on ``*-v2/v3`` envs; we use ``*-v5``.
  ``ant-*`` maps to ``Ant-v5`` with its default 105-d observation (D4RL's is 111-d).
- ``antmaze-*`` maps to ``AntMaze_{UMaze,Medium,Large}-v5`` with D4RL's evaluation maze (fixed
  start cell ``r`` and goal cell ``g``) and ``continuing_task=False`` so that an episode ends on
  success and the sparse return is 0 or 1 (success rate × 100 after normalisation); contact
  forces are left out of the ant's observation (27-d, plus 2-d achieved and desired goals).
- ``maze2d-*`` maps to ``PointMaze_{UMaze,Medium,Large}[Dense]-v3`` with D4RL's fixed goal cell
  and a random start, continuing after the goal is reached (return = steps spent at the goal).
- ``kitchen-*`` maps to ``FrankaKitchen-v1`` with D4RL's four sub-tasks (return = tasks done).
- Adroit ``*-v0/v1`` maps to ``AdroitHand{Pen,Hammer,Door,Relocate}-v1`` (dense reward;
  Gymnasium-Robotics changed some Adroit rewards in 1.2.1).
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from seamrl.errors import EnvError


@dataclass(frozen=True)
class TaskInfo:
    """Everything needed to build and score one task."""

    name: str
    env_id: str
    ref_min: float | None = None
    ref_max: float | None = None
    max_episode_steps: int | None = None
    dataset: str | None = None
    env_kwargs: Mapping[str, Any] = field(default_factory=dict)


_TASKS: dict[str, TaskInfo] = {}


def register_task(
    name: str,
    env_id: str,
    ref_min: float | None = None,
    ref_max: float | None = None,
    max_episode_steps: int | None = None,
    dataset: str | None = None,
    env_kwargs: Mapping[str, Any] | None = None,
) -> TaskInfo:
    """Register (or replace) a task name; returns its :class:`TaskInfo`."""
    if not isinstance(name, str) or not name:
        raise EnvError(f"Task name {name!r} is invalid; expected a non-empty string.")
    if not isinstance(env_id, str) or not env_id:
        raise EnvError(f"Env id {env_id!r} for task {name!r} is invalid; expected a non-empty string.")
    if (ref_min is None) != (ref_max is None):
        raise EnvError(
            f"Task {name!r} has ref_min={ref_min!r} and ref_max={ref_max!r}; expected both or neither."
        )
    if ref_min is not None and not float(ref_max) > float(ref_min):
        raise EnvError(
            f"Task {name!r} has ref_max={ref_max!r} <= ref_min={ref_min!r}; expected ref_max > ref_min."
        )
    if max_episode_steps is not None and int(max_episode_steps) <= 0:
        raise EnvError(
            f"Task {name!r} has max_episode_steps={max_episode_steps!r}; expected a positive integer."
        )
    info = TaskInfo(
        name=name,
        env_id=env_id,
        ref_min=None if ref_min is None else float(ref_min),
        ref_max=None if ref_max is None else float(ref_max),
        max_episode_steps=None if max_episode_steps is None else int(max_episode_steps),
        dataset=dataset,
        env_kwargs=copy.deepcopy(dict(env_kwargs or {})),
    )
    _TASKS[name] = info
    return info


def is_registered(name: str) -> bool:
    """True when ``name`` is a registered task name (not merely a Gymnasium id)."""
    return name in _TASKS


def list_tasks() -> list[str]:
    """Sorted registered task names."""
    return sorted(_TASKS)


def task_info(name: str) -> TaskInfo:
    """Return the :class:`TaskInfo` of a registered task, or of a plain Gymnasium id.

    A name that is not registered is treated as a Gymnasium id with no reference scores;
    whether that id exists is only checked by :func:`seamrl.envs.make`.
    """
    info = _TASKS.get(name)
    if info is not None:
        return dataclasses.replace(info, env_kwargs=copy.deepcopy(dict(info.env_kwargs)))
    if not isinstance(name, str) or not name:
        raise EnvError(f"Task {name!r} is invalid; expected a Gymnasium id or a registered task name.")
    return TaskInfo(name=name, env_id=name)


def reference_scores(task: str) -> tuple[float, float] | None:
    """``(R_min, R_max)`` of a task, or None when it has no reference scores."""
    info = _TASKS.get(task)
    if info is None or info.ref_min is None or info.ref_max is None:
        return None
    return info.ref_min, info.ref_max


def normalized_score(task: str, returns: Any) -> np.ndarray | None:
    """``100 (R - R_min) / (R_max - R_min)`` elementwise, or None without reference scores."""
    ref = reference_scores(task)
    if ref is None:
        return None
    lo, hi = ref
    return 100.0 * (np.asarray(returns, dtype=np.float64) - lo) / (hi - lo)


# --------------------------------------------------------------------------------------------
# D4RL names (algorithms.md §8)
# --------------------------------------------------------------------------------------------

_LOCOMOTION = {  # env: (Gymnasium id, REF_MIN_SCORE, REF_MAX_SCORE)
    "halfcheetah": ("HalfCheetah-v5", -280.178953, 12135.0),
    "hopper": ("Hopper-v5", -20.272305, 3234.3),
    "walker2d": ("Walker2d-v5", 1.629008, 4592.3),
    "ant": ("Ant-v5", -325.6, 3879.7),
}
_LOCOMOTION_DATASETS = ("random", "medium", "medium-replay", "medium-expert", "expert", "full-replay")

_ADROIT = {  # env: (Gymnasium id, REF_MIN_SCORE, REF_MAX_SCORE, D4RL max_episode_steps)
    "pen": ("AdroitHandPen-v1", 96.262799, 3076.8331017826877, 100),
    "hammer": ("AdroitHandHammer-v1", -274.856578, 12794.134825156867, 200),
    "door": ("AdroitHandDoor-v1", -56.512833, 2880.5693087298737, 200),
    "relocate": ("AdroitHandRelocate-v1", -6.425911, 4233.877797728884, 200),
}

# D4RL antmaze evaluation mazes: 1 = wall, "r" = start cell, "g" = goal cell, 0 = free.
_R, _G = "r", "g"
_MAZES: dict[str, list[list[Any]]] = {
    "umaze": [
        [1, 1, 1, 1, 1],
        [1, _R, 0, 0, 1],
        [1, 1, 1, 0, 1],
        [1, _G, 0, 0, 1],
        [1, 1, 1, 1, 1],
    ],
    "medium": [
        [1, 1, 1, 1, 1, 1, 1, 1],
        [1, _R, 0, 1, 1, 0, 0, 1],
        [1, 0, 0, 1, 0, 0, 0, 1],
        [1, 1, 0, 0, 0, 1, 1, 1],
        [1, 0, 0, 1, 0, 0, 0, 1],
        [1, 0, 1, 0, 0, 1, 0, 1],
        [1, 0, 0, 0, 1, 0, _G, 1],
        [1, 1, 1, 1, 1, 1, 1, 1],
    ],
    "large": [
        [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1],
        [1, _R, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1],
        [1, 0, 1, 1, 0, 1, 0, 1, 0, 1, 0, 1],
        [1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1],
        [1, 0, 1, 1, 1, 1, 0, 1, 1, 1, 0, 1],
        [1, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 1],
        [1, 1, 0, 1, 0, 1, 0, 1, 0, 1, 1, 1],
        [1, 0, 0, 1, 0, 0, 0, 1, 0, _G, 0, 1],
        [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1],
    ],
}
_MAZE_ENV = {"umaze": "UMaze", "medium": "Medium", "large": "Large"}

_ANTMAZE_DATASETS = {  # dataset: maze
    "umaze": "umaze",
    "umaze-diverse": "umaze",
    "medium-play": "medium",
    "medium-diverse": "medium",
    "large-play": "large",
    "large-diverse": "large",
}
_ANTMAZE_STEPS = {"umaze": 700, "medium": 1000, "large": 1000}

_MAZE2D = {  # (maze, dense): (REF_MIN_SCORE, REF_MAX_SCORE)
    ("umaze", False): (23.85, 161.86),
    ("medium", False): (13.13, 277.39),
    ("large", False): (6.7, 273.99),
    ("umaze", True): (68.537689, 193.66285642381482),
    ("medium", True): (44.264742, 297.4552547777125),
    ("large", True): (30.569041, 303.4857382709002),
}
_MAZE2D_STEPS = {"umaze": 300, "medium": 600, "large": 800}

_KITCHEN_TASKS = {
    "complete": ["microwave", "kettle", "light switch", "slide cabinet"],
    "partial": ["microwave", "kettle", "bottom burner", "light switch"],
    "mixed": ["microwave", "kettle", "bottom burner", "light switch"],
}


def _maze2d_map(maze: str) -> list[list[Any]]:
    """D4RL maze2d: fixed goal cell, random start among free cells (umaze goal: top arm)."""
    if maze == "umaze":
        return [[1, 1, 1, 1, 1], [1, _G, 0, 0, 1], [1, 1, 1, 0, 1], [1, 0, 0, 0, 1], [1, 1, 1, 1, 1]]
    return [[0 if c == _R else c for c in row] for row in _MAZES[maze]]


def _register_d4rl() -> None:
    for env, (env_id, lo, hi) in _LOCOMOTION.items():
        for ds in _LOCOMOTION_DATASETS:
            for v in ("v0", "v1", "v2"):
                name = f"{env}-{ds}-{v}"
                register_task(name, env_id, lo, hi, 1000, dataset=name)
    for env, (env_id, lo, hi, steps) in _ADROIT.items():
        for ds in ("human", "cloned", "expert"):
            for v in ("v0", "v1"):
                name = f"{env}-{ds}-{v}"
                register_task(name, env_id, lo, hi, steps, dataset=name)
    for ds, maze in _ANTMAZE_DATASETS.items():
        for v in ("v0", "v2"):
            name = f"antmaze-{ds}-{v}"
            kwargs = {
                "maze_map": _MAZES[maze],
                "continuing_task": False,
                "reset_target": False,
                "include_cfrc_ext_in_observation": False,  # D4RL's ant had no contact forces
            }
            register_task(
                name, f"AntMaze_{_MAZE_ENV[maze]}-v5", 0.0, 1.0, _ANTMAZE_STEPS[maze],
                dataset=name, env_kwargs=kwargs,
            )
    for (maze, dense), (lo, hi) in _MAZE2D.items():
        name = f"maze2d-{maze}{'-dense' if dense else ''}-v1"
        env_id = f"PointMaze_{_MAZE_ENV[maze]}{'Dense' if dense else ''}-v3"
        kwargs = {"maze_map": _maze2d_map(maze), "continuing_task": True, "reset_target": False}
        register_task(name, env_id, lo, hi, _MAZE2D_STEPS[maze], dataset=name, env_kwargs=kwargs)
    for ds, tasks in _KITCHEN_TASKS.items():
        name = f"kitchen-{ds}-v0"
        register_task(
            name, "FrankaKitchen-v1", 0.0, 4.0, 280, dataset=name,
            env_kwargs={"tasks_to_complete": list(tasks)},
        )


_register_d4rl()


def _register_embedded() -> None:
    """Datasets shipped inside the package (``seamrl/assets``), used by ``seamrl demo`` and tests."""
    lo, hi = task_info("hopper-medium-v2").ref_min, task_info("hopper-medium-v2").ref_max
    register_task("hopper-medium-demo-v0", "Hopper-v5", lo, hi, 1000, dataset="package:hopper-medium-demo-v0.npz")


_register_embedded()


def _register_suite() -> None:
    from seamrl.data import suite

    suite.register_tasks(register_task, task_info)


_register_suite()
