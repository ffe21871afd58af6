"""The one trainer: a run is a schedule of phases applied to one agent (architecture.md).

Offline phases run ``K = updates_per_call`` gradient steps per host call under ``lax.scan``,
sampling every batch on the device. Online phases collect with one (or a vector of) env(s),
store transitions in the device replay and run ``update_every · utd · num_envs`` updates per
collection round in one scanned call (the loop: seamrl/train/online.py, shared with seeds in
lockstep). Agents with ``update_rollout(state, rollout)`` (on-policy:
PPO, Uni-O4 online) are trained online by rollouts instead: ``num_steps × num_envs``
transitions, then one ``update_rollout`` call (seamrl/data/rollout.py). At each phase start the
agent's optional ``begin_phase(state, phase)`` hook runs; the trainer knows nothing else about
any algorithm.

Randomness is counter-based: batch ``i`` is sampled with ``fold_in(key, i)`` and online action
noise with ``fold_in(key, env_step)``; environments are reset from seeds derived from the
counters. A checkpoint (agent state, online replay, counters) is taken on a fixed cadence; at
each checkpoint in-progress episodes are cut as time-outs and the envs reset from the
counters, so a killed run resumed from its checkpoint continues exactly like one that was
never interrupted. In offline phases Ctrl-C (or SIGTERM, a cluster's preemption notice) stops at
the next chunk of scanned updates with a checkpoint there, from which the run also resumes exactly.
"""

from __future__ import annotations

import csv
import json
import math
import signal
import sys
import threading
import time
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from seamrl import algos, envs
from seamrl.config import RunConfig, agent_config, apply_overrides, validate
from seamrl.data import buffer, rollout
from seamrl.errors import ConfigError
from seamrl.train import checkpoint
from seamrl.train.online import Alone, online_phase
from seamrl.train.tasks import load_task_dataset
from seamrl.train.transforms import RunningNormalisers, Transforms, dataset_rows, fit_transforms

FIXED_COLUMNS = (
    "phase",
    "phase_kind",
    "grad_step",
    "env_step",
    "wall_time",
    "eval_return_mean",
    "eval_return_std",
    "eval_normalized_mean",
    "eval_normalized_std",
    "train_return",
)


@dataclass(frozen=True)
class Phase:
    kind: str  # "offline" (steps = gradient steps) | "online" (steps = env steps)
    steps: int
    index: int


def schedule(run: RunConfig) -> list[Phase]:
    kinds = {
        "offline": [("offline", run.offline_steps)],
        "online": [("online", run.online_steps)],
        "offline-to-online": [("offline", run.offline_steps), ("online", run.online_steps)],
        "online-offline-online": [("online", run.online_steps), ("offline", run.offline_steps), ("online", run.online_steps)],
    }[run.setting]
    return [Phase(kind, steps, i) for i, (kind, steps) in enumerate(kinds)]


@dataclass
class Counters:
    phase: int = 0  # index of the current phase
    phase_step: int = 0  # steps done in the current phase
    grad_steps: int = 0
    env_steps: int = 0
    episodes: int = 0
    csv_rows: int = 0
    wall_time: float = 0.0  # seconds spent in earlier sessions of this run
    phase_started: bool = False
    history: list = field(default_factory=list)  # evaluation rows (dicts)
    pending: list = field(default_factory=list)  # update metrics since the last metrics row
    finished: list = field(default_factory=list)  # raw returns of training episodes since the last row
    running: dict = field(default_factory=dict)  # running observation / reward statistics (rollout phases)
    phase_rates: dict = field(default_factory=dict)  # str(phase index) → its grad / env steps per second (summary)


