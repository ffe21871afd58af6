"""Dataset file formats: D4RL HDF5, NumPy npz and Minari, behind one :func:`load_dataset`."""

from __future__ import annotations

import os
from pathlib import Path

from seamrl.data.dataset import Dataset
from seamrl.data.formats.d4rl import load_d4rl_hdf5, save_d4rl_hdf5
from seamrl.data.formats.minari_format import load_minari, minari_data_dir, minari_root, save_minari
from seamrl.data.formats.npz import load_npz, save_npz
from seamrl.errors import DataError

FORMATS = ("d4rl", "npz", "minari")
_ALIASES = {"d4rl": "d4rl", "hdf5": "d4rl", "h5": "d4rl", "npz": "npz", "minari": "minari"}
_EXTENSIONS = {".hdf5": "d4rl", ".h5": "d4rl", ".npz": "npz"}
_LOADERS = {"d4rl": load_d4rl_hdf5, "npz": load_npz, "minari": load_minari}


def detect_format(path: str | os.PathLike) -> str:
    """'d4rl' for .hdf5/.h5, 'npz' for .npz, 'minari' for a Minari directory, its
    ``data/main_data.hdf5`` or a local Minari dataset id."""
    p = Path(path)
    if p.is_file() and not (p.name == "main_data.hdf5" and (p.parent / "metadata.json").is_file()):
        fmt = _EXTENSIONS.get(p.suffix.lower())
        if fmt is None:
            raise DataError(
                f"{path}: unknown dataset format '{p.suffix or p.name}'; expected .hdf5/.h5 (D4RL), .npz or a Minari dataset directory."
            )
        return fmt
    if minari_data_dir(path) is not None:
        return "minari"
    if p.is_dir():
        raise DataError(f"{path}: directory is not a Minari dataset; expected it to contain data/metadata.json.")
    raise DataError(
        f"{path}: no such file, directory or Minari dataset id (looked in the Minari root {minari_root()})."
    )


def load_dataset(path: str | os.PathLike, format: str | None = None, name: str | None = None) -> Dataset:
    """Load a dataset file, directory or local Minari id; ``format`` overrides detection.

    ``format`` is one of 'd4rl' (aliases 'hdf5', 'h5'), 'npz', 'minari'. ``name``
    (the dataset id used for reference scores) defaults to what the file records,
    else the file stem (D4RL/npz) or the Minari dataset id.
    """
    if format is None:
        fmt = detect_format(path)
    else:
        fmt = _ALIASES.get(str(format).lower())
        if fmt is None:
            raise DataError(f"{path}: unknown dataset format '{format}'; expected one of {', '.join(FORMATS)}.")
        if fmt != "minari" and not Path(path).is_file():
            raise DataError(f"{path}: no such file.")
    return _LOADERS[fmt](path, name=name)


__all__ = [
    "FORMATS",
    "detect_format",
    "load_dataset",
    "load_d4rl_hdf5",
    "load_npz",
    "load_minari",
    "save_d4rl_hdf5",
    "save_npz",
    "save_minari",
    "minari_root",
    "minari_data_dir",
]
