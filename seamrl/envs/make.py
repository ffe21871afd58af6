"""Create environments from task names or Gymnasium ids, with optional families loaded lazily.

Supported ids: everything in Gymnasium's registry (MuJoCo ``*-v5``, classic control, Box2D),
Gymnasium-Robotics ids (``AntMaze_*``, ``PointMaze_*``, ``AdroitHand*``, ``FrankaKitchen-v1``,
``Fetch*``, ``HandManipulate*``), ``dm_control/<domain>-<task>-v0`` through Shimmy, PyBullet's
``*BulletEnv-v0`` through ``pybullet_envs_gymnasium``, and task names registered in
:mod:`seamrl.envs.registry` (e.g. the D4RL dataset names). An optional family is imported only
when one of its ids is requested; a missing package gives an :class:`EnvError` that names the
``pip install`` command (pins in ``requirements-envs.txt``).

Every env returned by :func:`make` has a 1-D float32 observation (see
:mod:`seamrl.envs.flatten` for the key order of dict observations) and a Box action space.
"""

from __future__ import annotations

import contextlib
import difflib
import importlib
import io
import math
import os
import sys
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from seamrl.envs.flatten import FlatObservation
from seamrl.envs.registry import list_tasks, task_info
from seamrl.errors import EnvError

ROBOTICS_PREFIXES = (
    "AntMaze_",
    "PointMaze_",
    "AdroitHand",
    "FrankaKitchen",
    "Fetch",
    "HandManipulate",
    "HandReach",
)
BOX2D_PREFIXES = ("BipedalWalker", "LunarLander", "CarRacing")
BOX2D_INSTALL = 'pip install "gymnasium[box2d]==1.4.0"'


@dataclass(frozen=True)
class Family:
    """An optional environment family whose ids are registered by importing modules."""

    name: str
    modules: tuple[str, ...]
    package: str
    install: str
    matches: Callable[[str], bool]
    quiet: bool = False  # silence C-level prints on import / construction


FAMILIES: tuple[Family, ...] = (
    Family(
        "dm_control",
        ("dm_control", "dm_control.suite", "shimmy"),
        "shimmy[dm-control] (with dm-control)",
        'pip install "shimmy[dm-control]==2.0.1" "dm-control==1.0.44"',
        lambda env_id: env_id.startswith("dm_control/"),
    ),
    Family(
        "pybullet",
        ("pybullet", "pybullet_envs_gymnasium"),
        "pybullet-envs-gymnasium (with pybullet)",
        'pip install "pybullet==3.2.7" "pybullet-envs-gymnasium==0.6.0"',
        lambda env_id: "BulletEnv-" in env_id,
        quiet=True,
    ),
    Family(
        "gymnasium-robotics",
        ("gymnasium_robotics",),
        "gymnasium-robotics",
        'pip install "gymnasium-robotics==1.4.2"',
        lambda env_id: env_id.startswith(ROBOTICS_PREFIXES),
        quiet=True,  # its import prints a farama_notifications notice about Adroit rewards
    ),
)


@dataclass(frozen=True, eq=False)
class EnvSpec:
    """Shapes and bounds an agent needs to be initialised for an environment."""

    obs_shape: tuple[int, ...]
    action_dim: int
    action_low: np.ndarray
    action_high: np.ndarray
    max_episode_steps: int | None

    @property
    def obs_dim(self) -> int:
        return int(np.prod(self.obs_shape, dtype=np.int64))


@contextlib.contextmanager
def _quiet(enabled: bool = True) -> Iterator[None]:
    """Silence Python warnings and, if enabled, C-level writes to fds 1/2 (pybullet banners)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if not enabled:
            yield
            return
        sys.stdout.flush()
        sys.stderr.flush()
        try:
            saved = [os.dup(1), os.dup(2)]
        except OSError:  # no real stdout/stderr (embedded interpreter): nothing to silence
            yield
            return
        devnull = os.open(os.devnull, os.O_WRONLY)
        sink = io.StringIO()  # Python-level prints too (e.g. farama_notifications on import)
        try:
            os.dup2(devnull, 1)
            os.dup2(devnull, 2)
            with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
                yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            for fd, copy in zip((1, 2), saved):
                os.dup2(copy, fd)
                os.close(copy)
            os.close(devnull)


def family_of(env_id: str) -> Family | None:
    """The optional family an env id belongs to, or None for core Gymnasium ids."""
    return next((f for f in FAMILIES if f.matches(env_id)), None)


def load_family(family: Family, task: str) -> None:
    """Import a family's modules (registering its ids), or raise a one-sentence EnvError."""
    for module in family.modules:
        try:
            with _quiet(family.quiet):
                importlib.import_module(module)
        except ImportError as exc:
            raise EnvError(
                f"Task {task!r} needs package {family.package} ({module} cannot be imported: "
                f"{exc}); install with `{family.install}`."
            ) from None


def _known_ids() -> list[str]:
    """Registered task names plus every Gymnasium id, after loading installed families."""
    for family in FAMILIES:
        with contextlib.suppress(EnvError):
            load_family(family, "")
    return list_tasks() + [k for k in gym.registry if not k.startswith("dm_control/compat")]


