"""D4RL HDF5 layout: flat datasets ``observations``, ``actions``, ``rewards``,
``terminals``, ``timeouts``, optional ``next_observations`` and ``infos/*``."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

import seamrl
from seamrl.data.dataset import Dataset
from seamrl.data.formats._arrays import dataset_arrays, dataset_from_keys, reason
from seamrl.errors import DataError


def load_d4rl_hdf5(path: str | os.PathLike, name: str | None = None) -> Dataset:
    """Read a D4RL-layout HDF5 file; see :func:`dataset_from_keys` for the key rules.

    Without ``next_observations`` the next row is used and rows without a successor
    in their episode are dropped (:meth:`Dataset.create`). The name defaults to the
    file's ``name`` attribute (written by :func:`save_d4rl_hdf5`), else its stem.
    """
    import h5py

    source = str(path)
    try:
        file = h5py.File(path, "r")
    except OSError as exc:
        raise DataError(f"{source}: cannot be opened as an HDF5 file ({reason(exc)}); expected a D4RL-layout .hdf5 file.") from None
    with file:
        keys: list[str] = []
        file.visititems(lambda key, obj: keys.append(key) if isinstance(obj, h5py.Dataset) else None)
        for key in ("observations", "actions", "rewards", "terminals", "timeouts", "next_observations"):
            if isinstance(file.get(key), h5py.Group):
                raise DataError(f"{source}: key '{key}' is a group; expected a single array with one row per transition.")

        def read(key: str) -> np.ndarray:
            try:
                return file[key][()]
            except (OSError, TypeError, ValueError) as exc:
                raise DataError(f"{source}: key '{key}' cannot be read ({reason(exc)}); expected a numeric array.") from None

        attr_name = file.attrs.get("name")
        if isinstance(attr_name, bytes):
            attr_name = attr_name.decode()
        name = name or (str(attr_name) if attr_name else Path(source).stem)
        steps = file.attrs.get("max_episode_steps")
        return dataset_from_keys(
            keys, read, source=source, name=name, kind="D4RL HDF5",
            max_episode_steps=None if steps is None else int(steps),
        )


def save_d4rl_hdf5(ds: Dataset, path: str | os.PathLike, compression: str | None = None) -> Path:
    """Write ``ds`` in the D4RL layout (with ``next_observations`` and ``timeouts``).

    Root attributes: ``name``, ``source``, ``format`` ("d4rl"), ``seamrl_version``,
    ``transitions``, ``episodes`` (and ``max_episode_steps`` when set).
    """
    import h5py

    path = Path(path)
    try:
        with h5py.File(path, "w") as file:
            for key, value in dataset_arrays(ds).items():
                file.create_dataset(key, data=value, compression=compression)
            file.attrs.update(
                {
                    "name": ds.name,
                    "source": ds.source,
                    "format": "d4rl",
                    "seamrl_version": seamrl.__version__,
                    "transitions": len(ds),
                    "episodes": ds.num_episodes,
                }
            )
            if ds.max_episode_steps is not None:
                file.attrs["max_episode_steps"] = ds.max_episode_steps
    except OSError as exc:
        raise DataError(f"{path}: cannot be written as an HDF5 file ({reason(exc)}).") from None
    return path