class Trainer:
    """Owns one run: its config, agent state, replay, counters and run directory."""

    def __init__(self, run: RunConfig, run_dir: str | Path, quiet: bool = False, dataset=None):
        """``dataset``: an already loaded task dataset to use instead of loading it again (seeds of one run share it)."""
        validate(run)
        self.run, self.dir, self.quiet = run, Path(run_dir), quiet
        self.algo = supported(run.algo, run.setting)
        self.config = agent_config(self.algo, run)
        self.rollouts = hasattr(self.algo, "update_rollout")
        self.phases = self.phases_of(run, self.config, self.rollouts)
        if not self.rollouts and (self.config.running_obs_norm or self.config.running_reward_scale):
            raise ConfigError(f"running_obs_norm / running_reward_scale apply to rollout (on-policy) agents only, not to '{run.algo}'.")
        needs_data = any(p.kind == "offline" and not self._logged(p) for p in self.phases)
        self.task_dataset = (dataset if dataset is not None else load_task_dataset(run)) if needs_data else None
        self.dataset = self.task_dataset
        probe = envs.make(run.task)
        self.env_spec = envs.spec_of(probe)
        probe.close()
        if self.dataset is not None:
            self.dataset.validate_for(self.env_spec.obs_shape, self.env_spec.action_low, self.env_spec.action_high)
            if hasattr(self.algo, "prepare_dataset"):
                self.dataset = self.algo.prepare_dataset(self.dataset, self.config)
        self.transforms: Transforms = fit_transforms(
            self.config, self.env_spec.obs_dim, self.env_spec.action_low, self.env_spec.action_high, self.dataset
        )
        self.agent_spec = algos.common.AgentSpec(
            self.env_spec.obs_dim,
            self.env_spec.action_dim,
            offline_steps=sum(p.steps for p in self.phases if p.kind == "offline"),
            online_steps=sum(p.steps for p in self.phases if p.kind == "online"),
            num_envs=run.num_envs,
        )
        key = jax.random.PRNGKey(run.seed)
        self.sample_key, self.act_key, self.eval_key = (jax.random.fold_in(key, i) for i in (1, 2, 3))
        self.state = self.algo.init(jax.random.fold_in(key, 0), self.agent_spec, self.config)
        self._shapes = {
            "observations": (self.env_spec.obs_dim,),
            "actions": (self.env_spec.action_dim,),
            "rewards": (),
            "next_observations": (self.env_spec.obs_dim,),
            "masks": (),
        }
        # Extra per-row columns an agent asks for (SSAR's trust flags, Cal-QL's MC returns): dataset rows
        # take them from dataset.infos (set by its prepare_dataset), online rows the given value.
        self.columns = self.algo.batch_columns(self.config) if hasattr(self.algo, "batch_columns") else {}
        infos = self.dataset.infos if self.dataset is not None else {}  # row shape from the dataset (BPPO's next actions)
        self._shapes.update({k: tuple(infos[k].shape[1:]) if k in infos else () for k in self.columns})
        self._empty = lambda cap: buffer.empty_storage(self._shapes, cap)
        self.running = RunningNormalisers(self.config, self.env_spec.obs_dim, run.num_envs)
        self.offline = self._offline_storage(self.phases[0])
        self.online = self._empty(1)
        self.counters = Counters()
        self.metric_keys = sorted(self._metric_shapes())
        self._evaluator, self._evaluator_kwargs = None, {}
        self._act = jax.jit(self.algo.act, static_argnums=3)
        # exploration: the key for env step t is fold_in(act_key, t), folded inside the jitted call
        self._explore = jax.jit(lambda state, obs, t: self.algo.act(state, obs, jax.random.fold_in(self.act_key, t), False))
        self._chunk = jax.jit(self.train_chunk, static_argnames=("k", "ratio"))
        self._rollout_update = jax.jit(self.algo.update_rollout) if self.rollouts else None

    # ------------------------------------------------------------------ replay
    def _offline_storage(self, phase: Phase) -> buffer.Storage:
        """The dataset rows the sampler sees in ``phase`` (``replay_init`` after an offline phase)."""
        if self.dataset is None:
            return self._empty(1)
        dataset = self.dataset
        if phase.kind == "online" and phase.index > 0:
            init = self.run.replay_init
            if init == "none":
                return self._empty(1)
            if init == "part":
                dataset = dataset.top_episodes(k=self.run.replay_top_episodes)
        rows = dataset_rows(dataset, self.transforms, self.config.dataset_action_clip)
        return buffer.storage_from_arrays({**rows, **{k: dataset.infos[k] for k in self.columns}})

    def _ratio(self, phase: Phase) -> float | None:
        if phase.kind == "offline":
            return 1.0  # offline phases learn from the dataset only (online-offline-online: the new logs)
        return 0.5 if self.run.replay_init == "half" else self.run.offline_ratio

    def train_chunk(self, state, sample_key, offline, online, start, k: int, ratio: float | None):
        """``k`` gradient steps under ``lax.scan``; batch i sampled with fold_in(sample_key, start + i).
        Pure in ``(state, sample_key)``: seeds trained together ``vmap`` it (seamrl/train/seeds.py)."""

        def body(state, i):
            batch = buffer.sample(jax.random.fold_in(sample_key, start + i), offline, online, self.config.batch_size, ratio)
            return self.algo.update(state, batch)

        state, metrics = jax.lax.scan(body, state, jnp.arange(k))
        return state, {name: jnp.nanmean(value) for name, value in metrics.items()}

    def _metric_shapes(self) -> dict:
        shapes = {}
        if hasattr(self.algo, "update"):
            batch = {k: jnp.zeros((self.config.batch_size, *shape)) for k, shape in self._shapes.items()}
            shapes.update(jax.eval_shape(self.algo.update, self.state, batch)[1])
        if self.rollouts:
            dummy = rollout.RolloutBuffer(self.config.num_steps, self.run.num_envs, self.env_spec.obs_dim, self.env_spec.action_dim)
            shapes.update(jax.eval_shape(self.algo.update_rollout, self.state, dummy.as_jax())[1])
        return shapes

    @staticmethod
    def phases_of(run: RunConfig, config, rollouts: bool) -> list[Phase]:
        """The run's phases; online phases of rollout agents last a whole number of rollouts (rounded down)."""
        if not rollouts:
            return schedule(run)
        size = config.num_steps * run.num_envs
        out = []
        for p in schedule(run):
            if p.kind == "online" and p.steps % size:
                if p.steps < size:
                    raise ConfigError(
                        f"online_steps={p.steps} is shorter than one rollout of num_steps × num_envs = {size} transitions."
                    )
                p = replace(p, steps=p.steps // size * size)
            out.append(p)
        return out

    def updates(self, state, k: int, start: int | None = None, phase: Phase | None = None):
        """``k`` updates of ``phase`` (default the current phase, or the last one of a finished run) on
        ``state``, outside the loop (no counter moves, nothing is logged); batch i is drawn with key
        ``start + i`` (default the run's gradient-step counter). Returns ``(state, mean metrics)``:
        what a probe that restarts part of a run (scripts/unio4_gate_probe.py) needs."""
        phase = phase or self.phases[min(self.counters.phase, len(self.phases) - 1)]
        start = self.counters.grad_steps if start is None else start
        return self._chunk(state, self.sample_key, self.offline, self.online, start, k=k, ratio=self._ratio(phase))

    def _updates(self, k: int, phase: Phase) -> None:
        self.state, metrics = self.updates(self.state, k, phase=phase)
        self.counters.grad_steps += k
        self.counters.pending.append(metrics)

    # ------------------------------------------------------------------ acting and evaluation
    def policy(self, deterministic: bool = True, key: jax.Array | None = None):
        """``obs (n, obs_dim) → actions in the env's box``, with the run's transforms."""
        key = self.eval_key if key is None else key
        calls = iter(range(2**62))  # a fresh key for every call (stochastic policies)

        def fn(obs: np.ndarray) -> np.ndarray:
            step_key = jax.random.fold_in(key, next(calls))
            action = self._act(self.state, jnp.asarray(self.transforms.observation(obs)), step_key, deterministic)
            return self.transforms.action_to_env(np.asarray(action))

        return fn

    def evaluate(self) -> dict:
        """Deterministic evaluation in the current phase's env (the changed one from ``env_change_phase`` on)."""
        kwargs = self._env_kwargs(self.phases[min(self.counters.phase, len(self.phases) - 1)])
        if self._evaluator is None or self._evaluator_kwargs != kwargs:
            self._evaluator, self._evaluator_kwargs = envs.Evaluator(self.run.task, **kwargs), kwargs
        index = len(self.counters.history)
        key = jax.random.fold_in(self.eval_key, index)
        return self._evaluator(self.policy(True, key), self.run.eval_episodes, seed=10_000 + self.run.seed * 1000)

    def _env_kwargs(self, phase: Phase) -> dict:
        """The changed environment (``env_friction``, ``env_mass_scale``) for phases from ``env_change_phase`` on."""
        run = self.run
        if phase.index < run.env_change_phase or (run.env_friction == 1.0 and run.env_mass_scale == 1.0):
            return {}
        return {"friction": run.env_friction, "mass_scale": run.env_mass_scale}

    # ------------------------------------------------------------------ logged data (online-offline-online)
    def _logged(self, phase: Phase) -> bool:
        """An offline phase right after an online one learns from logs of the current policy (``log_steps``)."""
        return phase.kind == "offline" and phase.index > 0 and self.run.log_steps > 0 and self.phases[phase.index - 1].kind == "online"

    def _log_path(self, phase: Phase) -> Path:
        return self.dir / "logs" / f"phase{phase.index}.npz"

    def _log_dataset(self, phase: Phase, collect: bool) -> None:
        """``log_steps`` transitions of the current stochastic policy in the phase's env become the
        phase's dataset (saved in the run directory; reloaded on resume). Frozen transforms apply."""
        from seamrl.data import collect as collect_data
        from seamrl.data import load_dataset, save_npz

        path = self._log_path(phase)
        if collect:
            policy = self.policy(False, jax.random.fold_in(self.act_key, 2**31 + phase.index))
            data = collect_data(policy, self.run.task, self.run.log_steps, seed=self._reset_seed(), num_envs=self.run.num_envs,
                                env_kwargs=self._env_kwargs(phase))
            path.parent.mkdir(parents=True, exist_ok=True)
            save_npz(data, path)
            self.counters.env_steps += self.run.log_steps
        dataset = load_dataset(path)
        self.dataset = self.algo.prepare_dataset(dataset, self.config) if hasattr(self.algo, "prepare_dataset") else dataset

    # ------------------------------------------------------------------ logging
    def _log(self, phase: Phase, evaluation: dict | None) -> dict:
        metrics = _mean_metrics(self.counters.pending)
        finished = self.counters.finished
        train_return = float(np.mean(finished)) if finished else None
        self.counters.pending, self.counters.finished = [], []
        row = {
            "phase": phase.index,
            "phase_kind": phase.kind,
            "grad_step": self.counters.grad_steps,
            "env_step": self.counters.env_steps,
            "wall_time": round(self.counters.wall_time + time.perf_counter() - self._t0, 3),
            "train_return": train_return,
        }
        if evaluation is not None:
            row.update(
                eval_return_mean=evaluation["return_mean"],
                eval_return_std=evaluation["return_std"],
                eval_normalized_mean=evaluation.get("normalized_mean"),
                eval_normalized_std=evaluation.get("normalized_std"),
            )
        row.update({k: float(v) for k, v in metrics.items()})
        self._append_csv({k: ("" if v is None else v) for k, v in row.items()})
        self.counters.csv_rows += 1
        if self.run.tensorboard:
            self._tensorboard(row)
        if evaluation is not None:
            self.counters.history.append(row)
        return row

    def _append_csv(self, row: dict) -> None:
        """One row of metrics.csv, in the columns of the file's header. A run resumed under code that
        logs other metrics keeps its header's columns in place (a metric gone is left empty) and
        gains the new ones at the end: the file is rewritten once with them."""
        path = self.dir / "metrics.csv"
        columns = list(FIXED_COLUMNS) + self.metric_keys
        if self.counters.csv_rows == 0 or not path.exists():
            rows, header = [], columns
        else:
            with open(path, newline="") as f:
                header = next(csv.reader(f), columns)
            added = [c for c in columns if c not in header]
            if not added:
                with open(path, "a", newline="") as f:
                    csv.DictWriter(f, fieldnames=header, extrasaction="ignore").writerow(row)
                return
            with open(path, newline="") as f:
                rows = list(csv.DictReader(f))
            header = header + added
        with open(path, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=header, extrasaction="ignore", restval="")
            writer.writeheader()
            writer.writerows(rows + [row])

    def _tensorboard(self, row: dict) -> None:
        if getattr(self, "_tb", None) is None:
            try:
                from tensorboardX import SummaryWriter
            except ImportError:
                raise ConfigError("tensorboard=true needs the tensorboardX package; install it with `pip install tensorboardX`.") from None
            self._tb = SummaryWriter(str(self.dir / "tensorboard"))
        step = row["grad_step"] if row["phase_kind"] == "offline" else row["env_step"]
        for name, value in row.items():
            if isinstance(value, (int, float)) and name not in ("phase", "grad_step", "env_step"):
                self._tb.add_scalar(name, value, step)
        self._tb.flush()

    # ------------------------------------------------------------------ checkpoints
    def save(self, name: str = "latest", with_replay: bool = True) -> Path:
        self.counters.pending = [{k: float(v) for k, v in m.items()} for m in jax.device_get(self.counters.pending)]
        self.counters.running = self.running.state()
        counters = asdict(self.counters)
        counters["wall_time"] = self.counters.wall_time + time.perf_counter() - self._t0
        return checkpoint.save(
            self.dir / "checkpoints" / f"{name}.ckpt",
            agent=self.state,
            transforms=self.transforms.to_json(),
            counters=counters,
            online=self.online if with_replay else None,
        )

    def restore(self, path: Path) -> None:
        data = checkpoint.load(path)
        counters = Counters(**data["counters"])
        self.state = checkpoint.restore_tree(self._template(counters), data["agent"], path)
        self.transforms = Transforms.from_json(data["transforms"])
        self.counters = counters
        self.running.load(self.counters.running)
        if data.get("online") is not None:
            self.online = checkpoint.restore_storage(data["online"])
        if self.counters.phase < len(self.phases):  # a finished run resumes to its summary
            if self.counters.phase_started and self._logged(self.phases[self.counters.phase]):
                self._log_dataset(self.phases[self.counters.phase], collect=False)
            self.offline = self._offline_storage(self.phases[self.counters.phase])
        _truncate_csv(self.dir / "metrics.csv", self.counters.csv_rows)

    def _template(self, counters: Counters):
        """The state to restore into: the fresh state through the ``begin_phase`` hooks of the phases the
        checkpoint had begun, so the static parts a hook sets (Uni-O4's per-phase PPO values and lr
        schedules) are those of the checkpoint's phase; every array is then the checkpoint's."""
        state = self.state
        begun = self.phases[: counters.phase + (1 if counters.phase_started else 0)]
        for phase in begun if hasattr(self.algo, "begin_phase") else ():
            state = self.algo.begin_phase(state, phase)
        return state

    # ------------------------------------------------------------------ the loop
    def fit(self) -> dict:
        self.start()
        while not self.finished:
            self.run_phase()
        return self.finish()

    @property
    def finished(self) -> bool:
        return self.counters.phase >= len(self.phases)

    @property
    def phase(self) -> Phase:
        return self.phases[self.counters.phase]

    def start(self) -> None:
        """Run directory, progress bar and the initial evaluation (skipped when resuming)."""
        self._t0 = time.perf_counter()
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / "checkpoints").mkdir(exist_ok=True)
        total = sum(p.steps for p in self.phases)
        done_before = sum(p.steps for p in self.phases[: self.counters.phase]) + self.counters.phase_step
        self._bar = _progress(total, done_before, self.quiet)
        if self.counters.grad_steps == 0 and self.counters.env_steps == 0 and not self.counters.history:
            self._log(self.phases[0], self.evaluate())

    def run_phase(self) -> None:
        """The current phase, from where the counters are, to its end."""
        phase = self.phase
        self.begin_phase()
        clock = self.clock()
        if phase.kind == "offline":
            self._offline_phase(phase)
        else:
            (self._rollout_phase if self.rollouts else self._online_phase)(phase)
        self.end_phase(clock)

    @property
    def resolved_config(self):
        """The agent config as resolved by ``init`` (e.g. IVR's α, UNIVR's online architecture)."""
        return getattr(self.state, "config", self.config)

    def write_config(self) -> None:
        """``config.json``: the run and :attr:`resolved_config`."""
        write_config(self.run, self.resolved_config, self.dir)

    def idle(self, seconds: float) -> None:
        """Leave ``seconds`` out of this run's wall time (time spent on other seeds of a ``--seeds`` run)."""
        self._t0 += seconds

    def clock(self) -> tuple[float, int, int]:
        return time.perf_counter(), self.counters.grad_steps, self.counters.env_steps

    def end_phase(self, start: tuple[float, int, int]) -> None:
        """Record the phase's rates since ``start`` (a :meth:`clock`) and move to the next phase."""
        phase = self.phase
        elapsed = max(time.perf_counter() - start[0], 1e-9)
        self.counters.phase_rates[str(phase.index)] = {  # checkpointed: a resumed run keeps earlier phases' rates
            "grad_steps_per_s": (self.counters.grad_steps - start[1]) / elapsed,
            "env_steps_per_s": (self.counters.env_steps - start[2]) / elapsed,
        }
        self.counters.phase += 1
        self.counters.phase_step = 0
        self.counters.phase_started = False

    def finish(self) -> dict:
        self._bar.close()
        self.save()
        return self._summary()

    def begin_phase(self) -> None:
        """Phase switch (algorithms.md §1.7), once per phase: replay for the new phase, then the agent's hooks
        (``begin_offline(state, dataset, transforms, task)`` before offline phases: host-side fits on
        the phase's dataset, e.g. Uni-O4's dynamics ensemble; then ``begin_phase``). A phase in a changed
        env (``env_change_phase``) starts with an evaluation there."""
        phase = self.phase
        if self.counters.phase_started:
            return
        if self._logged(phase):
            self._log_dataset(phase, collect=True)
        if phase.index > 0:
            self.offline = self._offline_storage(phase)
            if phase.kind == "online" and self.online.capacity == 1:
                self.online = self._empty(max(self.run.buffer_size, 1))
        elif phase.kind == "online":
            self.online = self._empty(max(self.run.buffer_size, 1))
        if phase.kind == "offline" and hasattr(self.algo, "begin_offline"):
            self.state = self.algo.begin_offline(self.state, self.dataset, self.transforms, self.run.task)
        if hasattr(self.algo, "begin_phase"):
            self.state = self.algo.begin_phase(self.state, phase)
        if phase.index > 0 and self._env_kwargs(phase) != self._env_kwargs(self.phases[phase.index - 1]):
            self._log(phase, self.evaluate())  # the policy as it arrives in the changed env, before any update
        self.counters.phase_started = True

    def _every(self, before: int, after: int, interval: int) -> bool:
        return interval > 0 and after // interval > before // interval

    def _due(self, phase: Phase, before: int) -> tuple[bool, bool, bool]:
        """What falls in the steps since ``before``: (evaluation, a saved policy, a checkpoint)."""
        after, run = self.counters.phase_step, self.run
        end = after >= phase.steps
        return (self._every(before, after, run.eval_every) or end, self._every(before, after, run.save_policy_every),
                self._every(before, after, run.checkpoint_every) and not end)

    def events_due(self, phase: Phase, before: int) -> bool:
        """Whether :meth:`_events` for the steps since ``before`` reads the agent state."""
        return any(self._due(phase, before))

    def _events(self, phase: Phase, before: int) -> bool:
        """Evaluate, log and save a policy on their cadence since ``before``; ``True`` when a checkpoint is due."""
        after = self.counters.phase_step
        evaluate, save_policy, checkpoint_due = self._due(phase, before)
        if evaluate:
            row = self._log(phase, self.evaluate())
            score = row.get("eval_normalized_mean")
            self._bar.set_postfix_str(f"{phase.kind} eval {'return' if score is None else 'score'} {row['eval_return_mean'] if score is None else score:.1f}")
        if save_policy:
            self.save(f"policy_p{phase.index}_{after}", with_replay=False)
        self._bar.update(after - before)
        return checkpoint_due

    def offline_chunks(self, phase: Phase):
        """Sizes of the scanned update calls left in an offline phase (evaluation and checkpoints fall between them)."""
        k = math.gcd(self.run.updates_per_call, self.run.eval_every, self.run.checkpoint_every or self.run.eval_every)
        step = self.counters.phase_step
        while step < phase.steps:
            n = min(k, phase.steps - step)
            yield n
            step += n

    def after_updates(self, phase: Phase, n: int) -> None:
        """Advance the phase by ``n`` gradient steps, then evaluate / log / checkpoint on their cadence."""
        before = self.counters.phase_step
        self.counters.phase_step += n
        if self._events(phase, before):
            self.save()

    def _offline_phase(self, phase: Phase) -> None:
        offline_phase([self], phase, Alone(self))

    def _online_phase(self, phase: Phase) -> None:
        online_phase([self], phase, Alone(self))

    def random_actions(self) -> np.ndarray:
        """Uniform actions in [-1, 1] before ``learning_starts`` (online from scratch); counter-based, so resumable."""
        rng = np.random.default_rng([self.run.seed, self.counters.env_steps])
        return rng.uniform(-1.0, 1.0, (self.run.num_envs, self.env_spec.action_dim)).astype(np.float32)

    def transition(self, obs: np.ndarray, action: np.ndarray, result: tuple) -> dict:
        """Replay rows (in the agent's transformed spaces) of one vector-env step ``result`` from ``obs``."""
        next_obs, reward, terminated, _, info = result
        n = len(obs)
        return {
            "observations": self.transforms.observation(obs),
            "actions": action,
            "rewards": self.transforms.reward(reward),
            "next_observations": self.transforms.observation(envs.real_next_obs(next_obs, info)),
            "masks": 1.0 - terminated.astype(np.float32),
            **{k: np.full((n, *self._shapes[k]), v, np.float32) for k, v in self.columns.items()},
        }

    def _rollout_phase(self, phase: Phase) -> None:
        """Collect ``num_steps × num_envs`` transitions with the current policy, then one
        ``update_rollout``; evaluation and checkpoints fall on rollout boundaries. Before a
        checkpoint the last step of the rollout is marked as a time-out for every env (the
        episodes are cut there and the envs reset from the counters, as in ``_online_phase``)."""
        run, n, steps = self.run, self.run.num_envs, self.config.num_steps
        spec = self.env_spec
        values = getattr(self.state, "ppo_config", None) or self.config  # an agent's per-phase PPO values (Uni-O4)
        self.running.obs_on, self.running.reward_on = values.running_obs_norm, values.running_reward_scale
        vec = envs.make_vector(run.task, n, seed=self._reset_seed(), **self._env_kwargs(phase))
        raw, _ = vec.reset(seed=self._reset_seed())
        self.running.returns = np.zeros(n)
        self.running.observe(self.transforms, raw)
        obs = self.transforms.observation(raw)
        buf = rollout.RolloutBuffer(steps, n, spec.obs_dim, spec.action_dim)
        episode_return = np.zeros(n)
        while self.counters.phase_step < phase.steps:
            before = self.counters.phase_step
            after = before + steps * n
            cut = self._every(before, after, run.checkpoint_every) and after < phase.steps
            for t in range(steps):
                action = np.asarray(self._explore(self.state, obs, self.counters.env_steps))
                raw, reward, terminated, truncated, info = vec.step(self.transforms.action_to_env(action))
                real_next = envs.real_next_obs(raw, info)
                ended = terminated | truncated  # episodes that really ended
                done = ended | (cut and t == steps - 1)
                self.running.observe(self.transforms, raw)
                buf.add(
                    t,
                    observations=obs,
                    actions=action,
                    rewards=self.running.reward(self.transforms.reward(reward), done),
                    terminals=terminated,
                    timeouts=done & ~terminated,
                    next_observations=self.transforms.observation(real_next),
                )
                obs = self.transforms.observation(raw)
                episode_return += reward
                for i in np.flatnonzero(ended):
                    self.counters.finished.append(float(episode_return[i]))
                    episode_return[i] = 0.0
                    self.counters.episodes += 1
                self.counters.env_steps += n
            self.state, metrics = self._rollout_update(self.state, buf.as_jax())
            self.counters.grad_steps += getattr(self.config, "grad_steps_per_rollout", 1)
            self.counters.pending.append(metrics)
            self.counters.phase_step = after
            if self._events(phase, before):
                self.save()
                raw, _ = vec.reset(seed=self._reset_seed())
                self.running.observe(self.transforms, raw)
                obs = self.transforms.observation(raw)
                episode_return[:] = 0.0
        vec.close()

    def _reset_seed(self) -> int:
        return int(self.run.seed * 1_000_003 + self.counters.env_steps)

    # ------------------------------------------------------------------ summary
    def _summary(self) -> dict:
        history = self.counters.history
        key = "eval_normalized_mean" if history and history[-1].get("eval_normalized_mean") is not None else "eval_return_mean"
        scores = [h[key] for h in history]
        phases = []
        for p in self.phases:
            rows = [h for h in history if h["phase"] == p.index and not (p.index == 0 and h is history[0])]
            phases.append(
                {
                    "index": p.index,
                    "kind": p.kind,
                    "steps": p.steps,
                    "first": rows[0][key] if rows else None,
                    "final": rows[-1][key] if rows else None,
                    "best": max((r[key] for r in rows), default=None),
                    "lowest": min((r[key] for r in rows), default=None),  # after a switch: the dip, if any
                    **self.counters.phase_rates.get(str(p.index), {}),
                }
            )
        summary = {
            "algo": self.run.algo,
            "task": self.run.task,
            "setting": self.run.setting,
            "seed": self.run.seed,
            "metric": key.replace("eval_", "").replace("_mean", ""),
            "initial": scores[0] if scores else None,
            "final": scores[-1] if scores else None,
            "best": max(scores) if scores else None,
            "final_return": history[-1]["eval_return_mean"] if history else None,
            "grad_steps": self.counters.grad_steps,
            "env_steps": self.counters.env_steps,
            "wall_time": round(self.counters.wall_time + time.perf_counter() - self._t0, 2),
            "phases": phases,
        }
        (self.dir / "summary.json").write_text(json.dumps(summary, indent=2))
        return summary


class Interrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM in an offline phase: the run stopped between two chunks and saved a checkpoint there."""


@contextmanager
def graceful_stop():
    """While active, a first SIGINT / SIGTERM only sets ``stop.requested`` (read between chunks of
    updates); a second one interrupts at once. Outside the main thread nothing changes."""

    class Stop:
        requested = False

    stop = Stop()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def handler(signum, frame):
        if stop.requested:
            raise KeyboardInterrupt("stopped at once; `seamrl train --resume RUN_DIR` goes on from the last checkpoint.")
        stop.requested = True
        print("\nseamrl: stopping after the current chunk of updates to save a checkpoint (again to stop at once).",
              file=sys.stderr)

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for sig, old in previous.items():
            signal.signal(sig, signal.SIG_DFL if old is None else old)  # None: a handler not installed from Python


def offline_phase(group: list[Trainer], phase: Phase, learner) -> None:
    """``phase`` for every trainer of ``group`` (one, or seeds in lockstep): scanned chunks of updates
    with each trainer's events between them; a stop request saves every trainer's checkpoint after
    the chunk in flight and raises :class:`Interrupted`."""
    with graceful_stop() as stop:
        for n in list(group[0].offline_chunks(phase)):
            learner.update(n, phase)
            # wait for the chunk: a stop request is then read after it, not after every chunk queued by async dispatch
            jax.block_until_ready(learner.state)
            learner.sync(replay=False)
            for t in group:
                t.after_updates(phase, n)
            if stop.requested:
                for t in group:
                    t.save()
                where = ", ".join(str(t.dir) for t in group)
                raise Interrupted(f"stopped at gradient step {group[0].counters.phase_step} of phase {phase.index} with a "
                                  f"checkpoint; `seamrl train --resume RUN_DIR` goes on exactly from there ({where}).")


def _mean_metrics(chunks: list[dict]) -> dict:
    if not chunks:
        return {}
    stacked = jax.device_get(chunks)

    def mean(values: list) -> float:  # NaN where every chunk is NaN (a stage that did not run), without a warning
        values = np.asarray(values, np.float64)
        finite = values[~np.isnan(values)]
        return float(finite.mean()) if finite.size else float("nan")

    return {k: mean([c[k] for c in stacked]) for k in stacked[0]}


def _truncate_csv(path: Path, rows: int) -> None:
    """Drop metric rows written after the checkpoint being resumed (header + ``rows`` kept)."""
    if not path.exists():
        return
    lines = path.read_bytes().splitlines(keepends=True)  # bytes: the csv module's \r\n line ends stay as written
    path.write_bytes(b"".join(lines[: rows + 1]) if rows else b"")


def _progress(total: int, initial: int, quiet: bool):
    from tqdm.auto import tqdm

    import sys

    interactive = sys.stderr.isatty()  # in logs, a line every 30 s instead of a redraw every 0.1 s
    return tqdm(total=total, initial=initial, disable=quiet, unit="step", dynamic_ncols=True, smoothing=0.05,
                mininterval=0.1 if interactive else 30.0)


def write_config(run: RunConfig, config, run_dir: Path) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    data = {"run": run.to_json(), "agent": asdict(config), "seamrl_version": __import__("seamrl").__version__}
    (run_dir / "config.json").write_text(json.dumps(data, indent=2, default=str))


def default_run_dir(run: RunConfig, seeds: list[int] | None = None) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    label = "_".join(map(str, seeds)) if seeds else run.seed
    return Path("runs") / f"{run.algo}-{run.task}-{run.setting}-s{label}-{stamp}"


def train(run: RunConfig, quiet: bool = False) -> tuple[dict, Path]:
    """Start a new run; returns ``(summary, run_dir)``."""
    run_dir = Path(run.out) if run.out else default_run_dir(run)
    trainer = Trainer(run, run_dir, quiet)
    trainer.write_config()
    return trainer.fit(), run_dir


def resume(run_dir: str | Path, quiet: bool = False, steps: dict | None = None, setting: str | None = None,
           overrides: list[str] | None = None) -> tuple[dict, Path]:
    """Continue a killed run from ``run_dir/checkpoints/latest.ckpt``.

    ``steps`` (``{"online_steps": n}`` / ``{"offline_steps": n}``, and ``eval_every`` / ``eval_episodes``) changes the phases' lengths; a
    finished run whose last phase becomes longer goes on from where it stopped (same replay,
    counters and RNG streams), so a run can be extended. ``setting`` appends phases (an offline
    run becomes offline-to-online: fine-tuning from its checkpoint, ``extended_run``), with
    ``overrides`` (``key=value``) for them. A ``--seeds`` directory resumes every seed."""
    from seamrl.train.seeds import is_seeds_dir, resume_seeds

    if is_seeds_dir(run_dir):
        return resume_seeds(run_dir, quiet, steps, setting, overrides)
    run_dir = Path(run_dir)
    old = load_run_config(run_dir)
    trainer = Trainer(extended_run(old, steps, setting, overrides), run_dir, quiet)
    restore_for_resume(trainer, old)
    return trainer.fit(), run_dir


def check_phase_steps(run: RunConfig, given: dict, hint: str = "") -> None:
    """A ConfigError when ``given`` (the step flags a user passed) sets the length of a phase ``run`` does not have."""
    kinds = {p.kind for p in schedule(run)}
    for kind in ("offline", "online"):
        if given.get(f"{kind}_steps") is not None and kind not in kinds:
            raise ConfigError(f"--{kind}-steps does not apply: an '{run.setting}' run has no {kind} phase"
                              f"{hint if kind == 'online' else ''}.")


def supported(algo: str, setting: str):
    """The algorithm's module, or a ConfigError when it does not support ``setting``."""
    module = algos.get(algo)
    if setting not in module.SETTINGS:
        raise ConfigError(f"Algorithm '{algo}' does not support setting '{setting}'; it supports {', '.join(module.SETTINGS)}.")
    return module


