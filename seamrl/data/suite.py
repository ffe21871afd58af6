"""The seamrl dataset suite: D4RL-style datasets rebuilt on Gymnasium MuJoCo v5 and PointMaze.

Names follow D4RL with our own version suffix (``hopper-medium-v0``). Each dataset is built
on first use — deterministically from its name and seed — and cached under
``$SEAMRL_DATA/suite/`` (default ``~/.cache/seamrl/suite``):

* ``<env>-random-v0``: a uniform random policy;
* ``<env>-medium-v0`` / ``<env>-expert-v0``: stochastic actions of the shipped behaviour
  policies (``seamrl/assets/policies/<env>-{medium,expert}.npz``);
* ``<env>-medium-replay-v0``: roll-outs of the shipped intermediate checkpoints up to medium;
* ``<env>-medium-expert-v0``: medium followed by expert;
* ``pointmaze-{umaze,medium,large}-v0``: the D4RL maze2d method (``seamrl.data.pointmaze``).

A dataset whose behaviour policies are not shipped yet cannot be built and says so.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from seamrl.data.dataset import Dataset
from seamrl.errors import DataError

LOCOMOTION = {"hopper": "Hopper-v5", "halfcheetah": "HalfCheetah-v5", "walker2d": "Walker2d-v5", "ant": "Ant-v5"}
MAZES = {"umaze": "maze2d-umaze-v1", "medium": "maze2d-medium-v1", "large": "maze2d-large-v1"}
KINDS = ("random", "medium", "expert", "medium-replay", "medium-expert")
DEFAULT_SIZE = 1_000_000


@dataclass(frozen=True)
class Entry:
    name: str
    env: str  # suite env family key (hopper, ..., or the maze)
    task: str  # the task used for evaluation (Gymnasium id or registered maze2d name)
    kind: str
    size: int


def entries() -> dict[str, Entry]:
    out = {}
    for env, env_id in LOCOMOTION.items():
        for kind in KINDS:
            size = 2 * DEFAULT_SIZE if kind == "medium-expert" else DEFAULT_SIZE
            out[f"{env}-{kind}-v0"] = Entry(f"{env}-{kind}-v0", env, env_id, kind, size)
    for maze, task in MAZES.items():
        out[f"pointmaze-{maze}-v0"] = Entry(f"pointmaze-{maze}-v0", maze, task, "pointmaze", DEFAULT_SIZE)
    return out


def suite_home() -> Path:
    return Path(os.environ.get("SEAMRL_DATA", Path.home() / ".cache" / "seamrl")) / "suite"


def path_of(name: str, size: int | None = None, seed: int = 0) -> Path:
    entry = get(name)
    suffix = "" if (size in (None, entry.size) and seed == 0) else f"-n{size or entry.size}-s{seed}"
    return suite_home() / f"{name}{suffix}.npz"


def get(name: str) -> Entry:
    table = entries()
    if name not in table:
        import difflib

        close = difflib.get_close_matches(name, table, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else "; see `seamrl data list`."
        raise DataError(f"'{name}' is not a dataset of the seamrl suite{hint}")
    return table[name]


def policy_path(env: str, level: str) -> Path:
    return Path(str(resources.files("seamrl") / "assets" / "policies" / f"{env}-{level}.npz"))


def reference_scores() -> dict:
    """Per-env random and expert returns measured by the builder (``assets/suite_scores.json``)."""
    path = Path(str(resources.files("seamrl") / "assets" / "suite_scores.json"))
    return json.loads(path.read_text()) if path.exists() else {}


def array_hash(dataset: Dataset) -> str:
    """SHA-256 over every array of a dataset (determinism checks)."""
    h = hashlib.sha256()
    for key in ("observations", "actions", "rewards", "next_observations", "terminals", "timeouts"):
        h.update(np.ascontiguousarray(getattr(dataset, key)).tobytes())
    return h.hexdigest()


def build_dataset(name: str, size: int | None = None, seed: int = 0) -> Dataset:
    """Make the arrays of suite dataset ``name`` (no caching); deterministic in (name, size, seed)."""
    from seamrl.data.collect import collect

    entry = get(name)
    size = size or entry.size
    if entry.kind == "pointmaze":
        from seamrl.data.pointmaze import collect_pointmaze

        return _named(collect_pointmaze(entry.env, size, seed=seed), name)
    if entry.kind == "random":
        rng, action_dim = np.random.default_rng([seed, 1]), _action_dim(entry.task)

        def random_policy(obs: np.ndarray) -> np.ndarray:
            return rng.uniform(-1.0, 1.0, (len(obs), action_dim)).astype(np.float32)

        return _named(collect(random_policy, entry.task, size, seed=seed), name)
    if entry.kind in ("medium", "expert"):
        return _named(collect(_shipped_policy(entry, entry.kind, seed), entry.task, size, seed=seed), name)
    if entry.kind == "medium-expert":
        half = size // 2
        parts = [build_dataset(f"{entry.env}-{level}-v0", half, seed) for level in ("medium", "expert")]
        return _named(Dataset.concat(parts), name)
    raise DataError(f"'{name}' ({entry.kind}) cannot be built by this version of seamrl yet; see docs/datasets.md.")


def _named(ds: Dataset, name: str) -> Dataset:
    from dataclasses import replace

    return replace(ds, name=name, source=f"seamrl suite: {name}")


def _action_dim(task: str) -> int:
    from seamrl import envs

    env = envs.make(task)
    try:
        return envs.spec_of(env).action_dim
    finally:
        env.close()


def _shipped_policy(entry: Entry, level: str, seed: int):
    from seamrl.policy import load_policy

    path = policy_path(entry.env, level)
    if not path.exists():
        raise DataError(
            f"'{entry.name}' needs the {level} behaviour policy {path.name}, which this version of seamrl does not ship yet."
        )
    policy = load_policy(path, seed=seed)
    return lambda obs: policy(obs, deterministic=False)


def build(name: str, size: int | None = None, seed: int = 0, force: bool = False) -> Path:
    """Build ``name`` into the cache (if not there yet) and return its path."""
    from seamrl.data.formats import save_npz

    path = path_of(name, size, seed)
    if path.exists() and not force:
        return path
    dataset = build_dataset(name, size, seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + ".partial.npz")
    save_npz(dataset, tmp, compress=True)
    os.replace(tmp, path)
    return path


def load(name: str) -> Dataset:
    from seamrl.data.formats import load_dataset

    return load_dataset(build(name), name=name)


def list_table() -> str:
    scores = reference_scores()
    rows = [f"{'name':<28}{'transitions':>12}  {'built':<6}{'task':<18}reference (random / expert)"]
    for entry in entries().values():
        ref = scores.get(entry.env)
        ref_text = f"{ref['random']:.1f} / {ref['expert']:.1f} (seamrl)" if ref else "D4RL's (provisional)"
        built = "yes" if path_of(entry.name).exists() else "no"
        rows.append(f"{entry.name:<28}{entry.size:>12,}  {built:<6}{entry.task:<18}{ref_text}")
    return "\n".join(rows)


def register_tasks(register_task, task_info) -> None:
    """Make every suite name a task: its env, reference scores and ``suite:NAME`` dataset."""
    scores = reference_scores()
    for entry in entries().values():
        base = task_info(entry.task if entry.kind == "pointmaze" else f"{entry.env}-medium-v2")
        ref = scores.get(entry.env)
        lo, hi = (ref["random"], ref["expert"]) if ref else (base.ref_min, base.ref_max)
        register_task(entry.name, base.env_id, lo, hi, base.max_episode_steps or 1000, dataset=f"suite:{entry.name}",
                      env_kwargs=dict(base.env_kwargs))
