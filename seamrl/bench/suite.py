"""``seamrl bench``: every throughput measurement in one run, interleaved, medians over repeats.

Parts (``--parts``, comma-separated):

* ``updates``: gradient steps/s of every algorithm through the trainer (:mod:`.throughput`);
* ``d3rlpy``: the same algorithm in d3rlpy where it has it, same batch size and network sizes,
  in the ``.venv-d3rlpy`` interpreter (:mod:`.d3rlpy_client`): ``update`` (one pre-sampled batch)
  and ``fit`` (d3rlpy's inner fit step: sample, then update);
* ``pure``: minimal pure-JAX IQL and TD3+BC updates (:mod:`.pure`), fixed batch and sampled;
* ``online``: gradient steps/s of the update an online run from scratch makes (the from-scratch
  config, e.g. UNIVR's E3 estimator and π̄ reference samples; the online phase's sampler) for the
  ``--online-algos``, with their ratio to SAC's;
* ``online-seeds``: seed env steps/s of the online loop of a ``--seeds`` run (``--online-seeds``
  seeds of the ``--online-algos``), seeds in lockstep against one after another;
* ``collect``: env steps/s of the vector env with 1, 2, 4, 8 envs, decomposed
  (:mod:`.collection`), against the raw single-env step rate;
* ``eval``: evaluation episodes/s (and env steps/s) of :class:`seamrl.envs.Evaluator`;
* ``demo``: wall clock and peak memory of a full ``seamrl demo`` in a subprocess (minutes; not
  repeated).

Everything except the demo is compiled and warmed up first, then each repeat runs every
measurement once, in a fixed order (per algorithm: seamrl, d3rlpy, pure; then collection, then
evaluation), so background load falls on all of them alike. Reported figures are medians over
repeats; every sample is kept in the JSON.
"""

from __future__ import annotations

import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

PARTS = ("updates", "d3rlpy", "pure", "seeds", "online", "online-seeds", "collect", "eval", "demo")
DEFAULT_PARTS = ("updates", "d3rlpy", "pure", "seeds", "online", "online-seeds", "collect", "eval")


@dataclass
class Options:
    parts: tuple[str, ...] = DEFAULT_PARTS
    algos: tuple[str, ...] | None = None  # None: every algorithm of the registry
    repeats: int = 5
    updates_per_call: int = 1000
    transitions: int = 100_000  # synthetic dataset size
    d3rlpy_steps: int = 200  # d3rlpy updates per measurement
    d3rlpy_warmup: int = 20
    d3rlpy_python: str | None = None
    d3rlpy_threads: int = 0  # 0: torch's default
    seed_algos: tuple[str, ...] = ("iql", "td3bc", "cql", "sac")  # the seeds part
    seed_counts: tuple[int, ...] = (1, 2, 4)
    online_algos: tuple[str, ...] = ("univr", "td3", "sac")  # the online and online-seeds parts
    online_seeds: int = 3  # seeds of the online-seeds part
    task: str = "Hopper-v5"
    collect_algo: str = "sac"
    num_envs: tuple[int, ...] = (1, 2, 4, 8)
    variants: tuple[str, ...] = ("vec", "policy", "replay", "update", "update-only")
    env_steps: int = 2000  # env steps per collection measurement
    update_env_steps: int = 500  # env steps per measurement of the loop with updates (slower)
    eval_episodes: int = 10
    out: str | None = None  # JSON path; default benchmarks/throughput-<backend>.json

    def flags(self) -> dict[str, str | None]:
        """Command-line flag → value (as typed) of every option."""
        join = lambda xs: None if xs is None else ",".join(map(str, xs))  # noqa: E731
        values = {
            "parts": join(self.parts), "algos": join(self.algos), "repeats": self.repeats,
            "updates-per-call": self.updates_per_call, "transitions": self.transitions, "d3rlpy-steps": self.d3rlpy_steps,
            "d3rlpy-warmup": self.d3rlpy_warmup, "d3rlpy-python": self.d3rlpy_python, "d3rlpy-threads": self.d3rlpy_threads,
            "seed-algos": join(self.seed_algos), "seed-counts": join(self.seed_counts),
            "online-algos": join(self.online_algos), "online-seeds": self.online_seeds,
            "task": self.task, "collect-algo": self.collect_algo, "num-envs": join(self.num_envs), "variants": join(self.variants),
            "env-steps": self.env_steps, "update-env-steps": self.update_env_steps, "eval-episodes": self.eval_episodes,
            "out": self.out,
        }
        return {k: None if v is None else str(v) for k, v in values.items()}

    def command(self) -> str:
        """The ``seamrl bench`` command line that reproduces these options (non-default flags only)."""
        default = Options().flags()
        args = ["seamrl", "bench"]
        for flag, value in self.flags().items():
            if value is not None and value != default[flag]:
                args += [f"--{flag}", value]
        return shlex.join(args)


