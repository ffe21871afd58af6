"""Gradient steps per second of each algorithm through the trainer's own update path.

Each algorithm gets a normal :class:`~seamrl.train.Trainer` on a synthetic dataset with
HalfCheetah's shapes (17-d observations, 6-d actions), so what is timed is exactly what
``seamrl train`` executes in an offline phase: batches sampled on the device inside
``lax.scan``, ``K`` updates per host call. Online-only algorithms run the same update on the
same data (a replay pre-filled with it). Rollout (on-policy) agents have no replay update: their
``update_rollout`` is timed on a synthetic rollout and its gradient steps are counted (their
mini-batch is ``num_steps · num_envs / num_minibatches``, not 256).

:func:`update_timers` compiles and warms every algorithm up and returns one timing callable per
algorithm; :mod:`seamrl.bench.suite` interleaves them with the other measurements.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

import jax
import numpy as np

from seamrl import algos
from seamrl.config import RunConfig
from seamrl.data import Dataset, save_npz

TASK = "HalfCheetah-v5"
OBS_DIM, ACTION_DIM = 17, 6
Timer = Callable[[], dict]  # one measurement → {"seconds": s, UNIT: amount, ...}


def synthetic_arrays(n: int = 100_000, seed: int = 0) -> dict[str, np.ndarray]:
    """``n`` random transitions with HalfCheetah's shapes, episodes of 1,000 steps, no terminals.

    The d3rlpy worker builds the same distributions (d3rlpy_worker.Backend._synthetic)."""
    rng = np.random.default_rng(seed)
    obs = rng.normal(size=(n, OBS_DIM)).astype(np.float32)
    return {
        "observations": obs,
        "actions": rng.uniform(-1, 1, (n, ACTION_DIM)).astype(np.float32),
        "rewards": rng.normal(size=n).astype(np.float32),
        "next_observations": np.roll(obs, -1, axis=0),
        "terminals": np.zeros(n, bool),
        "timeouts": (np.arange(n) % 1000) == 999,
    }


def synthetic_dataset(path: Path, n: int = 100_000, seed: int = 0) -> Path:
    """:func:`synthetic_arrays` saved as .npz (the trainer's dataset)."""
    return save_npz(Dataset.create(**synthetic_arrays(n, seed)), path)


def _trainer(name: str, data: Path, run_dir: Path, steps: int):
    from seamrl.train import Trainer

    module = algos.get(name)
    setting = next((s for s in ("offline", "offline-to-online", "online") if s in module.SETTINGS), module.SETTINGS[0])
    staged = getattr(module.Config(), "improve_steps", 0)  # BPPO / Uni-O4: the timed steps are the supervised stage's
    run = RunConfig(algo=name, task=TASK, setting=setting, dataset=None if setting == "online" else str(data),
                    offline_steps=steps + staged, online_steps=10**7, buffer_size=1000)
    return Trainer(run, run_dir, quiet=True)


def replay_timer(trainer, k: int, phase=None) -> Timer:
    """``k`` updates per call through ``Trainer._updates`` in ``phase`` (default an offline phase's path)."""
    from seamrl.train.trainer import Phase

    phase = phase or Phase("offline", k, 0)

    def timed() -> dict:
        start = time.perf_counter()
        trainer._updates(k, phase)
        jax.block_until_ready(trainer.state)
        seconds = time.perf_counter() - start
        trainer.counters.pending.clear()
        return {"seconds": seconds, "steps": k}

    return timed


def seeds_timer(trainer, seeds: int, k: int) -> Timer:
    """``k`` updates of ``seeds`` stacked agents in one ``vmap``-ed scanned call (``seamrl train --seeds``);
    work = seed-steps (``seeds · k``)."""
    import jax.numpy as jnp

    from seamrl.train.seeds import _vmapped_chunk, shared_leaves, stack_states

    states = [algos.get(trainer.run.algo).init(jax.random.PRNGKey(s), trainer.agent_spec, trainer.config) for s in range(seeds)]
    per_seed = [jax.tree.leaves(st) for st in states]
    shared = shared_leaves(per_seed)  # as in seamrl/train/seeds.py (with one seed: its step counters)
    treedef = jax.tree.structure(states[0])
    stacked = stack_states(treedef, per_seed, shared)
    keys = jnp.stack([jax.random.PRNGKey(100 + s) for s in range(seeds)])
    chunk, box = _vmapped_chunk(trainer, k, 1.0, treedef, shared), [stacked]

    def timed() -> dict:
        start = time.perf_counter()
        out, _ = chunk(box[0], keys, trainer.offline, trainer.online, 0)
        jax.block_until_ready(out)
        # every output is stacked; the shared leaves go back in unbatched (all seeds agree on them)
        box[0] = jax.tree.unflatten(treedef, [x[0] if same else x for x, same in zip(jax.tree.leaves(out), shared)])
        return {"seconds": time.perf_counter() - start, "steps": k * seeds}

    return timed


def seed_timers(names: list[str], counts: list[int], k: int, tmp: Path) -> dict[str, Timer]:
    """Warmed-up ``seeds/<algo>/<S>`` timers (seed-steps/s) for replay agents."""
    data = synthetic_dataset(tmp / "synthetic-seeds.npz")
    timers = {}
    for name in names:
        trainer = _trainer(name, data, tmp / f"seeds-{name}", 10 * k)
        if trainer.rollouts:
            continue
        for count in counts:
            timer = seeds_timer(trainer, count, k)
            timer()  # compile + warm-up
            timers[f"seeds/{name}/{count}"] = timer
    return timers


def online_timers(names: list[str], k: int, tmp: Path) -> tuple[dict[str, Timer], dict, dict[str, str]]:
    """Warmed-up ``online/<algo>`` timers of the update an online run from scratch makes: the trainer of
    ``seamrl train --setting online`` (the algorithm's from-scratch config, e.g. UNIVR's E3 estimator,
    3×256 networks and π̄ reference samples), its online phase begun (``begin_phase``), its replay
    pre-filled with the synthetic transitions, ``k`` updates per call through ``Trainer._updates`` (the
    online phase's two-storage sampler). Returns timers, agent configs and errors (name → reason)."""
    from seamrl.data import buffer
    from seamrl.train import Trainer

    arrays = synthetic_arrays()
    arrays["masks"] = 1.0 - arrays["terminals"].astype(np.float32)
    n = len(arrays["rewards"])
    timers, configs, errors = {}, {}, {}
    for name in names:
        try:
            if "online" not in algos.get(name).SETTINGS:
                raise ValueError(f"{name} has no online setting (it has {', '.join(algos.get(name).SETTINGS)})")
            run = RunConfig(algo=name, task=TASK, setting="online", online_steps=10**7, buffer_size=n)
            trainer = Trainer(run, tmp / f"online-{name}", quiet=True)
            if trainer.rollouts:
                raise ValueError(f"{name} is an on-policy agent without a replay update (its update is in the updates part)")
            trainer.begin_phase()
            rows = {key: arrays[key] if key in arrays else np.zeros((n, *trainer._shapes[key]), np.float32) for key in trainer.online.arrays}
            trainer.online = buffer.add(trainer.online, rows)
            timer = replay_timer(trainer, k, trainer.phase)
            timer()  # compile + warm-up
            timers[name], configs[name] = timer, trainer.resolved_config
        except Exception as err:  # reported, not fatal
            errors[name] = f"{type(err).__name__}: {err}"
    return timers, configs, errors


def online_seed_timers(names: list[str], seeds: int, env_steps: int, task: str, tmp: Path) -> tuple[dict[str, Timer], dict[str, str]]:
    """Warmed-up ``online-seeds/<algo>/{apart,lockstep}`` timers: ``env_steps`` steps of the online loop
    (seamrl/train/online.py: act, step the envs, store, ``utd`` updates per env step) of ``seeds``
    seeds of a from-scratch run, one seed after another (``Alone``, as ``--set lockstep=off``) or
    in lockstep (``Lockstep``, as ``--set lockstep=on``); work = seed env steps. Updates begin at
    the first step; evaluation and checkpoints are left out. Returns timers and errors (name → reason)."""
    from seamrl.train.seeds import _trainers

    timers, errors = {}, {}
    for name in names:
        try:
            for mode in ("apart", "lockstep"):
                runs = [RunConfig(algo=name, task=task, setting="online", online_steps=10**7, seed=s, buffer_size=100_000,
                                  eval_every=10**9, checkpoint_every=10**9, agent={"learning_starts": 0},
                                  out=str(tmp / f"online-seeds-{name}-{mode}" / f"s{s}")) for s in range(seeds)]
                group = _trainers(runs, quiet=True)
                if group[0].rollouts:
                    raise ValueError(f"{name} is an on-policy agent (its online phase collects rollouts)")
                for t in group:
                    t.begin_phase()
                    t._events = lambda phase, before: False  # no evaluation, logging or checkpoint in the timed loop
                timer = _online_seeds_timer(group, env_steps, mode)
                timer()  # compile + warm-up
                timers[f"online-seeds/{name}/{mode}"] = timer
        except Exception as err:  # reported, not fatal
            errors[name] = f"{type(err).__name__}: {err}"
    return timers, errors


def _online_seeds_timer(group, env_steps: int, mode: str) -> Timer:
    from seamrl.train.online import Alone, online_phase
    from seamrl.train.seeds import Lockstep
    from seamrl.train.trainer import Phase

    def timed() -> dict:
        phase = Phase("online", group[0].counters.phase_step + env_steps, 0)
        start = time.perf_counter()
        if mode == "lockstep":
            online_phase(group, phase, Lockstep(group, phase))
        else:
            for t in group:
                online_phase([t], phase, Alone(t))
        jax.block_until_ready([t.state for t in group])
        return {"seconds": time.perf_counter() - start, "env_steps": env_steps * len(group)}

    return timed


def rollout_timer(trainer) -> Timer:
    """One ``update_rollout`` on a synthetic rollout; work = the gradient steps it makes."""
    from seamrl.data import rollout

    cfg, run = trainer.config, trainer.run
    buf = rollout.RolloutBuffer(cfg.num_steps, run.num_envs, OBS_DIM, ACTION_DIM)
    rng = np.random.default_rng(0)
    for key, value in buf.arrays.items():
        value[...] = rng.normal(size=value.shape) if key not in ("terminals", "timeouts") else 0.0
    batch = buf.as_jax()
    steps = float(getattr(cfg, "grad_steps_per_rollout", 1))

    def timed() -> dict:
        start = time.perf_counter()
        trainer.state, _ = trainer._rollout_update(trainer.state, batch)
        jax.block_until_ready(trainer.state)
        return {"seconds": time.perf_counter() - start, "steps": steps}

    return timed


def update_flops(trainer) -> float | None:
    """Floating-point operations of one ``update`` (XLA's cost analysis of the compiled update on a
    batch of the trainer's shapes); None for rollout agents. The same math costs the same in any library."""
    if trainer.rollouts:
        return None
    import jax.numpy as jnp

    batch = {k: jnp.zeros((trainer.config.batch_size, *shape)) for k, shape in trainer._shapes.items()}
    cost = jax.jit(trainer.algo.update).lower(trainer.state, batch).compile().cost_analysis()
    cost = cost[0] if isinstance(cost, list) else cost
    return float(cost["flops"]) if cost and "flops" in cost else None


def matmul_timer(n: int = 1024, reps: int = 20) -> Timer:
    """The machine's dense float32 matmul rate (``n × n`` products): the ceiling for MLP updates."""

    a = jax.random.normal(jax.random.PRNGKey(0), (n, n))
    step = jax.jit(lambda x: (x @ a) * (1.0 / n))

    def timed() -> dict:
        x = a
        start = time.perf_counter()
        for _ in range(reps):
            x = step(x)
        jax.block_until_ready(x)
        return {"seconds": time.perf_counter() - start, "flops": 2.0 * n**3 * reps}

    timed()
    return timed


def update_timers(names: list[str], k: int, tmp: Path) -> tuple[dict[str, Timer], dict, dict[str, float | None], dict[str, str]]:
    """Warmed-up timers per algorithm, each algorithm's agent config, its FLOPs per update
    (:func:`update_flops`), and errors (name → reason)."""
    data = synthetic_dataset(tmp / "synthetic.npz")
    timers, configs, flops, errors = {}, {}, {}, {}
    for name in names:
        try:
            trainer = _trainer(name, data, tmp / name, 100 * k)  # staged agents (BPPO, Uni-O4) stay in their first stage
            timer = rollout_timer(trainer) if trainer.rollouts else replay_timer(trainer, k)
            timer()  # compile + warm-up
            timers[name], configs[name] = timer, trainer.resolved_config
            flops[name] = update_flops(trainer)
        except Exception as err:  # an algorithm that cannot be benchmarked is reported, not fatal
            errors[name] = f"{type(err).__name__}: {err}"
    return timers, configs, flops, errors