def extended_run(old: RunConfig, steps: dict | None = None, setting: str | None = None, overrides: list[str] | None = None) -> RunConfig:
    """``old`` with new phase lengths and, optionally, a setting whose phases start with ``old``'s
    (offline → offline-to-online). The new setting's presets apply from the new phases on (e.g.
    UNIVR's O2O λ); where they differ from the options the run was trained with, a notice says so.
    ``overrides`` (``--set``) are for the new phases (replay options, λ, or an old value to keep);
    one that changes a network's shape fails when the checkpoint is restored."""
    new = replace(old, **(steps or {}), **({"setting": setting} if setting else {}))
    check_phase_steps(new, steps or {}, hint=" (add --setting offline-to-online to fine-tune it online)")
    if new.setting == old.setting:  # a plain resume: --set may only repeat the run's options (re-running a command)
        module = supported(old.algo, new.setting)
        if overrides and apply_overrides(replace(new, agent=dict(new.agent)), module.Config, overrides) != new:
            raise ConfigError("--set with --resume applies to phases the run adds: give --setting offline-to-online "
                              "(a resumed run otherwise keeps its options, so that it reproduces the uninterrupted run).")
        return new
    old_kinds, new_kinds = [p.kind for p in schedule(old)], [p.kind for p in schedule(new)]
    if new_kinds[: len(old_kinds)] != old_kinds or len(new_kinds) == len(old_kinds):
        raise ConfigError(f"A '{old.setting}' run cannot go on as '{new.setting}': the new setting's phases "
                          f"({', '.join(new_kinds)}) must begin with the run's ({', '.join(old_kinds)}) and add at least one.")
    module = supported(old.algo, new.setting)
    new = replace(new, agent=dict(new.agent))
    new = apply_overrides(new, module.Config, overrides) if overrides else new
    trained, presets = asdict(agent_config(module, old)), asdict(agent_config(module, new))
    changed = {k: (v, presets[k]) for k, v in trained.items() if presets[k] != v}
    if changed:
        print(f"seamrl: from the new phases on, the '{new.setting}' options differ from those the run was trained with: "
              + ", ".join(f"{k} {a} → {b}" for k, (a, b) in changed.items()) + " (--set KEY=VALUE to choose)", file=sys.stderr)
    return new


