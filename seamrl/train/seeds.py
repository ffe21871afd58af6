"""Several seeds of one run, trained together: ``seamrl train ALGO --task T --seeds 0,1,2``.

Every seed is an ordinary :class:`~seamrl.train.Trainer` with its own run directory
(``RUN_DIR/s<seed>``: config, metrics, checkpoints, summary), so each seed is also a normal run
for ``seamrl eval``, ``plot``, ``table`` and ``export``. The seeds share one loaded dataset.

Offline phases advance in lockstep: one jitted call applies ``vmap`` of
:meth:`Trainer.train_chunk` to the stacked agent states and sampling keys, so S seeds run as one
scanned program of S-wide matrix products instead of S programs; evaluation, logging and
checkpoints stay per seed, between chunks. A seed's numbers match its single-seed run up to
floating-point reassociation of the batched products. Online phases of replay agents advance in
lockstep under ``lockstep=on`` (and ``auto`` on an accelerator): the loop of
seamrl/train/online.py steps every seed's own envs, and :class:`Lockstep` acts for all seeds in
one vmapped call, writes each seed's rows into its slice of a stacked replay and updates all
seeds in one vmapped scanned call. Phases that cannot be stacked run seed after seed, exactly as
without ``--seeds``: rollout phases, offline phases learning from a seed's own logged data, seeds
whose counters differ (a run killed between two seeds' checkpoints), online phases on CPU under
``auto``, and every phase under ``lockstep=off``.

``RUN_DIR/seeds.json`` lists the seeds; ``RUN_DIR/summary.json`` gathers the per-seed summaries
with the mean and standard deviation of the final and best scores.
"""

from __future__ import annotations

import functools
import json
import time
from dataclasses import replace
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from seamrl.config import RunConfig
from seamrl.errors import ConfigError
from seamrl.data import buffer
from seamrl.train.online import online_phase
from seamrl.train.trainer import Phase, Trainer, default_run_dir, load_run_config, offline_phase


def parse_seeds(text: str) -> list[int]:
    """``"0,1,2"`` or ``"0-3"`` → a list of distinct seeds."""
    try:
        if "-" in text and "," not in text:
            lo, hi = (int(x) for x in text.split("-"))
            seeds = list(range(lo, hi + 1))
        else:
            seeds = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        seeds = []
    if not seeds or len(set(seeds)) != len(seeds) or min(seeds) < 0:
        raise ConfigError(f"--seeds '{text}' is not a list of distinct non-negative integers such as 0,1,2 or 0-3.")
    return seeds


def train_seeds(run: RunConfig, seeds: list[int], quiet: bool = False) -> tuple[dict, Path]:
    """Start one run per seed under one directory; returns ``(gathered summary, run_dir)``."""
    run_dir = Path(run.out) if run.out else default_run_dir(run, seeds)
    runs = [replace(run, seed=s, out=str(run_dir / f"s{s}")) for s in seeds]
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "seeds.json").write_text(json.dumps({"seeds": seeds}) + "\n")
    trainers = _trainers(runs, quiet)
    for t in trainers:
        t.write_config()
    return fit_together(trainers, run_dir), run_dir


def is_seeds_dir(run_dir: str | Path) -> bool:
    return (Path(run_dir) / "seeds.json").exists()


def seed_dirs(run_dir: str | Path) -> list[Path]:
    """The per-seed run directories of a ``--seeds`` run."""
    return [Path(run_dir) / f"s{s}" for s in json.loads((Path(run_dir) / "seeds.json").read_text())["seeds"]]


def expand_run_dirs(run_dirs: list[str | Path]) -> list[Path]:
    """Run directories with every ``--seeds`` run replaced by its per-seed directories (tables, plots)."""
    missing = [str(d) for d in run_dirs if not Path(d).is_dir()]
    if missing:
        raise ConfigError(f"No run directory at {', '.join(repr(m) for m in missing)}.")
    return [x for d in run_dirs for x in (seed_dirs(d) if is_seeds_dir(d) else [Path(d)])]


