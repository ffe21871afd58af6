"""The seamrl dataset suite: D4RL-style datasets rebuilt on Gymnasium MuJoCo v5 and PointMaze.

Names follow D4RL with our own version suffix (``hopper-medium-v0``). Each dataset is built
on first use — deterministically from its name and seed — and cached under
``$SEAMRL_DATA/suite/`` (default ``~/.cache/seamrl/suite``):

* ``<env>-random-v0``: a uniform random policy;
* ``<env>-medium-v0`` / ``<env>-expert-v0``: stochastic actions of the shipped behaviour
  policies (``seamrl/assets/policies/<env>-{medium,expert}.npz``);
* ``<env>-medium-replay-v0``: a replay-buffer-like mixture — uniform random actions for the
  behaviour run's warm-up, then roll-outs of the shipped intermediate checkpoints up to
  medium, each for the share of the run it was the acting policy (``<env>-replay.json``);
* ``<env>-medium-expert-v0``: medium followed by expert (2M, as D4RL);
* ``pointmaze-{umaze,medium,large}-v0``: the D4RL maze2d method (``seamrl.data.pointmaze``), sparse
  reward; ``pointmaze-{umaze,medium,large}-dense-v0``: the same trajectories with the dense reward.

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
REPLAY_SIZE = 200_000  # D4RL's medium-replay sets hold 0.2M (halfcheetah) to 0.4M (hopper) transitions
POLICY_ENVS = 16  # envs stepped in lockstep when rolling out a shipped policy (part of the datasets' definition)


@dataclass(frozen=True)
class Entry:
    name: str
    env: str  # suite env family key (hopper, ..., or the maze)
    task: str  # the task used for evaluation (Gymnasium id or registered maze2d name)
    kind: str
    size: int
    dense: bool = False  # PointMaze reward variant


def entries() -> dict[str, Entry]:
    out = {}
    for env, env_id in LOCOMOTION.items():
        for kind in KINDS:
            size = {"medium-expert": 2 * DEFAULT_SIZE, "medium-replay": REPLAY_SIZE}.get(kind, DEFAULT_SIZE)
            out[f"{env}-{kind}-v0"] = Entry(f"{env}-{kind}-v0", env, env_id, kind, size)
    for maze, task in MAZES.items():
        out[f"pointmaze-{maze}-v0"] = Entry(f"pointmaze-{maze}-v0", maze, task, "pointmaze", DEFAULT_SIZE)
    for maze, task in MAZES.items():
        name, dense_task = f"pointmaze-{maze}-dense-v0", task.replace(maze, f"{maze}-dense")
        out[name] = Entry(name, maze, dense_task, "pointmaze", DEFAULT_SIZE, dense=True)
    return out


def suite_home() -> Path:
    return Path(os.environ.get("SEAMRL_DATA", Path.home() / ".cache" / "seamrl")) / "suite"


def is_suite_dataset(dataset: Dataset) -> bool:
    """Built by this suite (its own return scale), not a D4RL file of the same name."""
    source = str(dataset.source)
    return source.startswith("seamrl suite:") or Path(source).resolve().parent == suite_home().resolve()


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


def scores_path() -> Path:
    return Path(str(resources.files("seamrl") / "assets" / "suite_scores.json"))


def reference_scores() -> dict:
    """Per-env random and expert returns measured by the builder (``assets/suite_scores.json``)."""
    path = scores_path()
    return json.loads(path.read_text()) if path.exists() else {}


def measure_reference_scores(env: str, episodes: int = 100, seed: int = 10_000) -> dict:
    """Mean returns of the uniform random policy and of the shipped expert (stochastic, as it
    acts in ``<env>-expert-v0``) over ``episodes`` episodes each — D4RL's normalisation points."""
    from seamrl.envs.evaluate import Evaluator

    entry = get(f"{env}-expert-v0")
    evaluator = Evaluator(entry.task)
    try:
        random_run = evaluator(_random_policy(entry.task, seed), episodes, seed)
        expert_run = evaluator(_shipped_policy(entry, "expert", seed), episodes, seed)
    finally:
        evaluator.close()
    return {
        "random": random_run["return_mean"], "random_std": random_run["return_std"],
        "expert": expert_run["return_mean"], "expert_std": expert_run["return_std"],
        "episodes": episodes, "expert_policy": _policy_meta(env, "expert").get("source", ""),
    }


def write_reference_scores(envs_: list[str], episodes: int = 100) -> dict:
    """Measure and store the reference scores of ``envs_`` in ``assets/suite_scores.json``."""
    scores = reference_scores()
    for env in envs_:
        scores[env] = measure_reference_scores(env, episodes)
    scores_path().write_text(json.dumps(scores, indent=2) + "\n")
    return scores


def array_hash(dataset: Dataset) -> str:
    """SHA-256 over every array of a dataset (determinism checks)."""
    h = hashlib.sha256()
    for key in ("observations", "actions", "rewards", "next_observations", "terminals", "timeouts"):
        h.update(np.ascontiguousarray(getattr(dataset, key)).tobytes())
    return h.hexdigest()