def restore_for_resume(trainer: Trainer, old: RunConfig) -> None:
    """Restore the latest checkpoint; reopen the last phase when the run config made it longer than ``old``."""
    latest = trainer.dir / "checkpoints" / "latest.ckpt"
    if latest.exists():
        trainer.restore(latest)
    if trainer.run != old:  # the record names the options of the new phases (e.g. UNIVR's O2O λ), and keeps the trained ones
        path = trainer.dir / "config.json"
        trained = json.loads(path.read_text()).get("agent")
        trainer.write_config()
        data = json.loads(path.read_text())
        if trained is not None and trained != data["agent"]:
            path.write_text(json.dumps({**data, "agent_trained": trained}, indent=2, default=str))
    old_last = Trainer.phases_of(old, trainer.config, trainer.rollouts)[-1].steps
    if trainer.finished and trainer.phases[-1].steps > old_last:
        trainer.counters.phase, trainer.counters.phase_step = len(trainer.phases) - 1, old_last
        trainer.counters.phase_started = True  # the phase's replay and hooks are those of the checkpoint
        trainer.offline = trainer._offline_storage(trainer.phase)


def load_run_config(run_dir: str | Path) -> RunConfig:
    path, seeds = Path(run_dir) / "config.json", Path(run_dir) / "seeds.json"
    if not path.exists() and seeds.exists():
        names = [f"s{s}" for s in json.loads(seeds.read_text())["seeds"]]
        raise ConfigError(f"'{run_dir}' holds the runs of {len(names)} seeds ({', '.join(names)}); "
                          f"name one of them, e.g. {Path(run_dir) / names[0]}.")
    if not path.exists():
        raise ConfigError(f"'{run_dir}' is not a run directory: {path} does not exist.")
    return RunConfig.from_json(json.loads(path.read_text())["run"])


