"""Text tables printed by the CLI."""

from __future__ import annotations

from pathlib import Path


def _fmt(value, digits: int = 1) -> str:
    return "–" if value is None else f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def print_summary(summary: dict, run_dir: Path) -> None:
    """The evaluation table at the end of ``seamrl train`` / ``seamrl demo``."""
    metric = summary["metric"]
    print(f"\n{summary['algo']} on {summary['task']} ({summary['setting']}, seed {summary['seed']}) — {metric}")
    print(f"{'phase':<10}{'steps':>10}{'first':>10}{'final':>10}{'best':>10}{'steps/s':>10}")
    print(f"{'start':<10}{0:>10}{_fmt(summary['initial']):>10}")
    for p in summary["phases"]:
        rate = p.get("grad_steps_per_s") if p["kind"] == "offline" else p.get("env_steps_per_s")
        print(f"{p['kind']:<10}{p['steps']:>10}{_fmt(p['first']):>10}{_fmt(p['final']):>10}{_fmt(p['best']):>10}{_fmt(rate, 0):>10}")
    print(f"run directory: {run_dir}  (metrics.csv, summary.json, checkpoints/)")


def algos_table() -> str:
    from seamrl import algos

    cells = [("name", "settings", "policy", "description")]
    cells += [(name, ", ".join(algos.get(name).SETTINGS), algos.get(name).POLICY, description)
              for name, description in algos.ALGORITHMS.items()]
    widths = [max(len(row[i]) for row in cells) + 2 for i in range(3)]
    rows = ["".join(f"{c:<{w}}" for c, w in zip(row, widths)) + row[3] for row in cells]
    return "\n".join(rows)


def field_notes(cls) -> dict[str, str]:
    """Field → its source comment (the one on its line, else the comment lines right above it), read from
    every dataclass of ``cls``'s MRO, the nearest class with a comment first: the spec references of an
    algorithm Config."""
    import dataclasses
    import inspect
    import io
    import re
    import tokenize

    names = {f.name for f in dataclasses.fields(cls)}
    notes: dict[str, str] = {}
    for klass in cls.__mro__:
        if not dataclasses.is_dataclass(klass):
            continue
        try:
            source = inspect.getsource(klass)
        except (OSError, TypeError):
            continue
        lines = source.splitlines()
        comments = {tok.start[0]: re.sub(r"\s*noqa.*$", "", tok.string.lstrip("#").strip())
                    for tok in tokenize.generate_tokens(io.StringIO(source).readline) if tok.type == tokenize.COMMENT}
        for number, line in enumerate(lines, 1):
            match = re.match(r"\s+(\w+)\s*:[^=#]*=", line)  # a field with its default (not a docstring line)
            if not match or match.group(1) not in names or match.group(1) in notes:
                continue
            above, j = [], number - 1
            while j >= 1 and lines[j - 1].strip().startswith("#"):
                above.insert(0, comments.get(j, ""))
                j -= 1
            note = comments.get(number) or " ".join(above)
            if note:  # a field redefined without a comment keeps its parent class's note
                notes[match.group(1)] = note
    return notes


def algo_options(name: str) -> str:
    """``seamrl algos NAME``: the algorithm's settings, every ``--set`` option of its Config with its default
    and source note (spec section, paper table), and its per-domain presets."""
    import dataclasses

    from seamrl import algos

    module = algos.get(name)
    key = algos.key(name)
    notes = field_notes(module.Config)
    fields = dataclasses.fields(module.Config)
    width = max(len(f.name) for f in fields) + 2
    config = module.Config()
    defaults = {f.name: repr(getattr(config, f.name)) for f in fields}
    value_width = min(max(len(v) for v in defaults.values()), 24) + 2
    out = [f"{key}: {algos.description(module)}", f"settings: {', '.join(module.SETTINGS)}; policy: {getattr(module, 'POLICY', '-')}",
           "", "options (--set KEY=VALUE; run options such as replay_init are in README.md):"]
    out += [f"  {f.name:<{width}}{defaults[f.name]:<{value_width}}{notes.get(f.name, '')}".rstrip() for f in fields]
    presets = getattr(module, "PRESETS", {})
    if presets:
        out += ["", "presets per task family (applied before --set):"]
        out += [f"  {family}: " + ", ".join(f"{k}={v!r}" for k, v in values.items()) for family, values in presets.items()]
    return "\n".join(out)