# ---------------------------------------------------------------------- machine and versions
def _first_line(path: str, prefix: str) -> str | None:
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(prefix):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def machine_info() -> dict:
    import jax

    return {
        "platform": platform.platform(),
        "cpu": _first_line("/proc/cpuinfo", "model name") or platform.processor(),
        "cpu_count": os.cpu_count(),
        "memory": _first_line("/proc/meminfo", "MemTotal"),
        "jax_backend": jax.default_backend(),
        "devices": [str(d) for d in jax.devices()],
        "hostname": platform.node(),
        "env": {k: os.environ.get(k) for k in ("XLA_FLAGS", "JAX_PLATFORMS", "OMP_NUM_THREADS", "OMP_WAIT_POLICY")},
    }


def versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for package in ("seamrl", "jax", "jaxlib", "flax", "optax", "numpy", "gymnasium", "mujoco"):
        try:
            out[package] = version(package)
        except PackageNotFoundError:
            out[package] = None
    repo = Path(__file__).resolve().parents[2]
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "seamrl"], cwd=repo, capture_output=True, text=True, timeout=10).stdout
        out["git_commit"] = (commit + ("+dirty" if dirty.strip() else "")) or None
    except (OSError, subprocess.SubprocessError):
        out["git_commit"] = None
    return out


# ---------------------------------------------------------------------- measuring
def summarise(samples: list[dict]) -> dict:
    """Median rate (unit per second) of every unit in the samples, the samples themselves."""
    units = [k for k in samples[0] if k != "seconds"]
    rates = {u: statistics.median(s[u] / s["seconds"] for s in samples) for u in units}
    return {"per_s": rates, "samples": samples}


def interleave(timers: dict[str, Callable[[], dict]], repeats: int, progress: Callable[[str], None] | None = None) -> dict:
    """Every timer once per repeat, in order; ``{key: summarise(samples)}``."""
    samples: dict[str, list[dict]] = {k: [] for k in timers}
    for r in range(repeats):
        for key, timer in timers.items():
            samples[key].append(timer())
        if progress:
            progress(f"repeat {r + 1}/{repeats} done")
    return {k: summarise(v) for k, v in samples.items()}


def _agent_configs(names: list[str], known: dict) -> dict:
    from seamrl import algos

    return {n: known.get(n) or algos.get(n).Config() for n in names}


def setup_d3rlpy(options: Options, names: list[str], configs: dict, result: dict, timers: dict) -> object | None:
    """Start the worker, build d3rlpy's counterparts of ``names``; add their timers."""
    from seamrl.bench.d3rlpy_client import D3rlpyWorker, WorkerError, d3rlpy_spec, default_python
    from seamrl.bench.throughput import ACTION_DIM, OBS_DIM

    specs = {n: s for n in names if (s := d3rlpy_spec(n, configs[n])) is not None}
    python = Path(options.d3rlpy_python) if options.d3rlpy_python else default_python()
    info: dict = {"specs": specs, "python": str(python)}
    result["d3rlpy"] = info
    if not specs:
        info["error"] = "none of the algorithms has a d3rlpy counterpart"
        return None
    if not python.exists():
        info["error"] = f"no d3rlpy interpreter at {python} (create .venv-d3rlpy or pass --d3rlpy-python)"
        return None
    worker = D3rlpyWorker(python, options.d3rlpy_threads)
    try:
        reply = worker.setup(specs, OBS_DIM, ACTION_DIM, options.transitions, options.d3rlpy_warmup)
    except WorkerError as err:
        info["error"] = str(err)
        worker.close()
        return None
    info.update({k: reply[k] for k in ("versions", "threads", "device", "built", "errors")})
    info["env"] = {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "MKL_NUM_THREADS")}
    for name in reply["built"]:
        for mode in ("update", "fit"):
            timers[f"d3rlpy-{mode}/{name}"] = (
                lambda name=name, mode=mode: {"seconds": worker.time(name, options.d3rlpy_steps, mode), "steps": options.d3rlpy_steps}
            )
    return worker


