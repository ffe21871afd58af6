"""Several seeds of one run, trained together: ``seamrl train ALGO --task T --seeds 0,1,2``.

Every seed is an ordinary :class:`~seamrl.train.Trainer` with its own run directory
(``RUN_DIR/s<seed>``: config, metrics, checkpoints, summary), so each seed is also a normal run
for ``seamrl eval``, ``plot``, ``table`` and ``export``. The seeds share one loaded dataset.

Offline phases advance in lockstep: one jitted call applies ``vmap`` of
:meth:`Trainer.train_chunk` to the stacked agent states and sampling keys, so S seeds run as one
scanned program of S-wide matrix products instead of S programs; evaluation, logging and
checkpoints stay per seed, between chunks. A seed's numbers match its single-seed run up to
floating-point reassociation of the batched products. Phases that cannot be stacked run seed
after seed, exactly as without ``--seeds``: online and rollout phases (their environments are
stepped on the host), offline phases learning from a seed's own logged data, and seeds whose
counters differ (a run killed between two seeds' checkpoints).

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
from seamrl.train.trainer import Phase, Trainer, default_run_dir, load_run_config


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
    """Run every seed to its end, stacking offline phases; write and return the gathered summary."""
    for t in trainers:
        t.start()
    stacked = []
    while not all(t.finished for t in trainers):
        group = [t for t in trainers if not t.finished]
        if _stackable(group):
            for t in group:
                t.begin_phase()
            clocks = [t.clock() for t in group]
            stacked.append(group[0].phase.index)
            _offline_lockstep(group, group[0].phase)
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
    return (
        len(group) > 1
        and phase.kind == "offline"
        and same_place
        and not lead._logged(phase)
        and len(shapes) == 1
        and all(t.config == lead.config for t in group)
    )


def _offline_lockstep(group: list[Trainer], phase: Phase) -> None:
    """The offline phase of every seed in ``group``: ``vmap``-ed scanned chunks, then per-seed events."""
    lead = group[0]
    keys = jnp.stack([t.sample_key for t in group])
    ratio = lead._ratio(phase)
    treedefs = [jax.tree.structure(t.state) for t in group]
    for n in list(lead.offline_chunks(phase)):
        per_seed = [jax.tree.leaves(t.state) for t in group]
        states, metrics = _run_chunk(lead, n, ratio, treedefs[0], per_seed, shared_leaves(per_seed), keys)
        leaves = jax.tree.leaves(states)
        for i, t in enumerate(group):
            t.state = jax.tree.unflatten(treedefs[i], [x[i] for x in leaves])
            t.counters.grad_steps += n
            t.counters.pending.append(jax.tree.map(lambda x: x[i], metrics))
            t.after_updates(phase, n)


def shared_leaves(per_seed: list[list]) -> tuple[bool, ...]:
    """Integer and boolean leaves equal in every seed (step counters, phase flags) go in unbatched under
    ``vmap``: a ``lax.cond`` on them (TD3's delayed actor step, BPPO / Uni-O4 stages) stays a branch
    instead of becoming a ``select`` that runs both sides for every seed, and a ``jnp.where`` on a flag
    does not batch the counters it selects between."""
    def same(xs) -> bool:
        small = (jnp.issubdtype(xs[0].dtype, jnp.integer) or xs[0].dtype == jnp.bool_) and xs[0].size <= 16
        return small and all(bool((x == xs[0]).all()) for x in xs[1:])

    return tuple(same(xs) for xs in zip(*per_seed))


def stack_states(treedef, per_seed: list[list], shared: tuple[bool, ...]):
    """One state whose leaves are stacked over seeds, except the ``shared`` ones (taken from the first seed)."""
    return jax.tree.unflatten(treedef, [xs[0] if same else jnp.stack(xs) for xs, same in zip(zip(*per_seed), shared)])


def _run_chunk(lead: Trainer, n: int, ratio, treedef, per_seed: list[list], shared: tuple[bool, ...], keys):
    chunk = _vmapped_chunk(lead, n, ratio, treedef, shared)
    return chunk(stack_states(treedef, per_seed, shared), keys, lead.offline, lead.online, lead.counters.grad_steps)


def _vmapped_chunk(lead: Trainer, k: int, ratio: float | None, treedef, shared: tuple[bool, ...]):
    cache = lead.__dict__.setdefault("_vmapped", {})
    key = (k, ratio, treedef, shared)  # the treedef: its static fields must match the axes' (a hook may rebuild them)
    if key not in cache:
        chunk = functools.partial(lead.train_chunk, k=k, ratio=ratio)
        axes = jax.tree.unflatten(treedef, [None if same else 0 for same in shared])
        # every output stacked: a shared leaf may come out per seed (a counter that diverged); it is
        # shared again in the next chunk if its values still agree
        cache[key] = jax.jit(jax.vmap(chunk, in_axes=(axes, 0, None, None, None), out_axes=0))
    return cache[key]


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