def data_info(path: str, fmt: str | None = None) -> str:
    from seamrl import envs
    from seamrl.data import load_dataset

    ds = load_dataset(path, format=fmt)
    s = ds.summary()
    lines = [f"{path}"] + [f"  {k:<22}{_fmt(v, 3) if isinstance(v, float) else v}" for k, v in s.items()]
    task = ds.name or Path(path).stem
    try:
        norm = envs.normalized_score(task, ds.episode_returns())
    except Exception:  # unknown task names have no reference scores
        norm = None
    if norm is not None:
        lines.append(f"  {'normalized_score':<22}{norm.mean():.1f} ± {norm.std():.1f} ({task})")
    return "\n".join(lines)


def data_import(path: str, fmt: str | None, out: str | None) -> str:
    from seamrl.data import load_dataset, save_npz
    from seamrl.train.tasks import data_home

    ds = load_dataset(path, format=fmt)
    target = Path(out) if out else data_home() / "imported" / f"{Path(str(path).rstrip('/')).stem}.npz"
    target.parent.mkdir(parents=True, exist_ok=True)
    save_npz(ds, target)
    return f"imported {len(ds)} transitions ({ds.summary().get('episodes')} episodes) to {target}"


IGNORED_OPTIONS = {"seed", "out", "agent", "tensorboard", "save_policy_every", "checkpoint_every", "updates_per_call", "lockstep"}


def run_options(run_dir: Path) -> dict:
    """The options a run was trained with (``config.json``: run fields, then the resolved agent config),
    without those that do not change its numbers (seed, output paths, logging, update chunking), in
    today's names: an option added since the run was made takes its default (an option is only ever
    added with a default that keeps the earlier behaviour), and one that no longer exists (renamed or
    removed; its resolved value is recorded under today's name) is left out, so runs of one
    configuration made before and after a change are seeds of one group."""
    import dataclasses
    import json

    from seamrl import algos
    from seamrl.config import RunConfig
    from seamrl.errors import ConfigError

    path = run_dir / "config.json"
    if not path.exists():
        return {}
    data = json.loads(path.read_text())
    run, agent = data.get("run", {}), data.get("agent", {})
    try:
        config_cls = algos.get(run.get("algo", "")).Config
    except ConfigError:  # an algorithm this version does not have: its options as recorded
        return {**{k: v for k, v in run.items() if k not in IGNORED_OPTIONS}, **agent}

    def today(cls, recorded: dict) -> dict:
        fields = {f.name: f for f in dataclasses.fields(cls)}
        out = {}
        for name, f in fields.items():
            if name in recorded:
                out[name] = recorded[name]
            elif f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING:
                value = f.default if f.default is not dataclasses.MISSING else f.default_factory()
                out[name] = json.loads(json.dumps(value))  # as config.json records it (tuples as lists)
        return out

    run = {k: v for k, v in today(RunConfig, run).items() if k not in IGNORED_OPTIONS}
    return {**run, **today(config_cls, agent)}


def group_key(algo: str, task: str, setting: str, opts: dict) -> tuple[str, str, str, str]:
    """Runs with one key are seeds of one configuration (``seamrl table`` rows, ``seamrl plot`` curves)."""
    import json

    return (algo, task, setting, json.dumps(opts, sort_keys=True))


def distinguishing_options(key: tuple, keys: list[tuple], options: dict) -> list[str]:
    """``name=value`` of the options that tell this group apart from the others of its algorithm, task and setting."""
    same = [k for k in keys if k[:3] == key[:3]]
    if len(same) < 2:
        return []
    mine = options[key]
    return [f"{name}={_short(mine[name])}" for name in sorted(mine) if any(options[k].get(name) != mine[name] for k in same)]