def resume_seeds(run_dir: str | Path, quiet: bool = False, steps: dict | None = None, setting: str | None = None,
                 overrides: list[str] | None = None) -> tuple[dict, Path]:
    """Continue (or extend, as ``trainer.resume``) every seed of a ``--seeds`` run from its own last checkpoint."""
    from seamrl.train.trainer import extended_run, restore_for_resume

    run_dir = Path(run_dir)
    dirs = seed_dirs(run_dir)
    old = [load_run_config(d) for d in dirs]  # ``out`` from where the run is now (a copied or moved run directory)
    trainers = _trainers([replace(extended_run(r, steps, setting, overrides), out=str(d)) for r, d in zip(old, dirs)], quiet)
    for t, r in zip(trainers, old):
        restore_for_resume(t, r)
    return fit_together(trainers, run_dir), run_dir


def _trainers(runs: list[RunConfig], quiet: bool) -> list[Trainer]:
    """One trainer per seed; the dataset is loaded once (only the first seed shows a progress bar)."""
    first = Trainer(runs[0], runs[0].out, quiet)
    return [first] + [Trainer(r, r.out, True, dataset=first.task_dataset) for r in runs[1:]]


def fit_together(trainers: list[Trainer], run_dir: Path) -> dict:
    """Run every seed to its end, in lockstep where the phase allows; write and return the gathered summary."""
    for t in trainers:
        t.start()
    stacked = []
    while not all(t.finished for t in trainers):
        group = [t for t in trainers if not t.finished]
        if _stackable(group):
            for t in group:
                t.begin_phase()
            clocks = [t.clock() for t in group]
            phase = group[0].phase
            stacked.append(phase.index)
            if phase.kind == "offline":
                _offline_lockstep(group, phase)
            else:
                online_phase(group, phase, Lockstep(group, phase))
            for t, clock in zip(group, clocks):
                t.end_phase(clock)
        else:
            for t in group:
                before = time.perf_counter()
                t.run_phase()
                for other in trainers:  # a seed's wall time counts its own work, not the wait for the others
                    if other is not t:
                        other.idle(time.perf_counter() - before)
    summary = {**gather([t.finish() for t in trainers]), "stacked_phases": stacked}
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def _stackable(group: list[Trainer]) -> bool:
    lead = group[0]
    phase = lead.phase
    same_place = all((t.counters.phase, t.counters.phase_step) == (lead.counters.phase, lead.counters.phase_step) for t in group)
    # States stack when their leaves match; static fields (optimisers, apply functions) are rebuilt per
    # seed from the same agent config, so they are equal in function though not as Python objects.
    shapes = {tuple((x.shape, x.dtype) for x in jax.tree.leaves(t.state)) for t in group}
    mode = lead.run.lockstep
    online = mode == "on" or (mode == "auto" and jax.default_backend() != "cpu")
    kind = (phase.kind == "offline" and not lead._logged(phase) and mode != "off") or (
        phase.kind == "online" and not lead.rollouts and online)
    return (
        len(group) > 1
        and kind
        and same_place
        and len(shapes) == 1
        and all(t.config == lead.config for t in group)
    )


def _offline_lockstep(group: list[Trainer], phase: Phase) -> None:
    """The offline phase of every seed in ``group``: ``vmap``-ed scanned chunks, then per-seed events."""
    offline_phase(group, phase, Lockstep(group, phase))