def run_demo_part(tmp: Path, program: list[str] | None = None) -> dict:
    """``seamrl demo`` in a subprocess: wall clock, CPU time and peak RSS (``wait4``), the run's
    phase rates (``program``: another command taking ``--out DIR --quiet``, for tests)."""
    out = tmp / "demo"
    command = [*(program or [sys.executable, "-m", "seamrl.cli", "demo"]), "--out", str(out), "--quiet"]
    load = os.getloadavg()
    start = time.perf_counter()
    with tempfile.TemporaryFile(mode="w+") as err:
        proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=err, text=True)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        stderr_tail = err.read()[-2000:]
    summary_path = out / "summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    return {
        "command": shlex.join(["seamrl", "demo", "--out", str(out), "--quiet"]),
        "returncode": proc.returncode,
        "wall_s": wall,
        "user_s": usage.ru_utime,
        "system_s": usage.ru_stime,
        "maxrss_mib": usage.ru_maxrss / 1024,  # Linux: KiB
        "load_average_start": load,
        "phases": [{k: p.get(k) for k in ("kind", "steps", "final", "grad_steps_per_s", "env_steps_per_s")} for p in summary.get("phases", [])],
        **({"stderr_tail": stderr_tail} if proc.returncode else {}),
    }


UPDATE_KINDS = ("seamrl", "d3rlpy-update", "d3rlpy-fit", "pure-fixed", "pure-sampled")


def _update_order(timers: dict, names: list[str]) -> dict:
    """Per algorithm: seamrl, d3rlpy (update, fit), pure JAX (fixed, sampled)."""
    algo_names = names + sorted({k.split("/", 1)[1] for k in timers} - set(names))
    ordered = {f"{kind}/{n}": timers[f"{kind}/{n}"] for n in algo_names for kind in UPDATE_KINDS if f"{kind}/{n}" in timers}
    return {**({"peak/matmul": timers["peak/matmul"]} if "peak/matmul" in timers else {}), **ordered}


def run_bench(options: Options, log: Callable[[str], None] = print) -> dict:
    """Measure the selected parts; write the JSON and the Markdown table; return the result."""
    import jax

    from seamrl import algos
    from seamrl.bench import collection, pure, throughput

    from seamrl.errors import ConfigError

    for label, given, known in (("part", options.parts, PARTS), ("variant", options.variants, collection.VARIANTS)):
        unknown = sorted(set(given) - set(known))
        if unknown or not given:
            raise ConfigError(f"Unknown or no bench {label}(s) {', '.join(unknown)}; expected some of {', '.join(known)}.")
    if options.repeats < 1 or min(options.num_envs, default=0) < 1:
        raise ConfigError("--repeats and every --num-envs value must be at least 1.")
    names = list(options.algos or algos.ALGORITHMS)
    for name in [*names, *options.online_algos]:
        algos.get(name)  # one-sentence error for an unknown name, before minutes of set-up
    out = Path(options.out or f"benchmarks/throughput-{jax.default_backend()}.json")
    started = time.time()
    result: dict = {
        "command": options.command(),
        "argv": sys.argv,
        "options": asdict(options),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
        "machine": machine_info(),
        "versions": versions(),
        "load_average_start": os.getloadavg(),
    }
    tmp = Path(tempfile.mkdtemp(prefix="seamrl-bench-"))
    timers: dict[str, Callable[[], dict]] = {}
    worker = None
    try:
        configs: dict = {}
        if "updates" in options.parts:
            log(f"bench: compiling {len(names)} algorithms ...")
            seamrl_timers, configs, result["update_flops"], errors = throughput.update_timers(names, options.updates_per_call, tmp)
            timers.update({f"seamrl/{n}": t for n, t in seamrl_timers.items()})
            timers["peak/matmul"] = throughput.matmul_timer()
            result["update_errors"] = errors
        if "d3rlpy" in options.parts:
            log("bench: starting the d3rlpy worker ...")
            d3_timers: dict = {}
            worker = setup_d3rlpy(options, names, _agent_configs(names, configs), result, d3_timers)
            timers.update(d3_timers)
        from seamrl.bench.d3rlpy_client import nets_of

        result["networks"] = {n: nets_of(c) for n, c in _agent_configs(names, configs).items()}
        if "pure" in options.parts:
            log("bench: compiling the pure-JAX updates ...")
            arrays = throughput.synthetic_arrays(options.transitions)
            for (name, variant), timer in pure.pure_timers(options.updates_per_call, arrays).items():
                timers[f"pure-{variant}/{name}"] = timer
        timers = _update_order(timers, names)
        if "seeds" in options.parts:
            log("bench: compiling the multi-seed updates ...")
            timers.update(throughput.seed_timers(list(options.seed_algos), list(options.seed_counts), options.updates_per_call, tmp))
        if "online" in options.parts:
            log("bench: compiling the online updates ...")
            online_timers, online_configs, result["online_errors"] = throughput.online_timers(
                list(options.online_algos), options.updates_per_call, tmp)
            timers.update({f"online/{n}": t for n, t in online_timers.items()})
            result["online_networks"] = {n: nets_of(c) for n, c in online_configs.items()}
        if "online-seeds" in options.parts:
            log(f"bench: compiling the online loops of {options.online_seeds} seeds ...")
            seed_loops, result["online_seeds_errors"] = throughput.online_seed_timers(
                list(options.online_algos), options.online_seeds, options.update_env_steps, options.task, tmp)
            timers.update(seed_loops)
        if "collect" in options.parts or "eval" in options.parts:
            log(f"bench: building {options.task} envs ...")
            trainer = collection.online_trainer(options.task, options.collect_algo, tmp)
            if "collect" in options.parts:
                timers["collect/raw"] = collection.raw_timer(options.task, options.env_steps)
                for n in options.num_envs:
                    for variant in options.variants:
                        steps = options.update_env_steps if variant.startswith("update") else options.env_steps
                        timers[f"collect/{variant}/{n}"] = collection.vector_timer(trainer, n, variant, steps)
            if "eval" in options.parts:
                timers["eval"] = collection.eval_timer(trainer, options.eval_episodes)
        if timers:
            log(f"bench: {len(timers)} measurements × {options.repeats} repeats ...")
            result["measurements"] = interleave(timers, options.repeats, lambda m: log(f"bench: {m}"))
    finally:
        if worker is not None:
            worker.close()
    if "demo" in options.parts:
        log("bench: running `seamrl demo` (minutes) ...")
        result["demo"] = run_demo_part(tmp)
    result["load_average_end"] = os.getloadavg()
    result["wall_s"] = time.time() - started
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, default=str) + "\n")
    out.with_suffix(".md").write_text(markdown(result) + "\n")
    result["paths"] = [str(out), str(out.with_suffix(".md"))]
    return result