def build_dataset(name: str, size: int | None = None, seed: int = 0, progress: bool = False) -> Dataset:
    """Make the arrays of suite dataset ``name`` (no caching); deterministic in (name, size, seed)."""
    from seamrl.data.collect import collect

    entry = get(name)
    size = size or entry.size
    if entry.kind == "pointmaze":
        from seamrl.data.pointmaze import collect_pointmaze

        return _named(collect_pointmaze(entry.env, size, seed=seed, dense=entry.dense), name)
    if entry.kind == "random":
        return _named(collect(_random_policy(entry.task, seed), entry.task, size, seed=seed, progress=progress), name)
    if entry.kind in ("medium", "expert"):
        policy = _shipped_policy(entry, entry.kind, seed)
        return _named(collect(policy, entry.task, size, seed=seed, num_envs=POLICY_ENVS, progress=progress), name)
    if entry.kind == "medium-replay":
        return _named(_replay_mixture(entry, size, seed, progress), name)
    if entry.kind == "medium-expert":
        from seamrl.data.formats import load_dataset

        half = size // 2  # the parts come from (and go to) the cache: medium-expert is medium + expert
        parts = [load_dataset(build(f"{entry.env}-{level}-v0", half, seed, progress=progress)) for level in ("medium", "expert")]
        return _named(Dataset.concat(parts), name)
    raise DataError(f"'{name}' ({entry.kind}) cannot be built by this version of seamrl yet; see docs/datasets.md.")


def replay_segments(env: str, size: int) -> list[tuple[str | None, int]]:
    """``(policy file or None for uniform random, transitions)`` of a medium-replay set of ``size``.

    The behaviour run's manifest (``<env>-replay.json``) says at which env step each shipped
    checkpoint became the acting policy and at which step the medium policy was reached; a
    training buffer filled up to that step holds each policy's data in proportion to the
    steps it acted for, which is the share each segment gets here.
    """
    path = policy_path(env, "replay").with_suffix(".json")
    if not path.exists():
        raise DataError(f"'{env}-medium-replay-v0' needs the checkpoint manifest {path.name}, which this version of seamrl does not ship yet.")
    manifest = json.loads(path.read_text())
    starts = [0] + [c["from_step"] for c in manifest["checkpoints"]]
    ends = starts[1:] + [manifest["medium_step"]]
    files = [None] + [c["file"] for c in manifest["checkpoints"]]
    total = manifest["medium_step"]
    counts = [int(size * (end - start) / total) for start, end in zip(starts, ends)]
    counts[-1] += size - sum(counts)
    return [(f, n) for f, n in zip(files, counts) if n > 0]


def _replay_mixture(entry: Entry, size: int, seed: int, progress: bool) -> Dataset:
    from seamrl.data.collect import collect
    from seamrl.policy import load_policy

    parts = []
    for i, (file, count) in enumerate(replay_segments(entry.env, size)):
        part_seed = seed * 1000 + i
        if file is None:
            policy = _random_policy(entry.task, part_seed)
        else:
            loaded = load_policy(policy_path(entry.env, "replay").parent / file, seed=part_seed)
            policy = lambda obs, p=loaded: p(obs, deterministic=False)  # noqa: E731
        parts.append(collect(policy, entry.task, count, seed=part_seed, num_envs=POLICY_ENVS, progress=progress))
    return Dataset.concat(parts)


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


def _random_policy(task: str, seed: int):
    rng, action_dim = np.random.default_rng([seed, 1]), _action_dim(task)

    def random_policy(obs: np.ndarray) -> np.ndarray:
        return rng.uniform(-1.0, 1.0, (len(obs), action_dim)).astype(np.float32)

    return random_policy


def _policy_meta(env: str, level: str) -> dict:
    path = policy_path(env, level)
    return json.loads(str(np.load(path)["meta"])) if path.exists() else {}


def _shipped_policy(entry: Entry, level: str, seed: int):
    from seamrl.policy import load_policy

    path = policy_path(entry.env, level)
    if not path.exists():
        raise DataError(
            f"'{entry.name}' needs the {level} behaviour policy {path.name}, which this version of seamrl does not ship yet."
        )
    policy = load_policy(path, seed=seed)
    return lambda obs: policy(obs, deterministic=False)


def build(name: str, size: int | None = None, seed: int = 0, force: bool = False, progress: bool = False) -> Path:
    """Build ``name`` into the cache (if not there yet) and return its path."""
    from seamrl.data.formats import save_npz

    path = path_of(name, size, seed)
    if path.exists() and not force:
        return path
    dataset = build_dataset(name, size, seed, progress)
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
    width = max(len(entry.task) for entry in entries().values()) + 2  # pointmaze tasks are long (maze2d-...-dense-v1)
    rows = [f"{'name':<28}{'transitions':>12}  {'built':<6}{'task':<{width}}reference (random / expert)"]
    for entry in entries().values():
        ref = scores.get(entry.env)
        ref_text = f"{ref['random']:.1f} / {ref['expert']:.1f} (seamrl)" if ref else "D4RL's (provisional)"
        built = "yes" if path_of(entry.name).exists() else "no"
        rows.append(f"{entry.name:<28}{entry.size:>12,}  {built:<6}{entry.task:<{width}}{ref_text}")
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