class Lockstep:
    """The agent states (and online replays) of seeds in lockstep, stacked on the device: one ``vmap``-ed
    call acts for every seed and one applies every seed's updates (a :class:`~seamrl.train.online.Learner`).

    Integer and boolean leaves equal in every seed stay unbatched (:func:`shared_leaves`). The dataset
    storage goes in once when every seed's is the same (the usual case), stacked otherwise."""

    def __init__(self, group: list[Trainer], phase: Phase):
        self.group, lead = group, group[0]
        self.treedefs = [jax.tree.structure(t.state) for t in group]
        per_seed = [jax.tree.leaves(t.state) for t in group]
        self.shared = shared_leaves(per_seed)
        self.leaves = jax.tree.leaves(stack_states(self.treedefs[0], per_seed, self.shared))
        self.sample_keys = jnp.stack([t.sample_key for t in group])
        self.act_keys = jnp.stack([t.act_key for t in group])
        self.ratio = lead._ratio(phase)
        same = all(_same_storage(t.offline, lead.offline) for t in group[1:])
        self.offline, self.offline_axis = (lead.offline, None) if same else (_stack([t.offline for t in group]), 0)
        self.online_axis = 0 if phase.kind == "online" else None
        self.online = _stack([t.online for t in group]) if phase.kind == "online" else lead.online
        self.capacity = lead.online.capacity
        self.pending = []

    @property
    def state(self):
        return jax.tree.unflatten(self.treedefs[0], self.leaves)

    def update(self, k: int, phase: Phase) -> None:
        lead = self.group[0]
        chunk = _vmapped_chunk(lead, k, self.ratio, self.treedefs[0], self.shared, self.offline_axis, self.online_axis)
        state, metrics = chunk(self.state, self.sample_keys, self.offline, self.online, lead.counters.grad_steps)
        self.leaves, self.shared = _reshared(jax.tree.leaves(state))
        for t in self.group:
            t.counters.grad_steps += k
        self.pending.append(metrics)

    def explore(self, observations: list[np.ndarray], env_step: int) -> list[np.ndarray]:
        act = _vmapped_explore(self.group[0], self.treedefs[0], self.shared)
        return list(np.asarray(act(self.state, jnp.stack(observations), self.act_keys, env_step)))

    def add(self, rows: list[dict]) -> None:
        self.online = buffer.add_each(self.online, {k: np.stack([r[k] for r in rows]) for k in rows[0]})

    def ptr(self) -> int:
        return int(self.online.ptr[0])

    def set_rows(self, seed: int, rows: np.ndarray, columns: dict[str, np.ndarray]) -> None:
        self.online = buffer.set_rows(self.online, rows, columns, seed)

    def sync(self, replay: bool) -> None:
        """Each trainer's ``state`` and pending metrics (and ``online`` replay) from the stacked ones."""
        for i, t in enumerate(self.group):
            t.state = jax.tree.unflatten(self.treedefs[i], [x if same else x[i] for x, same in zip(self.leaves, self.shared)])
        for metrics in jax.device_get(self.pending):
            for i, t in enumerate(self.group):
                t.counters.pending.append({k: v[i] for k, v in metrics.items()})
        self.pending = []
        if replay and self.online_axis == 0:
            for i, t in enumerate(self.group):
                t.online = jax.tree.map(lambda x: x[i], self.online)


def _stack(trees: list):
    return jax.tree.map(lambda *xs: jnp.stack(xs), *trees)


def _same_storage(a: buffer.Storage, b: buffer.Storage) -> bool:
    return a is b or (a.arrays.keys() == b.arrays.keys() and int(a.size) == int(b.size)
                      and all(bool(jnp.array_equal(a.arrays[k], b.arrays[k])) for k in a.arrays))


@jax.jit
def _sharing(leaves: list) -> tuple[list, list]:
    """For stacked leaves: whether each holds one value in every seed, and its first entry."""
    return [jnp.all(x == x[0]) for x in leaves], [x[0] for x in leaves]


