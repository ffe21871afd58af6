"""Where a run's dataset comes from.

``--dataset PATH`` wins. Otherwise the task's registered dataset is used: a path, a file
shipped inside the package (``package:NAME``), or a D4RL-named dataset looked up in
``$SEAMRL_DATA/d4rl/`` and ``~/.d4rl/datasets/`` (D4RL downloads do not exist here: files the
user already has are loaded, never fetched).
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

from seamrl import envs
from seamrl.data import Dataset, load_dataset
from seamrl.data.formats import minari_data_dir, minari_root
from seamrl.errors import ConfigError, EnvError


def data_home() -> Path:
    return Path(os.environ.get("SEAMRL_DATA", Path.home() / ".cache" / "seamrl"))


def package_asset(name: str) -> Path:
    return Path(str(resources.files("seamrl") / "assets" / name))


def candidate_paths(name: str) -> list[Path]:
    d4rl_style = name.replace("-medium", "_medium").replace("-expert", "_expert").replace("-random", "_random")
    return [
        data_home() / "d4rl" / f"{name}.hdf5",
        data_home() / f"{name}.hdf5",
        Path.home() / ".d4rl" / "datasets" / f"{name}.hdf5",
        Path.home() / ".d4rl" / "datasets" / f"{d4rl_style}.hdf5",
    ]


def resolve_dataset_path(spec: str) -> Path:
    if spec.startswith("suite:"):  # seamrl's own suite: built on first use, then cached
        from seamrl.data import suite

        return suite.build(spec.split(":", 1)[1], progress=True)
    if spec.startswith("package:"):
        return package_asset(spec.split(":", 1)[1])
    if Path(spec).expanduser().exists():
        return Path(spec).expanduser()
    if minari_data_dir(spec) is not None:  # a Minari dataset id under the local Minari root
        return Path(spec)
    registered = task_dataset_spec(spec)  # a dataset task's name (suite, D4RL, demo) stands for its dataset
    if registered and registered != spec:
        return resolve_dataset_path(registered)
    for path in candidate_paths(spec):
        if path.exists():
            return path
    if "/" in spec or Path(spec).suffix.lower() in (".hdf5", ".h5", ".npz"):
        raise ConfigError(
            f"Dataset '{spec}' is neither a file or directory nor a Minari dataset id under the local Minari root "
            f"{minari_root()}; expected a D4RL-layout HDF5 file, an .npz, or a Minari dataset (directory or id)."
        )
    raise ConfigError(
        f"Dataset '{spec}' is not on this machine; place its file at {candidate_paths(spec)[0]} or pass --dataset PATH."
    )


def task_dataset_spec(task: str) -> str | None:
    try:
        return envs.task_info(task).dataset
    except EnvError:
        return None


def load_task_dataset(run) -> Dataset:
    spec = run.dataset or task_dataset_spec(run.task)
    if spec is None:
        raise ConfigError(
            f"Setting '{run.setting}' needs a dataset but task '{run.task}' has none; pass --dataset PATH or use a dataset task (`seamrl data list`)."
        )
    return load_dataset(resolve_dataset_path(spec), name=None if run.dataset else run.task)
