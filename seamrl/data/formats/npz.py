"""NumPy ``.npz`` archives with the D4RL key names (``infos/*`` for extras,
``metadata/name`` and ``metadata/max_episode_steps`` for the dataset's attributes)."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np

from seamrl.data.dataset import Dataset
from seamrl.data.formats._arrays import dataset_arrays, dataset_from_keys, reason
from seamrl.errors import DataError


def load_npz(path: str | os.PathLike, name: str | None = None) -> Dataset:
    """Read an ``.npz`` archive; the name defaults to ``metadata/name``, else the file stem."""
    source = str(path)
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise DataError(f"{source}: cannot be opened as an .npz archive ({reason(exc)}).") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise DataError(f"{source}: holds a single array, not an .npz archive of named arrays; expected keys observations, actions, rewards, terminals and timeouts.")
    with archive:

        def read(key: str) -> np.ndarray:
            try:
                return archive[key]
            except ValueError:
                raise DataError(f"{source}: key '{key}' holds Python objects; expected a numeric array.") from None
            except (OSError, zipfile.BadZipFile, EOFError) as exc:
                raise DataError(f"{source}: key '{key}' cannot be read ({reason(exc)}).") from None

        files = set(archive.files)
        if not name and "metadata/name" in files:
            name = str(read("metadata/name"))
        steps = int(read("metadata/max_episode_steps")) if "metadata/max_episode_steps" in files else None
        return dataset_from_keys(
            files, read, source=source, name=name or Path(source).stem, kind=".npz", max_episode_steps=steps
        )


def save_npz(ds: Dataset, path: str | os.PathLike, compress: bool = False) -> Path:
    """Write ``ds`` to exactly ``path`` (no ``.npz`` suffix is appended)."""
    path = Path(path)
    arrays = dataset_arrays(ds)
    arrays["metadata/name"] = np.asarray(ds.name)
    if ds.max_episode_steps is not None:
        arrays["metadata/max_episode_steps"] = np.asarray(ds.max_episode_steps)
    try:
        with open(path, "wb") as file:
            (np.savez_compressed if compress else np.savez)(file, **arrays)
    except OSError as exc:
        raise DataError(f"{path}: cannot be written ({reason(exc)}).") from None
    return path