def _reshared(leaves: list) -> tuple[list, tuple[bool, ...]]:
    """Stacked leaves out of a vmapped call → the leaves with :func:`shared_leaves`' rule applied again
    (one device call and one transfer for all the small integer and boolean leaves)."""
    small = [i for i, x in enumerate(leaves) if _small(x.dtype, x.size // x.shape[0])]
    flags, firsts = _sharing([leaves[i] for i in small])
    out, shared = list(leaves), [False] * len(leaves)
    for i, same, first in zip(small, jax.device_get(flags), firsts):
        if same:
            out[i], shared[i] = first, True
    return out, tuple(shared)


def _small(dtype, size: int) -> bool:
    """An integer or boolean leaf of at most 16 entries (a step counter, a stage flag): shared when equal in every seed."""
    return (jnp.issubdtype(dtype, jnp.integer) or dtype == jnp.bool_) and size <= 16


def shared_leaves(per_seed: list[list]) -> tuple[bool, ...]:
    """Integer and boolean leaves equal in every seed (step counters, phase flags) go in unbatched under
    ``vmap``: a ``lax.cond`` on them (TD3's delayed actor step, BPPO / Uni-O4 stages) stays a branch
    instead of becoming a ``select`` that runs both sides for every seed, and a ``jnp.where`` on a flag
    does not batch the counters it selects between."""
    def same(xs) -> bool:
        return _small(xs[0].dtype, xs[0].size) and all(bool((x == xs[0]).all()) for x in xs[1:])

    return tuple(same(xs) for xs in zip(*per_seed))


def stack_states(treedef, per_seed: list[list], shared: tuple[bool, ...]):
    """One state whose leaves are stacked over seeds, except the ``shared`` ones (taken from the first seed)."""
    return jax.tree.unflatten(treedef, [xs[0] if same else jnp.stack(xs) for xs, same in zip(zip(*per_seed), shared)])


def _vmapped_chunk(lead: Trainer, k: int, ratio: float | None, treedef, shared: tuple[bool, ...], offline_axis=None,
                   online_axis=None):
    cache = lead.__dict__.setdefault("_vmapped", {})
    key = (k, ratio, treedef, shared, offline_axis, online_axis)  # the treedef: its static fields must match the axes' (a hook may rebuild them)
    if key not in cache:
        chunk = functools.partial(lead.train_chunk, k=k, ratio=ratio)
        # every output stacked: a shared leaf may come out per seed (a counter that diverged); it is
        # shared again in the next call if its values still agree
        in_axes = (_axes(treedef, shared), 0, offline_axis, online_axis, None)
        cache[key] = jax.jit(jax.vmap(chunk, in_axes=in_axes, out_axes=0))
    return cache[key]


def _vmapped_explore(lead: Trainer, treedef, shared: tuple[bool, ...]):
    """``(states, observations, act keys, env step) → actions`` of every seed (the exploring policy)."""
    cache = lead.__dict__.setdefault("_vmapped_explore", {})
    if (treedef, shared) not in cache:
        def explore(state, obs, key, t):
            return lead.algo.act(state, obs, jax.random.fold_in(key, t), False)

        cache[treedef, shared] = jax.jit(jax.vmap(explore, in_axes=(_axes(treedef, shared), 0, 0, None)))
    return cache[treedef, shared]


def _axes(treedef, shared: tuple[bool, ...]):
    return jax.tree.unflatten(treedef, [None if same else 0 for same in shared])


def gather(summaries: list[dict]) -> dict:
    """Per-seed summaries → one summary with mean ± std of the final and best scores."""
    final = np.array([s["final"] for s in summaries], dtype=float)
    best = np.array([s["best"] for s in summaries], dtype=float)
    first = summaries[0]
    return {
        "algo": first["algo"],
        "task": first["task"],
        "setting": first["setting"],
        "metric": first["metric"],
        "seeds": [s["seed"] for s in summaries],
        "final_mean": float(np.mean(final)),
        "final_std": float(np.std(final)),
        "best_mean": float(np.mean(best)),
        "best_std": float(np.std(best)),
        "wall_time": max(s["wall_time"] for s in summaries),
        "runs": summaries,
    }