def _label(key: tuple, keys: list[tuple], options: dict) -> str:
    """``algo`` plus the options that tell this group apart from the others of its algorithm, task and setting."""
    differ = distinguishing_options(key, keys, options)
    return f"{key[0]} ({', '.join(differ)})" if differ else key[0]


def _short(value) -> str:
    return ",".join(map(str, value)) if isinstance(value, list) else str(value)


def runs_table(run_dirs: list[str], early: int | None = None) -> str:
    """A Markdown table of runs: one row per run (seed), then mean ± std over the seeds of each group of
    runs with the same algorithm, task, setting and options; groups that differ only in options are
    labelled with them (e.g. ``td3bc_sa (replay_init=half)``). With ``early``, a column with the lowest
    evaluation in the first ``early`` steps after the first switch (:func:`early_lowest`): the early drop
    that offline-to-online methods claim to avoid."""
    import json
    import sys

    import numpy as np

    from seamrl.train.seeds import expand_run_dirs

    rows, groups, options, seeds = [], {}, {}, {}
    run_dirs = expand_run_dirs(run_dirs)  # a --seeds run: one row per seed
    for d in run_dirs:
        path = Path(d) / "summary.json"
        if not path.exists():
            from seamrl.errors import ConfigError

            raise ConfigError(f"'{d}' has no summary.json; the run has not finished.")
        s = json.loads(path.read_text())
        phases = s["phases"]
        # the first switch: the last score before it, the first after it, and the lowest of the next phase (the dip)
        switch = (phases[0]["final"], phases[1]["first"], phases[1].get("lowest")) if len(phases) > 1 else None
        shown = f"{_fmt(switch[0])} → {_fmt(switch[1])} (lowest {_fmt(switch[2])})" if switch else "–"
        dip = early_lowest(Path(d), early, s["metric"]) if early and switch else None
        opts = run_options(Path(d))
        key = group_key(s["algo"], s["task"], s["setting"], opts)
        options[key] = opts
        early_cell = f" {_fmt(dip)} |" if early else ""
        rows.append((key, f"| {s['task']} | {s['setting']} | {s['seed']} | {s['metric']} | {_fmt(s['initial'])} | {shown} |{early_cell} {_fmt(s['final'])} | {_fmt(s['best'])} | {s['grad_steps']} | {s['env_steps']} | {_fmt(s['wall_time'], 0)} |"))
        groups.setdefault(key, []).append((s["final"], s["best"], switch, dip))
        if s["seed"] in seeds.setdefault(key, []):
            print(f"seamrl: seed {s['seed']} of {s['algo']} on {s['task']} appears twice with the same options "
                  f"({d}); both count in the mean.", file=sys.stderr)
        seeds[key].append(s["seed"])
    early_head = f" lowest in the first {early} steps after |" if early else ""
    out = [f"| algo | task | setting | seed | metric | start | before → after switch |{early_head} final | best | grad steps | env steps | wall s |",
           "|" + "---|" * (13 if early else 12)]
    out += [f"| {_label(key, list(groups), options)} {row}" for key, row in rows]  # runs of one algorithm named by their options
    if any(len(v) > 1 for v in groups.values()):
        out += ["", f"| algo | task | setting | seeds | before → after switch (lowest after) |{early_head} final (mean ± std) | best (mean ± std) |",
                "|" + "---|" * (8 if early else 7)]
        for key, vals in groups.items():
            final, best = np.array([v[0] for v in vals]), np.array([v[1] for v in vals])
            dips = [v[3] for v in vals]
            early_cell = (f" {np.mean(dips):.1f} ± {np.std(dips):.1f} |" if None not in dips else " – |") if early else ""
            out.append(f"| {_label(key, list(groups), options)} | {key[1]} | {key[2]} | {len(vals)} | {_switch_mean([v[2] for v in vals])} |{early_cell} "
                       f"{final.mean():.1f} ± {final.std():.1f} | {best.mean():.1f} ± {best.std():.1f} |")
    return "\n".join(out)


