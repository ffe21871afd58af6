"""Minari datasets, read and written through the ``minari`` library itself.

Reading: every episode of ``T`` steps gives ``T`` rows with
``observations = obs[:-1]``, ``next_observations = obs[1:]``,
``terminals = terminations`` and ``timeouts = truncations``. A step flagged both
terminated and truncated (a time limit hit on a terminal step) counts as terminal
only, and the last step of an episode that has neither flag gets ``timeouts``, so
every Minari episode stays one seamrl episode.

Dict observations are flattened by concatenating their leaves in sorted-key order
(recursively, each leaf reshaped to ``(T + 1, -1)``); Tuple observations in tuple
order. Box observations keep their shape. Actions must come from a Box space.

Infos: numeric leaves of length ``T + 1`` (as recorded by ``DataCollector``,
info of ``obs[t]``) keep their first ``T`` entries, leaves of length ``T`` are
kept as they are; nested keys are joined with ``/``; other leaves, and keys not
present in every episode with the same trailing shape, are left out.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from seamrl.data.dataset import Dataset
from seamrl.data.formats._arrays import reason
from seamrl.errors import DataError, EnvError


def minari_root() -> Path:
    """The local Minari datasets directory (``MINARI_DATASETS_PATH`` or ``~/.minari/datasets``)."""
    root = os.environ.get("MINARI_DATASETS_PATH")
    return Path(root) if root else Path.home() / ".minari" / "datasets"


def minari_data_dir(path_or_id: str | os.PathLike) -> Path | None:
    """The ``data`` folder of a Minari dataset (its directory, ``data`` folder,
    ``data/main_data.hdf5`` or local id), else None."""
    path = Path(path_or_id)
    if path.is_file() and path.name == "main_data.hdf5":
        path = path.parent
    if path.is_dir():
        for data in (path / "data", path):
            if (data / "metadata.json").is_file():
                return data
        return None
    data = minari_root() / str(path_or_id) / "data"
    return data if (data / "metadata.json").is_file() else None


def load_minari(path_or_id: str | os.PathLike, name: str | None = None) -> Dataset:
    """Read a Minari dataset (directory or id in the local root); name defaults to its id."""
    data_dir = minari_data_dir(path_or_id)
    if data_dir is None:
        raise DataError(
            f"{path_or_id}: neither a Minari dataset directory (with data/metadata.json) nor a dataset id "
            f"under the local Minari root {minari_root()}."
        )
    import minari
    from gymnasium import spaces

    source = str(path_or_id)
    try:
        remote = minari.MinariDataset(data_dir)
    except (ValueError, KeyError, TypeError, OSError, AssertionError, json.JSONDecodeError) as exc:
        raise DataError(f"{source}: cannot be opened as a Minari dataset ({reason(exc)}).") from None
    if not isinstance(remote.action_space, spaces.Box):
        raise DataError(f"{source}: the action space is {remote.action_space}; expected a continuous Box action space.")
    parts: dict[str, list[np.ndarray]] = {k: [] for k in ("obs", "next_obs", "actions", "rewards", "terminals", "timeouts")}
    infos: list[dict[str, np.ndarray]] = []
    try:
        for episode in remote.iterate_episodes():
            _append_episode(parts, infos, episode, source)
    except (ValueError, KeyError, OSError, AssertionError) as exc:
        raise DataError(f"{source}: episodes cannot be read ({reason(exc)}).") from None
    if not parts["rewards"]:
        raise DataError(f"{source}: the Minari dataset contains no episodes; at least one transition is required.")
    return Dataset(
        observations=np.concatenate(parts["obs"]),
        actions=np.concatenate(parts["actions"]),
        rewards=np.concatenate(parts["rewards"]),
        next_observations=np.concatenate(parts["next_obs"]),
        terminals=np.concatenate(parts["terminals"]),
        timeouts=np.concatenate(parts["timeouts"]),
        infos=_common_infos(infos),
        name=name or remote.id,
        source=source,
    )


def _append_episode(parts: dict[str, list[np.ndarray]], infos: list, episode: Any, source: str) -> None:
    steps = len(episode.rewards)
    if steps == 0:
        return
    obs = flatten_observations(episode.observations, steps + 1)
    if len(obs) != steps + 1:
        raise DataError(
            f"{source}: episode {episode.id} has {len(obs)} observations for {steps} steps; expected one more observation than steps."
        )
    terminals = np.asarray(episode.terminations, dtype=bool).reshape(steps)
    timeouts = np.asarray(episode.truncations, dtype=bool).reshape(steps) & ~terminals
    timeouts[-1] |= not terminals[-1]
    parts["obs"].append(obs[:-1])
    parts["next_obs"].append(obs[1:])
    parts["actions"].append(np.asarray(episode.actions).reshape(steps, -1))
    parts["rewards"].append(np.asarray(episode.rewards).reshape(steps))
    parts["terminals"].append(terminals)
    parts["timeouts"].append(timeouts)
    infos.append(_episode_infos(episode.infos or {}, steps))


def flatten_observations(obs: Any, rows: int) -> np.ndarray:
    """Box → array as is; Dict → sorted-key leaves concatenated; Tuple → in order."""
    if isinstance(obs, dict):
        return np.concatenate([flatten_observations(obs[k], rows).reshape(rows, -1) for k in sorted(obs)], axis=1)
    if isinstance(obs, tuple):
        return np.concatenate([flatten_observations(o, rows).reshape(rows, -1) for o in obs], axis=1)
    return np.asarray(obs)


def _episode_infos(tree: dict, steps: int, prefix: str = "") -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            out.update(_episode_infos(value, steps, f"{prefix}{key}/"))
            continue
        arr = np.asarray(value)
        if arr.ndim == 0 or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
            continue
        if len(arr) == steps + 1:
            out[prefix + key] = arr[:steps]
        elif len(arr) == steps:
            out[prefix + key] = arr
    return out


def _common_infos(per_episode: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    keys = [
        k for k in per_episode[0]
        if all(k in ep and ep[k].shape[1:] == per_episode[0][k].shape[1:] for ep in per_episode)
    ]
    return {k: np.concatenate([ep[k] for ep in per_episode]) for k in keys}


def save_minari(
    ds: Dataset,
    dataset_id: str,
    env: Any = None,
    *,
    observation_space: Any = None,
    action_space: Any = None,
    eval_env: Any = None,
    algorithm_name: str | None = None,
    author: str | None = None,
    author_email: str | None = None,
    code_permalink: str | None = None,
    description: str | None = None,
    ref_min_score: float | None = None,
    ref_max_score: float | None = None,
    data_format: str | None = None,
) -> Path:
    """Create the Minari dataset ``dataset_id`` under :func:`minari_root`; returns its directory.

    ``env`` (a gymnasium id, ``EnvSpec`` or env) is recorded so that Minari can
    recover the environment; its spaces are used unless given. Without ``env`` the
    spaces default to ``Box(-inf, inf, obs_shape)`` and ``Box(-1, 1, (action_dim,))``.
    The data must fit these Box spaces. Each seamrl episode becomes one Minari
    episode with ``obs`` = its observations plus the last next observation; its last
    step is flagged truncated unless terminal. Written with
    ``minari.create_dataset_from_buffers``, so ``minari.load_dataset(dataset_id)``
    opens it. Passing ``ref_max_score`` without ``ref_min_score`` makes Minari
    estimate the latter with 100 random-policy episodes.
    """
    import gymnasium as gym
    import minari
    from minari.data_collector import EpisodeBuffer
    from minari.dataset.minari_dataset import parse_dataset_id

    try:
        parse_dataset_id(dataset_id)
    except (ValueError, TypeError):
        raise DataError(
            f"Minari dataset id '{dataset_id}' is malformed; expected '(namespace/)name-v<version>', e.g. 'seamrl/hopper-medium-v0'."
        ) from None
    target = minari_root() / dataset_id
    if target.exists():
        raise DataError(f"Minari dataset id '{dataset_id}' already exists at {target}; choose another id or delete it.")
    if env is not None:
        try:
            made = gym.make(env) if isinstance(env, (str, gym.envs.registration.EnvSpec)) else env
        except gym.error.Error as exc:
            raise EnvError(f"save_minari: environment {env} cannot be created ({reason(exc)}).") from None
        observation_space = made.observation_space if observation_space is None else observation_space
        action_space = made.action_space if action_space is None else action_space
    if observation_space is None:
        observation_space = gym.spaces.Box(-np.inf, np.inf, ds.obs_shape, np.float32)
    if action_space is None:
        action_space = gym.spaces.Box(-1.0, 1.0, (ds.action_dim,), np.float32)
    for what, space in (("observation", observation_space), ("action", action_space)):
        if not isinstance(space, gym.spaces.Box):
            raise DataError(f"{ds.label}: cannot be saved for the {what} space {space}; expected a Box space (seamrl stores flat arrays).")
    ds.validate_for(observation_space.shape, action_space.low, action_space.high)

    ends = ds.episode_ends
    truncations = ds.timeouts | (ends & ~ds.terminals)
    bounds = zip(np.flatnonzero(ds.episode_starts), np.flatnonzero(ends) + 1)
    buffers = [
        EpisodeBuffer(
            id=i,
            observations=np.concatenate([ds.observations[s:e], ds.next_observations[e - 1 : e]]),
            actions=ds.actions[s:e],
            rewards=ds.rewards[s:e],
            terminations=ds.terminals[s:e],
            truncations=truncations[s:e],
            infos={k: v[s:e] for k, v in ds.infos.items()} or None,
        )
        for i, (s, e) in enumerate(bounds)
    ]
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r".*(is set to None|env_spec is None).*")
            minari.create_dataset_from_buffers(
                dataset_id=dataset_id,
                buffer=buffers,
                env=env,
                eval_env=eval_env,
                algorithm_name=algorithm_name,
                author=author,
                author_email=author_email,
                code_permalink=code_permalink,
                action_space=action_space,
                observation_space=observation_space,
                ref_min_score=ref_min_score,
                ref_max_score=ref_max_score,
                description=description,
                data_format=data_format,
            )
    except (ValueError, OSError, TypeError) as exc:
        raise DataError(f"Minari dataset id '{dataset_id}' cannot be written ({reason(exc)}).") from None
    return target
