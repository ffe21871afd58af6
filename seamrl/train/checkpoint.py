"""Checkpoint files: the agent pytree, the online replay and the run's counters.

A checkpoint is one pickle of plain numpy arrays and JSON-able values, written atomically
(temporary file + rename) so a kill during a save leaves the previous checkpoint intact.
The agent state is stored as its list of leaves and restored into a freshly initialised
state of the same config, which gives a clear error when the two do not match.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any

import jax
import numpy as np

from seamrl.data import buffer
from seamrl.errors import ConfigError

FORMAT = 1


def save(path: Path, agent: Any, transforms: dict, counters: dict, online: buffer.Storage | None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {
        "format": FORMAT,
        "agent": [np.asarray(x) for x in jax.tree_util.tree_leaves(jax.device_get(agent))],
        "transforms": transforms,
        "counters": counters,
        "online": None if online is None else storage_state(online),
    }
    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb") as f:
        pickle.dump(data, f, protocol=pickle.HIGHEST_PROTOCOL)
    os.replace(tmp, path)
    return path


def load(path: Path) -> dict:
    try:
        with open(path, "rb") as f:
            data = pickle.load(f)
    except (OSError, pickle.UnpicklingError, EOFError) as err:
        raise ConfigError(f"Checkpoint {path} cannot be read ({err}).") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ConfigError(f"Checkpoint {path} is not a seamrl checkpoint of format {FORMAT}.")
    return data


def restore_tree(template: Any, leaves: list[np.ndarray], path: Path) -> Any:
    """Put saved ``leaves`` into the structure of ``template`` (a freshly initialised state)."""
    treedef = jax.tree_util.tree_structure(template)
    expected = jax.tree_util.tree_leaves(template)
    mismatch = len(expected) != len(leaves) or any(np.shape(a) != np.shape(b) for a, b in zip(expected, leaves))
    if mismatch:
        raise ConfigError(f"Checkpoint {path} does not match this run's algorithm configuration: it holds {len(leaves)} "
                          f"arrays where the agent state has {len(expected)}, or their shapes differ (different network "
                          "sizes, or a checkpoint written by an older seamrl whose agent state was laid out differently).")
    dtypes = [jax.dtypes.canonicalize_dtype(np.asarray(e).dtype) for e in expected]
    return jax.tree_util.tree_unflatten(treedef, [jax.numpy.asarray(x, dtype=d) for x, d in zip(leaves, dtypes)])


def storage_state(storage: buffer.Storage) -> dict:
    """The physical ring-buffer layout (not re-ordered), so sampling after resume is identical."""
    size = int(storage.size)
    return {
        "arrays": {k: np.asarray(v)[:size] for k, v in storage.arrays.items()},  # slice on the host: no compile per size
        "capacity": storage.capacity,
        "ptr": int(storage.ptr),
    }


def restore_storage(state: dict) -> buffer.Storage:
    restored = buffer.storage_from_arrays(state["arrays"], state["capacity"])
    return restored.replace(ptr=jax.numpy.asarray(state["ptr"], jax.numpy.int32))
