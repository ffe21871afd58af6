"""Gradient steps per second of each algorithm through the trainer's own update path.

The run is a normal :class:`~seamrl.train.Trainer` on a synthetic dataset with HalfCheetah's
shapes (17-d observations, 6-d actions), so what is timed is exactly what ``seamrl train``
executes in an offline phase: batches sampled on the device inside ``lax.scan``, ``K``
updates per host call. Each algorithm is compiled and warmed up first; the reported figure
is the median over ``repeats`` timed calls. Algorithms are interleaved across repeats so
that background load affects all of them alike.
"""

from __future__ import annotations

import json
import platform
import statistics
import tempfile
import time
from pathlib import Path

import jax
import numpy as np

from seamrl import algos
from seamrl.config import RunConfig
from seamrl.data import Dataset, save_npz

TASK = "HalfCheetah-v5"


def synthetic_dataset(path: Path, n: int = 100_000, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    obs = rng.normal(size=(n, 17)).astype(np.float32)
    terminals = np.zeros(n, bool)
    timeouts = (np.arange(n) % 1000) == 999
    ds = Dataset.create(
        observations=obs,
        actions=rng.uniform(-1, 1, (n, 6)).astype(np.float32),
        rewards=rng.normal(size=n).astype(np.float32),
        next_observations=np.roll(obs, -1, axis=0),
        terminals=terminals,
        timeouts=timeouts,
    )
    return save_npz(ds, path)


def measure(names: list[str], k: int = 1000, repeats: int = 5) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="seamrl-bench-"))
    data = synthetic_dataset(tmp / "synthetic.npz")
    from seamrl.train import Trainer
    from seamrl.train.trainer import Phase

    trainers = {}
    for name in names:
        setting = "offline" if "offline" in algos.get(name).SETTINGS else "online"
        run = RunConfig(algo=name, task=TASK, setting="offline", dataset=str(data), offline_steps=k * (repeats + 1))
        if setting == "online":  # online algorithms: same update on the same data (replay of a full buffer)
            run.setting = "offline-to-online" if "offline-to-online" in algos.get(name).SETTINGS else run.setting
        trainer = Trainer(run, tmp / name, quiet=True)
        phase = Phase("offline", run.offline_steps, 0)
        trainer._updates(k, phase)  # compile + warm-up
        jax.block_until_ready(trainer.state)
        trainers[name] = (trainer, phase)
    times: dict[str, list[float]] = {n: [] for n in names}
    for _ in range(repeats):
        for name, (trainer, phase) in trainers.items():
            start = time.perf_counter()
            trainer._updates(k, phase)
            jax.block_until_ready(trainer.state)
            times[name].append(time.perf_counter() - start)
    return {
        "machine": {"platform": platform.platform(), "processor": platform.processor(), "devices": [str(d) for d in jax.devices()]},
        "batch_size": 256,
        "updates_per_call": k,
        "repeats": repeats,
        "steps_per_s": {n: k / statistics.median(t) for n, t in times.items()},
    }


def run_bench(names: list[str] | None, k: int, repeats: int, out: str | None) -> str:
    names = names or list(algos.ALGORITHMS)
    result = measure(names, k, repeats)
    lines = [f"{'algorithm':<12}{'grad steps/s':>14}", *(f"{n:<12}{v:>14.0f}" for n, v in result["steps_per_s"].items())]
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(json.dumps(result, indent=2))
        lines.append(f"written to {out}")
    return "\n".join(lines)