# ---------------------------------------------------------------------- the Markdown table
def _rate(result: dict, key: str, unit: str = "steps") -> float | None:
    m = result.get("measurements", {}).get(key)
    return None if m is None else m["per_s"][unit]


def _fmt(x: float | None, digits: int | None = None) -> str:
    """Thousands separators; decimals only where the number is small (or ``digits`` given)."""
    if x is None:
        return "—"
    if digits is None:
        digits = 0 if abs(x) >= 100 else 1 if abs(x) >= 10 else 2
    return f"{x:,.{digits}f}"


def _ratio(a: float | None, b: float | None) -> str:
    return "—" if a is None or b is None or b == 0 else f"{a / b:.2f}"


def _nets(spec: dict | None) -> str:
    if not spec:
        return ""
    hidden = {role: (tuple(n["hidden"]), n["layer_norm"]) for role, n in spec["nets"].items()}
    text = lambda h: (f"{len(h[0])}×{h[0][0]}" if len(set(h[0])) == 1 else "-".join(map(str, h[0]))) + (" LN" if h[1] else "")  # noqa: E731
    if len(set(hidden.values())) == 1:
        return text(hidden["actor"])
    return ", ".join(f"{role} {text(h)}" for role, h in hidden.items())


def markdown(result: dict) -> str:
    m, opts, v = result.get("measurements", {}), result["options"], result["versions"]
    machine = result["machine"]
    d3 = result.get("d3rlpy", {})
    d3v = d3.get("versions", {})
    lines = [
        "# `seamrl bench`",
        "",
        f"`{result['command']}`, started {result['started']}, {result['wall_s']:.0f} s; {opts['repeats']} repeats, medians.",
        f"Machine: {machine['cpu']} ({machine['cpu_count']} cores), JAX backend {machine['jax_backend']}; "
        f"load average {result['load_average_start'][0]:.2f} at the start, {result['load_average_end'][0]:.2f} at the end.",
        f"Versions: seamrl {v.get('seamrl')} ({v.get('git_commit')}), jax {v.get('jax')}, flax {v.get('flax')}, optax {v.get('optax')}, "
        f"gymnasium {v.get('gymnasium')}, mujoco {v.get('mujoco')}"
        + (f"; d3rlpy {d3v.get('d3rlpy')}, torch {d3v.get('torch')} ({d3.get('threads')} threads, {d3.get('device')})" if d3v else "")
        + ".",
    ]
    names = [k.split("/", 1)[1] for k in m if k.startswith(("seamrl/", "pure-", "d3rlpy-"))]
    names = list(dict.fromkeys(names))
    if names:
        networks, flops = result.get("networks", {}), result.get("update_flops", {})
        peak = _rate(result, "peak/matmul", "flops")
        lines += [
            "",
            f"## Update throughput (gradient steps/s, batch 256, synthetic 17-d observations, 6-d actions, "
            f"{opts['updates_per_call']} updates per seamrl call)",
            "",
            "| algorithm | networks | seamrl | d3rlpy update | d3rlpy fit step | seamrl / d3rlpy | pure JAX | pure JAX sampled "
            "| seamrl / pure | GFLOP / update | seamrl GFLOP/s | % of matmul peak |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for n in names:
            seamrl, fit = _rate(result, f"seamrl/{n}"), _rate(result, f"d3rlpy-fit/{n}")
            pure_fixed = _rate(result, f"pure-fixed/{n}")
            f = flops.get(n)
            achieved = f * seamrl / 1e9 if f and seamrl else None
            share = f"{100 * achieved * 1e9 / peak:.0f}%" if achieved and peak else "—"
            lines.append(
                f"| {n} | {_nets(networks.get(n))} | {_fmt(seamrl)} | {_fmt(_rate(result, f'd3rlpy-update/{n}'))} | {_fmt(fit)} | "
                f"{_ratio(seamrl, fit)} | {_fmt(pure_fixed)} | {_fmt(_rate(result, f'pure-sampled/{n}'))} | {_ratio(seamrl, pure_fixed)} | "
                f"{_fmt(f / 1e9 if f else None, 2)} | {_fmt(achieved)} | {share} |"
            )
        if peak:
            lines += ["", f"Dense float32 matmul on this machine (1024 × 1024, jitted): {peak / 1e9:,.0f} GFLOP/s, measured in the same rounds."]
        lines += [
            "",
            "seamrl: the trainer's offline update path (batches sampled on the device under `lax.scan`). "
            "d3rlpy update: `algo.update(batch)` on one pre-sampled batch; d3rlpy fit step: `sample_transition_batch` + "
            "`update`, as in d3rlpy's `fit`; seamrl / d3rlpy uses the fit step (both include sampling). "
            "pure JAX: the same math in plain `jnp` on one fixed device batch (sampled: a fresh batch gathered each step); "
            "seamrl / pure uses the fixed batch.",
        ]
        for label, errors in (("seamrl", result.get("update_errors", {})), ("d3rlpy", d3.get("errors", {}))):
            lines += [f"- not measured ({label}) {k}: {e}" for k, e in errors.items()]
        if d3.get("error"):
            lines.append(f"- d3rlpy not measured: {d3['error']}")
    seed_keys = [k for k in m if k.startswith("seeds/")]
    if seed_keys:
        counts = sorted({int(k.rsplit("/", 1)[1]) for k in seed_keys})
        lines += [
            "",
            f"## Seeds trained together (`seamrl train --seeds`): seed-steps/s, {opts['updates_per_call']} updates per call",
            "",
            "| algorithm | " + " | ".join(f"{c} seed{'s' if c > 1 else ''}" for c in counts) + f" | {counts[-1]} seeds / 1 seed |",
            "|---|" + "---|" * (len(counts) + 1),
        ]
        for n in dict.fromkeys(k.split("/")[1] for k in seed_keys):
            rates = [_rate(result, f"seeds/{n}/{c}") for c in counts]
            lines.append(f"| {n} | " + " | ".join(_fmt(r) for r in rates) + f" | {_ratio(rates[-1], rates[0])} |")
        lines += ["", "S agents stacked and `vmap`-ed through the trainer's scanned chunk (seamrl/train/seeds.py); "
                  "seed-steps = S × gradient steps. The 1-seed column goes through the same `vmap` path."]
    online_keys = [k for k in m if k.startswith("online/")]
    if online_keys or result.get("online_errors"):
        sac = _rate(result, "online/sac")
        lines += [
            "",
            f"## Online updates from scratch (gradient steps/s, {opts['updates_per_call']} updates per call)",
            "",
            "| algorithm | networks | steps/s | / SAC |",
            "|---|---|---|---|",
        ]
        for key in online_keys:
            n = key.split("/", 1)[1]
            lines.append(f"| {n} | {_nets(result.get('online_networks', {}).get(n))} | {_fmt(_rate(result, key))} | {_ratio(_rate(result, key), sac)} |")
        lines += ["", "The update of `seamrl train --setting online` with the algorithm's from-scratch config, its online phase "
                  "begun, on a replay pre-filled with the synthetic transitions (seamrl/bench/throughput.py `online_timers`)."]
        lines += [f"- not measured (online) {k}: {e}" for k, e in result.get("online_errors", {}).items()]
    loop_keys = [k for k in m if k.startswith("online-seeds/")]
    if loop_keys or result.get("online_seeds_errors"):
        lines += [
            "",
            f"## Online seeds in lockstep ({opts['online_seeds']} seeds, {opts['task']}, seed env steps/s of the online loop)",
            "",
            "| algorithm | one after another | lockstep | lockstep / one after another |",
            "|---|---|---|---|",
        ]
        for n in dict.fromkeys(k.split("/")[1] for k in loop_keys):
            apart, lockstep = (_rate(result, f"online-seeds/{n}/{mode}", "env_steps") for mode in ("apart", "lockstep"))
            lines.append(f"| {n} | {_fmt(apart)} | {_fmt(lockstep)} | {_ratio(lockstep, apart)} |")
        lines += ["", f"{opts['update_env_steps']} env steps per seed and measurement of the online loop (seamrl/train/online.py) "
                  "from scratch, updating from the first step: seeds one after another (`--set lockstep=off`) or in "
                  "lockstep (`--set lockstep=on`: one vmapped call acts and one updates for all seeds; the default, `auto`, "
                  "uses lockstep online on an accelerator only)."]
        lines += [f"- not measured (online-seeds) {k}: {e}" for k, e in result.get("online_seeds_errors", {}).items()]
    if "collect/raw" in m or any(k.startswith("collect/") for k in m):
        raw = _rate(result, "collect/raw", "env_steps")
        lines += [
            "",
            f"## Online collection (env steps/s, {opts['task']}, {opts['collect_algo']} policy)",
            "",
            f"Raw single env (`gymnasium.make`, random actions): {_fmt(raw)} steps/s.",
            "",
            "| envs | vector env | + jitted policy | + replay write | + updates (online loop) | updates alone | policy loop / raw |",
            "|---|---|---|---|---|---|---|",
        ]
        for n in opts["num_envs"]:
            rates = [_rate(result, f"collect/{variant}/{n}", "env_steps") for variant in ("vec", "policy", "replay", "update", "update-only")]
            lines.append(f"| {n} | " + " | ".join(_fmt(r) for r in rates) + f" | {_ratio(rates[1], raw)} |")
        lines += ["", "Columns 2–5 each add one part of the trainer's online loop (seamrl/bench/collection.py): "
                  "the fifth is the loop with `n · utd` gradient updates per vector step; \"updates alone\" makes the same "
                  "`Trainer._updates` calls without envs (env steps/s it would allow)."]
    if "eval" in m:
        e = m["eval"]
        length = e["per_s"]["env_steps"] / e["per_s"]["episodes"]
        lines += [
            "",
            f"## Evaluation ({opts['task']}, `Evaluator`, {opts['eval_episodes']} episodes per call)",
            "",
            "| episodes/s | env steps/s | mean episode length |",
            "|---|---|---|",
            f"| {_fmt(e['per_s']['episodes'], 2)} | {_fmt(e['per_s']['env_steps'])} | {length:.0f} |",
        ]
    if "demo" in result:
        d = result["demo"]
        rates = {p["kind"]: p for p in d["phases"]}
        lines += [
            "",
            "## `seamrl demo`",
            "",
            "| wall s | CPU s (user + system) | peak RSS MiB | offline grad steps/s | online env steps/s | exit code |",
            "|---|---|---|---|---|---|",
            f"| {d['wall_s']:.0f} | {d['user_s'] + d['system_s']:.0f} | {d['maxrss_mib']:.0f} | "
            f"{_fmt(rates.get('offline', {}).get('grad_steps_per_s'))} | {_fmt(rates.get('online', {}).get('env_steps_per_s'))} | {d['returncode']} |",
        ]
    return "\n".join(lines)
