"""Turn a flat mapping of D4RL-named arrays (from HDF5 or npz) into a :class:`Dataset`."""

from __future__ import annotations

import re
from typing import Callable, Iterable

import numpy as np

from seamrl.data.dataset import Dataset
from seamrl.errors import DataError

REQUIRED_KEYS = ("observations", "actions", "rewards", "terminals")
INFO_PREFIX = "infos/"


def dataset_from_keys(
    keys: Iterable[str],
    read: Callable[[str], np.ndarray],
    *,
    source: str,
    name: str,
    kind: str,
    max_episode_steps: int | None = None,
) -> Dataset:
    """Build a dataset from the D4RL key names; ``read(key)`` returns one array.

    ``observations``, ``actions``, ``rewards`` and ``terminals`` are required;
    ``timeouts`` may be missing only when ``next_observations`` is present (it is
    then all False); numeric keys under ``infos/`` become ``Dataset.infos`` (prefix
    removed); every other key (``metadata/*``, text infos) is ignored.
    """
    keys = set(keys)
    for key in REQUIRED_KEYS:
        if key not in keys:
            raise DataError(f"{source}: key '{key}' is missing; a {kind} dataset needs {', '.join(REQUIRED_KEYS)} and timeouts.")
    if "timeouts" not in keys and "next_observations" not in keys:
        raise DataError(
            f"{source}: key 'timeouts' is missing and there is no 'next_observations'; one of them is needed to find episode boundaries."
        )
    infos = {key[len(INFO_PREFIX) :]: read(key) for key in sorted(keys) if key.startswith(INFO_PREFIX)}
    infos = {key: value for key, value in infos.items() if _numeric_rows(value)}
    return Dataset.create(
        observations=read("observations"),
        actions=read("actions"),
        rewards=read("rewards"),
        terminals=read("terminals"),
        timeouts=read("timeouts") if "timeouts" in keys else None,
        next_observations=read("next_observations") if "next_observations" in keys else None,
        infos=infos,
        name=name,
        source=source,
        max_episode_steps=max_episode_steps,
    )


def _numeric_rows(value: np.ndarray) -> bool:
    return value.ndim >= 1 and (np.issubdtype(value.dtype, np.number) or value.dtype == np.bool_)


def dataset_arrays(ds: Dataset) -> dict[str, np.ndarray]:
    """The D4RL key → array mapping that the writers store, infos under ``infos/``."""
    arrays = {
        "observations": ds.observations,
        "actions": ds.actions,
        "rewards": ds.rewards,
        "next_observations": ds.next_observations,
        "terminals": ds.terminals,
        "timeouts": ds.timeouts,
    }
    arrays.update({INFO_PREFIX + key: value for key, value in ds.infos.items()})
    return arrays


def reason(exc: BaseException) -> str:
    """The first sentence of an exception message, without its period, to embed in ours."""
    text = str(exc).strip()
    first = re.split(r"(?<=[.!?])\s", text.splitlines()[0], maxsplit=1)[0] if text else ""
    return first.rstrip(".") or type(exc).__name__