def unknown_task_error(task: str, env_id: str | None = None) -> EnvError:
    """EnvError for an unknown task (or a task mapped to an unknown env id), with a suggestion."""
    name = task if env_id is None or env_id == task else env_id
    known = _known_ids()
    lowered = {k.lower(): k for k in known}
    close = difflib.get_close_matches(name.lower(), list(lowered), n=1, cutoff=0.6)
    hint = f"; did you mean {lowered[close[0]]!r}?" if close else "."
    if name != task:
        return EnvError(f"Task {task!r} maps to unknown env id {name!r}{hint}")
    return EnvError(
        f"Unknown task {task!r}{hint} Expected a Gymnasium id such as 'Hopper-v5' or a task "
        f"name from `seamrl.envs.list_tasks()` such as 'hopper-medium-v2'."
    )


def _missing_dependency_error(task: str, env_id: str, exc: Exception) -> EnvError:
    if env_id.startswith(BOX2D_PREFIXES):
        return EnvError(
            f"Task {task!r} needs package gymnasium[box2d] (box2d and pygame-ce); install with "
            f"`{BOX2D_INSTALL}` (on Python >= 3.14 this builds box2d-py and needs `apt-get install swig`)."
        )
    family = family_of(env_id)
    how = f"install with `{family.install}`" if family is not None else "install the package it names"
    return EnvError(f"Task {task!r} needs a package that is not installed ({exc}); {how}.")


def _make_raw(task: str, env_id: str, max_episode_steps: int | None, kwargs: dict[str, Any]) -> gym.Env:
    family = family_of(env_id)
    if family is not None:
        load_family(family, task)
    if ":" not in env_id and env_id not in gym.registry:
        raise unknown_task_error(task, env_id)
    try:
        with _quiet(family is not None and family.quiet):
            return gym.make(env_id, max_episode_steps=max_episode_steps, **kwargs)
    except gym.error.DependencyNotInstalled as exc:
        raise _missing_dependency_error(task, env_id, exc) from None
    except (gym.error.NameNotFound, gym.error.VersionNotFound, gym.error.NamespaceNotFound):
        raise unknown_task_error(task, env_id) from None
    except TypeError as exc:
        if not kwargs:
            raise
        raise EnvError(
            f"Task {task!r} ({env_id}) does not accept the options {sorted(kwargs)}: {exc}."
        ) from None


def as_flat_env(env: gym.Env, task: str = "env") -> gym.Env:
    """Check the action space is a Box and make observations 1-D float32 (idempotent)."""
    if not isinstance(env.action_space, spaces.Box):
        raise EnvError(
            f"Task {task!r} has action space {env.action_space}; seamrl needs a continuous Box action space."
        )
    if not isinstance(env, FlatObservation):  # also casts float64 / mistyped Box observations
        env = FlatObservation(env)
    return env


def make(task: str, seed: int | None = None, *, friction: float = 1.0, mass_scale: float = 1.0, **kwargs: Any) -> gym.Env:
    """Create the environment of ``task`` (registered task name or Gymnasium id).

    ``kwargs`` go to ``gymnasium.make`` after the task's own ``env_kwargs`` (so they override
    them); ``max_episode_steps`` overrides the task's time limit. With a ``seed`` the env is
    reset once with it and its action space is seeded, so later ``reset()`` calls without a
    seed continue one reproducible random stream. ``friction`` / ``mass_scale`` other than 1
    change a MuJoCo model's physics (:class:`seamrl.envs.physics.ScaledPhysics`).
    """
    if not isinstance(task, str) or not task:
        raise EnvError(f"Task {task!r} is invalid; expected a Gymnasium id or a registered task name.")
    info = task_info(task)
    env_kwargs = {**info.env_kwargs, **kwargs}
    max_steps = env_kwargs.pop("max_episode_steps", info.max_episode_steps)
    env = _make_raw(task, info.env_id, max_steps, env_kwargs)
    if friction != 1.0 or mass_scale != 1.0:
        from seamrl.envs.physics import ScaledPhysics

        env = ScaledPhysics(env, friction, mass_scale, task)
    env = as_flat_env(env, task)
    family = family_of(info.env_id)
    quiet = family is not None and family.quiet
    if seed is not None or quiet:  # pybullet connects (and prints) on its first reset
        with _quiet(quiet):
            env.reset(seed=None if seed is None else int(seed))
    if seed is not None:
        env.action_space.seed(int(seed))
    return env


def max_episode_steps_of(env: gym.Env) -> int | None:
    """Time limit of an env (TimeLimit / spec, or dm_control's internal step limit)."""
    if hasattr(env, "envs"):  # a SyncVectorEnv
        env = env.envs[0]
    spec = getattr(env, "spec", None)
    if spec is not None and spec.max_episode_steps is not None:
        return int(spec.max_episode_steps)
    inner = getattr(env.unwrapped, "_env", None)  # shimmy's dm_control wrapper
    limit = getattr(inner, "_step_limit", None)
    if isinstance(limit, (int, float)) and math.isfinite(limit):
        return int(limit)
    return None


def spec_of(env: gym.Env) -> EnvSpec:
    """Shapes, action bounds and time limit of a single env or a vector env."""
    obs_space = getattr(env, "single_observation_space", env.observation_space)
    act_space = getattr(env, "single_action_space", env.action_space)
    if not isinstance(act_space, spaces.Box):
        raise EnvError(f"Action space {act_space} is not supported; expected a continuous Box.")
    low = np.broadcast_to(act_space.low, act_space.shape).astype(np.float32).ravel()
    high = np.broadcast_to(act_space.high, act_space.shape).astype(np.float32).ravel()
    low.flags.writeable = False
    high.flags.writeable = False
    return EnvSpec(
        obs_shape=tuple(int(d) for d in obs_space.shape),
        action_dim=int(low.size),
        action_low=low,
        action_high=high,
        max_episode_steps=max_episode_steps_of(env),
    )