def early_lowest(run_dir: Path, window: int, metric: str) -> float | None:
    """The lowest evaluation (``metric``: normalized or return) in the first ``window`` steps of the phase
    after the first switch, from ``metrics.csv``; steps are env steps for an online phase, gradient steps
    for an offline one, counted from the switch. None when no evaluation falls in the window."""
    import csv

    from seamrl.errors import ConfigError

    if not (run_dir / "metrics.csv").exists():
        raise ConfigError(f"'{run_dir}' has no metrics.csv; --early reads the evaluations after the switch from it.")
    with open(run_dir / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    column = "eval_normalized_mean" if metric == "normalized" else "eval_return_mean"
    after = [r for r in rows if r["phase"] == "1"]
    counter = "env_step" if after and after[0]["phase_kind"] == "online" else "grad_step"
    start = max((float(r[counter]) for r in rows if r["phase"] == "0"), default=0.0)
    return min((float(r[column]) for r in after if r.get(column) and float(r[counter]) - start <= window), default=None)


def _switch_mean(switches: list) -> str:
    """Mean ± std over seeds of the score before the switch, after it and the lowest after it."""
    if any(sw is None or None in sw for sw in switches):
        return "–"
    import numpy as np

    parts = [np.array(x, float) for x in zip(*switches)]
    before, after, lowest = (f"{x.mean():.1f} ± {x.std():.1f}" for x in parts)
    return f"{before} → {after} ({lowest})"


def data_export(name: str, fmt: str, out: str | None) -> str:
    from seamrl.data import save_d4rl_hdf5, save_minari, save_npz, suite

    dataset = suite.load(name)
    if fmt == "minari":
        entry = suite.get(name)
        from seamrl import envs

        info = envs.task_info(name)
        path = save_minari(dataset, f"seamrl/{name}", env=envs.make(name), ref_min_score=info.ref_min, ref_max_score=info.ref_max,
                           algorithm_name="seamrl suite", description=f"seamrl suite dataset {name} ({entry.task})")
    else:
        target = Path(out) if out else Path(f"{name}.{'hdf5' if fmt == 'd4rl' else 'npz'}")
        path = save_d4rl_hdf5(dataset, target) if fmt == "d4rl" else save_npz(dataset, target)
    return f"{name}: {len(dataset)} transitions written to {path}"


def suite_table(build: bool = False) -> str:
    """Markdown table of the suite's datasets as built here (the docs table of docs/datasets.md)."""
    from seamrl import envs
    from seamrl.data import load_dataset, suite
    from seamrl.errors import DataError

    rows = ["| dataset | transitions | episodes | return (mean ± std) | normalised score | reference (random / expert) |",
            "|---|---:|---:|---:|---:|---|"]
    scores = suite.reference_scores()
    for entry in suite.entries().values():
        path = suite.path_of(entry.name)
        if build and not path.exists():
            try:
                suite.build(entry.name, progress=True)
            except DataError:
                pass  # its behaviour policies are not shipped: listed as not built
        if not path.exists():
            rows.append(f"| {entry.name} | – | – | not built | – | – |")
            continue
        ds = load_dataset(path)
        returns = ds.episode_returns()
        norm = envs.normalized_score(entry.name, returns)
        info = envs.task_info(entry.name)
        ref = f"{info.ref_min:.1f} / {info.ref_max:.1f}" + ("" if entry.env in scores or entry.kind == "pointmaze" else " (D4RL, provisional)")
        rows.append(f"| {entry.name} | {len(ds):,} | {len(returns):,} | {returns.mean():.1f} ± {returns.std():.1f} "
                    f"| {norm.mean():.1f} | {ref} |")
    return "\n".join(rows)