def load_trainer(run_dir: str | Path, checkpoint_name: str = "latest", overrides: Sequence[str] = ()) -> Trainer:
    """A trainer restored from a run's checkpoint (for ``seamrl eval`` and exporting policies).

    ``overrides``: ``key=value`` options applied to the recorded configuration first, for options that
    leave the state's arrays as they are (e.g. ``best_of_n`` for acting); nothing is written to the run."""
    run_dir = Path(run_dir)
    run = load_run_config(run_dir)
    if overrides:
        run = apply_overrides(run, algos.get(run.algo).Config, list(overrides))
    trainer = Trainer(run, run_dir, quiet=True)
    path = run_dir / "checkpoints" / f"{checkpoint_name}.ckpt"
    if not path.exists():
        raise ConfigError(f"Run '{run_dir}' has no checkpoint '{path.name}' yet.")
    data = checkpoint.load(path)
    try:
        trainer.state = checkpoint.restore_tree(trainer._template(Counters(**data["counters"])), data["agent"], path)
    except ConfigError:
        if not overrides:
            raise
        raise ConfigError(f"With {', '.join(overrides)} the agent's arrays no longer match checkpoint {path}; override only "
                          "options that keep the networks' sizes (e.g. UNIVR's best_of_n).") from None
    trainer.transforms = Transforms.from_json(data["transforms"])
    return trainer
